"""Output shapes and dtypes of the common ONNX ops: a small rule per op type, or per category of
the op registry (``irwua.ops``) for ops that all follow one rule (activations, elementwise math,
broadcasting arithmetic, comparisons, softmaxes, reductions, global pools).

A rule reads its node's attributes and its inputs' shapes, dtypes and known values
(``Operands``) and returns every output's shape and dtype, exactly as ONNX's shape inference
would for that opset, or raises ``NotCovered`` for anything it cannot get exactly right (an
attribute its version lacks, a value it needs that is unknown, an input ONNX's inference refuses).
``irwua.ingest.shape_propagation`` runs them over a graph.

ONNX's inference is the reference even where onnxruntime differs from it (a Resize whose scale
times size rounds differently in float32, a Squeeze given an empty list of axes, a ceil_mode pool
whose last window would start in the right padding): there the rules follow it or hand back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx

from irwua.ingest.folding import CONSTANT_NUMBERS, axis_index, slice_ranges
from irwua.ir.dtypes import numpy_dtype
from irwua.ir.graph import Node, TensorInfo
from irwua.ops import Category, category_of, op_info

Shape = tuple[int, ...]
Output = tuple[Shape, np.dtype]


class NotCovered(ValueError):
    """The rules do not cover this node; ONNX's inference decides. (The helpers shared with
    ``irwua.ingest.folding`` raise a plain ``ValueError``, which means the same.)"""


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
            raise NotCovered
        return np.asarray(self._values[self._names[index]])

    def has_value(self, index: int) -> bool:
        """Whether the value of input ``index`` is known."""
        return self.present(index) and self._names[index] in self._values

    def ints(self, index: int) -> list[int]:
        return [int(v) for v in self.value(index).reshape(-1)]

    def _info(self, index: int) -> TensorInfo:
        if not self.present(index):
            raise NotCovered
        return self._known[self._names[index]]


Rule = Callable[[Node, Operands, int], list[Output]]


# ---- shape helpers ---------------------------------------------------------------------------


def broadcast(*shapes: Shape) -> Shape:
    """Numpy-style (multidirectional) broadcasting of ``shapes``."""
    rank = max(len(shape) for shape in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise NotCovered
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _window(node: Node, sizes: Shape, kernel: Shape, dilations: Shape, ceil: bool = False) -> Shape:
    """Output extents of a sliding window (conv, pooling) over ``sizes``; ``ceil``: a pool's
    ceil_mode, which counts a last, partial window."""
    spatial = len(sizes)
    strides, pads = _spatial(node, "strides", 1, spatial), _pads(node, spatial)
    if len(kernel) != spatial or min(kernel, default=1) < 1:
        raise NotCovered
    reach = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    mode = node.attr("auto_pad", "NOTSET")
    if mode != "NOTSET" and "pads" in node.attrs:
        raise NotCovered  # Not allowed together; ONNX's inference applies the pads to VALID.
    if ceil and mode != "NOTSET":
        raise NotCovered
    if mode == "NOTSET":
        out = []
        for i, n in enumerate(sizes):
            span, stride = n + pads[i] + pads[i + spatial] - reach[i], strides[i]
            out.append(span // stride + 1 + (ceil and span % stride > 0))
            if ceil and (out[-1] - 1) * stride >= n + pads[i]:
                # The last window would start in the right padding: ONNX's inference counts
                # it, onnxruntime (as torch) does not.
                raise NotCovered
    elif mode == "VALID":
        out = [-(-(n - r + 1) // s) for n, r, s in zip(sizes, reach, strides, strict=True)]
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-n // s) for n, s in zip(sizes, strides, strict=True)]
    else:
        raise NotCovered
    if any(d < 1 for d in out):
        raise NotCovered
    return tuple(out)


def _spatial(node: Node, key: str, default: int, spatial: int) -> Shape:
    """A per-axis attribute (strides, dilations: at least 1; output_padding: at least 0); ONNX's
    inference refuses a smaller value."""
    values = tuple(node.attr(key, (default,) * spatial))
    if len(values) != spatial or min(values, default=default) < default:
        raise NotCovered
    return values


def _pads(node: Node, spatial: int) -> Shape:
    """The pads attribute (begins, then ends); ONNX's inference refuses negative pads."""
    pads = tuple(node.attr("pads", (0,) * (2 * spatial)))
    if len(pads) != 2 * spatial or min(pads, default=0) < 0:
        raise NotCovered
    return pads


