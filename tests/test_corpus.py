"""The corpus of real-world ONNX layouts (tests/corpus.py) through the CLI and the API.

Every case runs the flops pass through ``irwua analyze`` and must report the hand-computed
numbers; cases onnxruntime can run are analysed on data (importance and metrics) through the CLI,
and every case without data through the API (importance is then |w|, checked against numpy).
Case-specific behaviour (If branches, memory-mapped weights, quantized weights, token ids, ...)
has its own test below.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from corpus import CASE_BY_NAME, CASES, VOCAB, Case, runtime_max_opset, write_external_model

import irwua
from irwua.cli import main
from irwua.ingest.inputs import input_specs, parse_shape
from irwua.runtime.sessions import synthetic_inputs


def _save(case: Case, directory: Path) -> Path:
    path = directory / f"{case.name}.onnx"
    proto = case.build()
    if case.external:
        onnx.save_model(
            proto,
            path,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{case.name}.weights",
            size_threshold=0,
        )
    else:
        onnx.save_model(proto, path)
    return path


def _save_data(case: Case, directory: Path) -> Path:
    """The case's data as an .npy (one input) or .npz (by input name)."""
    data = case.data()
    if isinstance(data, dict):
        np.savez(directory / "data.npz", **data)
        return directory / "data.npz"
    np.save(directory / "data.npy", data)
    return directory / "data.npy"


def _shape_args(case: Case) -> list[str]:
    return [arg for shape in case.shapes for arg in ("--input-shape", shape)]


def _analyze(args: list[str], out: Path, capsys) -> tuple[int, dict | None, str]:
    code = main(["analyze", *args, "--out", str(out), "--quiet"])
    error = capsys.readouterr().err
    document = json.loads((out / "analysis.json").read_text()) if code == 0 else None
    return code, document, error


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_flops_through_the_cli(case, tmp_path, capsys):
    path = _save(case, tmp_path)
    args = [str(path), "--only", "flops", *_shape_args(case)]
    code, document, error = _analyze(args, tmp_path / "out", capsys)
    assert code == 0, error
    totals = document["totals"]
    assert {key: totals[key] for key in case.totals} == dict(case.totals)
    assert sorted(layer["name"] for layer in document["layers"]) == sorted(case.layers)
    assert document["flops"]["unsupported"] == dict(case.unsupported)
    assert document["flops"]["unresolved"] == {}


WITH_DATA = [case for case in CASES if case.data]
CLI_OPSETS = {7, 9, 11, 13, 18, runtime_max_opset(), onnx.defs.onnx_opset_version()}
"""Opsets whose data run also goes through the CLI (each writes a report; the rest use the API)."""


def _samples(data) -> int:
    return len(next(iter(data.values()))) if isinstance(data, dict) else len(data)


@pytest.mark.parametrize(
    "case",
    [c for c in WITH_DATA if not c.name.startswith("opset_") or int(c.name[6:]) in CLI_OPSETS],
    ids=lambda case: case.name,
)
def test_importance_and_metrics_on_data_through_the_cli(case, tmp_path, capsys):
    path = _save(case, tmp_path)
    data = _save_data(case, tmp_path)
    args = [str(path), "--passes", "flops,metrics", "--data", str(data)]
    code, document, error = _analyze(args, tmp_path / "out", capsys)
    assert code == 0, error
    totals = document["totals"]
    if case.unrunnable is not None:  # analysed with magnitude importance, and it says why
        assert error.startswith("irwua: warning: ") and re.search(case.unrunnable, error), error
        assert error.count("\n") == 1 and "Traceback" not in error
        assert totals["data"] is False
        assert re.search(case.unrunnable, document["importance"]["note"])
        return
    assert totals["samples"] == _samples(case.data()) and totals["data"] is True
    assert sorted(layer["name"] for layer in document["layers"]) == sorted(case.layers)
    for layer in document["layers"]:
        assert layer["importance"] > 0 and 0 < layer["metrics"]["utilization"] <= 1, layer
    saved = np.load(tmp_path / "out" / "importance_units.npz")
    assert sorted(saved["layer_names"]) == sorted(case.layers)


@pytest.mark.parametrize("case", WITH_DATA, ids=lambda case: case.name)
def test_importance_and_metrics_on_data_through_the_api(case, tmp_path):
    path = _save(case, tmp_path)
    if case.unrunnable is not None:
        with pytest.warns(UserWarning, match=case.unrunnable):
            analysis = irwua.analyze(path, data=case.data(), passes=["metrics"])
        assert analysis["importance"].data is False
        assert set(analysis["metrics"].layers) == set(case.layers)
        return
    analysis = irwua.analyze(path, data=case.data(), passes=["metrics"])
    assert analysis["activations"].samples == _samples(case.data())
    assert analysis["importance"].data is True
    assert set(analysis["metrics"].layers) == set(case.layers)
    for name, layer in analysis["importance"].layers.items():
        assert np.isfinite(layer.weight).all() and layer.weight.sum() > 0, name


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_magnitude_importance_without_data_through_the_api(case):
    shapes = dict(parse_shape(text) for text in case.shapes)
    analysis = irwua.analyze(case.build(), passes=["metrics"], input_shapes=shapes)
    assert analysis["importance"].data is False
    for layer in analysis.graph.layers:
        expected = np.abs(np.asarray(analysis.graph.array(layer), np.float32))
        np.testing.assert_array_equal(analysis["importance"].layers[layer.name].weight, expected)
        assert 0 < analysis["metrics"].layers[layer.name]["utilization"] <= 1


