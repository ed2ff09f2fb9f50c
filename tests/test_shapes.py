"""Concrete shapes: input binding, its errors, and the onnxruntime fallback."""

from __future__ import annotations

import numpy as np
import pytest
from builders import mlp, model
from onnx import TensorProto, helper

import irwua
from irwua import IrwuaError
from irwua.ingest.inputs import parse_shape


def test_symbolic_batch_defaults_to_one_and_given_shapes_bind():
    assert irwua.analyze(mlp()).graph.shape("h") == (1, 8)
    assert irwua.analyze(mlp(), input_shapes={"x": (6, 4)}).graph.shape("h") == (6, 8)
    data = np.zeros((5, 4), np.float32)
    assert irwua.analyze(mlp(), data=data).graph.shape("y") == (1, 3)  # one sample


def test_parse_shape():
    assert parse_shape("image=1x3x224x224") == ("image", (1, 3, 224, 224))
    assert parse_shape("2x8") == ("", (2, 8))
    assert parse_shape("a=b=1x2") == ("a=b", (1, 2))
    with pytest.raises(IrwuaError, match="NAME=DIMS"):
        parse_shape("x=1xfoo")
    with pytest.raises(IrwuaError, match="NAME=DIMS"):
        parse_shape("x=0x3")


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ({"x": (1, 4, 1)}, "Input 'x' has rank 2 .* given shape 1x4x1 has rank 3"),
        ({"x": (1, 5)}, "Input 'x' needs 4 at axis 1"),
        ({"nope": (1, 4)}, "no input named 'nope'; its inputs are: x"),
    ],
)
def test_shapes_that_do_not_fit_are_refused(shapes, message):
    with pytest.raises(IrwuaError, match=message):
        irwua.analyze(mlp(), input_shapes=shapes)


def test_symbolic_inner_dim_must_be_given_and_contradictions_are_caught():
    proto = model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [("x", ["batch", "features"])],
        [("y", ["batch", 3])],
        {"w": np.ones((4, 3), np.float32)},
    )
    with pytest.raises(IrwuaError, match=r"'features' at axis 1.*--input-shape x=DIMS"):
        irwua.analyze(proto)
    assert irwua.analyze(proto, input_shapes={"x": (2, 4)}).graph.shape("y") == (2, 3)
    with pytest.raises(IrwuaError, match="do not fit the model"):
        irwua.analyze(proto, input_shapes={"x": (2, 5)})


def test_data_dependent_shapes_come_from_one_onnxruntime_run():
    proto = model(
        [
            helper.make_node("NonZero", ["x"], ["idx"]),
            helper.make_node("Cast", ["idx"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Relu", ["f"], ["y"]),
        ],
        [("x", [1, 6])],
        [("y", None)],
    )
    analysis = irwua.analyze(proto)
    rank, count = analysis.graph.shape("y")
    assert rank == 2 and 0 <= count <= 6
    assert analysis["flops"].nodes["Relu_2"].flops == rank * count


def test_an_output_nobody_reads_needs_no_onnxruntime_run(monkeypatch):
    """ONNX's inference leaves the mask of an opset-9 Dropout unsized (as in the onnx wheel's
    VGG-19); nothing reads it, so no synthetic run is made for it (it cost a second there).
    irwua's own shape rules size the mask; they are turned off here, as for an op they lack."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("onnxruntime was run for shapes")

    monkeypatch.setattr("irwua.runtime.sessions.run_with_outputs", refuse)
    monkeypatch.setattr("irwua.ingest.shapes.rule_shapes", lambda *_args: None)
    proto = model(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("Dropout", ["r"], ["y", "mask"], ratio=0.5),
        ],
        [("x", [1, 6])],
        [("y", [1, 6])],
        opset=9,
    )
    analysis = irwua.analyze(proto)
    assert analysis.graph.shape("y") == (1, 6)
    assert analysis.graph.tensors.get("mask") is None or analysis.graph.shape("mask") is None
