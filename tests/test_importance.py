"""Importance against plain torch/numpy references computed from the framework model itself."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from builders import model
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

import irwua
from irwua import Options

torch = pytest.importorskip("torch")


def _export(module, example, tmp_path) -> str:
    path = str(tmp_path / "model.onnx")
    module.eval()
    torch.onnx.export(
        module,
        (example,),
        path,
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )
    return path


def _data(*shape, seed=0) -> np.ndarray:
    """Inputs whose features have different scales and a few exact zeros."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 3.0, size=(1, shape[1]) + (1,) * (len(shape) - 2))
    data = (rng.standard_normal(shape) * scale).astype(np.float32)
    data[rng.random(shape) < 0.1] = 0.0
    return data


def _importance(path, data, **options):
    analysis = irwua.analyze(path, data=data, passes=["importance"], options=Options(**options))
    return analysis, analysis["importance"]


def _by_op(analysis, op_type):
    return [layer for layer in analysis.graph.layers if layer.op_type == op_type]


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_linear_layer_matches_numpy(tmp_path, norm):
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 4)
    data = _data(200, 6)
    analysis, result = _importance(
        _export(linear, torch.from_numpy(data[:2]), tmp_path), data, norm=norm, batch_size=32
    )
    (layer,) = analysis.graph.layers
    stat = np.abs(data).mean(0) if norm == "l1" else np.sqrt((data**2).mean(0))
    expected = np.abs(linear.weight.detach().numpy()) * stat[None, :]
    importance = result.layers[layer.name]
    np.testing.assert_allclose(importance.weight, expected, rtol=1e-5)
    np.testing.assert_allclose(importance.per_output, expected.sum(1), rtol=1e-5)
    np.testing.assert_allclose(importance.per_input, expected.sum(0), rtol=1e-5)
    np.testing.assert_allclose(importance.bias, np.abs(linear.bias.detach().numpy()))


