"""The branches the main graph's Ifs take when their conditions are only known at run time.

A condition computed from the inputs' values (a mode flag, a test on the data) is read from
onnxruntime runs on the user's data, one run per sample (or per fixed batch) over the first
``SAMPLES`` samples. A condition computed from the inputs' shapes alone (``Shape`` -> ``Greater``)
is read from one run on synthetic inputs of the bound shapes (``--input-shape``, or the data's
shapes), the shapes every count is for. A condition that neither can read (no data, or the run
fails) stays undecided: the FLOPs pass then counts the larger branch, as without this module.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

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


class Seen(NamedTuple):
    """How many runs took each branch of one If (by branch scope), and what they were fed."""

    taken: Counter[str]
    source: str


def observed_branches(graph: LayerGraph, data: Dataset | None) -> dict[str, Seen]:
    """The branches the main graph's undecided Ifs take, by If name: a condition on the
    inputs' shapes is read from one run on synthetic inputs of the bound shapes (the shapes the
    counts are for), a condition on their values from runs on ``data`` (none without it)."""
    undecided = [
        node
        for node in graph.nodes
        if node.op_type == "If"
        and not node.scope
        and not node.domain
        and taken_branch(node, graph.constants.values) is None
    ]
    if not undecided or graph.source is None:
        return {}
    on_values = [node for node in undecided if _reads_values(node.inputs[0], graph)]
    on_shapes = [node for node in undecided if node not in on_values]
    seen: dict[str, Seen] = {}
    for nodes, runs in ((on_shapes, _synthetic_run), (on_values, _data_runs)):
        if not nodes or (runs is _data_runs and data is None):
            continue
        conditions = list(dict.fromkeys(node.inputs[0] for node in nodes))
        try:
            session = make_session(
                graph.source.proto, graph.source.base_dir, graph.constants.values, conditions
            )
            values, source = runs(session, conditions, graph, data)
        except IrwuaError:
            continue  # the condition stays undecided: the larger branch counts
        for node in nodes:
            taken = Counter(branch for run in values if (branch := taken_branch(node, run)))
            if taken:
                seen[node.name] = Seen(taken, source)
    return seen


def _synthetic_run(session, conditions: list[str], graph: LayerGraph, _data):
    """The conditions' values on synthetic inputs of the bound shapes (none when a shape is
    not known), and what the run was fed."""
    specs = input_specs(graph.source.proto)
    bound = {spec.name: graph.shape(spec.name) for spec in specs}
    if any(shape is None for shape in bound.values()):
        return [], ""
    feeds = synthetic_inputs(specs, bound)
    return [dict(zip(conditions, run(session, conditions, feeds), strict=True))], "the input shapes"


def _data_runs(session, conditions: list[str], _graph, data: Dataset):
    """The conditions' values on each sample (or fixed batch) of the first ``SAMPLES`` samples
    of the data, and what the runs were fed."""
    values, samples = [], 0
    for batch in data.limit(max(SAMPLES, data.fixed_batch or 1)).batches(1):
        values.append(dict(zip(conditions, run(session, conditions, batch), strict=True)))
        samples += len(next(iter(batch.values())))
    return values, f"{samples} samples of the data"


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
