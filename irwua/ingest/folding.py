"""The values of ONNX ops computed in numpy: one table (``FOLDS``) for every place that folds.

``irwua.ingest.constants`` folds the ops exporters put on weight paths (the creating ops and the
ops that keep one stored tensor's values, ``Fold.keeps_origin``) into constants of any size;
``irwua.ingest.shape_propagation`` computes the small integer tensors of shape arithmetic
(Shape -> Gather -> Concat -> Reshape) with every fold here.

A fold takes the node's inputs in order (None for an omitted optional input), its attributes and
the opset, and returns the output's value as the spec defines it, or raises ``ValueError`` (also
``TypeError``, ``KeyError``, ``IndexError``) for what it cannot compute; the value then stays
unknown. Views are kept where numpy allows (a Transpose, a ConstantOfShape's zero strides), so a
model's weights are not copied until a pass needs their values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from irwua.ir.dtypes import numpy_dtype

Inputs = Sequence["np.ndarray | None"]
Evaluate = Callable[[Inputs, Mapping[str, object], int], np.ndarray]


class Fold(NamedTuple):
    """How to compute one op's output; ``keeps_origin``: the output holds the values of the
    first input alone (moved, converted or dequantized), so it comes from the same stored
    tensor."""

    evaluate: Evaluate
    keeps_origin: bool = False


CONSTANT_NUMBERS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}
"""A Constant's number attributes (opset 12 on) and the element type the spec gives each."""


def axis_index(axis: int, rank: int, opset: int) -> int:
    """``axis`` as an index in [0, rank). Negative axes count from the back from opset 11 on;
    before, only Gather's spec has them (ONNX's inference refuses or misreads the others')."""
    if not -rank <= axis < rank or (axis < 0 and opset < 11):
        raise ValueError(f"axis {axis} of a rank-{rank} tensor at opset {opset}")
    return axis % rank


def slice_ranges(
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int],
    steps: Sequence[int],
    shape: Sequence[int],
    opset: int,
) -> dict[int, range]:
    """The indices a Slice takes along each axis it slices, clamped as the ONNX spec says."""
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise ValueError("Slice lists of different lengths, or a step of 0")
    taken = {
        axis_index(axis, len(shape), opset): _slice_range(start, end, step, shape[axis])
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True)
    }
    if len(taken) != len(axes):
        raise ValueError("an axis sliced twice")  # ONNX's inference refuses it.
    return taken


def _slice_range(start: int, end: int, step: int, size: int) -> range:
    """The indices ``start:end:step`` takes from an axis of ``size``. Python's slices differ: a
    negative step starting before the first element takes nothing in Python, the first element
    in ONNX (``x[-9:-10:-1]`` of 4 elements)."""
    start, end = start + size if start < 0 else start, end + size if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), size), min(max(end, 0), size)
    else:
        start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
    return range(start, end, step)


def _ints(value: np.ndarray | None) -> list[int]:
    if value is None:
        raise ValueError("a needed input is omitted")
    return [int(v) for v in np.asarray(value).reshape(-1)]


# ---- creating ops ------------------------------------------------------------------------------


