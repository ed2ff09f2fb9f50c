"""Activation statistics captured inside onnxruntime, against numpy on tensors computed by onnx's
pure-Python reference evaluator; and the weightless sessions that run them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from builders import const, model, weight
from onnx import helper
from onnx.reference import ReferenceEvaluator

import irwua
from irwua import Options
from irwua.errors import IrwuaError
from irwua.passes.activations import _Plan
from irwua.runtime.sessions import STUB_LOCATION, make_session, run_with_outputs, weightless

RNG = np.random.default_rng(7)
CHANNELS = 8


def _cnn(clip_low: float = 0.0) -> onnx.ModelProto:
    """x -> Conv -> BatchNorm -> Relu -> MaxPool -> Conv -> Clip(clip_low, 6) -> Flatten -> Gemm.

    BatchNorm's bias of channel 0 is so negative that the Relu never lets it through, and the
    second conv's bias of channel 3 keeps it below the Clip: a dead unit behind each."""
    bn_bias = RNG.standard_normal(CHANNELS).astype(np.float32)
    bn_bias[0] = -1e4
    conv_bias = RNG.standard_normal(CHANNELS).astype(np.float32)
    conv_bias[3] = -1e4
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["n1"], name="bn"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu"),
        helper.make_node(
            "MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("Clip", ["c2", "low", "high"], ["k2"], name="clip"),
        helper.make_node("Flatten", ["k2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="fc", transB=1),
    ]
    tensors = [
        weight("w1", CHANNELS, 3, 3, 3),
        const("s", RNG.uniform(0.5, 2, CHANNELS).astype(np.float32)),
        const("b", bn_bias),
        const("m", RNG.standard_normal(CHANNELS).astype(np.float32)),
        const("v", RNG.uniform(0.5, 2, CHANNELS).astype(np.float32)),
        weight("w2", CHANNELS, CHANNELS, 1, 1),
        const("b2", conv_bias),
        const("low", np.array(clip_low, np.float32)),
        const("high", np.array(6.0, np.float32)),
        weight("wf", 4, CHANNELS * 9),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])],
        tensors,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _data(samples: int) -> np.ndarray:
    """Signed inputs with channels of different scales and some exact zeros."""
    scale = np.array([0.5, 1.0, 3.0], np.float32)[None, :, None, None]
    data = (RNG.standard_normal((samples, 3, 6, 6)) * scale).astype(np.float32)
    data[RNG.random(data.shape) < 0.2] = 0.0
    return data


