"""irwua's shape rules against ONNX's shape inference on thousands of random models.

Each generator below draws one small model (an op, or a few ops of shape arithmetic) with random
attributes at a random opset in 7..28. Most draws are valid; some are deliberately not (an axis
out of range, a broadcast or split that does not fit, an op older than its opset), to check that
the rules hand those back. Every model is shaped by the rules and by ONNX's inference:
- ONNX refuses it: the rules must have handed it back;
- the rules cover it: they must agree on every tensor ONNX sizes, and a tensor ONNX leaves
  unsized (its data propagation stops at Mul; old Slice) must have onnxruntime's shape;
- some covered models are built again with their outputs declared: right (the rules still
  cover them) or with one dim or dtype wrong (the rules hand back and ONNX refuses).
Cases this test found wrong once are kept at the end, by name.
"""

from __future__ import annotations

import collections
import math
import zlib

import numpy as np
import onnx
import pytest
from builders import model
from onnx.helper import make_node
from shape_paths import both_ways, floats, ints

from irwua.errors import IrwuaError
from irwua.ingest.inputs import bind_inputs, input_specs
from irwua.ir.graph import TensorInfo
from irwua.ops import REGISTRY, Category
from irwua.runtime.sessions import run_with_outputs, synthetic_inputs


def _ops(*categories: Category) -> list[str]:
    """The registered ops of ``categories`` (those the shape rules treat by category)."""
    return sorted(name for name, info in REGISTRY.items() if info.category in categories)


UNARY = _ops(Category.ACTIVATION, Category.UNARY)
BROADCASTING = _ops(Category.BROADCAST)
COMPARISONS = _ops(Category.COMPARISON)
REDUCTIONS = _ops(Category.REDUCTION)

Case = tuple[list[onnx.NodeProto], list[tuple], dict[str, np.ndarray], int]
"""(nodes, graph inputs as (name, shape[, elem_type]), initializers, opset)."""

FLOAT, INT64, BOOL = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64, onnx.TensorProto.BOOL
ORT_OPSETS = range(7, 27)
"""Opsets the installed onnxruntime (1.31) loads."""


def _dims(rng, low: int = 1, high: int = 4, largest: int = 6) -> list[int]:
    """A random shape of rank ``low``..``high`` with dims in 1..``largest``."""
    return [int(d) for d in rng.integers(1, largest + 1, int(rng.integers(low, high + 1)))]


def _chance(rng, p: float = 0.5) -> bool:
    return bool(rng.random() < p)


def _opset(rng, first: int = 7) -> int:
    return int(rng.integers(first, 29))


def _axes_of(rng, rank: int, count: int, opset: int) -> list[int]:
    """``count`` distinct axes of ``rank``, some counted from the back (also before opset 11,
    where that is not allowed)."""
    axes = [int(a) for a in rng.choice(rank, count, replace=False)]
    return [a - rank if _chance(rng, 0.3 if opset >= 11 else 0.05) else a for a in axes]


