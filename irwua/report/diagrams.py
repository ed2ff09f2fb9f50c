"""Graphviz diagrams of a model, built from stored results and rendered by ``dot`` to SVG.

Three drawings:

* ``layer_graph``: every weighted layer with its type, output shape, parameters, FLOPs share and
  utilization; edges between layers through the parameter-free ops, their width and colour the
  importance the consumer layer draws from its input (sum of |w| x input statistic, log scale);
  clusters by module path (the framework's module path, else the ONNX node name's path).
* ``neuron_graph`` (small models, needs the ``pathways`` pass): every unit a circle, the most
  important ``UNITS_PER_LAYER`` of a wider layer; edges the connection importance between units
  (the normalized unit-to-unit matrices of ``pathways``, never raw weights).
* ``pathway_graph`` (needs ``pathways``): the units of the top pathways, each path in its colour.

Styles are module-level tables. Every label from the model is escaped for DOT (backslashes,
quotes, ``<...>``) and for the SVG (``&``); node ids are generated, never model names. When the
``dot`` binary is missing, times out or fails, the diagram has no SVG but keeps its DOT source,
which the report saves beside itself.
"""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup

from irwua.report.formatting import human, percent, share
from irwua.report.layer_boxes import MERGES, Box, LayerBoxes, layer_boxes
from irwua.report.protocol import AnalysisLike
from irwua.report.svg import inline_svg

if TYPE_CHECKING:
    from irwua.ir.graph import Layer, LayerGraph

DOT_TIMEOUT = 20.0
"""Seconds ``dot`` may take for one diagram (a loaded machine's margin over the few seconds that
the fast layout takes on 500-layer graphs)."""
LARGE_GRAPH_EDGES = 400
"""Layer graphs with more edges than this are laid out with ``FAST_LAYOUT``."""
FAST_LAYOUT = {"nslimit": "0.2", "nslimit1": "0.2", "mclimit": "0.01", "splines": "line"}
"""dot's network-simplex and crossing-minimisation passes cut short, and straight edges: a
DenseNet-121's 1,020 edges take 2.9 s instead of more than 60 (``docs/measured-choices.md``)."""
OVERVIEW_BOXES = 80
"""Layer graphs with more boxes than this also get a block overview (when module paths allow)."""
OVERVIEW_GROUPS = 60
"""The most blocks the overview draws."""
UNITS_PER_LAYER = 12
NEURON_LAYER_LIMIT = 12
"""The neuron-level diagram is drawn for models with at most this many unit layers."""
EDGES_PER_LINK = 48
"""The strongest connections drawn between two layers of the neuron-level diagram."""