# ---- rules -----------------------------------------------------------------------------------


def _same(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(ops.shape(0), ops.dtype(0))]


def _reverse_sequence(node: Node, ops: Operands, _opset: int) -> list[Output]:
    """The data's shape: each batch entry's first ``sequence_lens`` steps reversed in place."""
    shape, lengths = ops.shape(0), ops.shape(1)
    batch, time = int(node.attr("batch_axis", 1)), int(node.attr("time_axis", 0))
    if len(shape) < 2 or {batch, time} != {0, 1} or tuple(lengths) != (shape[batch],):
        raise NotCovered
    return [(shape, ops.dtype(0))]


def _softmax(node: Node, ops: Operands, opset: int) -> list[Output]:
    axis_index(node.attr("axis", -1 if opset >= 13 else 1), len(ops.shape(0)), opset)
    return _same(node, ops, opset)


def _dropout(node: Node, ops: Operands, opset: int) -> list[Output]:
    mask = np.dtype(bool) if opset >= 10 else ops.dtype(0)
    return [(ops.shape(0), ops.dtype(0)), (ops.shape(0), mask)]


def _prelu(node: Node, ops: Operands, opset: int) -> list[Output]:
    if broadcast(ops.shape(0), ops.shape(1)) != ops.shape(0):
        raise NotCovered
    return _same(node, ops, opset)


_SAME_SHAPES_BEFORE_8 = {"Sum", "Mean", "Max", "Min"}


def _elementwise(node: Node, ops: Operands, opset: int) -> list[Output]:
    shapes = [ops.shape(i) for i in range(len(ops))]
    if opset < 8 and node.op_type in _SAME_SHAPES_BEFORE_8 and len(set(shapes)) > 1:
        raise NotCovered
    return [(broadcast(*shapes), ops.dtype(0))]


def _compare(node: Node, ops: Operands, opset: int) -> list[Output]:
    return [(_elementwise(node, ops, opset)[0][0], np.dtype(bool))]


def _where(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(broadcast(ops.shape(0), ops.shape(1), ops.shape(2)), ops.dtype(1))]


