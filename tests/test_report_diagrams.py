"""Graphviz diagrams: what they draw, escaping, clusters, and life without ``dot``."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest
from report_models import DIGITS_CNN, DIGITS_IMAGES, HOSTILE, deep_mlp, hostile_mlp

import irwua
from irwua.ir.graph import Layer
from irwua.report import diagrams

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is missing")


@pytest.fixture(scope="module")
def digits() -> irwua.Analysis:
    return irwua.analyze(DIGITS_CNN, data=np.load(DIGITS_IMAGES), passes=["flops", "metrics"])


def _texts(svg: str) -> list[str]:
    return [text.text or "" for text in ET.fromstring(svg).iter("text")]


def test_layer_graph_has_every_layer_and_the_connections(digits):
    source = diagrams.layer_graph(digits).source
    graph = digits.graph
    nodes = dict(re.findall(r'^\s*(L\d+) \[label="([^"]*)', source, re.M))
    assert [label.split("\\n")[0] for label in nodes.values()] == [
        layer.name for layer in graph.layers
    ]
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)", source, re.M))
    ids = {layer.name: f"L{i}" for i, layer in enumerate(graph.layers)}
    expected = {(ids[a.name], ids[b.name]) for a, b in itertools.pairwise(graph.layers)}
    assert expected == {
        edge for edge in edges if edge[0].startswith("L") and edge[1].startswith("L")
    }
    assert ("I0", "L0") in edges and ("L4", "O0") in edges
    entry = digits.document["layers"][1]  # /3/Conv: 78.1% of the FLOPs, 4.64 k params
    assert "4.64 k params, 78.1% of FLOPs" in nodes["L1"]
    assert f"utilization {100 * entry['metrics']['utilization']:.1f}%" in nodes["L1"]


def test_edge_width_follows_the_consumers_importance(digits):
    source = diagrams.layer_graph(digits).source
    widths = {
        target: float(width)
        for target, width in re.findall(r"-> (L\d+) \[.*penwidth=([\d.]+)", source)
    }
    importance = [layer["importance"] for layer in digits.document["layers"]]
    strongest = f"L{int(np.argmax(importance))}"
    weakest = f"L{int(np.argmin(importance))}"
    assert widths[strongest] == max(widths.values()) == diagrams.PEN_WIDTHS[1]
    assert widths[weakest] == min(widths.values()) == diagrams.PEN_WIDTHS[0]


def test_module_paths_become_nested_clusters():
    analysis = irwua.analyze(deep_mlp(layers=30), passes=["flops"])
    source = diagrams.layer_graph(analysis).source
    # three blocks of ten layers each; a layer's own module (layer7) holds one layer: no cluster
    assert source.count("subgraph cluster_") == 3
    blocks = re.split(r"subgraph cluster_", source)[1:]
    for number, block in enumerate(blocks):
        assert f"label=block{number}" in block
        assert len(re.findall(r"^\s*L\d+ \[label", block, re.M)) == 10


@needs_dot
def test_hostile_names_are_literal_text_in_the_svg():
    analysis = irwua.analyze(hostile_mlp(), passes=["flops"])
    diagram = diagrams.render(diagrams.layer_graph(analysis))
    assert diagram.note is None
    texts = _texts(diagram.svg)
    assert HOSTILE + "fc1" in texts and HOSTILE + "input" in texts
    assert "<script" not in diagram.svg and "<img" not in diagram.svg


@needs_dot
def test_label_escapes_for_dot():
    lines = ["<b>bold</b>", 'a "quoted" \\N name \\', "{record|shape}", "&lt; & &amp;"]
    graph = graphviz.Digraph()
    graph.node("a", diagrams.label(*lines))
    done = subprocess.run(["dot", "-Tsvg"], input=graph.source.encode(), capture_output=True)
    assert done.returncode == 0, done.stderr
    assert _texts(diagrams.inline_svg(done.stdout.decode())) == lines


def test_without_dot_the_sources_are_saved_with_a_note(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    written = digits.save(tmp_path / "report")
    assert "layer_graph.dot" in written
    page = written["report.html"].read_text()
    assert "Graphviz &#39;dot&#39; is not installed" in page and "layer_graph.dot" in page
    assert written["layer_graph.dot"].read_text() == diagrams.layer_graph(digits).source


@needs_dot
def test_a_slow_dot_is_stopped(digits):
    diagram = diagrams.render(diagrams.layer_graph(digits), timeout=1e-4)
    assert diagram.svg is None and "took longer than" in diagram.note


@needs_dot
def test_broken_source_gives_a_note():
    broken = diagrams.Diagram("broken", "Broken", "", "digraph { a -> }")
    rendered = diagrams.render(broken)
    assert rendered.svg is None and rendered.note.startswith("dot failed")


@needs_dot
def test_three_hundred_layers_render():
    analysis = irwua.analyze(deep_mlp(layers=300), passes=["flops"])
    diagram = diagrams.render(diagrams.layer_graph(analysis))
    assert diagram.note is None
    names = {layer.name for layer in analysis.graph.layers}
    assert len(names) == 300
    assert sum(1 for text in _texts(diagram.svg) if text in names) == 300


@pytest.fixture(scope="module")
def pathways() -> irwua.Analysis:
    return irwua.analyze(DIGITS_CNN, data=np.load(DIGITS_IMAGES), passes=["pathways"])


def _clusters(source: str) -> dict[str, str]:
    """Cluster label -> the cluster's body, for flat (not nested) clusters."""
    bodies = re.findall(r"subgraph cluster_\d+ \{(.*?)\n\t\}", source, re.S)
    return {re.search(r'label=("[^"]*"|\S+)', body).group(1).strip('"'): body for body in bodies}


