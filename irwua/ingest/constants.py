"""Finding every constant tensor of a model, where real exporters put them.

Weights live in initializers (also when old IR versions list them as graph inputs), in Constant
nodes, behind ConstantOfShape, and behind chains of Identity / Cast / Transpose / Reshape /
(Un)Squeeze / DequantizeLinear that exporters insert. This module folds exactly those ops in numpy.
Views are kept where numpy allows (ConstantOfShape is a zero-stride broadcast, external data a
memory map), so a model's weights are not copied until a pass needs their values.

Each constant also records its *origin*: the stored tensor it was derived from, so a weight shared
by two layers (tied embeddings) is counted once.

Quantized ops (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) keep integer weights with a
scale and zero point; their real-valued weight (q - zero) x scale is added to the table under
``dequantized_name(weight)``, with the integer tensor as its origin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import onnx

from irwua.ingest.tensors import tensor_to_array
from irwua.ir.dtypes import numpy_dtype
from irwua.ir.graph import ConstantTable, Node
from irwua.ops import QuantizedLayout, op_info

Folder = Callable[[list[np.ndarray], Mapping[str, object], int], np.ndarray]


CONSTANT_NUMBERS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}
"""A Constant's number attributes (opset 12 on) and the element type the spec gives each."""


def _constant(_inputs: list[np.ndarray], attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    if "value" in attrs:
        return np.asarray(attrs["value"])
    for key, dtype in CONSTANT_NUMBERS.items():
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    raise ValueError("Constant node without a supported value attribute")


def _constant_of_shape(inputs: list[np.ndarray], attrs: Mapping[str, object], _opset: int):
    """The fill value repeated over the shape without allocating it: every element is the one
    stored value (zero strides, read-only), as ``np.broadcast_to`` gives but built directly, as
    model-zoo files hold hundreds of these weights."""
    fill = np.array(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)[:1]
    shape = tuple(inputs[0].reshape(-1).tolist())
    if min(shape, default=0) < 0:
        raise ValueError("negative dimension")
    value = np.ndarray(shape, fill.dtype, buffer=fill, strides=(0,) * len(shape))
    value.flags.writeable = False
    return value


def _cast(inputs: list[np.ndarray], attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    return inputs[0].astype(numpy_dtype(int(attrs["to"])))


def _transpose(inputs: list[np.ndarray], attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    perm = attrs.get("perm")
    return np.transpose(inputs[0], tuple(perm) if perm else None)


def _reshape(inputs: list[np.ndarray], attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    data, shape = inputs[0], [int(d) for d in inputs[1].reshape(-1)]
    if not attrs.get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return data.reshape(shape)


def _axes(inputs: list[np.ndarray], attrs: Mapping[str, object], opset: int) -> tuple[int, ...]:
    if opset >= 13 and len(inputs) > 1:
        return tuple(int(a) for a in inputs[1].reshape(-1))
    return tuple(attrs.get("axes", ()))


def _squeeze(inputs: list[np.ndarray], attrs: Mapping[str, object], opset: int) -> np.ndarray:
    axes = _axes(inputs, attrs, opset)
    return np.squeeze(inputs[0], axis=axes or None)


def _unsqueeze(inputs: list[np.ndarray], attrs: Mapping[str, object], opset: int) -> np.ndarray:
    return np.expand_dims(inputs[0], _axes(inputs, attrs, opset))


def _dequantize(inputs: list[np.ndarray], attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    data = inputs[0]
    axis = int(attrs.get("axis", 1))
    scale = _along(inputs[1].astype(np.float32), data.ndim, axis)
    zero = _along(inputs[2], data.ndim, axis) if len(inputs) > 2 else np.zeros((), np.float32)
    return (data.astype(np.float32) - zero.astype(np.float32)) * scale


def _along(value: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-channel (1-D) scale or zero point shaped to broadcast along ``axis``."""
    if value.ndim != 1 or value.size == 1 or ndim == 0:
        return value
    shape = [1] * ndim
    shape[axis % ndim] = value.size
    return value.reshape(shape)


FOLDERS: dict[str, Folder] = {
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Identity": lambda inputs, _attrs, _opset: inputs[0],
    "Cast": _cast,
    "Transpose": _transpose,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "DequantizeLinear": _dequantize,
}
"""Ops folded in numpy, keyed by op_type. Only ops that exporters put on weight paths."""

_SINGLE_SOURCE = {
    "Identity",
    "Cast",
    "Transpose",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "DequantizeLinear",
}


def dequantized_name(tensor: str) -> str:
    """The table name of the real-valued weight of the quantized tensor ``tensor``."""
    return f"{tensor}::dequantized"


def collect_constants(
    initializers: Iterable[onnx.TensorProto],
    nodes: Iterable[Node],
    opset: int,
    base_dir: Path | None,
) -> ConstantTable:
    """Read the stored tensors and fold the constant-producing ``nodes`` (in topological order)."""
    table = ConstantTable()
    for tensor in initializers:
        table.add(tensor.name, tensor_to_array(tensor, base_dir))
    for node in nodes:
        _fold_node(node, opset, table)
        info = op_info(node.op_type, node.domain)
        if info is not None and info.quantized is not None:
            _dequantize_operands(node, info.quantized, table)
    return table


def _dequantize_operands(node: Node, layout: QuantizedLayout, table: ConstantTable) -> None:
    """Add the real values of a quantized op's constant integer operands that may be weights,
    and of its int32 bias."""
    for index in layout.weight_operands:
        operand = layout.operands[index]
        names = [
            node.inputs[i] if i is not None and i < len(node.inputs) else ""
            for i in (operand.tensor, operand.scale, operand.zero)
        ]
        if not names[0] or names[0] not in table or any(n and n not in table for n in names[1:]):
            continue
        data = table.values[names[0]]
        inputs = [
            data,
            table.values[names[1]] if names[1] else np.ones((), np.float32),
            table.values[names[2]] if names[2] else np.zeros((), data.dtype),
        ]
        try:
            value = _dequantize(inputs, {"axis": operand.axis}, 0)
        except (ValueError, TypeError, IndexError):
            continue
        table.add(dequantized_name(names[0]), value, table.origins[names[0]])
    if layout.bias is not None and layout.bias < len(node.inputs):
        _dequantize_bias(node, layout, table)


def _dequantize_bias(node: Node, layout: QuantizedLayout, table: ConstantTable) -> None:
    """An int32 bias is quantized with scale x_scale x w_scale and zero point 0."""
    bias = node.inputs[layout.bias]
    x_scale, w_scale = (node.inputs[operand.scale] for operand in layout.operands)
    if not all(name in table for name in (bias, x_scale, w_scale)):
        return
    scale = table.values[x_scale].astype(np.float32) * table.values[w_scale].astype(np.float32)
    quantized = table.values[bias]
    if scale.size not in (1, quantized.size):
        return
    value = quantized.astype(np.float32) * scale.reshape(-1)
    table.add(dequantized_name(bias), value, table.origins[bias])


def _fold_node(node: Node, opset: int, table: ConstantTable) -> None:
    folder = FOLDERS.get(node.op_type) if not node.domain else None
    if folder is None or len(node.outputs) != 1:
        return
    present = [name for name in node.inputs if name]
    if not all(name in table for name in present):
        return
    inputs = [table.values[name] for name in present]
    try:
        value = folder(inputs, node.attrs, opset)
    except (ValueError, TypeError, KeyError, IndexError):
        return  # Not foldable here: the value stays an activation as far as irwua knows.
    origin = table.origins[present[0]] if node.op_type in _SINGLE_SOURCE else None
    table.add(node.outputs[0], value, origin)
