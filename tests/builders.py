"""Tiny ONNX models built with onnx.helper, shared by the tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def model(nodes, inputs, outputs, initializers=(), opset: int = 17, ir_version: int = 8):
    """A ModelProto from nodes, (name, shape[, elem_type]) inputs/outputs and numpy
    initializers by name."""
    graph = helper.make_graph(
        nodes,
        "test",
        [_value(*spec) for spec in inputs],
        [_value(*spec) for spec in outputs],
        [
            numpy_helper.from_array(np.asarray(value), name)
            for name, value in dict(initializers).items()
        ],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version
    )


def _value(name, shape, elem_type=FLOAT):
    return helper.make_tensor_value_info(name, elem_type, shape)


def mlp(
    in_features: int = 4,
    hidden: int = 8,
    out: int = 3,
    seed: int = 0,
    opset: int = 17,
    ir_version: int = 8,
) -> onnx.ModelProto:
    """x[batch, in] -> Gemm -> Relu -> Gemm -> y[batch, out], weights stored as initializers."""
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((hidden, in_features)).astype(np.float32),
        "b1": rng.standard_normal(hidden).astype(np.float32),
        "w2": rng.standard_normal((out, hidden)).astype(np.float32),
        "b2": rng.standard_normal(out).astype(np.float32),
    }
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], name="fc2", transB=1),
    ]
    inputs, outputs = [("x", ["batch", in_features])], [("y", ["batch", out])]
    return model(nodes, inputs, outputs, weights, opset=opset, ir_version=ir_version)


def value(name: str, shape, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    """A typed graph input/output."""
    return helper.make_tensor_value_info(name, elem, shape)


def const(name: str, array: np.ndarray) -> onnx.TensorProto:
    """An initializer."""
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def weight(name: str, *shape: int) -> onnx.TensorProto:
    """A random float32 initializer (the generator is shared, so draws differ per call)."""
    return const(name, RNG.standard_normal(shape).astype(np.float32))


def external_copy(tmp_path, location: str):
    """The MLP saved with external weights in tmp_path/model/w.bin, and a copy of it,
    tmp_path/model/evil.onnx, that says its weights are at ``location``."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    proto = mlp()
    onnx.save_model(
        proto,
        folder / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="w.bin",
        size_threshold=0,
    )
    moved = onnx.load(folder / "m.onnx", load_external_data=False)
    for tensor in moved.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(moved, folder / "evil.onnx")
    return folder / "evil.onnx"