FONT = "Helvetica,Arial,sans-serif"
"""One sans-serif font for every text of every diagram (dot's default is a serif)."""
GRAPH_STYLE = {"rankdir": "TB", "fontname": FONT, "fontsize": "10", "nodesep": "0.25"}
NODE_STYLE = {"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "9"}
EDGE_STYLE = {"arrowsize": "0.6", "color": "#9aa5b1"}
CLUSTER_STYLE = {
    "style": "rounded,dashed",
    "color": "#b8c2cc",
    "fontsize": "9",
    "fontname": FONT,
    "margin": "12",  # room for a label wider than the column of units it frames
}
TERMINAL_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": "#eef1f5"}
MERGE_STYLE = {
    "shape": "ellipse",
    "style": "filled",
    "fillcolor": "#ffffff",
    "color": "#5b6675",
    "fontsize": "8",
    "margin": "0.02,0.01",
    "height": "0.25",
}
UNIT_STYLE = {
    "shape": "circle",
    "style": "filled",
    "fixedsize": "true",
    "width": "0.32",
    "fontname": FONT,
}
FLOW_COLORS = ("#c9d3df", "#9db4d3", "#6f93c4", "#3f6fb0", "#1c4a8a")
"""Edge colours from weakest to strongest (five steps of the log-scaled value)."""
USE_COLORS = ("#f4c7b8", "#f7dfc0", "#f3efcf", "#d6e6cf", "#b7d7c2")
"""Node fills from least to most used (utilization or relative unit importance)."""
NEUTRAL_FILL = "#eef1f5"
PATH_COLORS = (
    "#c0392b",
    "#2f6db5",
    "#5a9e6f",
    "#e07b39",
    "#8e5ea2",
    "#3a9fae",
    "#b5651d",
    "#6b7a8f",
    "#d4a017",
    "#7d3c98",
)
"""One colour per pathway rank (the first is the strongest path)."""
PEN_WIDTHS = (0.6, 4.0)


@dataclass(frozen=True)
class Diagram:
    """One drawing: its DOT source, and its inline SVG (marked safe for templates: dot escaped
    its text) unless ``note`` says why not (a drawing not made has no source, only the note)."""

    name: str
    title: str
    caption: str
    source: str
    svg: str | None = None
    note: str | None = None
    collapsed: bool = False
    """Shown folded away (the page opens it on a click): the full drawing behind an overview."""

    @property
    def file_name(self) -> str:
        return f"{self.name}.dot"


def diagrams(analysis: AnalysisLike, timeout: float = DOT_TIMEOUT) -> list[Diagram]:
    """The diagrams the analysis supports, rendered when ``dot`` is available."""
    drawings = [block_overview(analysis), layer_graph(analysis)]
    if drawings[0] is not None:
        drawings[1] = replace(drawings[1], collapsed=True)
    if "pathways" in analysis.results:
        drawings.append(neuron_graph(analysis))
        drawings.append(pathway_graph(analysis))
    return [render(drawing, timeout) for drawing in drawings if drawing is not None]


def render(diagram: Diagram, timeout: float = DOT_TIMEOUT) -> Diagram:
    """``diagram`` with its SVG from ``dot -Tsvg``, or with a note when that is not possible."""
    if not diagram.source:
        return diagram
    if shutil.which("dot") is None:
        note = (
            "Graphviz 'dot' is not installed, so this diagram is saved as its source "
            f"{diagram.file_name} (render it with: dot -Tsvg {diagram.file_name} -o "
            f"{diagram.name}.svg)."
        )
        return replace(diagram, note=note)
    try:
        done = subprocess.run(
            ["dot", "-Tsvg"],
            input=diagram.source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        note = f"dot took longer than {timeout:.0f} s; the source is saved as {diagram.file_name}."
        return replace(diagram, note=note)
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        note = (
            f"dot failed ({reason[0] if reason else f'exit {done.returncode}'}); "
            f"the source is saved as {diagram.file_name}."
        )
        return replace(diagram, note=note)
    return replace(diagram, svg=Markup(inline_svg(done.stdout.decode("utf-8"))))


def label(*lines: str) -> str:
    """A DOT label of literal text lines: no escape sequences, no HTML-like label, and ``&``
    kept literal in dot's SVG."""
    import graphviz

    escaped = [graphviz.escape(line.replace("&", "&amp;")) for line in lines]
    return graphviz.nohtml("\\n".join(escaped))


def layer_graph(analysis: AnalysisLike) -> Diagram:
    """The weighted layers (normalizations folded into them), the points where data paths merge,
    the graph inputs and outputs, and how they connect (``irwua.report.layer_boxes``)."""
    graph, document = analysis.graph, analysis.document
    entries = {entry["name"]: entry for entry in document["layers"]}
    drawn = layer_boxes(graph)
    dot = _digraph("layers", GRAPH_STYLE, NODE_STYLE)
    nodes = []
    for box in drawn.boxes.values():
        if box.terminal is not None:
            role, name = box.terminal
            dot.node(box.id, label(role, name, _shape(graph.shape(name))), **TERMINAL_STYLE)
        elif box.merge is not None:
            nodes.append((_merge_path(box, drawn), box.id, _merge_label(box, graph)))
        else:
            nodes.append(
                (_module_path(box.host), box.id, _box_label(box, graph, entries, document))
            )
    _add_clusters(dot, nodes)
    flows = {name: entry.get("importance") for name, entry in entries.items()}
    scale = _LogScale([value for value in flows.values() if value])
    for tail, head in drawn.edges:
        host = drawn.boxes[head].host
        dot.edge(tail, head, **(scale.edge(flows[host.name]) if host is not None else {}))
    if dot.source.count(" -> ") > LARGE_GRAPH_EDGES:
        dot.graph_attr.update(FAST_LAYOUT)
    fill = " (fill: utilization, red = least used)" if "metrics" in analysis.results else ""
    folded = sum(len(box.layers) - 1 for box in drawn.boxes.values() if box.layers)
    caption = (
        f"Boxes are weighted layers{fill}"
        + (
            f", {folded} normalization and scale layers folded into their neighbours"
            if folded
            else ""
        )
        + "; small ovals are where data paths merge (+: residual add, concat, x: gate). "
        "Arrows go through the parameter-free ops between them; arrow width and colour: the "
        "importance the receiving layer draws from its input, log scale. Dashed frames: module "
        "paths. Drag to pan, Ctrl + wheel or the buttons to zoom."
    )
    return Diagram("layer_graph", "Layer graph", caption, dot.source)


def block_overview(analysis: AnalysisLike) -> Diagram | None:
    """For a big layer graph whose layers carry module paths: one box per block (the modules at
    the deepest level that still gives at most ``OVERVIEW_GROUPS`` boxes), with the layers and
    merges it holds, its parameters and FLOPs share; None when the layer graph is small or the
    paths do not group it."""
    graph, document = analysis.graph, analysis.document
    drawn = layer_boxes(graph)
    if len(drawn.boxes) <= OVERVIEW_BOXES:
        return None
    paths = {
        box.id: _merge_path(box, drawn) if box.merge is not None else _module_path(box.host)
        for box in drawn.boxes.values()
        if box.terminal is None
    }
    groups = _block_groups(paths)
    if groups is None:
        return None
    entries = {entry["name"]: entry for entry in document["layers"]}
    members: dict[str, list[Box]] = {}
    for box_id, group in groups.items():
        members.setdefault(group, []).append(drawn.boxes[box_id])
    dot = _digraph("blocks", GRAPH_STYLE, NODE_STYLE)
    block_ids = {group: f"B{index}" for index, group in enumerate(members)}
    for box in drawn.boxes.values():
        if box.terminal is not None:
            role, name = box.terminal
            dot.node(box.id, label(role, name, _shape(graph.shape(name))), **TERMINAL_STYLE)
    for group, boxes in members.items():
        text, attributes = _block_label(group, boxes, entries, document)
        dot.node(block_ids[group], text, **attributes)
    edges: dict[tuple[str, str], None] = {}
    for tail, head in drawn.edges:
        tail_id = block_ids[groups[tail]] if tail in groups else tail
        head_id = block_ids[groups[head]] if head in groups else head
        if tail_id != head_id:
            edges[tail_id, head_id] = None
    for tail, head in edges:
        dot.edge(tail, head)
    caption = (
        f"The {len(drawn.boxes)} boxes of the layer graph, one box per module block "
        f"({len(members)} blocks): the layers, merge points, parameters and FLOPs share each "
        "holds. Open the full layer graph below for every layer."
    )
    return Diagram("block_overview", "Block overview", caption, dot.source)


def _block_groups(paths: Mapping[str, tuple[str, ...]]) -> dict[str, str] | None:
    """Each box's block, by the deepest module level with at most ``OVERVIEW_GROUPS`` blocks
    that groups at least two boxes on average; None when no level does."""
    deepest = max((len(path) for path in paths.values()), default=0)
    for depth in range(deepest, 0, -1):
        groups = {
            box_id: ".".join(path[:depth]) if path else f"#{box_id}"
            for box_id, path in paths.items()
        }
        count = len(set(groups.values()))
        if count <= OVERVIEW_GROUPS and count * 2 <= len(paths):
            return groups
    return None


def _block_label(
    group: str, boxes: Sequence[Box], entries: Mapping[str, Mapping[str, Any]], document
) -> tuple[str, dict[str, str]]:
    """A block's text: its module path, what it holds, its parameters and FLOPs share (a box
    without a module path keeps its own name; a lone merge point stays a small oval)."""
    if len(boxes) == 1 and boxes[0].merge is not None:
        return label(MERGES[boxes[0].merge.op_type]), dict(MERGE_STYLE)
    kinds = Counter(box.host.op_type for box in boxes if box.host is not None)
    kinds.update(MERGES[box.merge.op_type] for box in boxes if box.merge is not None)
    name = boxes[0].host.name if group.startswith("#") else group
    lines = [name, ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())]
    members = [entries[layer.name] for box in boxes for layer in box.layers]
    if members and all("flops" in entry for entry in members):
        params = sum(entry["params"] for entry in members)
        flops_share = share(sum(entry["flops"] for entry in members), document["totals"]["flops"])
        lines.append(f"{human(params)} params, {flops_share} of FLOPs")
    return label(*lines), {"fillcolor": NEUTRAL_FILL}


def neuron_graph(analysis: AnalysisLike) -> Diagram | None:
    """Units as circles, edges by connection importance (for models too deep to draw, only a
    note); None without unit layers."""
    pathways = analysis.results["pathways"]
    order = [
        layer.name for layer in analysis.graph.layers if layer.name in pathways.neuron_importance
    ]
    if not order:
        return None
    if len(order) > NEURON_LAYER_LIMIT:
        note = (
            f"Drawn for models of at most {NEURON_LAYER_LIMIT} unit layers; this one has "
            f"{len(order)}: see the top pathways."
        )
        return Diagram("neurons", "Neuron-level diagram", "", "", note=note)
    sources = [s for s, _ in pathways.connections if s not in pathways.neuron_importance]
    columns = list(dict.fromkeys(sources)) + order
    shown = {name: _top_units(name, pathways) for name in columns}
    dot = _digraph("neurons", {**GRAPH_STYLE, "rankdir": "LR", "ranksep": "1.2"}, UNIT_STYLE)
    ids: dict[tuple[str, int], str] = {}
    for column, name in enumerate(columns):
        cluster = _digraph(f"cluster_{column}", {**CLUSTER_STYLE, "label": label(name)}, {})
        units, hidden = shown[name]
        values = pathways.neuron_importance.get(name)
        top = float(values.max()) if values is not None and values.size else 0.0
        for unit in units:
            ids[name, unit] = f"U{column}_{unit}"
            fill = _bucket(USE_COLORS, float(values[unit]) / top) if top > 0 else NEUTRAL_FILL
            cluster.node(ids[name, unit], label(str(unit)), fillcolor=fill, fontsize="7")
        if hidden:
            cluster.node(f"H{column}", label(f"+{hidden} more"), shape="plaintext", style="")
        dot.subgraph(cluster)
    for (source, target), matrix in pathways.connections.items():
        if source in shown and target in shown:
            _unit_edges(dot, ids, source, target, np.asarray(matrix), shown)
    caption = (
        f"Each circle is a unit (output channel or neuron); wider layers show their "
        f"{UNITS_PER_LAYER} most important units. Edge width and colour: the connection's share "
        f"of the importance between the two layers (the {EDGES_PER_LINK} strongest per pair)."
    )
    return Diagram("neurons", "Neuron-level diagram", caption, dot.source)


def pathway_graph(analysis: AnalysisLike) -> Diagram | None:
    """The units on the top pathways, one colour per path, thicker for stronger paths."""
    paths = analysis.document["pathways"]["top"]
    if not paths:
        return None
    dot = _digraph("pathways", {**GRAPH_STYLE, "rankdir": "LR", "ranksep": "0.9"}, UNIT_STYLE)
    columns = list(dict.fromkeys(step["layer"] for path in paths for step in path["units"]))
    ids = {
        (step["layer"], step["unit"]): f"P{columns.index(step['layer'])}_{step['unit']}"
        for path in paths
        for step in path["units"]
    }
    for column, name in enumerate(columns):
        cluster = _digraph(f"cluster_{column}", {**CLUSTER_STYLE, "label": label(name)}, {})
        for (layer, unit), node in ids.items():
            if layer == name:
                cluster.node(node, label(str(unit)), fillcolor=NEUTRAL_FILL, fontsize="7")
        dot.subgraph(cluster)
    widths = np.linspace(PEN_WIDTHS[1], PEN_WIDTHS[0] + 0.6, len(paths))
    for rank, path in enumerate(paths):
        steps = [ids[step["layer"], step["unit"]] for step in path["units"]]
        color = PATH_COLORS[rank % len(PATH_COLORS)]
        for tail, head in itertools.pairwise(steps):
            dot.edge(tail, head, color=color, penwidth=f"{widths[rank]:.2f}", arrowsize="0.5")
    caption = (
        "The units on the top pathways (input unit to output unit), one colour per path; "
        "the strongest path is red and drawn widest."
    )
    return Diagram("pathways", "Top pathways", caption, dot.source)


def _digraph(name: str, graph_attr: Mapping[str, str], node_attr: Mapping[str, str]):
    import graphviz

    return graphviz.Digraph(
        name, graph_attr=dict(graph_attr), node_attr=dict(node_attr), edge_attr=EDGE_STYLE
    )


def _box_label(
    box: Box, graph: LayerGraph, entries: Mapping[str, Mapping[str, Any]], document
) -> tuple[str, dict[str, str]]:
    """A layer box's text (its name, op and output shape, what is folded into it, parameters
    and FLOPs share of all its layers, the host's utilization) and node attributes."""
    host = box.host
    lines = [host.name, f"{host.op_type}  {_shape(graph.shape(box.exit.output))}"]
    extra = [layer.op_type for layer in box.layers[1:]]
    extra += [box.activation] if box.activation else []
    if extra:
        lines.append("+ " + ", ".join(dict.fromkeys(extra)))
    fill = NEUTRAL_FILL
    members = [entries[layer.name] for layer in box.layers]
    if all("flops" in entry for entry in members):
        params = sum(entry["params"] for entry in members)
        flops_share = share(sum(entry["flops"] for entry in members), document["totals"]["flops"])
        lines.append(f"{human(params)} params, {flops_share} of FLOPs")
    metrics = entries[host.name].get("metrics")
    if metrics is not None:
        lines.append(f"utilization {percent(metrics['utilization'])}")
        fill = _bucket(USE_COLORS, metrics["utilization"])
    return label(*lines), {"fillcolor": fill}


def _merge_label(box: Box, graph: LayerGraph) -> tuple[str, dict[str, str]]:
    node = box.merge
    symbol = MERGES[node.op_type]
    shape = _shape(graph.shape(node.outputs[0]))
    return label(symbol), {**MERGE_STYLE, "tooltip": label(f"{node.op_type} {shape}")}


def _merge_path(box: Box, drawn: LayerBoxes) -> tuple[str, ...]:
    """A merge's module path: that of the block it completes, the deepest (then the latest) of
    the layers it merges (a residual Add belongs to the block whose branch it adds)."""
    sources = [tail for tail in drawn.feeding.get(box.id, []) if drawn.boxes[tail].host]
    if not sources:
        return ()
    paths = [_module_path(drawn.boxes[tail].host) for tail in sources]
    return max(reversed(paths), key=len)  # the deepest; of equals, the latest


def _add_clusters(dot, nodes: Sequence[tuple[tuple[str, ...], str, tuple]]) -> None:
    """Add each node (module path, id, (label, attributes)) into nested clusters of its module
    path; a module becomes a cluster when it holds two or more nodes and not the same ones as
    its parent."""
    paths = {node_id: path for path, node_id, _ in nodes}
    drawn = {node_id: text for _, node_id, text in nodes}
    members: dict[tuple[str, ...], list[str]] = {(): list(paths)}
    for node_id, path in paths.items():
        for depth in range(1, len(path) + 1):
            members.setdefault(path[:depth], []).append(node_id)
    clusters = [
        prefix
        for prefix, ids in members.items()
        if prefix and len(ids) > 1 and members[prefix[:-1]] != ids
    ]
    counter = iter(range(len(clusters)))

    def fill(target, prefix: tuple[str, ...]) -> None:
        inner = [c for c in clusters if len(c) > len(prefix) and c[: len(prefix)] == prefix]
        children = [c for c in inner if not any(o != c and c[: len(o)] == o for o in inner)]
        for child in children:
            style = {**CLUSTER_STYLE, "label": label(child[-1])}
            sub = _digraph(f"cluster_{next(counter)}", style, {})
            fill(sub, child)
            target.subgraph(sub)
        claimed = {node_id for child in children for node_id in members[child]}
        for node_id in members[prefix]:
            if node_id not in claimed:
                text, attributes = drawn[node_id]
                target.node(node_id, text, **attributes)

    fill(dot, ())


def _module_path(layer: Layer) -> tuple[str, ...]:
    """The modules a layer sits in: its subgraph scope, then the framework's module path (a torch
    module path or Keras name) or else the path in the ONNX node name ('/block1/conv/Conv')."""
    parts = [layer.scope] if layer.scope else []
    if layer.framework_name:
        parts += layer.framework_name.split(".")[:-1]
    else:
        parts += [part for part in layer.name.split("/") if part][:-1]
    return tuple(parts)


class _LogScale:
    """Maps positive values to edge width and colour on a log scale between their extremes."""

    def __init__(self, values: Sequence[float]) -> None:
        logs = [math.log10(v) for v in values if v > 0 and math.isfinite(v)]
        self.low, self.high = (min(logs), max(logs)) if logs else (0.0, 0.0)

    def position(self, value: float | None) -> float | None:
        if not value or value <= 0 or not math.isfinite(value):
            return None
        if self.high <= self.low:
            return 1.0
        return (math.log10(value) - self.low) / (self.high - self.low)

    def edge(self, value: float | None) -> dict[str, str]:
        position = self.position(value)
        if position is None:
            return {}
        width = PEN_WIDTHS[0] + position * (PEN_WIDTHS[1] - PEN_WIDTHS[0])
        return {"penwidth": f"{width:.2f}", "color": _bucket(FLOW_COLORS, position)}


def _bucket(colors: Sequence[str], position: float) -> str:
    """The colour of a value in [0, 1] from a table of equal steps."""
    index = int(min(max(position, 0.0), 1.0) * len(colors))
    return colors[min(index, len(colors) - 1)]


def _top_units(name: str, pathways) -> tuple[list[int], int]:
    """The units of ``name`` to draw (the most important first, at most UNITS_PER_LAYER) and how
    many are left out. Graph inputs rank their units by outgoing connection importance."""
    values = pathways.neuron_importance.get(name)
    if values is None:
        matrices = [m for (s, _), m in pathways.connections.items() if s == name]
        values = np.sum([np.asarray(m).sum(axis=1) for m in matrices], axis=0)
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-values, kind="stable")[:UNITS_PER_LAYER]
    return sorted(int(unit) for unit in order), max(values.size - UNITS_PER_LAYER, 0)


def _unit_edges(dot, ids, source: str, target: str, matrix: np.ndarray, shown) -> None:
    rows, columns = shown[source][0], shown[target][0]
    block = matrix[np.ix_(rows, columns)]
    if block.size == 0 or not block.max() > 0:
        return
    strongest = np.argsort(-block, axis=None, kind="stable")[:EDGES_PER_LINK]
    top = float(block.max())
    for flat in strongest:
        i, j = np.unravel_index(flat, block.shape)
        value = float(block[i, j])
        if value <= 0:
            break
        position = value / top
        width = PEN_WIDTHS[0] + position * (PEN_WIDTHS[1] - PEN_WIDTHS[0])
        dot.edge(
            ids[source, rows[i]],
            ids[target, columns[j]],
            penwidth=f"{width:.2f}",
            color=_bucket(FLOW_COLORS, position),
        )


def _shape(shape: Sequence[int] | None) -> str:
    return "?" if shape is None else "x".join(str(d) for d in shape)