def test_weights_in_constant_nodes_get_wanda_style_importance_on_data():
    case = CASE_BY_NAME["constant_nodes"]
    x = case.data()
    analysis = irwua.analyze(case.build(), data=x, passes=["importance"])
    nodes = {node.output[0]: node for node in case.build().graph.node if node.op_type == "Constant"}
    w1, b1, w2 = (onnx.numpy_helper.to_array(nodes[n].attribute[0].t) for n in ("w1", "b1", "w2"))
    hidden = np.maximum(x @ w1 + b1, 0)
    importance = analysis["importance"].layers
    np.testing.assert_allclose(importance["fc1"].weight, np.abs(w1) * np.abs(x).mean(0)[:, None])
    np.testing.assert_allclose(
        importance["fc2"].weight, np.abs(w2) * np.abs(hidden).mean(0)[:, None], rtol=1e-5
    )
    np.testing.assert_allclose(importance["fc1"].bias, np.abs(b1))


def test_if_reports_each_branch_and_counts_the_larger(tmp_path, capsys):
    path = _save(CASE_BY_NAME["if_branches"], tmp_path)
    code, document, error = _analyze([str(path), "--only", "flops"], tmp_path / "out", capsys)
    assert code == 0, error
    branches = document["flops"]["branches"]
    assert {scope: counts["flops"] for scope, counts in branches.items()} == {
        "branch.then_branch": 2 * 6,
        "branch.else_branch": 2 * (15 + 10),
    }
    assert document["totals"]["flops"] == max(c["flops"] for c in branches.values())
    (note,) = document["flops"]["notes"]
    assert note.startswith("If 'branch' chooses a branch at run time (FLOPs then 12, else 50)")


def test_loop_and_scan_bodies_count_once_per_iteration():
    loop = irwua.analyze(CASE_BY_NAME["loop_body"].build(), passes=["flops"])["flops"]
    assert loop.branches["loop.body"].macs == 64 and loop.total.macs == 5 * 64
    scan = irwua.analyze(CASE_BY_NAME["scan_body"].build(), passes=["flops"])["flops"]
    assert scan.branches["scan.body"].macs == 12 and scan.total.macs == 6 * 12


def _mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory map (no copy of the file's bytes)."""
    while array is not None and not isinstance(array, mmap.mmap):
        array = getattr(array, "base", None)
    return array is not None


def test_external_weights_are_memory_mapped_not_copied(tmp_path):
    case = CASE_BY_NAME["external_data"]
    path = _save(case, tmp_path)
    analysis = irwua.analyze(path, data=case.data(), passes=["metrics"])
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in case.build().graph.initializer}
    for layer in analysis.graph.layers:
        for role, tensor in layer.tensors.items():
            array = analysis.graph.array(layer, role)
            assert _mapped(array), (layer.name, role)
            np.testing.assert_array_equal(array, stored[tensor])
    assert analysis["importance"].data is True


