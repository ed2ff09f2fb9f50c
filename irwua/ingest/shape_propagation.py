"""Shapes of the common ONNX ops worked out in Python: the fast path of shape inference.

ONNX's shape inference is the reference, but its first call in a process builds the schema registry
of every op and version (about 12 ms, more than all other shape work on a ResNet-50). For a main
graph made only of the ops ``irwua.ingest.shape_rules`` covers, each output shape is a line or two
of arithmetic; the values of small tensors are tracked here, so that a Reshape whose target an
exporter computes at run time (Shape -> Gather -> Concat) is sized too.

The rules are deliberately partial: an op, attribute value or opset they do not cover, and any
inconsistency (a broadcast that fails, a declared shape or dtype that differs), make
``static_shapes`` return None, and the caller runs ONNX's inference, which then also words the
error. Tests compare the rules with ONNX's inference on the model corpus and on thousands of
random models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from irwua.ingest.shape_rules import NotCovered, Operands, rule_for, shape_slice, slices
from irwua.ir.dtypes import numpy_dtype
from irwua.ir.graph import ConstantTable, Node, TensorInfo
from irwua.ops import op_info

OPSETS = range(7, 29)
"""Default-domain opsets whose semantics the rules follow: from 7 (numpy broadcasting) to 28
(checked against onnx 1.23's schemas; versions 23-28 of the covered ops only add element types)."""

_VALUE_LIMIT = 64
"""Computed tensors up to this size have their values tracked (shape arithmetic, Reshape targets);
the values of all constants are known."""

Declared = tuple[tuple[int | str | None, ...] | None, np.dtype | None]
"""A shape and dtype a model declares for a tensor (None: not declared)."""
Evaluator = Callable[[Node, Operands, int], np.ndarray]


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
    values: dict[str, object] = dict(constants.values)
    try:
        for node in nodes:
            _infer_node(node, known, values, opset)
    except (NotCovered, KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not _agrees(known, declared, symbols):
        return None
    return known


def _infer_node(
    node: Node, known: dict[str, TensorInfo], values: dict[str, object], opset: int
) -> None:
    """Add the shapes and dtypes of ``node``'s outputs to ``known`` (and small values to
    ``values``). The outputs of a node that ``irwua.ingest.constants`` folded are known already: the
    rule must give the same shape, and gives the dtype (the spec's, where a fold may differ)."""
    if node.domain or node.scope or node.branches:
        raise NotCovered
    rule = rule_for(node.op_type)
    if rule is None or opset < op_info(node.op_type).since:
        raise NotCovered  # ONNX's inference leaves an op unknown before its first version.
    if any(name and name not in known for name in node.inputs):
        raise NotCovered
    names = [name for name in node.outputs if name]
    folded = all(name in known for name in names)
    operands = Operands(node, known, values)
    outputs = rule(node, operands, opset)
    if len(names) > len(outputs):
        raise NotCovered
    for name, (shape, dtype) in zip(node.outputs, outputs, strict=False):
        if not name:
            continue
        shape = tuple(map(int, shape))
        if min(shape, default=0) < 0:
            raise NotCovered
        if name in known and (not folded or known[name].shape != shape):
            raise NotCovered  # A name written twice, or a fold that the spec contradicts.
        known[name] = TensorInfo(name, shape, np.dtype(dtype))
    evaluate = VALUES.get(node.op_type)
    if evaluate is not None and not folded and node.outputs[0] in known:
        _track_value(evaluate, node, operands, opset, known, values)


def _track_value(
    evaluate: Evaluator,
    node: Node,
    operands: Operands,
    opset: int,
    known: Mapping[str, TensorInfo],
    values: dict[str, object],
) -> None:
    """Record the value of a small first output (shape arithmetic) when the inputs' values are
    known."""
    shape = known[node.outputs[0]].shape
    if math.prod(shape) > _VALUE_LIMIT:
        return
    try:
        values[node.outputs[0]] = evaluate(node, operands, opset).reshape(shape)
    except (NotCovered, ValueError, IndexError):
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


# ---- values of small integer tensors (shape arithmetic) --------------------------------------


def _value_of_shape(node: Node, ops: Operands, opset: int) -> np.ndarray:
    return np.array(shape_slice(node, ops, opset), np.int64)


def _value_of_gather(node: Node, ops: Operands, _opset: int) -> np.ndarray:
    return np.take(ops.value(0), ops.value(1), axis=node.attr("axis", 0))


def _value_of_concat(node: Node, ops: Operands, _opset: int) -> np.ndarray:
    return np.concatenate([ops.value(i) for i in range(len(ops))], axis=node.attrs["axis"])


def _value_of_slice(node: Node, ops: Operands, opset: int) -> np.ndarray:
    """The slice of shape arithmetic (``shape[1:]``)."""
    value = ops.value(0)
    for axis, taken in slices(node, ops, opset, value.shape).items():
        value = np.take(value, np.array(taken, np.int64), axis=axis)
    return value


_ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Mod": np.mod}


def _value_of_arithmetic(node: Node, ops: Operands, _opset: int) -> np.ndarray:
    """Add, Sub, Mul, and Mod (whose integer result takes the divisor's sign, as numpy's)."""
    if node.op_type == "Mod" and not np.all(ops.value(1)):
        raise NotCovered  # numpy's x % 0 is 0 (and a warning); onnxruntime's is undefined.
    operation = np.fmod if node.attr("fmod", 0) else _ARITHMETIC[node.op_type]
    return operation(ops.value(0), ops.value(1))


def _value_unchanged(node: Node, ops: Operands, _opset: int) -> np.ndarray:
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