def _window_attrs(rng, spatial: int) -> dict:
    """strides, dilations, auto_pad and pads of a sliding window (a few invalid: pads with
    auto_pad, a negative pad, a stride or dilation of 0)."""
    attrs = {}
    if _chance(rng):
        attrs["strides"] = [int(s) for s in rng.integers(1, 4, spatial)]
    if _chance(rng, 0.4):
        attrs["dilations"] = [int(d) for d in rng.integers(1, 3, spatial)]
    mode = str(rng.choice(["NOTSET", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    if mode != "NOTSET" or _chance(rng, 0.2):
        attrs["auto_pad"] = mode
    if (mode == "NOTSET" and _chance(rng)) or _chance(rng, 0.05):
        attrs["pads"] = [int(p) for p in rng.integers(0, 3, 2 * spatial)]
    if attrs and _chance(rng, 0.05):
        key = str(rng.choice(list(attrs)))
        if key != "auto_pad":
            attrs[key][0] = -1 if key == "pads" else 0
    return attrs


def _conv(rng) -> Case:
    spatial, group = int(rng.integers(1, 4)), int(rng.choice([1, 1, 2, 3]))
    cin, cout = group * int(rng.integers(1, 3)), group * int(rng.integers(1, 3))
    kernel = [int(k) for k in rng.integers(1, 4, spatial)]
    x = [int(rng.integers(1, 3)), cin, *(int(d) for d in rng.integers(1, 12, spatial))]
    attrs = _window_attrs(rng, spatial)
    if group > 1 or _chance(rng, 0.2):
        attrs["group"] = group
    if _chance(rng, 0.3):
        attrs["kernel_shape"] = kernel
    weights = {"w": np.zeros((cout, cin // group, *kernel), np.float32)}
    if _chance(rng):
        weights["b"] = np.zeros(cout, np.float32)
    return [make_node("Conv", ["x", *weights], ["y"], **attrs)], [("x", x)], weights, _opset(rng)


def _pool(rng) -> Case:
    op, spatial = str(rng.choice(["MaxPool", "AveragePool"])), int(rng.integers(1, 4))
    x = [int(rng.integers(1, 3)), int(rng.integers(1, 4))]
    x += [int(d) for d in rng.integers(3, 12, spatial)]
    attrs = {"kernel_shape": [int(k) for k in rng.integers(1, 4, spatial)]}
    attrs |= _window_attrs(rng, spatial)
    if _chance(rng, 0.15):
        attrs["ceil_mode"] = 1
    outputs = ["y", "indices"] if op == "MaxPool" and _chance(rng, 0.3) else ["y"]
    return [make_node(op, ["x"], outputs, **attrs)], [("x", x)], {}, _opset(rng)


def _conv_transpose(rng) -> Case:
    spatial, group = int(rng.integers(1, 4)), int(rng.choice([1, 1, 2]))
    cin, per_group = group * int(rng.integers(1, 3)), int(rng.integers(1, 3))
    kernel = [int(k) for k in rng.integers(1, 4, spatial)]
    x = [1, cin, *(int(d) for d in rng.integers(1, 6, spatial))]
    strides = [int(s) for s in rng.integers(1, 4, spatial)] if _chance(rng, 0.7) else None
    dilations = [int(d) for d in rng.integers(1, 3, spatial)] if _chance(rng, 0.4) else None
    attrs = {"strides": strides, "dilations": dilations, "group": group if group > 1 else None}
    if _chance(rng):
        attrs["pads"] = [int(p) for p in rng.integers(0, 2, 2 * spatial)]
    if _chance(rng, 0.4):  # Smaller than the stride or the dilation, as the spec requires.
        limits = zip(strides or [1] * spatial, dilations or [1] * spatial, strict=True)
        attrs["output_padding"] = [int(rng.integers(0, max(s, d))) for s, d in limits]
    if _chance(rng, 0.1):
        attrs["auto_pad"] = str(rng.choice(["SAME_UPPER", "VALID"]))
    if _chance(rng, 0.1):
        attrs["output_shape"] = [int(d) for d in rng.integers(4, 9, spatial)]
    if _chance(rng, 0.2):
        attrs["kernel_shape"] = kernel
    weights = {"w": np.zeros((cin, per_group, *kernel), np.float32)}
    if _chance(rng):
        weights["b"] = np.zeros(per_group * group, np.float32)
    attrs = {key: value for key, value in attrs.items() if value is not None}
    node = make_node("ConvTranspose", ["x", *weights], ["y"], **attrs)
    return [node], [("x", x)], weights, _opset(rng)


def _reshape_target(rng, x: list[int], allowzero: bool) -> list[int]:
    """A target shape for ``x`` with some 0s (copy the dim) and a -1; sometimes one that does
    not fit."""
    rest, target = math.prod(x), []
    for _ in range(int(rng.integers(1, 4))):
        size = int(rng.choice([d for d in range(1, rest + 1) if rest % d == 0]))
        target.append(size)
        rest //= size
    target[-1] *= rest
    if not allowzero:
        target = [
            0 if i < len(x) and d == x[i] and _chance(rng, 0.4) else d for i, d in enumerate(target)
        ]
    if _chance(rng):
        target[int(rng.integers(len(target)))] = -1
    if _chance(rng, 0.1):
        target[int(rng.integers(len(target)))] = int(rng.integers(1, 5))
    return target


def _reshapes(rng) -> Case:
    """Reshape, Flatten, Transpose, Squeeze or Unsqueeze."""
    x, opset = _dims(rng), _opset(rng)
    op, rank = str(rng.choice(["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze"])), len(x)
    attrs, constants = {}, {}
    if op == "Reshape":
        allowzero = opset >= 14 and _chance(rng, 0.2)
        attrs = {"allowzero": 1} if allowzero else {}
        constants["shape"] = np.array(_reshape_target(rng, x, allowzero), np.int64)
    elif op == "Flatten":
        attrs["axis"] = int(rng.integers(-rank, rank + 1))
    elif op == "Transpose" and _chance(rng, 0.8):
        attrs["perm"] = [int(p) for p in rng.permutation(rank)]
    elif op in ("Squeeze", "Unsqueeze"):
        if op == "Squeeze":
            x = [1 if _chance(rng, 0.4) else d for d in x]
            ones = [i for i, d in enumerate(x) if d == 1] or [0]
            axes = [int(a) for a in rng.choice(ones, int(rng.integers(0, len(ones) + 1)), False)]
        else:
            out = rank + int(rng.integers(1, 3))
            axes = [int(a) for a in rng.choice(out, out - rank, replace=False)]
            rank = out
        axes = [a - rank if _chance(rng, 0.3) else a for a in axes]
        if opset >= 13 and (axes or op == "Unsqueeze"):
            constants["axes"] = np.array(axes, np.int64)
        elif axes:
            attrs["axes"] = axes
    return [make_node(op, ["x", *constants], ["y"], **attrs)], [("x", x)], constants, opset


def _slice(rng) -> Case:
    """Slice with starts/ends in and out of range (INT64 limits too), negative steps, and now and
    then an axis given twice."""
    x, opset = _dims(rng, largest=8), _opset(rng)
    axes = _axes_of(rng, len(x), int(rng.integers(1, len(x) + 1)), opset)
    if _chance(rng, 0.05):
        axes[-1] = axes[0]
    far = [-(2**63), 2**63 - 1, -1000, 1000]
    starts = [
        int(rng.choice(far)) if _chance(rng, 0.1) else int(rng.integers(-9, 10)) for _ in axes
    ]
    ends = [int(rng.choice(far)) if _chance(rng, 0.2) else int(rng.integers(-9, 10)) for _ in axes]
    steps = [int(rng.choice([-3, -2, -1, 1, 1, 2, 3])) for _ in axes]
    if opset < 10:
        attrs = {"starts": starts, "ends": ends} | ({"axes": axes} if _chance(rng, 0.7) else {})
        return [make_node("Slice", ["x"], ["y"], **attrs)], [("x", x)], {}, opset
    given = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
    count = int(rng.choice([2, 3, 4, 4]))  # Axes and steps are optional.
    constants = {name: np.array(v, np.int64) for name, v in list(given.items())[:count]}
    return [make_node("Slice", ["x", *constants], ["y"])], [("x", x)], constants, opset


def _pad(rng) -> Case:
    x, opset = _dims(rng), _opset(rng)
    pads = [int(p) for p in rng.integers(-1 if _chance(rng, 0.2) else 0, 3, 2 * len(x))]
    attrs = {"mode": str(rng.choice(["constant", "reflect", "edge"]))} if _chance(rng, 0.3) else {}
    if opset < 11:
        return [make_node("Pad", ["x"], ["y"], pads=pads, **attrs)], [("x", x)], {}, opset
    constants = {"pads": np.array(pads, np.int64)}
    return [make_node("Pad", ["x", "pads"], ["y"], **attrs)], [("x", x)], constants, opset


def _split(rng) -> Case:
    """Split by sizes (attribute or input), evenly, or by num_outputs, at any opset (so also the
    ways a given opset does not have)."""
    x, opset = _dims(rng), _opset(rng)
    axis, count = int(rng.integers(-len(x), len(x))), int(rng.integers(1, 4))
    attrs = {"axis": axis} if axis or _chance(rng) else {}
    constants = {}
    style = str(rng.choice(["sizes", "even", "num_outputs"]))
    if style == "sizes":
        cuts = sorted(int(c) for c in rng.integers(0, x[axis] + 1, count - 1))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, x[axis]], strict=True)]
        if opset >= 13:
            constants["split"] = np.array(sizes, np.int64)
        else:
            attrs["split"] = sizes
    elif style == "num_outputs":
        attrs["num_outputs"] = count if _chance(rng, 0.9) else count + 1
    outputs = [f"y{i}" for i in range(count)]
    return [make_node("Split", ["x", *constants], outputs, **attrs)], [("x", x)], constants, opset


def _concat(rng) -> Case:
    x, opset = _dims(rng), _opset(rng)
    axis = int(rng.integers(-len(x), len(x)))
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        shape = list(x)
        shape[axis] = int(rng.integers(1, 5))
        if _chance(rng, 0.05):
            shape[(axis + 1) % len(x)] += 1  # Does not fit.
        shapes.append(shape)
    names = [f"x{i}" for i in range(len(shapes))]
    node = make_node("Concat", names, ["y"], axis=axis)
    return [node], list(zip(names, shapes, strict=True)), {}, opset


def _reduce(rng) -> Case:
    x, opset = _dims(rng), _opset(rng)
    op = str(rng.choice(REDUCTIONS))
    axes = _axes_of(rng, len(x), int(rng.integers(0, len(x) + 1)), opset)
    attrs = {"keepdims": int(rng.integers(0, 2))} if _chance(rng) else {}
    constants = {}
    if opset >= (13 if op == "ReduceSum" else 18):  # axes became an input
        if _chance(rng, 0.3):
            attrs["noop_with_empty_axes"] = int(rng.integers(0, 2))
        if axes or _chance(rng, 0.3):
            constants["axes"] = np.array(axes, np.int64)
    elif axes:
        attrs["axes"] = axes
    return [make_node(op, ["x", *constants], ["y"], **attrs)], [("x", x)], constants, opset


def _like(rng, shape: list[int]) -> list[int]:
    """A shape that broadcasts to ``shape``: a suffix of it with some dims set to 1."""
    return [1 if _chance(rng, 0.3) else d for d in shape[int(rng.integers(0, len(shape) + 1)) :]]


def _broadcasting(rng) -> Case:
    """Binary and variadic ops, comparisons, logic, Where and PRelu on broadcastable shapes (a
    few that do not broadcast)."""
    base = _dims(rng, low=0)
    op = str(rng.choice([*BROADCASTING, *COMPARISONS, "Where", "PRelu"]))
    variadic = op in ("Max", "Min", "Sum", "Mean")
    count = 3 if op == "Where" else int(rng.integers(1, 4)) if variadic else 2
    shapes = [_like(rng, base) for _ in range(count)]
    if _chance(rng):
        shapes[0] = list(base)
    if _chance(rng, 0.05) and shapes[-1]:
        shapes[-1][0] += 1
    elem = INT64 if op == "Mod" else BOOL if op in ("And", "Or", "Xor") else FLOAT
    types = [BOOL, FLOAT, FLOAT] if op == "Where" else [elem] * count
    names = [f"x{i}" for i in range(count)]
    inputs = list(zip(names, shapes, types, strict=True))
    return [make_node(op, names, ["y"])], inputs, {}, _opset(rng)


def _matmul_gemm(rng) -> Case:
    """MatMul of 1-D to 4-D operands (batch dims broadcast), or Gemm with transposes and a
    bias that broadcasts (now and then an inner dim that does not match)."""
    k = int(rng.integers(1, 5))
    if _chance(rng, 0.3):
        m, n = (int(d) for d in rng.integers(1, 4, 2))
        trans_a, trans_b = (int(t) for t in rng.integers(0, 2, 2))
        a, b = ([k, m] if trans_a else [m, k]), ([n, k] if trans_b else [k, n])
        weights = {"b": np.zeros(b, np.float32)}
        if _chance(rng, 0.7):
            bias = [[m, n], [n], [1, n], [m, 1], [], [m]][int(rng.integers(6))]
            weights["c"] = np.zeros(bias, np.float32)
        attrs = {"transA": trans_a, "transB": trans_b}
        attrs = {key: value for key, value in attrs.items() if value or _chance(rng, 0.2)}
        node = make_node("Gemm", ["a", *weights], ["y"], **attrs)
        return [node], [("a", a)], weights, _opset(rng)
    batch = _dims(rng, low=0, high=2)
    a = [*_like(rng, batch), int(rng.integers(1, 4)), k]
    b = [*_like(rng, batch), k + int(_chance(rng, 0.05)), int(rng.integers(1, 4))]
    a, b = ([k] if _chance(rng, 0.25) else a), ([k] if _chance(rng, 0.25) else b)
    return [make_node("MatMul", ["a", "b"], ["y"])], [("a", a), ("b", b)], {}, _opset(rng)


def _gather(rng) -> Case:
    x = _dims(rng)
    axis = int(rng.integers(-len(x), len(x)))
    reach = x[axis] + int(_chance(rng, 0.05))  # Now and then an index out of range.
    indices = rng.integers(-reach, reach, _dims(rng, low=0, high=2)).astype(np.int64)
    attrs = {"axis": axis} if axis or _chance(rng) else {}
    node = make_node("Gather", ["x", "indices"], ["y"], **attrs)
    return [node], [("x", x)], {"indices": indices}, _opset(rng)


def _tile_expand(rng) -> Case:
    x = _dims(rng)
    if _chance(rng):
        repeats = rng.integers(0 if _chance(rng, 0.1) else 1, 4, len(x) + int(_chance(rng, 0.05)))
        constants = {"repeats": repeats.astype(np.int64)}
        return [make_node("Tile", ["x", "repeats"], ["y"])], [("x", x)], constants, _opset(rng)
    target = [int(rng.integers(1, 4)) if d == 1 and _chance(rng) else d for d in x]
    target = [int(d) for d in rng.integers(1, 4, int(rng.integers(0, 2)))] + target
    constants = {"shape": np.array(target[int(rng.integers(0, 2)) :], np.int64)}
    return [make_node("Expand", ["x", "shape"], ["y"])], [("x", x)], constants, _opset(rng)


SHAPE_KEEPING = [
    *UNARY,
    *"Identity LRN Softmax LogSoftmax Hardmax Dropout Cast".split(),
    *"GlobalAveragePool GlobalMaxPool GlobalLpPool".split(),
    *"BatchNormalization InstanceNormalization LayerNormalization".split(),
]


def _shape_keeping(rng) -> Case:
    """Unary ops, softmaxes, Dropout (with its mask, and ratio and training_mode inputs), Cast,
    Clip with min/max inputs, global pools and norms, on any rank (also ranks they refuse)."""
    op, opset = str(rng.choice(SHAPE_KEEPING)), _opset(rng)
    x = _dims(rng, low=3 if op == "LRN" else 0)
    attrs, constants, outputs = {}, {}, ["y"]
    if op == "LRN":
        attrs["size"] = 3
    elif op in ("Softmax", "LogSoftmax", "Hardmax", "LayerNormalization") and x and _chance(rng):
        attrs["axis"] = int(rng.integers(-len(x), len(x)))
    elif op == "Cast":
        attrs["to"] = int(rng.choice([1, 2, 3, 6, 7, 8, 9, 10, 11, 16, 99]))
    elif op == "Clip" and opset >= 11 and _chance(rng):
        constants = {"low": np.float32(0), "high": np.float32(1)}
    elif op == "Dropout":
        outputs += ["mask"] if _chance(rng) else []
        if opset >= 12 and _chance(rng):
            constants = {"ratio": np.float32(0.3), "training": np.array(_chance(rng))}
    elif op in ("BatchNormalization", "InstanceNormalization") and len(x) >= 2:
        names = ["scale", "bias", "mean", "var"][: 4 if op == "BatchNormalization" else 2]
        constants = {name: np.zeros(x[1], np.float32) for name in names}
    elif op == "LayerNormalization" and x:
        constants["scale"] = np.zeros(x[attrs.get("axis", -1) :], np.float32)
    inputs = ["x", *constants]
    if op == "Clip" and constants and _chance(rng):
        inputs[1] = ""  # No min.
    elem = BOOL if op == "Not" else FLOAT
    return [make_node(op, inputs, outputs, **attrs)], [("x", x, elem)], constants, opset


def _resize(rng) -> Case:
    """Resize by scales or sizes (or both, which the spec forbids), and Upsample, at any opset
    (Resize before 10 and Upsample from 10 on do not exist)."""
    x, opset = _dims(rng, largest=8), _opset(rng)
    op = "Upsample" if _chance(rng, 0.3) else "Resize"
    picks = [1, 0.5, 0.7, 1.5, 2, 3, 0.3, 1 / 3]
    scales = np.array([float(rng.choice(picks)) for _ in x], np.float32)
    if op == "Upsample" and opset < 9:
        node = make_node(op, ["x"], ["y"], mode="nearest", scales=scales.tolist())
        return [node], [("x", x)], {}, opset
    if op == "Upsample" or opset < 11:
        return [make_node(op, ["x", "scales"], ["y"])], [("x", x)], {"scales": scales}, opset
    constants = {
        "scales": scales,
        "sizes": rng.integers(int(_chance(rng, 0.9)), 9, len(x)).astype(np.int64),
        "empty": np.zeros(0, np.float32),
    }
    inputs = [
        ["x", "", "scales"],
        ["x", "", "", "sizes"],
        ["x", "empty", "empty", "sizes"],
        ["x", "", "scales", "sizes"],
    ][int(rng.integers(4))]
    if opset < 13 and not inputs[2]:
        inputs[2] = "empty"  # Required before opset 13.
    return [make_node(op, inputs, ["y"])], [("x", x)], constants, opset


def _recurrent(rng) -> Case:
    op = str(rng.choice(["LSTM", "GRU", "RNN"]))
    steps, batch, features, hidden = (int(d) for d in rng.integers(1, 5, 4))
    direction = str(rng.choice(["forward", "reverse", "bidirectional"]))
    directions, opset = 1 + (direction == "bidirectional"), _opset(rng)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    attrs = {"hidden_size": hidden}
    if direction != "forward" or _chance(rng, 0.2):
        attrs["direction"] = direction
    layout = int(rng.integers(0, 2))  # An attribute from opset 14 on.
    if layout or _chance(rng, 0.1):
        attrs["layout"] = layout
    x = [batch, steps, features] if layout and opset >= 14 else [steps, batch, features]
    weights = {
        "w": np.zeros((directions, gates * hidden, features), np.float32),
        "r": np.zeros((directions, gates * hidden, hidden), np.float32),
    }
    outputs = [name if _chance(rng, 0.8) else "" for name in ["y", "h", "c"][: 2 + (op == "LSTM")]]
    outputs[0] = outputs[0] or ("" if any(outputs) else "y")
    return [make_node(op, ["x", "w", "r"], outputs, **attrs)], [("x", x)], weights, opset


def _shape_arithmetic(rng) -> Case:
    """A Reshape to x's leading dims and the product of the others, computed at run time from
    Shape, Slice, Gather, Mul (Add, Sub, Mod, Cast, Squeeze) and Concat, as exporters write it;
    sometimes a Shape with start of the result."""
    x, opset = _dims(rng, low=2), _opset(rng, 13)
    rank = len(x)
    cut = int(rng.integers(1, rank))
    constants = {
        "zero": np.array([0], np.int64),
        "cut": np.array([cut], np.int64),
        "k": np.array(int(rng.integers(1, 4)), np.int64),
        "big": np.array(1000, np.int64),
    }
    nodes = [
        make_node("Shape", ["x"], ["shape"]),
        make_node("Slice", ["shape", "zero", "cut"], ["head"]),
    ]
    product = ""
    for i in range(cut, rank):
        constants[f"i{i}"] = np.array(i - rank if _chance(rng, 0.3) else i, np.int64)
        nodes.append(make_node("Gather", ["shape", f"i{i}"], [f"dim{i}"], axis=0))
        if product:
            nodes.append(make_node("Mul", [product, f"dim{i}"], [f"product{i}"]))
        product = f"product{i}" if product else f"dim{i}"
    if _chance(rng):  # ((p + k) - k) mod 1000 = p
        nodes += [
            make_node("Add", [product, "k"], ["plus"]),
            make_node("Sub", ["plus", "k"], ["minus"]),
            make_node("Mod", ["minus", "big"], ["mod"]),
        ]
        product = "mod"
    nodes.append(make_node("Unsqueeze", [product, "zero"], ["tail"]))
    if _chance(rng, 0.3):
        nodes += [
            make_node("Cast", ["tail"], ["cast"], to=7),
            make_node("Squeeze", ["cast", "zero"], ["squeezed"]),
            make_node("Unsqueeze", ["squeezed", "zero"], ["tail2"]),
        ]
    parts = ["head", nodes[-1].output[0]]
    nodes.append(
        make_node("Concat", parts[::-1] if _chance(rng, 0.2) else parts, ["target"], axis=0)
    )
    nodes.append(make_node("Reshape", ["x", "target"], ["y"]))
    if _chance(rng, 0.3):
        nodes.append(make_node("Shape", ["y"], ["y_shape"], start=int(rng.integers(-3, 3))))
    return nodes, [("x", x)], constants, opset


def _shape_slices(rng) -> Case:
    """x's shape sliced at run time (random start, end and step), then a Reshape to it and -1,
    an Expand to it or a ConstantOfShape of it."""
    x, opset = _dims(rng), _opset(rng, 13)
    start, end = (int(v) for v in rng.integers(-len(x) - 2, len(x) + 2, 2))
    constants = {
        "start": np.array([start], np.int64),
        "end": np.array([end], np.int64),
        "axis": np.array([0], np.int64),
        "step": np.array([int(rng.choice([-2, -1, 1, 1, 2]))], np.int64),
        "rest": np.array([-1], np.int64),
    }
    nodes = [
        make_node("Shape", ["x"], ["shape"]),
        make_node("Slice", ["shape", "start", "end", "axis", "step"], ["part"]),
    ]
    use = str(rng.choice(["Reshape", "ConstantOfShape", "Expand"]))
    if use == "Reshape":
        nodes.append(make_node("Concat", ["part", "rest"], ["target"], axis=0))
        nodes.append(make_node("Reshape", ["x", "target"], ["y"]))
    else:
        nodes.append(make_node(use, ["part"] if use == "ConstantOfShape" else ["x", "part"], ["y"]))
    return nodes, [("x", x)], constants, opset


def _folded(rng) -> Case:
    """A constant that irwua.ingest.constants folds (Constant, ConstantOfShape, DequantizeLinear,
    then Cast, Transpose, Reshape, Squeeze, Unsqueeze, Identity), added to an input of its shape."""
    shape, opset = _dims(rng, high=3), _opset(rng)
    kind = str(rng.choice(["Constant", "ConstantOfShape", "DequantizeLinear", "initializer"]))
    constants, nodes = {}, []
    elem = int(rng.choice([1, 6, 7, 10]))
    if kind == "Constant":
        key = str(rng.choice(["value", "value_float", "value_floats", "value_int", "value_ints"]))
        if key == "value":
            value = onnx.helper.make_tensor("v", elem, shape, [0] * math.prod(shape))
        else:
            shape = [] if key in ("value_float", "value_int") else shape[:1]
            value = np.ones(shape, np.float32 if "float" in key else np.int64).tolist()
        nodes.append(make_node("Constant", [], ["c"], **{key: value}))
    elif kind == "ConstantOfShape":
        constants["shape"] = np.array(shape, np.int64)
        fill = {"value": onnx.helper.make_tensor("v", elem, [1], [1])} if _chance(rng) else {}
        nodes.append(make_node("ConstantOfShape", ["shape"], ["c"], **fill))
    elif kind == "DequantizeLinear":
        constants["q"] = np.zeros(shape, np.int8)
        constants["scale"] = np.array(0.5, np.float16 if _chance(rng) else np.float32)
        if _chance(rng):
            constants["zero_point"] = np.array(0, np.int8)
        attrs = {"output_dtype": int(rng.choice([1, 10]))} if _chance(rng, 0.2) else {}
        nodes.append(make_node("DequantizeLinear", list(constants), ["c"], **attrs))
    else:
        constants["c"] = np.zeros(shape, np.float32)
    name = "c"
    for step in range(int(rng.integers(0, 3))):
        op, out = (
            str(rng.choice(["Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze"])),
            f"f{step}",
        )
        inputs, attrs = [name], {}
        if op == "Cast":
            attrs["to"] = int(rng.choice([1, 7, 10]))
        elif op == "Transpose" and shape:
            attrs["perm"] = [int(p) for p in rng.permutation(len(shape))]
            shape = [shape[p] for p in attrs["perm"]]
        elif op == "Reshape":
            constants[f"flat{step}"] = np.array([-1], np.int64)
            inputs.append(f"flat{step}")
            shape = [math.prod(shape)]
        elif op == "Squeeze":
            shape = [d for d in shape if d != 1]
        elif op == "Unsqueeze":
            axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
            if opset >= 13:
                constants[f"axis{step}"] = np.array([axis], np.int64)
                inputs.append(f"axis{step}")
            else:
                attrs["axes"] = [axis]
            shape.insert(axis % (len(shape) + 1), 1)
        nodes.append(make_node(op, inputs, [out], **attrs))
        name = out
    nodes += [make_node("Cast", [name], ["float"], to=1), make_node("Add", ["x", "float"], ["y"])]
    return nodes, [("x", shape)], constants, opset


GENERATORS = {
    generator.__name__.strip("_"): generator
    for generator in [
        _conv,
        _pool,
        _conv_transpose,
        _reshapes,
        _slice,
        _pad,
        _split,
        _concat,
        _reduce,
        _broadcasting,
        _matmul_gemm,
        _gather,
        _tile_expand,
        _shape_keeping,
        _resize,
        _recurrent,
        _shape_arithmetic,
        _shape_slices,
        _folded,
    ]
}
CASES_PER_GENERATOR = 200


def _build(case: Case, declared: dict[str, tuple] | None = None) -> onnx.ModelProto:
    """The model of ``case`` whose graph outputs are all node outputs: untyped, or as
    ``declared`` ((shape, elem_type) by name)."""
    nodes, inputs, constants, opset = case
    proto = model(nodes, inputs, [], constants, opset=opset)
    for name in dict.fromkeys(out for node in nodes for out in node.output if out):
        if declared is None:
            proto.graph.output.append(onnx.ValueInfoProto(name=name))
        else:
            shape, elem = declared[name]
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, elem, shape))
    return proto


def _differential(case: Case, rng) -> tuple[str, str]:
    """Shape ``case`` both ways: ('covered' | 'handed back' | 'refused', what went wrong or '')."""
    proto = _build(case)
    by_rules, by_onnx = both_ways(proto)
    if by_onnx is None:
        return "refused", "" if by_rules is None else "ONNX refuses a model the rules accept"
    if by_rules is None:
        return "handed back", ""
    outputs = [vi.name for vi in proto.graph.output]
    sized = [name for name in outputs if name in by_onnx and by_onnx[name].shape is not None]
    differ = {
        name: (
            (by_rules[name].shape, by_rules[name].dtype),
            (by_onnx[name].shape, by_onnx[name].dtype),
        )
        for name in sized
        if (by_rules[name].shape, by_rules[name].dtype)
        != (by_onnx[name].shape, by_onnx[name].dtype)
    }
    if differ:
        return "covered", f"rules vs ONNX: {differ}"
    unsized = [name for name in outputs if name not in sized]
    if unsized and case[3] in ORT_OPSETS:
        feeds = synthetic_inputs(input_specs(proto), bind_inputs(proto, {}))
        try:
            ran = run_with_outputs(proto, feeds, unsized)
        except IrwuaError as exc:
            return "covered", f"onnxruntime refuses a model the rules cover: {exc}"
        differ = {
            name: (by_rules[name].shape, ran[name].shape)
            for name in unsized
            if (by_rules[name].shape, by_rules[name].dtype) != (ran[name].shape, ran[name].dtype)
        }
        if differ:
            return "covered", f"rules vs onnxruntime, where ONNX does not size: {differ}"
    if sized == outputs and _chance(rng, 0.3):
        return "covered", _declared_check(case, by_onnx, rng)
    return "covered", ""


def _declared_check(case: Case, by_onnx: dict[str, TensorInfo], rng) -> str:
    """Declare the outputs with ONNX's shapes and dtypes, or with one dim or dtype wrong."""
    declared = {
        name: (list(info.shape), onnx.helper.np_dtype_to_tensor_dtype(info.dtype))
        for name, info in by_onnx.items()
        if name in {out for node in case[0] for out in node.output}
    }
    wrong = _chance(rng)
    if wrong:
        name = str(rng.choice(list(declared)))
        shape, elem = declared[name]
        if shape and _chance(rng, 0.7):
            shape[int(rng.integers(len(shape)))] += 1
        else:
            declared[name] = (shape, INT64 if elem != INT64 else FLOAT)
    by_rules, by_onnx_again = both_ways(_build(case, declared))
    if wrong and (by_rules is not None or by_onnx_again is not None):
        return f"a wrong declared output is accepted: {declared}"
    if not wrong and by_rules is None:
        return f"the rules hand back the model with its outputs declared: {declared}"
    return ""


@pytest.mark.parametrize("name", list(GENERATORS))
def test_random_models_are_shaped_as_onnx_shapes_them_or_handed_back(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    outcomes, failures = collections.Counter(), []
    for _ in range(CASES_PER_GENERATOR):
        case = GENERATORS[name](rng)
        outcome, failure = _differential(case, rng)
        outcomes[outcome] += 1
        if failure:
            failures.append(f"{failure} in {_describe(case)}")
    assert not failures, "\n".join(failures[:5])
    accepted = outcomes["covered"] + outcomes["handed back"]
    assert outcomes["covered"] >= 0.5 * accepted, outcomes  # The rules still cover most.


def _describe(case: Case) -> str:
    nodes, inputs, constants, opset = case
    ops = [
        (n.op_type, {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
        for n in nodes
    ]
    values = {name: value.tolist() for name, value in constants.items() if value.size <= 8}
    return f"opset {opset}, inputs {inputs}, constants {values}: {ops}"


def _one(op: str, x: list[int], opset: int, constants=None, outputs=("y",), **attrs) -> Case:
    """A case of one ``op`` on input x (then the constants, by name)."""
    constants = constants or {}
    node = make_node(op, ["x", *constants], list(outputs), **attrs)
    return [node], [("x", x)], constants, opset


def _dequantized(scale_type, opset: int, **attrs) -> Case:
    nodes = [
        make_node("DequantizeLinear", ["q", "scale"], ["w"], **attrs),
        make_node("MatMul", ["x", "w"], ["y"]),
    ]
    constants = {"q": np.zeros((2, 4), np.int8), "scale": np.array(0.5, scale_type)}
    return (
        nodes,
        [("x", [3, 2], onnx.helper.np_dtype_to_tensor_dtype(np.dtype(scale_type)))],
        constants,
        opset,
    )


# (id, case, outcome): cases the random test found where the rules were wrong, as fixed.
FOUND = [
    (
        "maxpool_8_ignores_dilations",
        _one("MaxPool", [1, 1, 10], 9, kernel_shape=[3], dilations=[2]),
        "handed back",
    ),
    ("negative_pad", _one("Conv", [1, 1, 6], 13, {"w": floats(1, 1, 3)}, pads=[-1, 0]), "refused"),
    ("cast_to_no_type", _one("Cast", [3, 2], 13, to=99), "refused"),
    (
        "resize_to_size_0",
        (
            [make_node("Resize", ["x", "", "", "sizes"], ["y"])],
            [("x", [1, 4])],
            {"sizes": ints(1, 0)},
            13,
        ),
        "handed back",
    ),
    ("dilation_0", _one("Conv", [1, 1, 6], 13, {"w": floats(1, 1, 3)}, dilations=[0]), "refused"),
    (
        "valid_with_pads",
        _one("AveragePool", [1, 1, 5], 21, kernel_shape=[2], auto_pad="VALID", pads=[0, 2]),
        "handed back",
    ),
    (
        "slice_negative_step_from_before_the_start",
        _one("Slice", [5, 4], 13, {"s": ints(-6), "e": ints(-7), "a": ints(1), "p": ints(-2)}),
        "covered",
    ),
    (
        "slice_axis_twice",
        _one("Slice", [5, 8], 13, {"s": ints(0, 1), "e": ints(2, 3), "a": ints(0, 0)}),
        "refused",
    ),
    (
        "split_13_with_attribute",
        _one("Split", [2, 3], 13, outputs=("a", "b"), axis=1, split=[1, 2]),
        "refused",
    ),
    ("split_18_without_sizes", _one("Split", [2, 4], 18, outputs=("a", "b"), axis=1), "refused"),
    ("shape_13_with_start", _one("Shape", [2, 3, 4], 13, start=1), "handed back"),
    ("unsqueeze_negative_axes_before_11", _one("Unsqueeze", [1], 8, axes=[-2, 0]), "handed back"),
    ("flatten_negative_axis_before_11", _one("Flatten", [3, 3], 7, axis=-2), "refused"),
    ("squeeze_1_axes_out_of_order", _one("Squeeze", [1, 4, 1, 1], 7, axes=[3, 2]), "handed back"),
    ("gelu_before_opset_20", _one("Gelu", [2, 3], 17), "handed back"),
    (
        "gru_13_has_no_layout",
        (
            [make_node("GRU", ["x", "w", "r"], ["y", "h"], hidden_size=2, layout=1)],
            [("x", [3, 4, 5])],
            {"w": np.zeros((1, 6, 5), np.float32), "r": np.zeros((1, 6, 2), np.float32)},
            13,
        ),
        "handed back",
    ),
    ("softmax_of_a_scalar", _one("Softmax", [], 26), "refused"),
    ("gather_index_out_of_range", _one("Gather", [2], 21, {"i": ints(2, 2)}, axis=-1), "refused"),
    (
        "resize_scales_and_sizes",
        (
            [make_node("Resize", ["x", "", "scales", "sizes"], ["y"])],
            [("x", [1, 1, 4, 4])],
            {"scales": np.ones(4, np.float32), "sizes": ints(1, 1, 3, 3)},
            13,
        ),
        "refused",
    ),
    (
        "mod_by_zero_in_shape_arithmetic",
        (
            [
                make_node("Shape", ["x"], ["shape"]),
                make_node("Mod", ["shape", "zeros"], ["mod"]),
                make_node("Reshape", ["x", "mod"], ["y"]),
            ],
            [("x", [2, 3])],
            {"zeros": ints(0, 0)},
            13,
        ),
        "handed back",
    ),
    (
        "constant_value_float_is_float32",
        (
            [
                make_node("Constant", [], ["c"], value_float=2.0),
                make_node("Mul", ["x", "c"], ["y"]),
            ],
            [("x", [3])],
            {},
            13,
        ),
        "covered",
    ),
    ("dequantize_19_to_the_scale_type", _dequantized(np.float16, 19), "covered"),
    ("dequantize_21_has_no_output_dtype", _dequantized(np.float16, 21, output_dtype=1), "covered"),
    ("dequantize_23_output_dtype", _dequantized(np.float16, 23, output_dtype=1), "covered"),
    (
        "ceil_mode_last_window_in_the_padding",
        _one("MaxPool", [1, 1, 5], 12, kernel_shape=[3], strides=[3], pads=[1, 2], ceil_mode=1),
        "handed back",
    ),
    (
        "ceil_mode",
        _one("MaxPool", [1, 1, 6], 12, kernel_shape=[3], strides=[2], ceil_mode=1),
        "covered",
    ),
]


@pytest.mark.parametrize(("case", "outcome"), [c[1:] for c in FOUND], ids=[c[0] for c in FOUND])
def test_cases_the_random_test_found(case, outcome):
    assert _differential(case, np.random.default_rng(0)) == (outcome, "")