def _conv(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, w = ops.shape(0), ops.shape(1)
    group = node.attr("group", 1)
    if len(x) < 3 or len(w) != len(x) or x[1] != w[1] * group or w[0] % group:
        raise NotCovered
    if ops.present(2) and ops.shape(2) != (w[0],):
        raise NotCovered
    if tuple(node.attr("kernel_shape", w[2:])) != w[2:]:
        raise NotCovered
    dilations = _spatial(node, "dilations", 1, len(x) - 2)
    return [((x[0], w[0], *_window(node, x[2:], w[2:], dilations)), ops.dtype(0))]


def _conv_transpose(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, w = ops.shape(0), ops.shape(1)
    group, spatial = node.attr("group", 1), len(x) - 2
    if spatial < 1 or len(w) != len(x) or x[1] != w[0] or w[0] % group:
        raise NotCovered
    if "output_shape" in node.attrs or node.attr("auto_pad", "NOTSET") != "NOTSET":
        raise NotCovered
    if ops.present(2) and ops.shape(2) != (w[1] * group,):
        raise NotCovered
    strides = _spatial(node, "strides", 1, spatial)
    dilations = _spatial(node, "dilations", 1, spatial)
    extra, pads = _spatial(node, "output_padding", 0, spatial), _pads(node, spatial)
    if tuple(node.attr("kernel_shape", w[2:])) != w[2:]:
        raise NotCovered
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
    if len(x) < 3 or len(kernel) != len(x) - 2:
        raise NotCovered
    dilations = _spatial(node, "dilations", 1, len(kernel))
    if "dilations" in node.attrs and opset < (19 if node.op_type == "AveragePool" else 10):
        raise NotCovered  # An attribute this version does not have.
    ceil = bool(node.attr("ceil_mode", 0))
    if ceil and opset < 10:
        raise NotCovered
    shape = (x[0], x[1], *_window(node, x[2:], kernel, dilations, ceil))
    return [(shape, ops.dtype(0)), (shape, np.dtype(np.int64))]


def _global_pool(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    x = ops.shape(0)
    if len(x) < 3:
        raise NotCovered
    return [((x[0], x[1], *(1,) * (len(x) - 2)), ops.dtype(0))]


def _channels_params(ops: Operands, first: int, last: int) -> None:
    """Per-channel parameter inputs (scale, bias, mean, var) must be [C]."""
    channels = ops.shape(0)[1]
    if any(ops.shape(i) != (channels,) for i in range(first, last + 1) if ops.present(i)):
        raise NotCovered


def _batch_norm(node: Node, ops: Operands, opset: int) -> list[Output]:
    if any(node.outputs[1:]) or node.attr("training_mode", 0) or not node.attr("spatial", 1):
        raise NotCovered
    if len(ops.shape(0)) < 2:
        raise NotCovered
    _channels_params(ops, 1, 4)
    return _same(node, ops, opset)


def _instance_norm(node: Node, ops: Operands, opset: int) -> list[Output]:
    if len(ops.shape(0)) < 3:
        raise NotCovered
    _channels_params(ops, 1, 2)
    return _same(node, ops, opset)


def _layer_norm(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axis = axis_index(node.attr("axis", -1), len(x), opset)
    for index in (1, 2):
        if ops.present(index) and broadcast(x[axis:], ops.shape(index)) != x[axis:]:
            raise NotCovered
    if any(node.outputs[1:]):
        raise NotCovered
    return _same(node, ops, opset)


def _gemm(node: Node, ops: Operands, _opset: int) -> list[Output]:
    a, b = ops.shape(0), ops.shape(1)
    if len(a) != 2 or len(b) != 2:
        raise NotCovered
    m, k = a[::-1] if node.attr("transA", 0) else a
    k2, n = b[::-1] if node.attr("transB", 0) else b
    if k != k2 or (ops.present(2) and broadcast((m, n), ops.shape(2)) != (m, n)):
        raise NotCovered
    return [((m, n), ops.dtype(0))]


def _matmul(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    a, b = ops.shape(0), ops.shape(1)
    if not a or not b:
        raise NotCovered
    left = (1, *a) if len(a) == 1 else a
    right = (*b, 1) if len(b) == 1 else b
    if left[-1] != right[-2]:
        raise NotCovered
    shape = [*broadcast(left[:-2], right[:-2]), left[-2], right[-1]]
    if len(b) == 1:
        shape.pop()
    if len(a) == 1:
        shape.pop(-1 if len(b) == 1 else -2)
    return [(tuple(shape), ops.dtype(0))]


def _concat(node: Node, ops: Operands, opset: int) -> list[Output]:
    shapes = [ops.shape(i) for i in range(len(ops))]
    rank = len(shapes[0])
    axis = axis_index(node.attrs["axis"], rank, opset)
    rest = {s[:axis] + s[axis + 1 :] for s in shapes}
    if len(rest) != 1 or any(len(s) != rank for s in shapes):
        raise NotCovered
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [(tuple(out), ops.dtype(0))]


def _flatten(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axis = node.attr("axis", 1)
    axis = axis + len(x) if axis < 0 and opset >= 11 else axis
    if not 0 <= axis <= len(x):
        raise NotCovered
    return [((math.prod(x[:axis]), math.prod(x[axis:])), ops.dtype(0))]


def _reshape(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, target = ops.shape(0), ops.ints(1)
    if node.attr("allowzero", 0) and 0 in target:
        raise NotCovered
    out = [x[i] if d == 0 else d for i, d in enumerate(target)]
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise NotCovered
    if -1 in out:
        rest = math.prod(d for d in out if d != -1)
        if rest == 0 or math.prod(x) % rest:
            raise NotCovered
        out[out.index(-1)] = math.prod(x) // rest
    if math.prod(out) != math.prod(x):
        raise NotCovered
    return [(tuple(out), ops.dtype(0))]


def _transpose(node: Node, ops: Operands, _opset: int) -> list[Output]:
    x = ops.shape(0)
    perm = tuple(node.attr("perm", range(len(x) - 1, -1, -1)))
    if sorted(perm) != list(range(len(x))):
        raise NotCovered
    return [(tuple(x[p] for p in perm), ops.dtype(0))]


def _axes(node: Node, ops: Operands, opset: int, since: int) -> list[int] | None:
    """An op's ``axes``: an attribute before opset ``since``, an optional input from it on."""
    if opset < since:
        axes = node.attr("axes")
        return None if axes is None else list(axes)
    if "axes" in node.attrs:
        raise NotCovered  # An attribute this opset no longer has.
    return ops.ints(1) if ops.present(1) else None


def _squeeze(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axes = _axes(node, ops, opset, 13)
    if axes is None:
        drop = {i for i, d in enumerate(x) if d == 1}
    else:
        drop = {axis_index(a, len(x), opset) for a in axes}
    if any(x[i] != 1 for i in drop) or (opset < 11 and axes != sorted(axes or ())):
        raise NotCovered  # ONNX's inference of Squeeze-1 misreads axes out of order.
    return [(tuple(d for i, d in enumerate(x) if i not in drop), ops.dtype(0))]


def _unsqueeze(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axes = _axes(node, ops, opset, 13)
    if axes is None:
        raise NotCovered
    rank = len(x) + len(axes)
    inserted = {axis_index(a, rank, opset) for a in axes}
    if len(inserted) != len(axes):
        raise NotCovered
    rest = iter(x)
    return [(tuple(1 if i in inserted else next(rest) for i in range(rank)), ops.dtype(0))]


def _shape(node: Node, ops: Operands, opset: int) -> list[Output]:
    return [((len(shape_slice(node, ops, opset)),), np.dtype(np.int64))]


def shape_slice(node: Node, ops: Operands, opset: int) -> Shape:
    """The input's shape, or the part ``start:end`` from opset 15 on (clamped as in Python)."""
    x = ops.shape(0)
    if opset < 15 and ("start" in node.attrs or "end" in node.attrs):
        raise NotCovered  # Attributes this version does not have: ONNX's inference ignores them.
    return x[node.attr("start", 0) : node.attr("end", len(x))]


def _gather(node: Node, ops: Operands, _opset: int) -> list[Output]:
    data, indices = ops.shape(0), ops.shape(1)
    axis = axis_index(node.attr("axis", 0), len(data), 11)  # Gather-1 has negative axes too.
    if ops.has_value(1):
        index, size = ops.value(1), data[axis]
        if np.any(index < -size) or np.any(index >= size):
            raise NotCovered  # An index out of range: ONNX's inference refuses it.
    return [(data[:axis] + indices + data[axis + 1 :], ops.dtype(0))]


def _cast(node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(ops.shape(0), _element_type(node.attrs["to"]))]


def _element_type(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type; not covered for a number that is none (ONNX's
    inference refuses it, where ``numpy_dtype`` would say float32)."""
    if elem_type not in onnx.TensorProto.DataType.values() or not elem_type:
        raise NotCovered
    return numpy_dtype(elem_type)


def _constant(node: Node, _ops: Operands, opset: int) -> list[Output]:
    """Constant: a tensor ``value``, or (from opset 12 on) a number or list of numbers."""
    if "value" in node.attrs:
        value = np.asarray(node.attrs["value"])
        return [(value.shape, value.dtype)]
    for key, dtype in CONSTANT_NUMBERS.items():
        if key in node.attrs and opset >= 12:
            return [(np.shape(node.attrs[key]), np.dtype(dtype))]
    raise NotCovered  # A sparse or string value.


def _constant_of_shape(node: Node, ops: Operands, _opset: int) -> list[Output]:
    fill = node.attr("value")
    return [(tuple(ops.ints(0)), np.float32 if fill is None else np.asarray(fill).dtype)]


def _dequantize(node: Node, ops: Operands, opset: int) -> list[Output]:
    """DequantizeLinear: float32 before opset 19, then the scale's type (or, from opset 23 on,
    ``output_dtype``)."""
    if opset < 19:
        return [(ops.shape(0), np.dtype(np.float32))]
    to = node.attr("output_dtype", 0) if opset >= 23 else 0
    return [(ops.shape(0), _element_type(to) if to else ops.dtype(1))]


def _pad(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    pads = ops.ints(1) if opset >= 11 else list(node.attr("pads", ()))
    if len(pads) != 2 * len(x) or ops.present(3):
        raise NotCovered
    return [(tuple(d + pads[i] + pads[i + len(x)] for i, d in enumerate(x)), ops.dtype(0))]


def _slice(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = list(ops.shape(0))
    for axis, taken in slices(node, ops, opset, x).items():
        x[axis] = len(taken)
    return [(tuple(x), ops.dtype(0))]


def slices(node: Node, ops: Operands, opset: int, shape: Sequence[int]) -> dict[int, range]:
    """The indices a Slice node takes along each axis it slices (attributes before opset 10,
    inputs from 10 on)."""
    if opset < 10:
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes, steps = list(node.attr("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = ops.ints(1), ops.ints(2)
        axes = ops.ints(3) if ops.present(3) else list(range(len(starts)))
        steps = ops.ints(4) if ops.present(4) else [1] * len(starts)
    return slice_ranges(starts, ends, axes, steps, shape, opset)


def _reduce(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    since = 13 if node.op_type == "ReduceSum" else 18
    axes = _axes(node, ops, opset, since)
    if not axes:
        if opset >= since and node.attr("noop_with_empty_axes", 0):
            return _same(node, ops, opset)
        axes = list(range(len(x)))
    reduced = {axis_index(a, len(x), opset) for a in axes}
    keep = node.attr("keepdims", 1)
    shape = tuple(1 if i in reduced else d for i, d in enumerate(x) if keep or i not in reduced)
    return [(shape, ops.dtype(0))]


def _expand(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    return [(broadcast(ops.shape(0), tuple(ops.ints(1))), ops.dtype(0))]


def _tile(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    x, repeats = ops.shape(0), ops.ints(1)
    if len(repeats) != len(x) or any(r < 0 for r in repeats):
        raise NotCovered
    return [(tuple(d * r for d, r in zip(x, repeats, strict=True)), ops.dtype(0))]


def _split(node: Node, ops: Operands, opset: int) -> list[Output]:
    x = ops.shape(0)
    axis = axis_index(node.attr("axis", 0), len(x), opset)
    count, size = len(node.outputs), x[axis]
    sizes = _split_sizes(node, ops, opset)
    if sizes is None and opset >= 18:  # num_outputs parts, the last one smaller
        chunk = -(-size // count)
        sizes = [chunk] * (count - 1) + [size - chunk * (count - 1)]
    elif sizes is None:  # Equal parts.
        if size % count:
            raise NotCovered
        sizes = [size // count] * count
    if len(sizes) != count or sum(sizes) != size or min(sizes) < 0:
        raise NotCovered
    return [((*x[:axis], part, *x[axis + 1 :]), ops.dtype(0)) for part in sizes]


def _split_sizes(node: Node, ops: Operands, opset: int) -> list[int] | None:
    """The part sizes a Split node gives (an attribute before opset 13, an input from 13 on), or
    None. Not covered: an attribute its version lacks, and parts sized twice or, from opset 18
    on, not at all (ONNX's inference refuses both)."""
    if opset < 13:
        sizes = node.attr("split")
    elif "split" in node.attrs:
        raise NotCovered
    else:
        sizes = ops.ints(1) if ops.present(1) else None
    num_outputs = node.attr("num_outputs")
    if num_outputs is not None and (
        opset < 18 or sizes is not None or num_outputs != len(node.outputs)
    ):
        raise NotCovered
    if opset >= 18 and sizes is None and num_outputs is None:
        raise NotCovered
    return sizes


def _resize(node: Node, ops: Operands, opset: int) -> list[Output]:
    """Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample (scales)."""
    x = ops.shape(0)
    if "axes" in node.attrs or node.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise NotCovered
    if node.op_type == "Upsample" and opset >= 10:
        raise NotCovered  # Deprecated: ONNX's inference words the error.
    if node.op_type == "Resize" and opset >= 11 and ops.present(3):
        if ops.present(2) and ops.value(2).size:
            raise NotCovered  # Both scales and sizes: ONNX's inference refuses it.
        sizes = ops.ints(3)
        if min(sizes, default=1) < 1:
            raise NotCovered  # ONNX's inference leaves the output unsized.
    else:
        index = 2 if node.op_type == "Resize" and opset >= 11 else 1
        scales = node.attr("scales") if opset < 9 else ops.value(index).reshape(-1).tolist()
        if scales is None or len(scales) != len(x):
            raise NotCovered
        sizes = [math.floor(d * float(scale)) for d, scale in zip(x, scales, strict=True)]
    if len(sizes) != len(x):
        raise NotCovered
    return [(tuple(sizes), ops.dtype(0))]


def _recurrent(node: Node, ops: Operands, opset: int) -> list[Output]:
    """LSTM / GRU / RNN: Y, Y_h (and Y_c) in the node's layout."""
    x, w = ops.shape(0), ops.shape(1)
    hidden, layout = node.attrs["hidden_size"], node.attr("layout", 0)
    if "layout" in node.attrs and opset < 14:
        raise NotCovered  # An attribute this version lacks: ONNX's inference ignores it.
    directions = 2 if node.attr("direction", "forward") == "bidirectional" else 1
    if len(x) != 3 or w != (directions, op_info(node.op_type).gates * hidden, x[2]):
        raise NotCovered
    if layout:
        batch, steps = x[0], x[1]
        sequence, state = (batch, steps, directions, hidden), (batch, directions, hidden)
    else:
        steps, batch = x[0], x[1]
        sequence, state = (steps, directions, batch, hidden), (directions, batch, hidden)
    dtype = ops.dtype(0)
    return [(sequence, dtype), (state, dtype), (state, dtype)]


def _predicate(_node: Node, ops: Operands, _opset: int) -> list[Output]:
    """IsNaN, IsInf: a boolean per element."""
    return [(ops.shape(0), np.dtype(bool))]


RULES: dict[str, Rule] = {
    "PRelu": _prelu,
    "IsNaN": _predicate,
    "IsInf": _predicate,
    "Identity": _same,
    "LRN": _same,
    "ReverseSequence": _reverse_sequence,
    "Where": _where,
    "Dropout": _dropout,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm,
    "LayerNormalization": _layer_norm,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Shape": _shape,
    "Gather": _gather,
    "Cast": _cast,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "DequantizeLinear": _dequantize,
    "Pad": _pad,
    "Slice": _slice,
    "Expand": _expand,
    "Tile": _tile,
    "Split": _split,
    "Resize": _resize,
    "Upsample": _resize,
}
"""Output shapes and dtypes of the ops treated one by one (default domain)."""

CATEGORY_RULES: dict[str, Rule] = {
    Category.ACTIVATION: _same,
    Category.UNARY: _same,
    Category.BROADCAST: _elementwise,
    Category.COMPARISON: _compare,
    Category.SOFTMAX: _softmax,
    Category.REDUCTION: _reduce,
    Category.GLOBAL_POOLING: _global_pool,
}
"""The rule of every other op of these categories (``irwua.ops``)."""


def rule_for(op_type: str) -> Rule | None:
    """The shape rule of a default-domain op type, None when the rules do not cover it."""
    rule = RULES.get(op_type)
    if rule is None:
        rule = CATEGORY_RULES.get(category_of(op_type))
    return rule
