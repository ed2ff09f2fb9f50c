"""The branches the main graph's Ifs take when their conditions are only known at run time.

A condition computed from the inputs' values (a mode flag, a test on the data) is read from
onnxruntime runs on the user's data, one run per sample (or per fixed batch) over the first
``SAMPLES`` samples. A condition computed from the inputs' shapes alone (``Shape`` -> ``Greater``)
is read from one run on synthetic inputs of the bound shapes, so ``--input-shape`` decides it
without data. A condition that neither can read (no data, or the run fails) stays undecided: the
FLOPs pass then counts the larger branch, as without this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from irwua.data.dataset import Dataset
from irwua.errors import IrwuaError
from irwua.ingest.inputs import input_specs
from irwua.ingest.shape_propagation import taken_branch
from irwua.ir.graph import LayerGraph, Node
from irwua.runtime.sessions import make_session, run, synthetic_inputs

SAMPLES = 16
"""How many samples of the data the branches are read on."""

_SHAPE_READERS = frozenset({"Shape", "Size"})
"""Ops that read only their input's shape, never its values."""


class Observed(Mapping[str, Counter[str]]):
    """For each undecided If of the main graph that a run decided, how many runs took each
    branch (by branch scope); ``source`` says what the runs were fed."""

    def __init__(self, taken: Mapping[str, Counter[str]], source: str) -> None:
        self._taken = dict(taken)
        self.source = source

    def __getitem__(self, name: str) -> Counter[str]:
        return self._taken[name]

    def __iter__(self):
        return iter(self._taken)

    def __len__(self) -> int:
        return len(self._taken)


def observed_branches(graph: LayerGraph, data: Dataset | None) -> Observed:
    """The branches the main graph's undecided Ifs take: on ``data`` when given, else on
    synthetic inputs for the conditions that depend on shapes only."""
    undecided = [
        node
        for node in graph.nodes
        if node.op_type == "If"
        and not node.scope
        and not node.domain
        and taken_branch(node, graph.constants.values) is None
    ]
    if data is None:
        undecided = [node for node in undecided if not _reads_values(node.inputs[0], graph)]
    if not undecided or graph.source is None:
        return Observed({}, "")
    conditions = list(dict.fromkeys(node.inputs[0] for node in undecided))
    try:
        session = make_session(
            graph.source.proto, graph.source.base_dir, graph.constants.values, conditions
        )
        runs = _runs(session, conditions, graph, data)
    except IrwuaError:
        return Observed({}, "")
    if not runs:
        return Observed({}, "")
    taken: dict[str, Counter[str]] = {node.name: Counter() for node in undecided}
    for values in runs:
        for node in undecided:
            taken[node.name][taken_branch(node, values)] += 1
    source = f"{len(runs)} samples of the data" if data is not None else "the input shapes"
    return Observed(taken, source)


def _runs(session, conditions: list[str], graph: LayerGraph, data: Dataset | None):
    """The conditions' values of each run, as dicts by tensor name (no run when the inputs'
    shapes are not all known)."""
    if data is not None:
        batches = data.limit(SAMPLES).batches(1)
        return [dict(zip(conditions, run(session, conditions, b), strict=True)) for b in batches]
    specs = input_specs(graph.source.proto)
    bound = {spec.name: graph.shape(spec.name) for spec in specs}
    if any(shape is None for shape in bound.values()):
        return []
    feeds = synthetic_inputs(specs, bound)
    return [dict(zip(conditions, run(session, conditions, feeds), strict=True))]


def _reads_values(tensor: str, graph: LayerGraph) -> bool:
    """Whether ``tensor`` depends on the values of a graph input (not only on its shape)."""
    inputs = set(graph.inputs)
    seen: set[str] = set()
    pending = [tensor]
    while pending:
        name = pending.pop()
        if name in seen or name in graph.constants:
            continue
        seen.add(name)
        if name in inputs:
            return True
        node: Node | None = graph.producer.get(name)
        if node is None or node.op_type in _SHAPE_READERS:
            continue
        pending.extend(n for n in node.inputs if n)
    return False