def test_neuron_graph_draws_the_most_important_units(pathways):
    result = pathways["pathways"]
    source = diagrams.neuron_graph(pathways).source
    clusters = _clusters(source)
    assert list(clusters) == ["image", "0", "3", "6", "9", "12"]
    for name, shares in result.neuron_importance.items():
        column = list(clusters).index(name)
        shown = {int(u) for u in re.findall(rf"U{column}_(\d+) \[", clusters[name])}
        top = set(np.argsort(-shares, kind="stable")[: diagrams.UNITS_PER_LAYER].tolist())
        assert shown == top
        hidden = shares.size - len(shown)
        assert (f"+{hidden} more" in clusters[name]) == (hidden > 0)


def test_neuron_graph_edges_follow_connection_importance(pathways):
    result = pathways["pathways"]
    source = diagrams.neuron_graph(pathways).source
    edges = re.findall(r"U4_(\d+) -> U5_(\d+) \[color=\"[^\"]+\" penwidth=([\d.]+)", source)
    assert 0 < len(edges) <= diagrams.EDGES_PER_LINK
    matrix = result.connections["9", "12"]
    shown = np.argsort(-result.neuron_importance["9"], kind="stable")[:12]
    block = matrix[np.ix_(shown, np.arange(10))]
    row, column = np.unravel_index(np.argmax(block), block.shape)
    widest = max(edges, key=lambda edge: float(edge[2]))
    assert (int(widest[0]), int(widest[1])) == (shown[row], column)


def test_pathway_graph_draws_each_top_path(pathways):
    source = diagrams.pathway_graph(pathways).source
    top = pathways.document["pathways"]["top"]
    edges = re.findall(r"(P\d+_\d+) -> (P\d+_\d+) \[.*color=\"(#\w+)\"", source)
    assert len(edges) == sum(len(path["units"]) - 1 for path in top)
    columns = list(dict.fromkeys(s["layer"] for path in top for s in path["units"]))
    first = [f"P{columns.index(s['layer'])}_{s['unit']}" for s in top[0]["units"]]
    strongest = [(tail, head) for tail, head, color in edges if color == diagrams.PATH_COLORS[0]]
    assert strongest[: len(first) - 1] == list(itertools.pairwise(first))


def test_deep_models_get_a_note_instead_of_a_neuron_graph(tmp_path):
    analysis = irwua.analyze(deep_mlp(layers=20), passes=["pathways"])
    drawn = {d.name: d for d in diagrams.diagrams(analysis)}
    assert list(drawn) == ["layer_graph", "neurons", "pathways"]
    assert drawn["neurons"].svg is None and "this one has 20" in drawn["neurons"].note
    assert "neurons.dot" not in analysis.save(tmp_path)


def test_module_path_prefers_the_frameworks_name():
    def layer(name, framework_name=None, scope=""):
        return Layer(name, "gemm", "Gemm", name, (name,), {}, "x", "y", scope, framework_name)

    assert diagrams._module_path(layer("/enc/layers.0/fc/Gemm")) == ("enc", "layers.0", "fc")
    assert diagrams._module_path(layer("/1/Gemm", "encoder.layers.0.linear1")) == (
        "encoder",
        "layers",
        "0",
    )
    assert diagrams._module_path(layer("dense", "dense", scope="loop_body")) == ("loop_body",)


@pytest.mark.parametrize(("model", "merge_op"), [("resnet50", "Sum"), ("densenet121", "Concat")])
def test_merges_are_boxes_and_normalizations_fold_into_their_convolutions(model, merge_op):
    """Each residual Sum (ResNet-50) or dense Concat (DenseNet-121) is one merge box fed by the
    paths it joins; no BatchNormalization, Mul or Add of a layer keeps a box of its own when it
    sits next to one convolution."""
    import onnx

    from irwua.report.layer_boxes import layer_boxes

    path = f"{onnx.__path__[0]}/backend/test/data/light/light_{model}.onnx"
    graph = irwua.analyze(path, passes=["flops"]).graph
    drawn = layer_boxes(graph)
    merging = [node.name for node in graph.nodes if node.op_type == merge_op]
    assert sorted(box.merge.name for box in drawn.merges) == sorted(merging)
    incoming = {box.id: sum(head == box.id for _, head in drawn.edges) for box in drawn.merges}
    assert min(incoming.values()) >= 2
    hosts = [box.host for box in drawn.boxes.values() if box.host is not None]
    assert all(host.kind not in ("norm", "elementwise") for host in hosts[:-1])
    folded = sum(len(box.layers) for box in drawn.boxes.values())
    assert folded == len(graph.layers)  # every layer drawn once


def test_a_big_torch_model_gets_a_block_overview_and_its_full_graph_folded():
    torch = pytest.importorskip("torch")

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
            self.norm = torch.nn.LayerNorm(16)

        def forward(self, x):
            return x + self.fc2(torch.relu(self.norm(self.fc1(x))))

    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), *[Block() for _ in range(30)], torch.nn.Linear(16, 4)
    )
    data = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    analysis = irwua.analyze(model, data, passes=["flops"])
    overview, full = diagrams.diagrams(analysis)[:2]
    assert overview.name == "block_overview" and not overview.collapsed
    assert full.name == "layer_graph" and full.collapsed
    blocks = re.findall(r'B\d+ \[label="([^"\\]+)\\n([^"\\]+)', overview.source)
    assert [name for name, _ in blocks] == ["0", *(str(i) for i in range(1, 31)), "31"]
    assert all(held == "2 Gemm, 1 +" for _, held in blocks[1:-1])
