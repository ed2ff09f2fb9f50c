"""The recommendations pass: read off the measured sweeps, the same at any input scale."""

from __future__ import annotations

import functools
import json

import numpy as np
import onnx
import pytest
from builders import mlp
from onnx import numpy_helper

import irwua
from irwua import Options
from irwua.cli import main

pytest.importorskip("torch")
pytest.importorskip("sklearn")
from digits_models import digits, exported

RATIOS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)


def _recommend(model, data, **options) -> irwua.Analysis:
    options = Options(prune_ratios=RATIOS, prune_criteria=("importance", "random"), **options)
    return irwua.analyze(model, data=data, passes=["recommendations"], options=options)


@functools.cache
def _digits_mlp() -> irwua.Analysis:
    return _recommend(exported("mlp"), digits()[1])


def _largest_kept(points, tolerance):
    """The largest ratio before the first point whose agreement drops below 1 - tolerance."""
    best = 0.0
    for point in points:
        if point.fidelity.agreement < 1 - tolerance:
            break
        best = point.ratio
    return best


def test_layers_follow_their_sweeps():
    analysis = _digits_mlp()
    result, pruning = analysis["recommendations"], analysis["pruning"]
    assert list(result.layers) == ["1", "3", "5", "7"]
    for name, advice in result.layers.items():
        sweep = pruning.sweep("layer", "importance", "unstructured", name)
        assert advice.max_sparsity == _largest_kept(sweep.points, 0.01)
        structured = pruning.sweep("layer", "importance", "structured", name)
        if name == "7":  # the logits: their number is the model's output size
            assert structured is None and advice.suggested_width is None
            assert "outputs" in advice.reason
            continue
        removable = round(_largest_kept(structured.points, 0.01) * 256)
        assert advice.width == 256 and advice.suggested_width == 256 - removable
        assert advice.over_parameterized == (removable >= 128 or advice.max_sparsity >= 0.8)
    # The wide hidden layers tolerate more pruning than the first layer (Han et al.'s pattern).
    sparsity = {name: a.max_sparsity for name, a in result.layers.items()}
    assert min(sparsity["3"], sparsity["5"]) >= sparsity["1"]


def test_each_layer_follows_the_criterion_that_prunes_it_furthest():
    options = Options(prune_ratios=RATIOS, prune_criteria=("importance", "magnitude", "random"))
    analysis = irwua.analyze(
        exported("mlp"), data=digits()[1], passes=["recommendations"], options=options
    )
    result, pruning = analysis["recommendations"], analysis["pruning"]
    for name, advice in result.layers.items():
        reach = {
            criterion: _largest_kept(
                pruning.sweep("layer", criterion, "unstructured", name).points, 0.01
            )
            for criterion in ("importance", "magnitude")
        }
        best = max(reach, key=reach.get)  # ties: importance, the first
        assert advice.max_sparsity == reach[best] > 0
        assert f"zeroed ({best} pruning)" in advice.reason


def test_items_and_json():
    analysis = _digits_mlp()
    section = json.loads(analysis.to_json())["recommendations"]
    assert section["tolerance"] == 0.01
    assert {entry["layer"] for entry in section["layers"]} == {
        "1",
        "3",
        "5",
        "7",
    }
    assert set(section["layers"][0]) >= {
        "layer",
        "max_sparsity",
        "suggested_width",
        "width",
        "over_parameterized",
        "reason",
    }
    (overall,) = [item for item in section["items"] if item["layer"] is None]
    assert "importance" in overall["text"] and "random" in overall["text"]
    narrow = [i for i in section["items"] if i["text"].startswith("Narrow")]
    for item in narrow:
        advice = next(a for a in section["layers"] if a["layer"] == item["layer"])
        assert f"to {advice['suggested_width']} units" in item["text"]
    assert all(item["severity"] in ("info", "suggestion", "warning") for item in section["items"])


def test_same_recommendations_at_any_input_scale():
    """Inputs x 10 and first-layer weights / 10 compute the same function: every measured
    recommendation must stay the same (no threshold depends on the scale)."""
    proto = exported("mlp")
    scaled = onnx.ModelProto()
    scaled.CopyFrom(proto)
    first = next(n for n in scaled.graph.node if n.op_type == "Gemm").input[1]
    for tensor in scaled.graph.initializer:
        if tensor.name == first:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) / 10, first))
    x = digits()[1]
    original = _digits_mlp()["recommendations"]
    rescaled = _recommend(scaled, x * 10)["recommendations"]
    for name, advice in original.layers.items():
        other = rescaled.layers[name]
        assert (advice.max_sparsity, advice.suggested_width, advice.over_parameterized) == (
            other.max_sparsity,
            other.suggested_width,
            other.over_parameterized,
        )


def test_dead_units_are_reported():
    proto = mlp(in_features=4, hidden=8, out=3)
    for tensor in proto.graph.initializer:
        if tensor.name == "b1":  # hidden unit 2 never fires on inputs of this size
            bias = numpy_helper.to_array(tensor).copy()
            bias[2] = -1000.0
            tensor.CopyFrom(numpy_helper.from_array(bias, "b1"))
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    items = _recommend(proto, x)["recommendations"].items
    assert any("1 output units of 'fc1' are never active" in item.text for item in items)


def test_a_regression_model_is_advised_in_terms_of_its_output_error():
    """One output value per sample: no top-1 to agree on, so the tolerance bounds the relative
    output error and the advice says so."""
    proto = mlp(in_features=6, hidden=32, out=1)
    x = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32)
    result = _recommend(proto, x, tolerance=0.05)["recommendations"]
    texts = [item.text for item in result.items] + [a.reason for a in result.layers.values()]
    assert not any("top-1" in text or "predictions" in text for text in texts), texts
    assert any("relative output error <= 5%" in text for text in texts), texts


def test_without_data_there_is_nothing_to_recommend():
    result = irwua.analyze(mlp(), passes=["recommendations"])["recommendations"]
    assert result.layers == {}
    assert "not measured" in result.items[0].text and "no data" in result.items[0].text


def test_cli_analyze_with_labels_and_pruning_options(tmp_path, capsys):
    _, x, _, y = digits()
    paths = {name: tmp_path / f"{name}.npy" for name in ("x", "y")}
    np.save(paths["x"], x[:120])
    np.save(paths["y"], y[:120])
    model = tmp_path / "mlp.onnx"
    onnx.save(exported("mlp"), model)
    args = ["analyze", str(model), "--data", str(paths["x"]), "--labels", str(paths["y"])]
    args += ["--passes", "recommendations", "--prune-ratios", "0.5,0.7", "--quiet"]
    args += ["--prune-granularity", "unstructured", "--out", str(tmp_path / "report")]
    assert main(args) == 0
    document = json.loads((tmp_path / "report" / "analysis.json").read_text())
    pruning = document["pruning"]
    assert pruning["ratios"] == [0.5, 0.7] and pruning["labels"] and pruning["samples"] == 120
    assert {s["granularity"] for s in pruning["sweeps"]} == {"unstructured"}
    assert all(p["accuracy"] is not None for s in pruning["sweeps"] for p in s["points"])
    assert len(document["recommendations"]["layers"]) == 4
    capsys.readouterr()
    assert main([*args[:-2], "--prune-ratios", "0.5,x", "--out", str(tmp_path / "r2")]) == 2
    assert "--prune-ratios" in capsys.readouterr().err
