"""Shape-only cost formulas, one per ONNX op type.

Convention (used everywhere in irwua):

* **MACs** count the multiply-accumulates of Conv, ConvTranspose, Gemm, MatMul, Einsum, their
  quantized forms and recurrent cells, including matmuls between two activations (attention).
  Grouped and depthwise convolutions divide by ``group``; dilation and stride change only the
  output size, which is read from the inferred shapes.
* **FLOPs** are 2 x MACs, plus one add per output element for a bias, plus the per-element costs
  in the tables below for every other op.
* Ops that only move data (reshape, transpose, gather, concat, ...) cost 0 FLOPs.
* An op type with neither a formula here nor a per-element cost in the op registry is
  *unsupported*: the FLOPs pass lists it with its count and never counts it as a silent zero.

Costs per element (FLOPs per output element unless said otherwise). The ops of a fixed cost per
element have it in their op registry entry (``flops``, ``flops_per_input``: ``irwua.ops``); the
others have a formula here:

================================================  ===============================================
ops                                               FLOPs
================================================  ===============================================
Add, Sub, Mul, Div, Pow, Mod, Neg, Abs, Relu,     1
LeakyRelu, PRelu, Clip, Exp, Log, Sqrt, Erf,
Tanh, trigonometric, rounding, comparisons,
logical ops, Where
Sigmoid, HardSigmoid, Selu, Celu                  3
HardSwish, Mish                                   4
Gelu                                              5 (erf form)
Softplus, Softsign, Elu, Shrink,                  2
Quantize/DequantizeLinear
Sum, Max, Min of n inputs                         n - 1 (Mean: n)
BatchNormalization (inference)                    2 (one scale, one shift)
Layer/Instance/GroupNormalization                 7 (mean, subtract, square, sum, normalize,
                                                  scale, shift; 6 without a bias)
Softmax, LogSoftmax                               5 (max, subtract, exp, sum, divide)
LRN                                               size + 3
MaxPool, AveragePool, LpPool                      kernel elements per output element
GlobalAverage/Max/LpPool, Reduce*, ArgMax/Min     1 per *input* element (+1 per output for means)
Resize / Upsample                                 nearest 0; linear 2*2^r-1; cubic 2*4^r-1
                                                  (r = number of resized axes)
================================================  ===============================================
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from irwua.ops import op_info

Shape = tuple[int, ...]


class Cost(NamedTuple):
    macs: int
    flops: int


class OpShapes(NamedTuple):
    """What a cost formula may read: input/output shapes (None if absent) and attributes."""

    ins: Sequence[Shape | None]
    outs: Sequence[Shape | None]
    attrs: Mapping[str, Any]

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def has_input(self, index: int) -> bool:
        return index < len(self.ins) and self.ins[index] is not None

    @property
    def out_size(self) -> int:
        return _size(self.outs[0])

    @property
    def in_size(self) -> int:
        return _size(self.ins[0])


CostFormula = Callable[[OpShapes], Cost]
FORMULAS: dict[str, CostFormula] = {}
"""The formulas of the ops whose cost is not a number of FLOPs per element."""


def formula(*op_types: str) -> Callable[[CostFormula], CostFormula]:
    """Register a cost formula for one or more op types; a second formula for one is an error."""

    def register(function: CostFormula) -> CostFormula:
        for op_type in op_types:
            if op_type in FORMULAS:
                raise ValueError(f"op {op_type!r} has two cost formulas")
            FORMULAS[op_type] = function
        return function

    return register


def formula_for(op_type: str) -> CostFormula | None:
    """The cost formula of a default-domain op type: its own, else its per-element costs in the
    op registry; None when irwua does not know its cost (the op is unsupported)."""
    own = FORMULAS.get(op_type)
    if own is not None:
        return own
    info = op_info(op_type)
    if info is None or info.flops is None:
        return None
    return _per_element(info.flops, info.flops_per_input)


@functools.cache
def _per_element(per_output: int, per_input: int) -> CostFormula:
    if per_input:
        return lambda op: Cost(0, per_input * op.in_size + per_output * op.out_size)
    return lambda op: Cost(0, per_output * op.out_size)


def _size(shape: Shape | None) -> int:
    if shape is None:
        raise KeyError("shape unknown")
    return math.prod(shape)


def _conv(op: OpShapes, w: int, bias: int | None) -> Cost:
    """Each output element is a dot product over (C_in / group) x kernel: weight.shape[1:]."""
    macs = op.out_size * math.prod(op.ins[w][1:])
    return Cost(macs, 2 * macs + (op.out_size if bias is not None and op.has_input(bias) else 0))


@formula("Conv")
def conv(op: OpShapes) -> Cost:
    return _conv(op, 1, 2)


@formula("ConvInteger")
def conv_integer(op: OpShapes) -> Cost:
    return _conv(op, 1, None)


@formula("QLinearConv")
def qlinear_conv(op: OpShapes) -> Cost:
    layout = op_info("QLinearConv").quantized
    return _conv(op, layout.operands[1].tensor, layout.bias)


@formula("ConvTranspose")
def conv_transpose(op: OpShapes) -> Cost:
    # Every input element is multiplied into (C_out / group) x kernel outputs.
    macs = op.in_size * math.prod(op.ins[1][1:])
    return Cost(macs, 2 * macs + (op.out_size if op.has_input(2) else 0))


@formula("Gemm")
def gemm(op: OpShapes) -> Cost:
    a, b = op.ins[0], op.ins[1]
    m, k = (a[1], a[0]) if op.attr("transA", 0) else (a[0], a[1])
    n = b[0] if op.attr("transB", 0) else b[1]
    macs = m * n * k
    extra = 0
    if op.has_input(2):
        extra += m * n * (1 + (op.attr("beta", 1.0) != 1.0))
    if op.attr("alpha", 1.0) != 1.0:
        extra += m * n
    return Cost(macs, 2 * macs + extra)


@formula("MatMul", "MatMulInteger", "QLinearMatMul")
def matmul(op: OpShapes) -> Cost:
    """Batched matmul: every output element is a dot product over the left operand's last axis."""
    macs = op.out_size * op.ins[0][-1]
    return Cost(macs, 2 * macs)


