"""Finding every constant tensor of a model, where real exporters put them.

Weights live in initializers (also when old IR versions list them as graph inputs), in Constant
nodes, behind ConstantOfShape, and behind chains of Identity / Cast / Transpose / Reshape /
(Un)Squeeze / Flatten / DequantizeLinear that exporters insert. This module folds exactly those
ops, with the values of ``irwua.ingest.folding``. Views are kept where numpy allows (ConstantOfShape
is a zero-stride broadcast, external data a memory map), so a model's weights are not copied until
a pass needs their values.

Each constant also records its *origin*: the stored tensor it was derived from, so a weight shared
by two layers (tied embeddings) is counted once.

A Split of a constant is folded into its pieces (tf2onnx splits a recurrent layer's stacked
biases); each piece is its own origin, as a Slice's result is, so the pieces add up. The weights
of recurrent ops (LSTM, GRU, RNN) are folded through any foldable op, Slice and Concat included,
because exporters build them from the framework's tensors by reordering the gates (TorchScript
inside an If's branches); such a weight's origin is its first piece's.

A Loop passes its weights to its body as loop-carried values that the body hands back unchanged
(tf2onnx's recurrent layers): such a body input is the same constant as the Loop's initial value.

Quantized ops (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) keep integer weights with a
scale and zero point; their real-valued weight (q - zero) x scale is added to the table under
``dequantized_name(weight)``, with the integer tensor as its origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import onnx

from irwua.ingest.folding import FOLDS, axis_index, dequantize
from irwua.ingest.shape_rules import NotCovered, Operands, rule_for
from irwua.ingest.tensors import tensor_to_array
from irwua.ir.graph import ConstantTable, Node, TensorInfo
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
    nodes = list(nodes)
    producers = {output: node for node in nodes for output in node.outputs if output}
    recurrent = _recurrent_weight_values(nodes, producers)
    for node in nodes:
        if node.op_type == "Loop" and not node.domain:
            _alias_invariant_carried(node, table, producers)
        if node.op_type == "Split" and not node.domain:
            _fold_split(node, opset, table)
        _fold_node(node, opset, table, recurrent)
        info = op_info(node.op_type, node.domain)
        if info is not None and info.quantized is not None:
            _dequantize_operands(node, info.quantized, table)
    return table


def _fold_split(node: Node, opset: int, table: ConstantTable) -> None:
    """The pieces of a constant a Split cuts, sized by the Split's shape rule."""
    if not node.inputs or not all(name in table for name in node.inputs if name):
        return
    value = table.values[node.inputs[0]]
    known = {
        name: TensorInfo(name, table.values[name].shape, table.values[name].dtype)
        for name in node.inputs
        if name
    }
    try:
        pieces = rule_for("Split")(node, Operands(node, known, table.values), opset)
    except (NotCovered, ValueError, TypeError, KeyError, IndexError):
        return
    axis = axis_index(int(node.attr("axis", 0)), value.ndim, opset)
    bounds = np.cumsum([0] + [shape[axis] for shape, _ in pieces])
    for name, start, end in zip(node.outputs, bounds[:-1], bounds[1:], strict=True):
        if name:
            table.add(name, np.take(value, np.arange(start, end), axis=axis))


def _alias_invariant_carried(
    loop: Node, table: ConstantTable, producers: Mapping[str, Node]
) -> None:
    """Add the body inputs of a Loop that carry a constant through every iteration unchanged
    (the body's matching output is the input, possibly through Identity ops)."""
    if not loop.branch_inputs:
        return
    body_inputs, body_outputs = loop.branch_inputs[0], loop.branch_outputs[0]
    # Loop inputs: M, cond, carried...; body inputs: iteration, cond, carried...;
    # body outputs: cond, carried..., scanned...
    carried_values = zip(loop.inputs[2:], body_inputs[2:], body_outputs[1:], strict=False)
    for initial, carried, returned in carried_values:
        while returned in producers and producers[returned].op_type == "Identity":
            returned = producers[returned].inputs[0]
        if returned == carried and initial in table:
            table.add(carried, table.values[initial], table.origins[initial])


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


_RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_RECURRENT_WEIGHTS = (1, 2, 3)  # W, R, B


def _recurrent_weight_values(nodes: list[Node], producers: Mapping[str, Node]) -> set[str]:
    """The values that recurrent ops' W, R and B are computed from through foldable ops."""
    wanted: set[str] = set()
    pending = [
        node.inputs[i]
        for node in nodes
        if node.op_type in _RECURRENT_OPS and not node.domain
        for i in _RECURRENT_WEIGHTS
        if i < len(node.inputs) and node.inputs[i]
    ]
    while pending:
        name = pending.pop()
        producer = producers.get(name)
        if name in wanted or producer is None or producer.op_type not in FOLDS:
            continue
        wanted.add(name)
        pending.extend(i for i in producer.inputs if i)
    return wanted


def _fold_node(node: Node, opset: int, table: ConstantTable, recurrent: set[str]) -> None:
    """Fold a creating op, an op that keeps one constant's values (``Fold.keeps_origin``), or an
    op that computes a recurrent weight (``recurrent``: its origin is its first input's)."""
    fold = FOLDS.get(node.op_type) if not node.domain else None
    if fold is None or len(node.outputs) != 1:
        return
    builds_weight = node.outputs[0] in recurrent
    creates = category_of(node.op_type) == Category.CREATION
    if not (fold.keeps_origin or creates or builds_weight):
        return
    if not all(name in table for name in node.inputs if name):
        return
    inputs = [table.values[name] if name else None for name in node.inputs]
    try:
        value = fold.evaluate(inputs, node.attrs, opset)
    except (ValueError, TypeError, KeyError, IndexError):
        return  # Not foldable here: the value stays an activation as far as irwua knows.
    keeps = fold.keeps_origin or (builds_weight and not creates)
    origin = table.origins[node.inputs[0]] if keeps and node.inputs and node.inputs[0] else None
    table.add(node.outputs[0], value, origin)
