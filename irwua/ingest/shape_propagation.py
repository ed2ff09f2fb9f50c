"""Shapes of the common ONNX ops worked out in Python: the fast path of shape inference.

ONNX's shape inference is the reference, but its first call in a process builds the schema registry
of every op and version, which costs more than all other shape work on a ResNet-50
(``docs/measured-choices.md``). For a main
graph made only of the ops ``irwua.ingest.shape_rules`` covers, each output shape is a line or two
of arithmetic; the values of small tensors are tracked here, so that a Reshape whose target an
exporter computes at run time (Shape -> Gather -> Concat) is sized too.

The rules are deliberately partial: an op, attribute value or opset they do not cover, and any
inconsistency (a broadcast that fails, a declared shape or dtype that differs), make
``propagate_shapes`` return None, and the caller runs ONNX's inference, which then also words the
error. Tests compare the rules with ONNX's inference on the model corpus and on thousands of
random models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from irwua.ingest.folding import FOLDS
from irwua.ingest.shape_rules import NotCovered, Operands, rule_for, shape_slice
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


def propagate_shapes(
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
    branches = _Branches()
    try:
        for node in nodes:
            branches.leave(node.scope, known, values)
            if node.scope and node.scope not in branches.open:
                raise NotCovered  # a Scan body, or a subgraph of an op in another domain
            if node.op_type in ("If", "Loop") and not node.domain:
                branches.enter(node, known)
            else:
                _infer_node(node, known, values, opset)
        branches.leave("", known, values)
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
    if node.domain or node.branches:
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
    computable = node.op_type in FOLDS or node.op_type == "Shape"
    if computable and not folded and node.outputs[0] in known:
        _track_value(node, operands, opset, known, values)


class _Branches:
    """The If and Loop ops whose subgraphs are being sized: a subgraph's nodes see the outer
    scope's shapes and values, and come right after their op (``irwua.ingest.build``).

    When the nodes of an If's branches are done, its outputs take the shapes of the branch its
    condition picks, or, when the condition is not known before running, the shapes both
    branches agree on. A Loop's body starts from the shapes of the initial values, which each
    iteration must keep; its scanned outputs stack one slice per iteration of its constant trip
    count (values that change per iteration are never tracked)."""

    def __init__(self) -> None:
        self.pending: list[Node] = []
        self.open: set[str] = set()

    def enter(self, node: Node, known: dict[str, TensorInfo]) -> None:
        self.pending.append(node)
        self.open.update(node.branches)
        if node.op_type == "Loop":
            _loop_body_inputs(node, known)

    def leave(self, scope: str, known: dict[str, TensorInfo], values: Mapping[str, object]) -> None:
        """Resolve the pending Ifs that a node in ``scope`` is outside of (innermost first)."""
        while self.pending and not any(
            scope == b or scope.startswith(f"{b}/") for b in self.pending[-1].branches
        ):
            node = self.pending.pop()
            self.open.difference_update(node.branches)
            if node.op_type == "Loop":
                _loop_outputs(node, known, values)
            else:
                _if_outputs(node, known, values)


def _loop_body_inputs(node: Node, known: dict[str, TensorInfo]) -> None:
    """The iteration number, condition and carried values a Loop's body starts from."""
    (body,) = node.branch_inputs
    if len(body) != len(node.inputs) or any(not name for name in node.inputs[2:]):
        raise NotCovered
    starts = [((), np.dtype(np.int64)), ((), np.dtype(np.bool_))]
    starts += [(known[name].shape, known[name].dtype) for name in node.inputs[2:]]
    for name, (shape, dtype) in zip(body, starts, strict=True):
        if name in known and (known[name].shape, known[name].dtype) != (shape, dtype):
            raise NotCovered
        known[name] = TensorInfo(name, shape, dtype)


def _loop_outputs(node: Node, known: dict[str, TensorInfo], values: Mapping[str, object]) -> None:
    """A Loop's final carried values (their initial shapes, which the body must keep) and its
    scanned outputs (trip count x the body's slice)."""
    (returned,) = node.branch_outputs
    carried = len(node.inputs) - 2
    trip = loop_trip_count(node, values)
    for index, name in enumerate(node.outputs):
        body = known[returned[1 + index]]
        if index < carried:
            initial = known[node.inputs[2 + index]]
            if (body.shape, body.dtype) != (initial.shape, initial.dtype):
                raise NotCovered  # a carried value whose shape changes per iteration
            shape = body.shape
        elif trip is not None:
            shape = (trip, *body.shape)
        else:
            raise NotCovered  # scanned outputs of a loop whose length is known only at run time
        if name:
            known[name] = TensorInfo(name, shape, body.dtype)


def _if_outputs(node: Node, known: dict[str, TensorInfo], values: Mapping[str, object]) -> None:
    taken = taken_branch(node, values)
    candidates = [
        [known[name] for name in outputs]
        for branch, outputs in zip(node.branches, node.branch_outputs, strict=True)
        if taken is None or branch == taken
    ]
    for index, name in enumerate(node.outputs):
        infos = {(c[index].shape, c[index].dtype) for c in candidates}
        if len(infos) != 1:
            raise NotCovered  # the branches differ and the condition is only known at run time
        shape, dtype = infos.pop()
        known[name] = TensorInfo(name, shape, dtype)


def loop_trip_count(node: Node, values: Mapping[str, object]) -> int | None:
    """A Loop's trip count when it is a known scalar, else None."""
    trip = values.get(node.inputs[0]) if node.inputs and node.inputs[0] else None
    if trip is None or np.asarray(trip).size != 1:
        return None
    return int(np.asarray(trip).reshape(-1)[0])


def taken_branch(node: Node, values: Mapping[str, object]) -> str | None:
    """The branch scope an If takes when its condition's value is known, else None."""
    condition = values.get(node.inputs[0]) if node.inputs else None
    if condition is None or np.asarray(condition).size != 1:
        return None
    suffix = ".then_branch" if bool(np.asarray(condition).reshape(-1)[0]) else ".else_branch"
    return next((b for b in node.branches if b.endswith(suffix)), None)


def _track_value(
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
        values[node.outputs[0]] = _value_of(node, operands, opset).reshape(shape)
    except (ValueError, TypeError, KeyError, IndexError):
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


def _value_of(node: Node, operands: Operands, opset: int) -> np.ndarray:
    """The value of ``node``'s first output from its inputs' values (``irwua.ingest.folding``),
    or a Shape's from its input's shape."""
    if node.op_type == "Shape":
        return np.array(shape_slice(node, operands, opset), np.int64)
    inputs = [operands.value(i) if operands.present(i) else None for i in range(len(operands))]
    return FOLDS[node.op_type].evaluate(inputs, node.attrs, opset)