def _constant(_inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    if "value" in attrs:
        return np.asarray(attrs["value"])
    for key, dtype in CONSTANT_NUMBERS.items():
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    raise ValueError("Constant node without a supported value attribute")


def _constant_of_shape(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    """The fill value repeated over the shape without allocating it: every element is the one
    stored value (zero strides, read-only), as ``np.broadcast_to`` gives but built directly."""
    fill = np.array(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)[:1]
    shape = tuple(_ints(inputs[0]))
    if min(shape, default=0) < 0:
        raise ValueError("negative dimension")
    value = np.ndarray(shape, fill.dtype, buffer=fill, strides=(0,) * len(shape))
    value.flags.writeable = False
    return value


# ---- ops that keep one tensor's values -----------------------------------------------------------


def _identity(inputs: Inputs, _attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    return inputs[0]


def _cast(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    return inputs[0].astype(numpy_dtype(int(attrs["to"])))


def _transpose(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    perm = attrs.get("perm")
    return np.transpose(inputs[0], tuple(perm) if perm else None)


def _reshape(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    data, shape = inputs[0], _ints(inputs[1])
    if not attrs.get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return data.reshape(shape)


def _flatten(inputs: Inputs, attrs: Mapping[str, object], opset: int) -> np.ndarray:
    data = inputs[0]
    axis = int(attrs.get("axis", 1))
    axis = axis + data.ndim if axis < 0 and opset >= 11 else axis
    if not 0 <= axis <= data.ndim:
        raise ValueError(f"Flatten axis {axis} of a rank-{data.ndim} tensor")
    return data.reshape(int(np.prod(data.shape[:axis])), int(np.prod(data.shape[axis:])))


def _squeeze_axes(inputs: Inputs, attrs: Mapping[str, object], opset: int) -> tuple[int, ...]:
    """Squeeze's and Unsqueeze's axes: an input from opset 13, an attribute before."""
    if opset >= 13:
        return tuple(_ints(inputs[1])) if len(inputs) > 1 and inputs[1] is not None else ()
    return tuple(attrs.get("axes", ()))


def _squeeze(inputs: Inputs, attrs: Mapping[str, object], opset: int) -> np.ndarray:
    return np.squeeze(inputs[0], axis=_squeeze_axes(inputs, attrs, opset) or None)


def _unsqueeze(inputs: Inputs, attrs: Mapping[str, object], opset: int) -> np.ndarray:
    return np.expand_dims(inputs[0], _squeeze_axes(inputs, attrs, opset))


def _dequantize(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    """(q - zero point) x scale, per tensor or along ``axis``."""
    data = inputs[0]
    axis = int(attrs.get("axis", 1))
    scale = _along(inputs[1].astype(np.float32), data.ndim, axis)
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros((), np.float32)
    zero = _along(zero, data.ndim, axis)
    return (data.astype(np.float32) - zero.astype(np.float32)) * scale


def dequantize(
    data: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int
) -> np.ndarray:
    """The real value of a quantized tensor (DequantizeLinear's fold)."""
    return _dequantize([data, scale, zero], {"axis": axis}, 0)


def _along(value: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-channel (1-D) scale or zero point shaped to broadcast along ``axis``."""
    if value.ndim != 1 or value.size == 1 or ndim == 0:
        return value
    shape = [1] * ndim
    shape[axis % ndim] = value.size
    return value.reshape(shape)


# ---- shape arithmetic ----------------------------------------------------------------------------


def _gather(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    return np.take(inputs[0], inputs[1], axis=int(attrs.get("axis", 0)))


def _concat(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
    return np.concatenate([value for value in inputs if value is not None], axis=attrs["axis"])


def _slice(inputs: Inputs, attrs: Mapping[str, object], opset: int) -> np.ndarray:
    """Slice: starts, ends, axes attributes before opset 10, inputs from 10 on."""
    value = inputs[0]
    if opset < 10:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes, steps = list(attrs.get("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = _ints(inputs[1]), _ints(inputs[2])
        present = [index < len(inputs) and inputs[index] is not None for index in (3, 4)]
        axes = _ints(inputs[3]) if present[0] else list(range(len(starts)))
        steps = _ints(inputs[4]) if present[1] else [1] * len(starts)
    for axis, taken in slice_ranges(starts, ends, axes, steps, value.shape, opset).items():
        value = np.take(value, np.array(taken, np.int64), axis=axis)
    return value


_ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Mod": np.mod}


def _arithmetic(op_type: str) -> Evaluate:
    """Add, Sub, Mul, and Mod (whose integer result takes the divisor's sign, as numpy's)."""

    def evaluate(inputs: Inputs, attrs: Mapping[str, object], _opset: int) -> np.ndarray:
        if op_type == "Mod" and not np.all(inputs[1]):
            raise ValueError("Mod by 0")  # numpy's x % 0 is 0; onnxruntime's is undefined.
        operation = np.fmod if attrs.get("fmod", 0) else _ARITHMETIC[op_type]
        return operation(inputs[0], inputs[1])

    return evaluate


FOLDS: dict[str, Fold] = {
    "Constant": Fold(_constant),
    "ConstantOfShape": Fold(_constant_of_shape),
    "Identity": Fold(_identity, keeps_origin=True),
    "Cast": Fold(_cast, keeps_origin=True),
    "Transpose": Fold(_transpose, keeps_origin=True),
    "Reshape": Fold(_reshape, keeps_origin=True),
    "Flatten": Fold(_flatten, keeps_origin=True),
    "Squeeze": Fold(_squeeze, keeps_origin=True),
    "Unsqueeze": Fold(_unsqueeze, keeps_origin=True),
    "DequantizeLinear": Fold(_dequantize, keeps_origin=True),
    "Gather": Fold(_gather),
    "Concat": Fold(_concat),
    "Slice": Fold(_slice),
    **{op_type: Fold(_arithmetic(op_type)) for op_type in _ARITHMETIC},
}
"""Every op irwua computes in numpy, by op type (default domain)."""
