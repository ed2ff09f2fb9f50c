"""Shapes of the common ONNX ops worked out in Python: the fast path of shape inference.

ONNX's shape inference is the reference, but its first call in a process builds the schema
registry of every op and version (about 12 ms, more than all other shape work on a ResNet-50).
For a main graph made only of the ops below, each output shape is a line or two of arithmetic.

The rules are deliberately partial: an op, attribute value or opset they do not cover, and any
inconsistency (channels that do not match the weight, a broadcast that fails, a declared shape
that differs), make ``static_shapes`` return None, and the caller runs ONNX's inference, which
then also words the error. Tests compare every rule with ONNX's inference on the model corpus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from irwua.graph import ConstantTable, Node, TensorInfo
from irwua.ingest import numpy_dtype

Shape = tuple[int, ...]
Output = tuple[Shape, np.dtype]

OPSETS = range(7, 29)
"""Default-domain opsets whose semantics the rules follow: from 7 (numpy broadcasting) to 28
(checked against onnx 1.23's schemas; versions 23-28 of the covered ops only add element types)."""

_VALUE_LIMIT = 64
"""Integer tensors up to this size have their values tracked (shape arithmetic, Reshape targets)."""


class _NotCovered(Exception):
    """The rules do not cover this node; ONNX's inference decides."""


class Operands:
    """A node's inputs as the rules see them: shape, dtype and (small, constant) value."""

    def __init__(self, node: Node, known: Mapping[str, TensorInfo], values: Mapping[str, object]):
        self.node = node
        self._names = node.inputs
        self._known = known
        self._values = values

    def __len__(self) -> int:
        return len(self._names)

    def present(self, index: int) -> bool:
        return index < len(self._names) and bool(self._names[index])

    def shape(self, index: int) -> Shape:
        return self._info(index).shape  # type: ignore[return-value]

    def dtype(self, index: int) -> np.dtype:
        return self._info(index).dtype

    def value(self, index: int) -> np.ndarray:
        """The constant value of input ``index``; not covered when it is unknown."""
        if not self.present(index) or self._names[index] not in self._values:
            raise _NotCovered
        return np.asarray(self._values[self._names[index]])

    def ints(self, index: int) -> list[int]:
        return [int(v) for v in self.value(index).reshape(-1)]

    def _info(self, index: int) -> TensorInfo:
        if not self.present(index):
            raise _NotCovered
        return self._known[self._names[index]]


Rule = Callable[[Node, Operands, int], list[Output]]
Declared = tuple[tuple[int | str | None, ...] | None, np.dtype | None]
"""A shape and dtype a model declares for a tensor (None: not declared)."""
Evaluator = Callable[[Node, Operands], np.ndarray]


def static_shapes(
    nodes: Iterable[Node],
    inputs: Mapping[str, TensorInfo],
    constants: ConstantTable,
    opset: int,
    declared: Mapping[str, Declared],
    symbols: Mapping[str, int],
) -> dict[str, TensorInfo] | None:
    """Every tensor's shape and dtype, or None if any node is outside the rules.

    ``inputs``: the bound graph inputs; ``declared``: the shapes and dtypes the model declares for
    its outputs and intermediate tensors (a contradiction means None); ``symbols``: the sizes the
    inputs' symbolic dims are bound to.
    """
    if opset not in OPSETS:
        return None
    known: dict[str, TensorInfo] = dict(inputs)
    for name, array in constants.values.items():
        known[name] = TensorInfo(name, tuple(array.shape), array.dtype)
    values: dict[str, object] = {
        name: array for name, array in constants.values.items() if array.size <= _VALUE_LIMIT
    }
    try:
        for node in nodes:
            _infer_node(node, known, values, opset)
    except (_NotCovered, KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not _agrees(known, declared, symbols):
        return None
    return known


def _infer_node(
    node: Node, known: dict[str, TensorInfo], values: dict[str, object], opset: int
) -> None:
    if node.domain or node.scope or node.branches:
        raise _NotCovered
    if all(name in known for name in node.outputs if name):
        return  # A constant: folded with its value, shape and dtype.
    rule = RULES.get(node.op_type)
    if rule is None or any(name and name not in known for name in node.inputs):
        raise _NotCovered
    operands = Operands(node, known, values)
    outputs = rule(node, operands, opset)
    if len([name for name in node.outputs if name]) > len(outputs):
        raise _NotCovered
    for name, (shape, dtype) in zip(node.outputs, outputs, strict=False):
        if name:
            if name in known or any(d < 0 for d in shape):
                raise _NotCovered
            known[name] = TensorInfo(name, tuple(int(d) for d in shape), np.dtype(dtype))
    evaluate = VALUES.get(node.op_type)
    if evaluate is not None and node.outputs[0] in known:
        _track_value(node.outputs[0], evaluate, node, operands, known, values)


def _track_value(
    name: str,
    evaluate: Evaluator,
    node: Node,
    operands: Operands,
    known: Mapping[str, TensorInfo],
    values: dict[str, object],
) -> None:
    """Record the value of a small output (shape arithmetic) when its inputs' values are known."""
    shape = known[name].shape
    if math.prod(shape) > _VALUE_LIMIT:
        return
    try:
        values[name] = evaluate(node, operands).reshape(shape)
    except (_NotCovered, ValueError, IndexError):
        return  # The value stays unknown; a Reshape that needs it is then not covered.


def _agrees(
    known: Mapping[str, TensorInfo], declared: Mapping[str, Declared], symbols: Mapping[str, int]
) -> bool:
    """Whether every declared dtype and every fixed (or bound symbolic) dim matches."""
    for name, (dims, dtype) in declared.items():
        info = known.get(name)
        if info is None or (dtype is not None and dtype != info.dtype):
            return False
        if dims is None:
            continue
        if len(dims) != len(info.shape):
            return False
        for want, got in zip(dims, info.shape, strict=True):
            size = symbols.get(want) if isinstance(want, str) else want
            if size is not None and size != got:
                return False
    return True


# ---- shape helpers ---------------------------------------------------------------------------


def broadcast(*shapes: Shape) -> Shape:
    """Numpy-style (multidirectional) broadcasting of ``shapes``."""
    rank = max(len(shape) for shape in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise _NotCovered
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise _NotCovered
    return axis % rank


def _window(node: Node, sizes: Shape, kernel: Shape, dilations: Shape) -> Shape:
    """Output extents of a sliding window (conv, pooling) over ``sizes``."""
    spatial = len(sizes)
    strides = tuple(node.attr("strides", (1,) * spatial))
    pads = tuple(node.attr("pads", (0,) * (2 * spatial)))
    if len(kernel) != spatial or len(strides) != spatial or len(pads) != 2 * spatial:
        raise _NotCovered
    reach = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    mode = node.attr("auto_pad", "NOTSET")
    if mode == "NOTSET":
        out = [
            (n + pads[i] + pads[i + spatial] - reach[i]) // strides[i] + 1
            for i, n in enumerate(sizes)
        ]
    elif mode == "VALID":
        out = [-(-(n - r + 1) // s) for n, r, s in zip(sizes, reach, strides, strict=True)]
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-n // s) for n, s in zip(sizes, strides, strict=True)]
    else:
        raise _NotCovered
    if any(d < 1 for d in out):
        raise _NotCovered
    return tuple(out)


def _spatial(node: Node, key: str, default: int, spatial: int) -> Shape:
    values = tuple(node.attr(key, (default,) * spatial))
    if len(values) != spatial:
        raise _NotCovered
    return values


# ---- rules -----------------------------------------------------------------------------------


def _same(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(ops.shape(0), ops.dtype(0))]


def _softmax(node: Node, ops: Operands, opset: int) -> list[Output]:
    _axis(node.attr("axis", -1 if opset >= 13 else 1), max(len(ops.shape(0)), 1))
    return _same(node, ops, opset)


def _dropout(node: Node, ops: Operands, opset: int) -> list[Output]:
    mask = np.dtype(bool) if opset >= 10 else ops.dtype(0)
    return [(ops.shape(0), ops.dtype(0)), (ops.shape(0), mask)]


def _prelu(node: Node, ops: Operands, opset: int) -> list[Output]:
    if broadcast(ops.shape(0), ops.shape(1)) != ops.shape(0):
        raise _NotCovered
    return _same(node, ops, opset)


_SAME_SHAPES_BEFORE_8 = {"Sum", "Mean", "Max", "Min"}


def _elementwise(node: Node, ops: Operands, opset: int) -> list[Output]:
    shapes = [ops.shape(i) for i in range(len(ops))]
    if opset < 8 and node.op_type in _SAME_SHAPES_BEFORE_8 and len(set(shapes)) > 1:
        raise _NotCovered
    return [(broadcast(*shapes), ops.dtype(0))]


def _compare(node: Node, ops: Operands, opset: int) -> list[Output]:
    return [(_elementwise(node, ops, opset)[0][0], np.dtype(bool))]


def _where(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(broadcast(ops.shape(0), ops.shape(1), ops.shape(2)), ops.dtype(1))]


def _conv(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, w = ops.shape(0), ops.shape(1)
    group = node.attr("group", 1)
    if len(x) < 3 or len(w) != len(x) or x[1] != w[1] * group or w[0] % group:
        raise _NotCovered
    if ops.present(2) and ops.shape(2) != (w[0],):
        raise _NotCovered
    if tuple(node.attr("kernel_shape", w[2:])) != w[2:]:
        raise _NotCovered
    dilations = _spatial(node, "dilations", 1, len(x) - 2)
    return [((x[0], w[0], *_window(node, x[2:], w[2:], dilations)), ops.dtype(0))]


def _conv_transpose(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, w = ops.shape(0), ops.shape(1)
    group, spatial = node.attr("group", 1), len(x) - 2
    if spatial < 1 or len(w) != len(x) or x[1] != w[0] or w[0] % group:
        raise _NotCovered
    if "output_shape" in node.attrs or node.attr("auto_pad", "NOTSET") != "NOTSET":
        raise _NotCovered
    if ops.present(2) and ops.shape(2) != (w[1] * group,):
        raise _NotCovered
    strides = _spatial(node, "strides", 1, spatial)
    dilations = _spatial(node, "dilations", 1, spatial)
    extra = _spatial(node, "output_padding", 0, spatial)
    pads = tuple(node.attr("pads", (0,) * (2 * spatial)))
    if len(pads) != 2 * spatial or tuple(node.attr("kernel_shape", w[2:])) != w[2:]:
        raise _NotCovered
    out = [
        strides[i] * (x[2 + i] - 1)
        + extra[i]
        + (w[2 + i] - 1) * dilations[i]
        + 1
        - pads[i]
        - pads[i + spatial]
        for i in range(spatial)
    ]
    return [((x[0], w[1] * group, *out), ops.dtype(0))]


def _pool(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    kernel = tuple(node.attr("kernel_shape", ()))
    if len(x) < 3 or len(kernel) != len(x) - 2 or node.attr("ceil_mode", 0):
        raise _NotCovered
    dilations = _spatial(node, "dilations", 1, len(kernel))
    if node.op_type == "AveragePool" and opset < 19 and "dilations" in node.attrs:
        raise _NotCovered
    shape = (x[0], x[1], *_window(node, x[2:], kernel, dilations))
    return [(shape, ops.dtype(0)), (shape, np.dtype(np.int64))]


def _global_pool(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    x = ops.shape(0)
    if len(x) < 3:
        raise _NotCovered
    return [((x[0], x[1], *(1,) * (len(x) - 2)), ops.dtype(0))]


def _channels_params(ops: Operands, first: int, last: int) -> None:
    """Per-channel parameter inputs (scale, bias, mean, var) must be [C]."""
    channels = ops.shape(0)[1]
    if any(ops.shape(i) != (channels,) for i in range(first, last + 1) if ops.present(i)):
        raise _NotCovered


def _batch_norm(node: Node, ops: Operands, opset: int) -> list[Output]:
    if any(node.outputs[1:]) or node.attr("training_mode", 0) or not node.attr("spatial", 1):
        raise _NotCovered
    if len(ops.shape(0)) < 2:
        raise _NotCovered
    _channels_params(ops, 1, 4)
    return _same(node, ops, opset)


def _instance_norm(node: Node, ops: Operands, opset: int) -> list[Output]:
    if len(ops.shape(0)) < 3:
        raise _NotCovered
    _channels_params(ops, 1, 2)
    return _same(node, ops, opset)


def _layer_norm(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axis = _axis(node.attr("axis", -1), len(x))
    for index in (1, 2):
        if ops.present(index) and broadcast(x[axis:], ops.shape(index)) != x[axis:]:
            raise _NotCovered
    if any(node.outputs[1:]):
        raise _NotCovered
    return _same(node, ops, opset)


def _gemm(node: Node, ops: Operands, _opset: int) -> list[Output]:
    a, b = ops.shape(0), ops.shape(1)
    if len(a) != 2 or len(b) != 2:
        raise _NotCovered
    m, k = a[::-1] if node.attr("transA", 0) else a
    k2, n = b[::-1] if node.attr("transB", 0) else b
    if k != k2 or (ops.present(2) and broadcast((m, n), ops.shape(2)) != (m, n)):
        raise _NotCovered
    return [((m, n), ops.dtype(0))]


def _matmul(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    a, b = ops.shape(0), ops.shape(1)
    if not a or not b:
        raise _NotCovered
    left = (1, *a) if len(a) == 1 else a
    right = (*b, 1) if len(b) == 1 else b
    if left[-1] != right[-2]:
        raise _NotCovered
    shape = [*broadcast(left[:-2], right[:-2]), left[-2], right[-1]]
    if len(b) == 1:
        shape.pop()
    if len(a) == 1:
        shape.pop(-1 if len(b) == 1 else -2)
    return [(tuple(shape), ops.dtype(0))]


def _concat(node: Node, ops: Operands, _opset: int) -> list[Output]:
    shapes = [ops.shape(i) for i in range(len(ops))]
    rank = len(shapes[0])
    axis = _axis(node.attrs["axis"], rank)
    rest = {s[:axis] + s[axis + 1 :] for s in shapes}
    if len(rest) != 1 or any(len(s) != rank for s in shapes):
        raise _NotCovered
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [(tuple(out), ops.dtype(0))]


def _flatten(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x = ops.shape(0)
    axis = node.attr("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    if not 0 <= axis <= len(x):
        raise _NotCovered
    return [((math.prod(x[:axis]), math.prod(x[axis:])), ops.dtype(0))]


def _reshape(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, target = ops.shape(0), ops.ints(1)
    if node.attr("allowzero", 0) and 0 in target:
        raise _NotCovered
    out = [x[i] if d == 0 else d for i, d in enumerate(target)]
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise _NotCovered
    if -1 in out:
        rest = math.prod(d for d in out if d != -1)
        if rest == 0 or math.prod(x) % rest:
            raise _NotCovered
        out[out.index(-1)] = math.prod(x) // rest
    if math.prod(out) != math.prod(x):
        raise _NotCovered
    return [(tuple(out), ops.dtype(0))]


def _transpose(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x = ops.shape(0)
    perm = tuple(node.attr("perm", range(len(x) - 1, -1, -1)))
    if sorted(perm) != list(range(len(x))):
        raise _NotCovered
    return [(tuple(x[p] for p in perm), ops.dtype(0))]


def _axes(node: Node, ops: Operands, opset: int, since: int) -> list[int] | None:
    """An op's ``axes``: an attribute before opset ``since``, an optional input from it on."""
    if opset < since:
        axes = node.attr("axes")
        return None if axes is None else list(axes)
    if "axes" in node.attrs:
        raise _NotCovered  # An attribute this opset no longer has.
    return ops.ints(1) if ops.present(1) else None


def _squeeze(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axes = _axes(node, ops, opset, 13)
    if axes is None:
        drop = {i for i, d in enumerate(x) if d == 1}
    else:
        drop = {_axis(a, len(x)) for a in axes}
    if any(x[i] != 1 for i in drop):
        raise _NotCovered
    return [(tuple(d for i, d in enumerate(x) if i not in drop), ops.dtype(0))]


def _unsqueeze(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axes = _axes(node, ops, opset, 13)
    if axes is None:
        raise _NotCovered
    rank = len(x) + len(axes)
    inserted = {_axis(a, rank) for a in axes}
    if len(inserted) != len(axes):
        raise _NotCovered
    rest = iter(x)
    return [(tuple(1 if i in inserted else next(rest) for i in range(rank)), ops.dtype(0))]


def _shape(node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [((len(_shape_slice(node, ops)),), np.dtype(np.int64))]


def _shape_slice(node: Node, ops: Operands) -> Shape:
    x = ops.shape(0)
    return x[node.attr("start", 0) : node.attr("end", len(x))]


def _gather(node: Node, ops: Operands, _opset: int) -> list[Output]:
    data, indices = ops.shape(0), ops.shape(1)
    axis = _axis(node.attr("axis", 0), len(data))
    return [(data[:axis] + indices + data[axis + 1 :], ops.dtype(0))]


def _cast(node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(ops.shape(0), numpy_dtype(node.attrs["to"]))]


def _pad(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    pads = ops.ints(1) if opset >= 11 else list(node.attr("pads", ()))
    if len(pads) != 2 * len(x) or ops.present(3):
        raise _NotCovered
    return [(tuple(d + pads[i] + pads[i + len(x)] for i, d in enumerate(x)), ops.dtype(0))]


def _slice(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = list(ops.shape(0))
    if opset < 10:
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes, steps = list(node.attr("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = ops.ints(1), ops.ints(2)
        axes = ops.ints(3) if ops.present(3) else list(range(len(starts)))
        steps = ops.ints(4) if ops.present(4) else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise _NotCovered
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _axis(axis, len(x))
        x[axis] = len(range(*slice(start, end, step).indices(x[axis])))
    return [(tuple(x), ops.dtype(0))]


def _reduce(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    since = 13 if node.op_type == "ReduceSum" else 18
    axes = _axes(node, ops, opset, since)
    if not axes:
        if opset >= since and node.attr("noop_with_empty_axes", 0):
            return _same(node, ops, opset)
        axes = list(range(len(x)))
    reduced = {_axis(a, len(x)) for a in axes}
    keep = node.attr("keepdims", 1)
    shape = tuple(1 if i in reduced else d for i, d in enumerate(x) if keep or i not in reduced)
    return [(shape, ops.dtype(0))]


def _expand(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(broadcast(ops.shape(0), tuple(ops.ints(1))), ops.dtype(0))]


def _tile(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, repeats = ops.shape(0), ops.ints(1)
    if len(repeats) != len(x) or any(r < 0 for r in repeats):
        raise _NotCovered
    return [(tuple(d * r for d, r in zip(x, repeats, strict=True)), ops.dtype(0))]


def _split(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axis = _axis(node.attr("axis", 0), len(x))
    count = len(node.outputs)
    sizes = ops.ints(1) if opset >= 13 and ops.present(1) else node.attr("split")
    if sizes is None:
        if opset >= 18 and "num_outputs" in node.attrs:
            chunk = -(-x[axis] // count)
            sizes = [chunk] * (count - 1) + [x[axis] - chunk * (count - 1)]
        elif x[axis] % count == 0:
            sizes = [x[axis] // count] * count
        else:
            raise _NotCovered
    if len(sizes) != count or sum(sizes) != x[axis] or min(sizes) < 0:
        raise _NotCovered
    return [((*x[:axis], size, *x[axis + 1 :]), ops.dtype(0)) for size in sizes]


def _resize(node: Node, ops: Operands, opset: int) -> list[Output]:
    """Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample (scales)."""
    x = ops.shape(0)
    if "axes" in node.attrs or node.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise _NotCovered
    if node.op_type == "Upsample" and opset >= 10:
        raise _NotCovered  # Deprecated: ONNX's inference words the error.
    if node.op_type == "Resize" and opset >= 11 and ops.present(3):
        sizes = ops.ints(3)
    else:
        index = 2 if node.op_type == "Resize" and opset >= 11 else 1
        scales = node.attr("scales") if opset < 9 else ops.value(index).reshape(-1).tolist()
        if scales is None or len(scales) != len(x):
            raise _NotCovered
        sizes = [math.floor(d * float(scale)) for d, scale in zip(x, scales, strict=True)]
    if len(sizes) != len(x):
        raise _NotCovered
    return [(tuple(sizes), ops.dtype(0))]


_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _recurrent(node: Node, ops: Operands, _opset: int) -> list[Output]:
    """LSTM / GRU / RNN: Y, Y_h (and Y_c) in the node's layout."""
    x, w = ops.shape(0), ops.shape(1)
    hidden, layout = node.attrs["hidden_size"], node.attr("layout", 0)
    directions = 2 if node.attr("direction", "forward") == "bidirectional" else 1
    if len(x) != 3 or w != (directions, _GATES[node.op_type] * hidden, x[2]):
        raise _NotCovered
    if layout:
        batch, steps = x[0], x[1]
        sequence, state = (batch, steps, directions, hidden), (batch, directions, hidden)
    else:
        steps, batch = x[0], x[1]
        sequence, state = (steps, directions, batch, hidden), (directions, batch, hidden)
    dtype = ops.dtype(0)
    return [(sequence, dtype), (state, dtype), (state, dtype)]


UNARY = (
    "Abs Acos Asin Atan Ceil Celu Cos Elu Erf Exp Floor Gelu HardSigmoid HardSwish Identity "
    "LeakyRelu Log LRN Mish Neg Reciprocal Relu Round Selu Shrink Sigmoid Sign Sin Softplus "
    "Softsign Sqrt Tan Tanh ThresholdedRelu Clip"
).split()
BROADCASTING = "Add Sub Mul Div Mod Pow Max Min Sum Mean".split()
COMPARISONS = "Equal Less Greater LessOrEqual GreaterOrEqual And Or Xor".split()
REDUCTIONS = "ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2".split()

RULES: dict[str, Rule] = {
    **dict.fromkeys(UNARY, _same),
    **dict.fromkeys(BROADCASTING, _elementwise),
    **dict.fromkeys(COMPARISONS, _compare),
    **dict.fromkeys(REDUCTIONS, _reduce),
    **dict.fromkeys(("Softmax", "LogSoftmax", "Hardmax"), _softmax),
    **dict.fromkeys(("MaxPool", "AveragePool"), _pool),
    **dict.fromkeys(("GlobalAveragePool", "GlobalMaxPool"), _global_pool),
    **dict.fromkeys(("Resize", "Upsample"), _resize),
    **dict.fromkeys(_GATES, _recurrent),
    "Not": _same,
    "Where": _where,
    "Dropout": _dropout,
    "PRelu": _prelu,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm,
    "LayerNormalization": _layer_norm,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Shape": _shape,
    "Gather": _gather,
    "Cast": _cast,
    "Pad": _pad,
    "Slice": _slice,
    "Expand": _expand,
    "Tile": _tile,
    "Split": _split,
}
"""Output shapes and dtypes per op type (default domain)."""


# ---- values of small integer tensors (shape arithmetic) --------------------------------------


def _value_of_shape(node: Node, ops: Operands) -> np.ndarray:
    return np.array(_shape_slice(node, ops), np.int64)


def _value_of_gather(node: Node, ops: Operands) -> np.ndarray:
    return np.take(ops.value(0), ops.value(1), axis=node.attr("axis", 0))


def _value_of_concat(node: Node, ops: Operands) -> np.ndarray:
    return np.concatenate([ops.value(i) for i in range(len(ops))], axis=node.attrs["axis"])


def _value_of_slice(_node: Node, ops: Operands) -> np.ndarray:
    """The 1-D slice of shape arithmetic (``shape[1:]``), one axis."""
    value = ops.value(0)
    axes = ops.ints(3) if ops.present(3) else [0]
    steps = ops.ints(4) if ops.present(4) else [1]
    (start,), (end,) = ops.ints(1), ops.ints(2)
    if value.ndim != 1 or axes not in ([0], [-1]) or len(steps) != 1 or not steps[0]:
        raise _NotCovered
    return value[start : end : steps[0]]


_ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Mod": np.mod}


def _value_of_arithmetic(node: Node, ops: Operands) -> np.ndarray:
    """Add, Sub, Mul, and Mod (whose integer result takes the divisor's sign, as numpy's)."""
    operation = np.fmod if node.attr("fmod", 0) else _ARITHMETIC[node.op_type]
    return operation(ops.value(0), ops.value(1))


def _value_unchanged(node: Node, ops: Operands) -> np.ndarray:
    """Unsqueeze, Squeeze, Reshape, Flatten, Identity, Cast: the same values (the caller gives
    them the output's shape), in the output's dtype."""
    value = ops.value(0)
    return value.astype(numpy_dtype(node.attrs["to"])) if node.op_type == "Cast" else value


VALUES: dict[str, Evaluator] = {
    "Shape": _value_of_shape,
    "Gather": _value_of_gather,
    "Concat": _value_of_concat,
    "Slice": _value_of_slice,
    **dict.fromkeys(_ARITHMETIC, _value_of_arithmetic),
    **dict.fromkeys(
        ("Unsqueeze", "Squeeze", "Reshape", "Flatten", "Identity", "Cast"), _value_unchanged
    ),
}
"""Ops whose small integer outputs are computed, so a Reshape fed by Shape arithmetic is sized."""