def _peak_rss(model: Path, out: Path) -> int:
    """Peak resident memory, in bytes, of ``irwua analyze MODEL --only flops`` run alone."""
    argv = [sys.executable, "-m", "irwua", "analyze", str(model), "--only", "flops"]
    process = subprocess.Popen(
        [*argv, "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    assert status == 0
    return usage.ru_maxrss * 1024  # Linux reports kilobytes


def test_flops_on_external_weights_never_reads_them(tmp_path):
    """The whole process grows by far less than the weights, against the same graph with tiny
    weights: the weights stay memory-mapped and untouched (bench/external_data_memory.py
    measures 1 GB)."""
    (tmp_path / "big").mkdir()
    (tmp_path / "tiny").mkdir()
    big = write_external_model(tmp_path / "big", width=2048, layers=3)
    tiny = write_external_model(tmp_path / "tiny", width=64, layers=3)
    weights = (tmp_path / "big" / "weights.bin").stat().st_size
    assert weights == 3 * 2048 * 2048 * 4
    growth = _peak_rss(big, tmp_path / "out_big") - _peak_rss(tiny, tmp_path / "out_tiny")
    assert growth < 0.25 * weights, f"grew {growth / 2**20:.1f} MB for {weights / 2**20:.0f} MB"
    document = json.loads((tmp_path / "out_big" / "analysis.json").read_text())
    assert document["totals"]["macs"] == 3 * 2048 * 2048
    assert document["totals"]["params"] == 3 * 2048 * 2048


def test_quantized_weights_are_dequantized_with_their_scales():
    proto = CASE_BY_NAME["qlinear_conv"].build()
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    analysis = irwua.analyze(proto, passes=["importance"])
    layer = analysis.graph.layer_by_name["qconv"]
    scale = stored["ws"].reshape(4, 1, 1, 1)
    expected = (stored["w"].astype(np.float32) - stored["wz"].reshape(4, 1, 1, 1)) * scale
    np.testing.assert_allclose(analysis.graph.array(layer), expected)
    np.testing.assert_allclose(
        analysis.graph.array(layer, "bias"), stored["b"] * stored["xs"] * stored["ws"]
    )
    importance = analysis["importance"].layers["qconv"]
    np.testing.assert_allclose(importance.weight, np.abs(expected))
    matmul = irwua.analyze(CASE_BY_NAME["matmul_integer"].build(), passes=["importance"])
    weight = matmul.graph.array(matmul.graph.layer_by_name["mmi"])
    w = next(t for t in CASE_BY_NAME["matmul_integer"].build().graph.initializer if t.name == "w")
    np.testing.assert_array_equal(weight, onnx.numpy_helper.to_array(w).astype(np.float32) - 128)


def test_synthetic_token_ids_stay_within_the_embedding_table():
    proto = CASE_BY_NAME["token_ids"].build()
    specs = input_specs(proto)
    assert specs[0].ids == ("E", VOCAB)
    ids = synthetic_inputs(specs, {"ids": (8, 100)})["ids"]
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < VOCAB
    assert len(np.unique(ids)) > VOCAB // 2  # spread over the table, not one id


def test_token_counts_come_from_the_data():
    case = CASE_BY_NAME["token_ids"]
    ids = case.data()
    analysis = irwua.analyze(case.build(), data=ids, passes=["importance"])
    counts = analysis["activations"].token_counts["embedding"]
    np.testing.assert_array_equal(counts, np.bincount(ids.ravel(), minlength=VOCAB))
    frequency = counts / counts.sum()
    table = analysis.graph.array(analysis.graph.layer_by_name["embedding"])
    np.testing.assert_allclose(
        analysis["importance"].layers["embedding"].weight, np.abs(table) * frequency[:, None]
    )


def test_string_inputs_are_fed_as_strings():
    case = CASE_BY_NAME["string_input"]
    analysis = irwua.analyze(case.build(), data=case.data(), passes=["activations"])
    # ids: unknown word -> 0, cat -> 1, dog -> 2, fish -> 3 (bird is unknown)
    np.testing.assert_array_equal(analysis["activations"].token_counts["embedding"], [1, 3, 1, 1])


def test_dynamic_dims_are_bound_from_the_data_or_must_be_given():
    case = CASE_BY_NAME["dynamic_dims"]
    analysis = irwua.analyze(case.build(), data=case.data(), passes=["flops"])
    assert analysis.graph.metadata["input_shapes"] == {"x": [1, 7, 16]}
    assert analysis["flops"].total.macs == 7 * 16 * 4
    with pytest.raises(irwua.IrwuaError, match=r"Input 'x' has 'seq' at axis 1 .*--input-shape"):
        irwua.analyze(case.build(), passes=["flops"])


def test_a_fixed_batch_runs_that_many_samples_at_a_time():
    proto = CASE_BY_NAME["constant_nodes"].build()
    for vi in (*proto.graph.input, *proto.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = 2
    data = CASE_BY_NAME["constant_nodes"].data()[:5]
    with pytest.warns(UserWarning, match="exactly 2 samples per run .* last 1 samples are left"):
        analysis = irwua.analyze(proto, data=data, passes=["importance"])
    assert analysis["activations"].samples == 4
    np.testing.assert_allclose(
        analysis["activations"].inputs["fc1"].mean_abs, np.abs(data[:4]).mean(0), rtol=1e-6
    )
    with pytest.raises(irwua.IrwuaError, match=r"takes exactly 2 samples per run .* has 1"):
        irwua.analyze(proto, data=data[:1], passes=["importance"])


def test_custom_domain_ops_are_unsupported_and_the_rest_is_analysed():
    analysis = irwua.analyze(CASE_BY_NAME["custom_domain"].build(), passes=["metrics"])
    flops = analysis["flops"]
    assert dict(flops.unsupported) == {"com.acme::FancyAct": 1}
    assert flops.nodes["fancy"].flops == 0
    assert flops.nodes["fc2"].macs == 24  # after the custom op, from its declared output shape
    assert set(analysis["metrics"].layers) == {"fc1", "fc2"}
