"""Shaping a test model both ways: by irwua's own rules and by ONNX's shape inference."""

from __future__ import annotations

import numpy as np
import onnx

from irwua.errors import IrwuaError
from irwua.ingest.build import nodes_and_constants
from irwua.ingest.inputs import bind_inputs
from irwua.ingest.model_file import opset_version
from irwua.ingest.shapes import onnx_shapes, rule_shapes
from irwua.ir.graph import TensorInfo
from irwua.ir.source import ModelSource

Tensors = dict[str, TensorInfo]


def both_ways(proto: onnx.ModelProto, shapes=None) -> tuple[Tensors | None, Tensors | None]:
    """(tensors by the rules, or None when they hand the model back; tensors by ONNX's
    inference, or None when it refuses the model). The model skips ``load_model``'s checks:
    random models are often ones the checker refuses, and both ways must still agree."""
    source = ModelSource(proto, None, None)
    opset = opset_version(proto)
    nodes, constants = nodes_and_constants(source, opset)
    bound = bind_inputs(proto, shapes or {})
    by_rules = rule_shapes(proto, bound, nodes, constants, opset)
    try:
        return by_rules, onnx_shapes(source, bound)
    except IrwuaError:
        return by_rules, None


def assert_agree(by_rules: Tensors | None, by_onnx: Tensors | None) -> None:
    """The rules cover the model and agree with ONNX on every tensor ONNX sizes."""
    assert by_onnx is not None, "ONNX's inference refuses the model"
    assert by_rules is not None, "the rules handed the model back to ONNX"
    sized = {name: info for name, info in by_onnx.items() if info.shape is not None}
    assert sized, "ONNX sized nothing"
    differ = {
        name: (info.shape, info.dtype, by_rules.get(name))
        for name, info in sized.items()
        if name not in by_rules
        or (by_rules[name].shape, by_rules[name].dtype) != (info.shape, info.dtype)
    }
    assert not differ


def floats(*shape: int) -> np.ndarray:
    """A float32 test tensor (values seeded by the shape)."""
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


def ints(*values: int) -> np.ndarray:
    """An int64 vector (shapes, axes, pads)."""
    return np.array(values, np.int64)