def test_conv_grouped_and_depthwise_match_torch(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, groups=8),
    )
    data = _data(40, 3, 9, 9)
    analysis, result = _importance(
        _export(net, torch.from_numpy(data[:2]), tmp_path), data, batch_size=16
    )
    inputs = [torch.from_numpy(data)]
    with torch.no_grad():
        inputs.append(net[1](net[0](inputs[0])))
        inputs.append(net[3](net[2](inputs[1])))
    convs = _by_op(analysis, "Conv")
    assert len(convs) == 3
    for conv_module, x, layer in zip((net[0], net[2], net[4]), inputs, convs, strict=True):
        channel_mean = x.abs().mean(dim=(0, 2, 3)).numpy()
        weight = np.abs(conv_module.weight.detach().numpy())
        out_channels, in_per_group = weight.shape[:2]
        per_group_out = out_channels // conv_module.groups
        expected = np.empty_like(weight)
        for o in range(out_channels):
            first = (o // per_group_out) * in_per_group
            expected[o] = weight[o] * channel_mean[first : first + in_per_group, None, None]
        np.testing.assert_allclose(result.layers[layer.name].weight, expected, rtol=1e-4)


class _MatMulLayer(torch.nn.Module):
    """y = x @ W + b with W stored [in, out]: exported as MatMul + Add."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(5, 3))
        self.b = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        return x @ self.w + self.b


def test_matmul_in_out_layout_matches_numpy(tmp_path):
    torch.manual_seed(0)
    module = _MatMulLayer()
    data = _data(64, 5)
    analysis, result = _importance(_export(module, torch.from_numpy(data[:2]), tmp_path), data)
    (layer,) = analysis.graph.layers
    assert layer.kind == "matmul" and "bias" in layer.tensors
    expected = np.abs(module.w.detach().numpy()) * np.abs(data).mean(0)[:, None]
    np.testing.assert_allclose(result.layers[layer.name].weight, expected, rtol=1e-5)
    np.testing.assert_allclose(result.layers[layer.name].per_output, expected.sum(0), rtol=1e-5)


def test_batchnorm_scale_against_the_normalized_input(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6))
    net.train()
    with torch.no_grad():  # give the running statistics real values
        for _ in range(20):
            net(torch.randn(32, 4) * 2 + 1)
    data = _data(100, 4)
    analysis, result = _importance(_export(net, torch.from_numpy(data[:2]), tmp_path), data)
    (norm,) = _by_op(analysis, "BatchNormalization")
    bn = net[1]
    with torch.no_grad():
        hidden = net[0](torch.from_numpy(data)).numpy()
    normalized = (hidden - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + bn.eps)
    expected = np.abs(bn.weight.detach().numpy()) * np.sqrt((normalized**2).mean(0))
    np.testing.assert_allclose(result.layers[norm.name].weight, expected, rtol=1e-4)


def test_embedding_importance_is_token_frequency(tmp_path):
    table = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    proto = model(
        [helper.make_node("Gather", ["emb", "ids"], ["y"], name="embed")],
        [("ids", ["batch", 2], onnx.TensorProto.INT64)],
        [("y", ["batch", 2, 3])],
        {"emb": table},
    )
    ids = np.array([[0, 0], [0, 2], [2, 3]], np.int64)
    result = irwua.analyze(proto, data=ids, passes=["importance"])["importance"]
    frequency = np.array([3, 0, 2, 1]) / 6
    np.testing.assert_allclose(result.layers["embed"].weight, np.abs(table) * frequency[:, None])


def test_without_data_importance_is_magnitude_and_says_so(tmp_path):
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    path = _export(linear, torch.zeros(1, 3), tmp_path)
    analysis = irwua.analyze(path, passes=["metrics"])
    (layer,) = analysis.graph.layers
    np.testing.assert_allclose(
        analysis["importance"].layers[layer.name].weight, np.abs(linear.weight.detach().numpy())
    )
    document = analysis.to_dict()
    assert document["importance"]["note"] == "no data given: importance is weight magnitude only"
    assert document["totals"]["importance_criterion"] == "magnitude"
    assert document["layers"][0]["metrics"]["dead_units"] is None


def test_streaming_batches_merge_exactly_and_runs_repeat(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    data = _data(301, 5)
    path = _export(net, torch.from_numpy(data[:2]), tmp_path)
    small = irwua.analyze(path, data=data, passes=["metrics"], options=Options(batch_size=7))
    large = irwua.analyze(path, data=data, passes=["metrics"], options=Options(batch_size=1000))
    again = irwua.analyze(path, data=data, passes=["metrics"], options=Options(batch_size=7))
    for name, layer in small["importance"].layers.items():
        np.testing.assert_allclose(layer.weight, large["importance"].layers[name].weight, rtol=1e-5)
    assert small.to_dict()["layers"] == again.to_dict()["layers"]
    assert small.to_dict()["totals"]["samples"] == 301


def test_multi_input_model_takes_a_dict_or_a_list():
    rng = np.random.default_rng(0)
    proto = model(
        [
            helper.make_node("MatMul", ["a", "wa"], ["ya"], name="left"),
            helper.make_node("MatMul", ["b", "wb"], ["yb"], name="right"),
            helper.make_node("Add", ["ya", "yb"], ["y"]),
        ],
        [("a", ["batch", 3]), ("b", ["batch", 4])],
        [("y", ["batch", 2])],
        {
            "wa": rng.standard_normal((3, 2), np.float32),
            "wb": rng.standard_normal((4, 2), np.float32),
        },
    )
    a, b = _data(20, 3), _data(20, 4, seed=1)
    by_name = irwua.analyze(proto, data={"b": b, "a": a}, passes=["importance"])["importance"]
    in_order = irwua.analyze(proto, data=[a, b], passes=["importance"])["importance"]
    expected = np.abs(proto_weight(proto, "wb")) * np.abs(b).mean(0)[:, None]
    np.testing.assert_allclose(by_name.layers["right"].weight, expected, rtol=1e-5)
    np.testing.assert_allclose(in_order.layers["right"].weight, expected, rtol=1e-5)


def proto_weight(proto, name):
    return next(onnx.numpy_helper.to_array(t) for t in proto.graph.initializer if t.name == name)


def test_importance_npz_holds_one_array_per_layer_shaped_like_its_weight(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    data = _data(30, 5)
    analysis = irwua.analyze(
        _export(net, torch.from_numpy(data[:2]), tmp_path),
        data=data,
        passes=["importance"],
        options=irwua.Options(save_importance=True),
    )
    analysis.save(tmp_path / "out")
    saved = np.load(tmp_path / "out" / "importance.npz")
    units = np.load(tmp_path / "out" / "importance_units.npz")
    for index, layer in enumerate(analysis["importance"].layers.values()):
        np.testing.assert_allclose(units[f"layer_{index}_out"], layer.weight.sum(axis=1), rtol=1e-5)
    names = [layer.name for layer in analysis.graph.layers]
    assert saved["layer_names"].tolist() == names
    keys = [f"layer_{index}" for index in range(len(names))]
    assert sorted(saved.files) == sorted(["layer_names", *keys])
    for index, layer in enumerate(analysis.graph.layers):
        assert saved[f"layer_{index}"].shape == analysis.graph.array(layer).shape


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    out_unit=st.integers(0, 2),
    pruned=st.sets(st.integers(0, 5), min_size=1),
    silent=st.sets(st.integers(0, 5)),
)
def test_zeroing_weights_changes_the_mean_output_by_at_most_their_importance(
    seed, out_unit, pruned, silent
):
    """|mean|y_i| - mean|y_i'|| <= sum_{j in P} I_ij, and 0 when those inputs are always 0."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((3, 6)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    data = _data(50, 6, seed=seed % 1000)
    data[:, sorted(silent)] = 0.0
    proto = model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)],
        [("x", ["batch", 6])],
        [("y", ["batch", 3])],
        {"w": weight, "b": bias},
    )
    importance = irwua.analyze(proto, data=data, passes=["importance"])["importance"]
    rows = sorted(pruned)
    zeroed = weight.copy()
    zeroed[out_unit, rows] = 0.0
    before = np.abs(data.astype(np.float64) @ weight[out_unit] + bias[out_unit]).mean()
    after = np.abs(data.astype(np.float64) @ zeroed[out_unit] + bias[out_unit]).mean()
    bound = importance.layers["fc"].weight[out_unit, rows].sum()
    assert abs(before - after) <= bound * (1 + 1e-5) + 1e-6
    if set(rows) <= silent:
        assert before == pytest.approx(after, abs=1e-9)


