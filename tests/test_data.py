"""Data checks: wrong rank, dims or dtype name what was expected and given; NaN is counted."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from builders import mlp
from onnx import TensorProto, helper

import irwua
from irwua import IrwuaError


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((3, 4, 1), np.float32), "Input 'x' expects rank 2 .*data has shape 3x4x1"),
        (np.zeros((3, 5), np.float32), r"expects \?x4 but the data has shape 3x5"),
        (np.array([["a"] * 4], dtype=object), "expects float32 values but the data is object"),
        (np.zeros((0, 4), np.float32), "The data is empty"),
        ([np.zeros((2, 4))] * 2, "The data has 2 arrays but the model has 1 inputs"),
        ({"y": np.zeros((2, 4))}, r"data's keys \(y\) do not match the model's inputs \(x\)"),
    ],
)
def test_bad_data_is_refused_with_expected_and_given(data, message):
    with pytest.raises(IrwuaError, match=message):
        irwua.analyze(mlp(), data=data, passes=["importance"])


def test_data_is_cast_to_the_input_type_and_nonfinite_samples_are_counted_and_left_out():
    data = np.random.default_rng(0).standard_normal((6, 4))
    data[0, 0] = np.nan
    data[1, 2] = np.inf
    with pytest.warns(UserWarning, match="2 NaN or infinite values; 2 samples are left out"):
        analysis = irwua.analyze(mlp(), data=data, passes=["activations"])
    result = analysis["activations"]
    assert result.nonfinite_inputs == 2 and result.samples == 4
    finite = data[2:].astype(np.float32)
    np.testing.assert_allclose(result.inputs["fc1"].mean_abs, np.abs(finite).mean(0), rtol=1e-5)


def _scaled(mode_dims: list) -> onnx.ModelProto:
    """y = x * scale, ``scale`` an input with dims ``mode_dims``."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["y"])],
        "scaled",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, mode_dims),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_input_declared_as_a_scalar_takes_one_value_for_every_run():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    analysis = irwua.analyze(
        _scaled([]),
        data={"x": x, "scale": 2},
        passes=["activations"],
        options=irwua.Options(batch_size=3),
    )
    assert analysis["activations"].samples == 4
    with pytest.raises(IrwuaError, match=r"'scale' is a scalar .* the data has shape 4"):
        irwua.analyze(_scaled([]), data={"x": x, "scale": np.ones(4)}, passes=["activations"])
    scalars_only = helper.make_model(
        helper.make_graph(
            [helper.make_node("Neg", ["s"], ["y"])],
            "scalar",
            [helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(IrwuaError, match="Every input of the model is a scalar"):
        irwua.analyze(scalars_only, data={"s": 1.0}, passes=["activations"])
