"""``irwua prune``: valid pruned models with the original's inputs and outputs, smaller when
structured, and measured exactly as the pruning pass measures them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import irwua
from irwua import Options
from irwua.cli import main
from irwua.pruner import prune_model

pytest.importorskip("torch")
pytest.importorskip("sklearn")
from digits_models import digits, exported


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The trained CNN (with a BatchNorm) as .onnx, and the test images and labels as .npy."""
    folder = tmp_path_factory.mktemp("prune")
    _, x, _, y = digits()
    paths = {"model": folder / "cnn.onnx", "x": folder / "x.npy", "y": folder / "y.npy"}
    onnx.save(exported("cnn_bn"), paths["model"])
    np.save(paths["x"], x)
    np.save(paths["y"], y)
    return {name: str(path) for name, path in paths.items()}


def _io(model: onnx.ModelProto):
    """Names, element types and ranks of the graph's inputs and outputs."""
    stored = {t.name for t in model.graph.initializer}

    def describe(values):
        return [
            (v.name, v.type.tensor_type.elem_type, len(v.type.tensor_type.shape.dim))
            for v in values
            if v.name not in stored
        ]

    return describe(model.graph.input), describe(model.graph.output)


def _weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The weight matrices of the Conv and Gemm nodes, by node output."""
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return {
        node.output[0]: stored[node.input[1]]
        for node in model.graph.node
        if node.op_type in ("Conv", "Gemm")
    }


def _check_valid(path: str, original: str) -> onnx.ModelProto:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert _io(model) == _io(onnx.load(original))
    return model


def test_unstructured_prune_zeroes_weights_and_prints_fidelity(files, tmp_path, capsys):
    out = tmp_path / "pruned.onnx"
    args = ["prune", files["model"], "--data", files["x"], "--labels", files["y"]]
    assert main([*args, "--ratio", "0.6", "--criterion", "magnitude", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    pruned = _check_valid(str(out), files["model"])
    weights = _weights(pruned)
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    total = sum(w.size for w in weights.values())
    assert zeros / total == pytest.approx(0.6, abs=1e-3)
    original = _weights(onnx.load(files["model"]))
    for name, weight in weights.items():  # what is left is the original weight
        np.testing.assert_array_equal(weight[weight != 0], original[name][weight != 0])
    assert "top-1 agreement" in printed and "accuracy" in printed
    assert f"pruned model: {out}" in printed
    original_size = Path(files["model"]).stat().st_size
    assert abs(out.stat().st_size - original_size) < 0.05 * original_size  # zeros are stored


def test_uniform_scope_prunes_every_layer_at_the_ratio(files):
    _, x, _, _ = digits()
    pruned = prune_model(files["model"], x, 0.5, criterion="importance", scope="uniform")
    for weight in _weights(pruned.proto).values():
        assert (weight == 0).mean() == pytest.approx(0.5, abs=0.5 / weight.size + 1e-9)
    assert pruned.after.nonzero < pruned.before.nonzero
    assert pruned.after.flops == pruned.before.flops  # zeros do not change dense FLOPs


def test_structured_prune_shrinks_the_model(files, tmp_path, capsys):
    out = tmp_path / "narrow.onnx"
    args = ["prune", files["model"], "--data", files["x"], "--ratio", "0.3", "--structured"]
    assert main([*args, "--scope", "uniform", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    narrow = _check_valid(str(out), files["model"])
    before = irwua.analyze(files["model"], passes=["flops"])["flops"].total
    after = irwua.analyze(str(out), passes=["flops"])["flops"].total
    assert after.params < before.params and after.flops < before.flops
    assert out.stat().st_size < onnx.load(files["model"]).ByteSize()
    assert "keeps its width: its units reach the model's outputs" in printed
    # The BatchNorm between the second conv and its consumer lost the same channels.
    stored = {t.name: numpy_helper.to_array(t) for t in narrow.graph.initializer}
    (norm,) = [n for n in narrow.graph.node if n.op_type == "BatchNormalization"]
    conv = next(n for n in narrow.graph.node if n.output[0] == norm.input[0])
    channels = stored[conv.input[1]].shape[0]
    assert all(stored[name].shape == (channels,) for name in norm.input[1:])
    # The ratio counts weights: every layer that can shrink lost the same share of its units
    # (to a unit), and together the units took out 30% of the weights (to one unit's worth).
    before_weights = _weights(onnx.load(files["model"]))
    after_weights = _weights(narrow)
    removed = 1 - sum(w.size for w in after_weights.values()) / sum(
        w.size for w in before_weights.values()
    )
    assert 0.3 <= removed < 0.36
    shares = [
        1 - after_weights[name].shape[0] / weight.shape[0]
        for name, weight in before_weights.items()
        if after_weights[name].shape[0] < weight.shape[0]
    ]
    assert len(shares) == 4 and max(shares) - min(shares) <= 1 / 16


def test_structured_prune_equals_the_sweep_point(files):
    """The pruning pass zeroes units (and their consumers' inputs) in a copy; ``irwua prune``
    deletes them: both must give the same outputs."""
    _, x, _, y = digits()
    settings = dict(prune_ratios=(0.3,), prune_scopes=("global",), prune_criteria=("importance",))
    options = Options(prune_granularity=("structured",), **settings)
    sweep = irwua.analyze(files["model"], x, passes=["pruning"], options=options, labels=y)
    point = sweep["pruning"].sweeps[0].points[0].fidelity
    pruned = prune_model(files["model"], x, 0.3, structured=True, labels=y)
    assert pruned.fidelity.relative_error == pytest.approx(point.relative_error, rel=1e-4)
    assert pruned.fidelity.agreement == point.agreement
    assert pruned.fidelity.accuracy == point.accuracy


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ratio", "1.5"], "between 0 and 1"),
        (["--ratio", "0.5", "--criterion", "gradient"], "--criterion must be one of importance"),
        (["--ratio", "0.5", "--scope", "layer"], "--scope must be one of global, uniform, owl"),
        (["--ratio", "0.5", "--labels", "MISSING"], "does not exist"),
        (
            ["--pattern", "2:4", "--layers", "0,2"],
            "'0' cannot take the 2:4 pattern: its input width 1 is not a multiple of 4",
        ),
        (["--pattern", "3:2"], "--pattern must be N:M with 0 < N < M"),
        (["--pattern", "2:4", "--ratio", "0.7"], "--ratio of 2:4 sparsity is 0.5"),
        (["--ratio", "0.5", "--layers", "fc"], "'fc' is not one of the layers that can be pruned"),
        (["--ratio", "0.5", "--structured", "--scope", "owl"], "--structured removes whole units"),
        (["--pattern", "2:4", "--structured"], "--pattern zeroes weights"),
        (["--ratio", "0.5", "--width-multiple", "8"], "--width-multiple rounds the widths"),
    ],
)
def test_bad_input_is_one_sentence_and_writes_nothing(files, tmp_path, capsys, extra, message):
    out = tmp_path / "pruned.onnx"
    extra = [files["y"][:-5] + "nothing.npy" if e == "MISSING" else e for e in extra]
    code = main(["prune", files["model"], "--data", files["x"], *extra, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("irwua: error:") and message in err and len(err.splitlines()) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_n_m_prune_writes_zeros_in_the_pattern(files, tmp_path, capsys):
    """2:4 sparsity: of every 4 consecutive input channels (or features) of each output, at
    least 2 weights are zero in the written model; the first conv (1 input channel) stays dense
    and the summary says why."""
    out = tmp_path / "sparse.onnx"
    args = ["prune", files["model"], "--data", files["x"], "--pattern", "2:4", "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "'0' stays dense: its input width 1 is not a multiple of 4" in printed
    assert "pruned 50% of the weights (importance, 2:4, uniform)" in printed
    weights = _weights(_check_valid(str(out), files["model"]))
    assert len(weights) == 5
    for name, weight in weights.items():
        groups = np.moveaxis(weight, 1, -1).reshape(-1, weight.shape[1])
        if weight.shape[1] % 4:
            assert np.count_nonzero(weight) == weight.size, name
            continue
        zeros = (groups.reshape(-1, 4) == 0).sum(axis=1)
        assert zeros.min() >= 2, name


@pytest.mark.parametrize("structured", [False, True])
def test_a_pruned_model_can_be_pruned_again(files, tmp_path, structured):
    _, x, _, _ = digits()
    once = prune_model(files["model"], x, 0.3, structured=structured, scope="uniform")
    path = tmp_path / "once.onnx"
    onnx.save(once.proto, path)
    twice = prune_model(str(path), x, 0.5, structured=structured, scope="uniform")
    onnx.checker.check_model(twice.proto, full_check=True)
    assert twice.after.nonzero < once.after.nonzero
    analysis = irwua.analyze(str(path), x[:64], passes=["pruning"])
    assert analysis["pruning"].ran


def test_prune_model_is_also_at_the_top_of_the_package():
    assert irwua.prune_model is prune_model