def test_conv_transpose_and_lstm_read_the_right_weight_axis():
    rng = np.random.default_rng(0)
    deconv_w = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)  # [in, out, k, k]
    lstm_w = rng.standard_normal((1, 4 * 5, 3)).astype(np.float32)  # [dirs, 4H, in]
    lstm_r = rng.standard_normal((1, 4 * 5, 5)).astype(np.float32)
    proto = model(
        [
            helper.make_node("ConvTranspose", ["x", "dw"], ["d"], name="deconv", strides=[2, 2]),
            helper.make_node("ReduceMean", ["d"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("Transpose", ["x"], ["seq"], perm=[2, 0, 3, 1]),
            helper.make_node("Reshape", ["seq", "seq_shape"], ["steps"]),
            helper.make_node("LSTM", ["steps", "lw", "lr"], ["hidden"], name="lstm", hidden_size=5),
        ],
        [("x", ["batch", 3, 4, 4])],
        [("pooled", None), ("hidden", None)],
        {"dw": deconv_w, "lw": lstm_w, "lr": lstm_r, "seq_shape": np.array([-1, 1, 3])},
        opset=17,
    )
    data = _data(1, 3, 4, 4)
    result = irwua.analyze(proto, data=data, passes=["importance"])["importance"]
    channel_mean = np.abs(data).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(
        result.layers["deconv"].weight,
        np.abs(deconv_w) * channel_mean[:, None, None, None],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        result.layers["lstm"].weight, np.abs(lstm_w) * channel_mean[None, None, :], rtol=1e-5
    )
    assert result.layers["lstm"].extra["R"].shape == lstm_r.shape


def test_a_front_end_note_does_not_change_which_operand_is_the_weight():
    """A layer note (e.g. "BatchNorm folded into this layer") is a remark, not layout."""
    from builders import mlp

    from irwua.ingest.build import build_graph
    from irwua.ingest.model_file import load_model
    from irwua.ir.geometry import geometry

    source = load_model(mlp(in_features=4, hidden=8, out=3))
    plain = build_graph(source, {"x": (1, 4)})
    noted = build_graph(source, {"x": (1, 4)}, layer_notes={"fc1": "BatchNorm 'bn' folded"})
    for before, after in zip(plain.layers, noted.layers, strict=True):
        assert geometry(before, plain) == geometry(after, noted)
    assert noted.layers[0].note == "BatchNorm 'bn' folded"
