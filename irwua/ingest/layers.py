"""Recognising weighted layers among the ops of a model.

A layer is a node that reads a learned (constant, floating-point, bfloat16 included) tensor, or a
quantized op whose integer weight is constant. The op registry (``irwua.ops``) says which ops can
be layers: their kind (``OpInfo.layer``), the inputs of learned tensors at fixed places
(``roles``) and the operands of the quantized ops (``quantized``):

============================  =========================================  ======================
op                            learned tensors (role: input index)        kind
============================  =========================================  ======================
Conv                          weight: 1, bias: 2                          conv
ConvTranspose                 weight: 1, bias: 2                          conv_transpose
Gemm                          weight: the constant of A/B, bias: C        gemm
MatMul                        weight: the constant operand, bias: a       matmul
                              following Add of a vector of out features
Einsum                        weight: the constant operand                einsum
LSTM / GRU / RNN              weight: W (1), R: 2, bias: B (3)            recurrent
Gather                        weight: the table (0) when ids are data     embedding
Slice / GatherND              weight: the table (0), rows picked by       embedding
                              position (a position table cut to the
                              input's length)
Expand / Tile                 weight: the tensor (0), more than one       broadcast
                              element (ViT's class token, one per sample)
BatchNormalization            weight: scale, bias, mean, var              norm
LayerNorm / InstanceNorm /    weight: scale, bias                         norm
GroupNorm
Add / Sub / Mul / Div / PRelu weight: a constant with more than one       elementwise
                              element (any PRelu slope), all finite (an
                              additive -inf attention mask is no weight)
QLinearConv / ConvInteger     weight: the dequantized constant weight     conv
QLinearMatMul / MatMulInteger weight: the dequantized constant operand    matmul
============================  =========================================  ======================

A quantized layer's weight (and a QLinearConv's int32 bias) is its real value, (q - zero point) x
scale, from ``constants``.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

import numpy as np

from irwua.ingest.constants import ConstantTable, dequantized_name
from irwua.ir.dtypes import is_float
from irwua.ir.graph import Layer, Node
from irwua.ops import OpInfo, op_info


def find_layers(
    nodes: list[Node], constants: ConstantTable, learned: Set[str] | None = None
) -> list[Layer]:
    """The weighted layers among ``nodes``, in topological order; when the stored tensors that
    are ``learned`` are known (``ModelSource.learned``), constants derived from others are not
    weights."""
    consumers: dict[str, list[Node]] = {}
    for node in nodes:
        for name in node.inputs:
            consumers.setdefault(name, []).append(node)
    learned_test = _LearnedTest(constants, learned)
    layers: list[Layer] = []
    merged: set[str] = set()
    for node in nodes:
        if node.domain or node.name in merged or all(o in constants for o in node.outputs):
            continue  # an op folded into a constant computes nothing per run
        layer = _layer_for(node, learned_test)
        if layer is None:
            continue
        if layer.kind == "matmul":
            bias_add = _bias_add(layer, consumers, learned_test, constants)
            if bias_add is not None:
                merged.add(bias_add.name)
                layer = _with_bias(layer, bias_add)
        layers.append(layer)
    return layers


class _LearnedTest:
    """Whether a value name is a learned tensor: a floating-point constant (derived from a
    learned stored tensor, when those are known)."""

    def __init__(self, constants: ConstantTable, learned: Set[str] | None) -> None:
        self.constants = constants
        self.learned = learned

    def __call__(self, name: str) -> bool:
        value = self.constants.get(name) if name else None
        if value is None or not is_float(value.dtype):
            return False
        return self.learned is None or self.constants.origins[name] in self.learned

    def constant(self, name: str) -> bool:
        return name in self.constants

    def size(self, name: str) -> int:
        return int(self.constants.values[name].size)

    def finite(self, name: str) -> bool:
        """Whether every value of the constant is finite (an additive attention mask of -inf
        is no weight)."""
        return bool(np.isfinite(self.constants.values[name]).all())


def _layer_for(node: Node, learned: _LearnedTest) -> Layer | None:
    info = op_info(node.op_type)
    if info is None or info.layer is None:
        return None
    inputs = node.inputs
    if info.roles:
        if not (len(inputs) > 1 and learned(inputs[1])):
            return None
        tensors = {
            role: inputs[i] for role, i in info.roles if i < len(inputs) and learned(inputs[i])
        }
        return _make(node, info.layer, tensors, inputs[0])
    if info.quantized is not None:
        return _quantized(node, info, learned)
    if info.layer in ("gemm", "matmul", "einsum"):
        const = [i for i in (0, 1) if i < len(inputs) and learned(inputs[i])]
        if len(const) != 1:
            return None
        tensors = {"weight": inputs[const[0]]}
        if info.layer == "gemm" and len(inputs) > 2 and learned(inputs[2]):
            tensors["bias"] = inputs[2]
        return _make(node, info.layer, tensors, inputs[1 - const[0]], weight_left=const[0] == 0)
    if info.layer == "embedding" and learned(inputs[0]) and not learned(inputs[1]):
        # Token ids are what a Gather reads; a Slice or GatherND picks rows by position.
        ids = inputs[1] if node.op_type == "Gather" else ""
        return _make(node, "embedding", {"weight": inputs[0]}, ids)
    if info.layer == "broadcast" and learned(inputs[0]) and learned.size(inputs[0]) > 1:
        return _make(node, "broadcast", {"weight": inputs[0]}, "")
    if info.layer == "elementwise" and len(inputs) == 2:
        const = [i for i in (0, 1) if learned(inputs[i])]
        weight = inputs[const[0]] if len(const) == 1 else ""
        wide = weight and (node.op_type == "PRelu" or learned.size(weight) > 1)
        if wide and learned.finite(weight):
            return _make(node, "elementwise", {"weight": weight}, inputs[1 - const[0]])
    return None


def _quantized(node: Node, info: OpInfo, learned: _LearnedTest) -> Layer | None:
    """A quantized conv or matmul whose integer weight is a constant and whose data is not."""
    layout = info.quantized
    inputs = node.inputs
    for index in layout.weight_operands:
        weight = layout.operands[index].tensor
        data = layout.operands[1 - index].tensor
        if max(weight, data) >= len(inputs):
            return None
        if learned(dequantized_name(inputs[weight])) and not learned.constant(inputs[data]):
            tensors = {"weight": dequantized_name(inputs[weight])}
            bias = layout.bias
            if bias is not None and bias < len(inputs) and learned(dequantized_name(inputs[bias])):
                tensors["bias"] = dequantized_name(inputs[bias])
            return _make(node, info.layer, tensors, inputs[data], weight_left=weight < data)
    return None


def _make(
    node: Node, kind: str, tensors: dict[str, str], data: str, weight_left: bool = False
) -> Layer:
    return Layer(
        name=node.name,
        kind=kind,
        op_type=node.op_type,
        node=node.name,
        nodes=(node.name,),
        tensors=tensors,
        data_input=data or None,
        output=node.outputs[0],
        scope=node.scope,
        weight_left=weight_left,
    )


def _bias_add(
    layer: Layer,
    consumers: Mapping[str, list[Node]],
    learned: _LearnedTest,
    constants: ConstantTable,
) -> Node | None:
    """The Add that applies a bias to a MatMul's output, as torch and tf2onnx export Linear."""
    readers = consumers.get(layer.output, [])
    if len(readers) != 1 or readers[0].op_type != "Add" or readers[0].domain:
        return None
    add = readers[0]
    other = [name for name in add.inputs if name != layer.output]
    if len(other) != 1 or not learned(other[0]):
        return None
    weight = constants.values[layer.tensors["weight"]]
    bias = constants.values[other[0]]
    out_features = weight.shape[-2] if layer.weight_left else weight.shape[-1]
    if bias.ndim == 0 or bias.size != out_features or bias.shape[-1] != out_features:
        return None
    return add


def _with_bias(layer: Layer, add: Node) -> Layer:
    bias = next(name for name in add.inputs if name != layer.output)
    return layer._replace(
        nodes=(layer.node, add.name),
        tensors={**layer.tensors, "bias": bias},
        output=add.outputs[0],
    )