@formula("Einsum")
def einsum(op: OpShapes) -> Cost:
    """Naive contraction cost: the product of every index's size, per extra operand."""
    equation = op.attr("equation").replace(" ", "")
    terms = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, op.ins, strict=True):
        letters = re.findall(r"\.\.\.|[A-Za-z]", term)
        if "..." in letters:
            fixed = len(letters) - 1
            at = letters.index("...")
            ellipsis_dims = shape[at : len(shape) - (fixed - at)]
            for i, dim in enumerate(ellipsis_dims):
                sizes[f"...{i}"] = max(sizes.get(f"...{i}", 1), dim)
            letters = letters[:at] + letters[at + 1 :]
            shape = shape[:at] + shape[len(shape) - (fixed - at) :]
        for letter, dim in zip(letters, shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), dim)
    macs = math.prod(sizes.values()) * max(len(terms) - 1, 1)
    return Cost(macs, 2 * macs)


_GATE_ELEMENTWISE = {"LSTM": 15, "GRU": 12, "RNN": 1}
"""FLOPs of a recurrent cell's gate nonlinearities and state updates, per hidden unit and step."""


def _recurrent(op_type: str) -> CostFormula:
    """LSTM/GRU/RNN: gate matmuls on input and hidden state, bias adds, gate nonlinearities."""

    def cost(op: OpShapes) -> Cost:
        x, w = op.ins[0], op.ins[1]
        seq, batch = (x[1], x[0]) if op.attr("layout", 0) else (x[0], x[1])
        directions, gates_hidden, input_size = w
        hidden = gates_hidden // op_info(op_type).gates
        steps = directions * seq * batch
        macs = steps * gates_hidden * (input_size + hidden)
        bias = steps * 2 * gates_hidden if op.has_input(3) else 0
        return Cost(macs, 2 * macs + bias + steps * hidden * _GATE_ELEMENTWISE[op_type])

    return cost


for _op in _GATE_ELEMENTWISE:
    formula(_op)(_recurrent(_op))


@formula("Sum", "Max", "Min")
def variadic(op: OpShapes) -> Cost:
    return Cost(0, (len(op.ins) - 1) * op.out_size)


@formula("Mean")
def mean(op: OpShapes) -> Cost:
    return Cost(0, len(op.ins) * op.out_size)


@formula("LayerNormalization", "InstanceNormalization", "GroupNormalization")
def normalization(op: OpShapes) -> Cost:
    return Cost(0, (7 if op.has_input(2) else 6) * op.out_size)


@formula("LpNormalization")
def lp_normalization(op: OpShapes) -> Cost:
    return Cost(0, 3 * op.out_size)


@formula("MeanVarianceNormalization")
def mean_variance_normalization(op: OpShapes) -> Cost:
    return Cost(0, 5 * op.out_size)


@formula("LRN")
def lrn(op: OpShapes) -> Cost:
    return Cost(0, (int(op.attr("size")) + 3) * op.out_size)


@formula("MaxPool", "AveragePool", "LpPool")
def pool(op: OpShapes) -> Cost:
    return Cost(0, op.out_size * math.prod(op.attr("kernel_shape")))


@formula("Resize", "Upsample")
def resize(op: OpShapes) -> Cost:
    mode = op.attr("mode", "nearest")
    if mode == "nearest":
        return Cost(0, 0)
    resized = sum(a != b for a, b in zip(op.ins[0], op.outs[0], strict=True))
    corners = (2 if mode == "linear" else 4) ** resized
    return Cost(0, (2 * corners - 1) * op.out_size)
