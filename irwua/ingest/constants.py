"""Finding every constant tensor of a model, where real exporters put them.

Weights live in initializers (also when old IR versions list them as graph inputs), in Constant
nodes, behind ConstantOfShape, and behind chains of Identity / Cast / Transpose / Reshape /
(Un)Squeeze / Flatten / DequantizeLinear that exporters insert. This module folds exactly those
ops, with the values of ``irwua.ingest.folding``. Views are kept where numpy allows (ConstantOfShape
is a zero-stride broadcast, external data a memory map), so a model's weights are not copied until
a pass needs their values.

Each constant also records its *origin*: the stored tensor it was derived from, so a weight shared
by two layers (tied embeddings) is counted once.

Quantized ops (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) keep integer weights with a
scale and zero point; their real-valued weight (q - zero) x scale is added to the table under
``dequantized_name(weight)``, with the integer tensor as its origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx

from irwua.ingest.folding import FOLDS, dequantize
from irwua.ingest.tensors import tensor_to_array
from irwua.ir.graph import ConstantTable, Node
from irwua.ops import Category, QuantizedLayout, category_of, op_info


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
            value = dequantize(*inputs, operand.axis)
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
    """Fold a creating op, or an op that keeps one constant's values (``Fold.keeps_origin``)."""
    fold = FOLDS.get(node.op_type) if not node.domain else None
    if fold is None or len(node.outputs) != 1:
        return
    if not fold.keeps_origin and category_of(node.op_type) != Category.CREATION:
        return
    if not all(name in table for name in node.inputs if name):
        return
    inputs = [table.values[name] if name else None for name in node.inputs]
    try:
        value = fold.evaluate(inputs, node.attrs, opset)
    except (ValueError, TypeError, KeyError, IndexError):
        return  # Not foldable here: the value stays an activation as far as irwua knows.
    origin = table.origins[node.inputs[0]] if fold.keeps_origin else None
    table.add(node.outputs[0], value, origin)