def _expected(tensor: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics of a [N, C, ...] tensor per channel, in numpy (float64)."""
    x = np.moveaxis(tensor.astype(np.float64), 1, 0).reshape(tensor.shape[1], -1)
    return {
        "count": x.shape[1],
        "sum_abs": np.abs(x).sum(1),
        "sum_sq": (x**2).sum(1),
        "max_abs": np.abs(x).max(1),
        "nonzero": np.count_nonzero(x, axis=1).astype(np.float64),
        "sum": x.sum(1),
    }


def test_statistics_match_numpy_and_signed_sums_are_kept_for_batchnorm_only():
    proto, data = _cnn(), _data(30)
    analysis = irwua.analyze(proto, data=data, passes=["metrics"], options=Options(batch_size=7))
    result = analysis["activations"]
    names = ["c1", "r1", "p1", "k2", "f"]
    tensors = dict(zip(names, ReferenceEvaluator(proto).run(names, {"x": data}), strict=True))
    tensors["x"] = data
    for layer, tensor in {"conv1": "x", "bn": "c1", "conv2": "p1", "fc": "f"}.items():
        stats, expected = result.inputs[layer], _expected(tensors[tensor])
        assert stats.count == expected["count"]
        for name in ("sum_abs", "sum_sq", "max_abs", "nonzero"):
            np.testing.assert_allclose(getattr(stats, name), expected[name], rtol=2e-5)
        if layer == "bn":
            np.testing.assert_allclose(stats.sum, expected["sum"], rtol=2e-5, atol=1e-3)
        else:
            assert stats.sum is None and stats.mean is None
    assert result.samples == 30
    # Dead units: channels of the activated outputs (after BN + Relu, after Clip) never non-zero;
    # the biases make at least one in each.
    metrics = analysis["metrics"].layers
    for layer, tensor in {"conv1": "r1", "bn": "r1", "conv2": "k2"}.items():
        expected = _expected(tensors[tensor])["max_abs"]
        np.testing.assert_allclose(result.output_max[layer], expected, rtol=1e-5)
        assert metrics[layer]["dead_units"] == np.count_nonzero(expected == 0) >= 1
    assert metrics["fc"]["dead_units"] == 0


def _residual() -> onnx.ModelProto:
    """x -> conv1 -> Add <- skip <- x, -> Relu -> conv2. conv1's unit 0 has no non-zero weight
    and its unit 1 reads only input channel 2 (always zero in the data); skip's unit 0 has zero
    weights and bias: three dead units no activation follows."""
    w1 = RNG.standard_normal((4, 3, 1, 1)).astype(np.float32)
    w1[0] = 0.0
    w1[1, :2] = 0.0
    skip = RNG.standard_normal((4, 3, 1, 1)).astype(np.float32)
    skip[0] = 0.0
    bias = np.array([0.0, 1.0, -1.0, 0.5], np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["y1"], name="conv1"),
        helper.make_node("Conv", ["x", "ws", "bs"], ["ys"], name="skip"),
        helper.make_node("Add", ["y1", "ys"], ["sum"], name="add"),
        helper.make_node("Relu", ["sum"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2"),
    ]
    tensors = {"w1": w1, "ws": skip, "bs": bias, "w2": RNG.standard_normal((2, 4, 1, 1))}
    tensors["w2"] = tensors["w2"].astype(np.float32)
    return model(nodes, [("x", ["N", 3, 5, 5])], [("y", ["N", 2, 5, 5])], tensors)


def test_dead_units_that_no_activation_follows_come_from_weights_and_input_maxima():
    proto, data = _residual(), _data(20)[:, :, :5, :5].copy()
    data[:, 2] = 0.0
    analysis = irwua.analyze(proto, data=data, passes=["metrics"])
    captured = {capture.tensor for capture in _Plan(analysis.graph).captures}
    assert "y1" not in captured and "ys" not in captured  # bounded, not captured
    y1, ys, y = ReferenceEvaluator(proto).run(["y1", "ys", "y"], {"x": data})
    metrics, output_max = analysis["metrics"].layers, analysis["activations"].output_max
    for layer, tensor, dead in (("conv1", y1, 2), ("skip", ys, 1), ("conv2", y, 0)):
        measured = _expected(tensor)["max_abs"]
        assert metrics[layer]["dead_units"] == np.count_nonzero(measured == 0) == dead
        assert np.all(output_max[layer] >= measured * (1 - 1e-5))  # a bound on max |y|


@pytest.mark.parametrize(("clip_low", "flattened_nonnegative"), [(0.0, True), (-1.0, False)])
def test_only_tensors_no_op_can_make_negative_skip_the_abs(clip_low, flattened_nonnegative):
    analysis = irwua.analyze(_cnn(clip_low), passes=["flops"])
    captures = {capture.tensor: capture for capture in _Plan(analysis.graph).captures}
    assert not captures["x"].nonnegative and not captures["c1"].nonnegative
    assert captures["p1"].nonnegative  # max-pooled ReLU output
    assert captures["f"].nonnegative is flattened_nonnegative
    assert captures["c1"].signed and not captures["p1"].signed
    assert captures["r1"].full is False  # activated output only: max |y| for dead units


def test_a_negative_clip_output_is_measured_with_its_magnitude():
    proto, data = _cnn(clip_low=-1.0), _data(12)
    result = irwua.analyze(proto, data=data, passes=["activations"])["activations"]
    (flat,) = ReferenceEvaluator(proto).run(["f"], {"x": data})
    assert flat.min() < 0
    expected = np.abs(flat.astype(np.float64))
    np.testing.assert_allclose(result.inputs["fc"].sum_abs, expected.sum(0), rtol=2e-5)
    np.testing.assert_allclose(result.inputs["fc"].max_abs, expected.max(0), rtol=1e-5)


def test_every_nonzero_value_counts_down_to_the_smallest_subnormal():
    column = np.array([0.0, -0.0, 1.4e-45, -1e-41, 1e-39, 3e38, -3e38, 0.0], np.float32)
    data = np.stack([column, np.zeros(8, np.float32)], axis=1)  # feature 1 is always zero
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)]
    proto = model(nodes, [("x", ["N", 2])], [("y", ["N", 1])], {"w": np.ones((1, 2), np.float32)})
    stats = irwua.analyze(proto, data=data, passes=["activations"])["activations"].inputs["fc"]
    np.testing.assert_array_equal(stats.nonzero, [5, 0])
    np.testing.assert_array_equal(stats.max_abs, [np.float32(3e38), 0])


def _gemm_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)]
    tensors = {
        "w": RNG.standard_normal((64, 256)).astype(np.float32),  # 64 KB: passed as an array
        "b": RNG.standard_normal(64).astype(np.float32),  # 256 bytes: stays in the protobuf
    }
    return model(nodes, [("x", ["N", 256])], [("y", ["N", 64])], tensors)


def test_weightless_copy_declares_large_initializers_without_their_values():
    proto = _gemm_model()
    before = proto.SerializeToString()
    light = weightless(proto)
    assert proto.SerializeToString() == before  # the user's model is not modified
    stored = {tensor.name: tensor for tensor in light.graph.initializer}
    assert stored["w"].data_location == onnx.TensorProto.EXTERNAL
    assert not stored["w"].raw_data and list(stored["w"].dims) == [64, 256]
    assert stored["w"].external_data[0].value == STUB_LOCATION
    assert stored["b"].raw_data  # small tensors stay inline
    assert len(light.SerializeToString()) < 2000 < 64 * 256 * 4 < len(before)
    assert [node.name for node in light.graph.node] == ["fc"]


def test_weightless_sessions_compute_what_the_model_computes():
    proto, x = _gemm_model(), RNG.standard_normal((5, 256)).astype(np.float32)
    (expected,) = ReferenceEvaluator(proto).run(None, {"x": x})
    arrays = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in proto.graph.initializer}
    stale = {name: np.zeros_like(value) for name, value in arrays.items()}
    from_proto = make_session(proto, arrays=stale).run(None, {"x": x})[0]  # its own values win
    from_arrays = make_session(weightless(proto), arrays=arrays).run(None, {"x": x})[0]
    np.testing.assert_allclose(from_proto, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(from_arrays, from_proto)
    outputs = run_with_outputs(proto, {"x": x}, ["y"])
    np.testing.assert_array_equal(outputs["y"], from_proto)


@pytest.mark.parametrize("arrays", [{}, {"w": np.zeros((64, 256), np.float64)}])
def test_a_stub_without_a_matching_value_is_one_clear_sentence(arrays):
    with pytest.raises(IrwuaError, match="initializer 'w' is not available"):
        make_session(weightless(_gemm_model()), arrays=arrays)


def test_dead_units_on_the_unit_axis_of_left_matmuls_and_layer_norms():
    """Units of W @ x lie on the second-to-last output axis, a LayerNorm's on the last one."""
    w = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    w[2] = 0.0  # unit 2 of W @ x is always zero
    scale = np.ones(6, np.float32)
    scale[0] = 0.0  # feature 0 of the LayerNorm is always zero
    nodes = [
        helper.make_node("MatMul", ["w", "x"], ["h"], name="left"),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("LayerNormalization", ["t", "scale", "shift"], ["y"], name="ln", axis=-1),
    ]
    proto = model(
        nodes,
        [("x", ["batch", 3, 7]), ("t", ["batch", 5, 6])],
        [("a", ["batch", 4, 7]), ("y", ["batch", 5, 6])],
        {"w": w, "scale": scale, "shift": np.zeros(6, np.float32)},
    )
    rng = np.random.default_rng(4)
    data = {
        "x": rng.standard_normal((8, 3, 7)).astype(np.float32),
        "t": rng.standard_normal((8, 5, 6)).astype(np.float32),
    }
    metrics = irwua.analyze(proto, data, passes=["metrics"])["metrics"].layers
    assert metrics["left"]["dead_units"] == 1
    assert metrics["ln"]["dead_units"] == 1


def test_pooled_statistics_of_a_relu_map_are_exact_down_to_the_smallest_subnormal():
    """A ReLU output between convolutions is pooled per sample in the graph (GlobalAveragePool /
    GlobalMaxPool on onnxruntime's blocked layout) and summed in numpy: the sums match numpy and
    the non-zero count is exact, subnormal values included."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w"], ["y"], name="conv"),
    ]
    w = RNG.standard_normal((2, 3, 1, 1)).astype(np.float32)
    proto = model(nodes, [("x", ["N", 3, 7, 5])], [("y", ["N", 2, 7, 5])], {"w": w})
    data = _data(9)[:, :, :5, :5]
    data = np.pad(data, ((0, 0), (0, 0), (0, 2), (0, 0)))  # 7 x 5 positions
    data[0, 0, 0, :4] = [1.4e-45, 1e-41, 1e-39, 1e18]
    options = Options(batch_size=4)
    analysis = irwua.analyze(proto, data=data, passes=["activations"], options=options)
    (capture,) = [c for c in _Plan(analysis.graph).captures if c.tensor == "r"]
    assert capture.pooled and capture.positions == 35
    stats, expected = analysis["activations"].inputs["conv"], _expected(np.maximum(data, 0))
    assert stats.count == expected["count"]
    np.testing.assert_array_equal(stats.nonzero, expected["nonzero"])
    np.testing.assert_array_equal(stats.max_abs, expected["max_abs"].astype(np.float32))
    for name in ("sum_abs", "sum_sq"):
        np.testing.assert_allclose(getattr(stats, name), expected[name], rtol=2e-5)
