"""The ``flops`` pass: MACs, FLOPs, parameters, weight and activation bytes.

Counted per node, per layer and in total, per single sample (the bound batch is divided out).
Ops whose outputs are constants (a weight's Cast or DequantizeLinear) are computed once when the
model loads, not per run: they cost nothing here.
The convention and the per-op table are in ``op_costs``. Ops without a formula are listed under
``unsupported`` with their count, ops whose shapes could not be resolved under ``unresolved``:
neither is ever a silent zero.

Control flow: the ops inside an If count as the branch it takes when that is known (a constant
condition; with data, the branch every sample read takes; a condition on the input shapes, the
branch those shapes take: ``irwua.ingest.branches``), else as the more expensive branch, and the
note gives both branches' FLOPs; a Loop's body counts once
per iteration when the trip count is a constant (once otherwise, with a note); a Scan's body once
per scanned element. Every subgraph's own cost (one execution) is kept under ``branches``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from irwua.ingest.branches import Seen, observed_branches
from irwua.ingest.shape_propagation import loop_trip_count, taken_branch
from irwua.ir.graph import Layer, LayerGraph, Node
from irwua.options import FlopsOptions
from irwua.passes.op_costs import Cost, OpShapes, formula_for
from irwua.pipeline import PassContext, PassResult, register_pass

COUNTS = ("macs", "flops", "params", "weight_bytes", "activation_bytes")


class Counts(NamedTuple):
    """The five counts irwua reports for a node, a layer or a whole model (per sample);
    ``+`` adds them (a NamedTuple, like the layer graph's records)."""

    macs: int = 0
    flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.macs + other.macs,
            self.flops + other.flops,
            self.params + other.params,
            self.weight_bytes + other.weight_bytes,
            self.activation_bytes + other.activation_bytes,
        )

    def scaled(self, factor: int) -> Counts:
        """Compute counts repeated ``factor`` times (weights are stored once)."""
        return self._replace(
            macs=self.macs * factor,
            flops=self.flops * factor,
            activation_bytes=self.activation_bytes * factor,
        )

    def as_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in COUNTS}


@dataclass(frozen=True)
class FlopsResult(PassResult):
    """Counts per node, per layer, by op type and in total, plus what could not be counted."""

    nodes: Mapping[str, Counts]
    layers: Mapping[str, Counts]
    by_op_type: Mapping[str, Counts]
    total: Counts
    unsupported: Mapping[str, int]
    unresolved: Mapping[str, int]
    notes: tuple[str, ...]
    batch: int
    branches: Mapping[str, Counts]
    training_flops: float | None

    def totals_json(self) -> dict[str, Any]:
        totals: dict[str, Any] = self.total.as_dict()
        totals["training_flops"] = self.training_flops
        return totals

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        counts = self.layers.get(layer_name)
        return counts.as_dict() if counts else {}

    def section_json(self) -> dict[str, Any]:
        return {
            "convention": "MACs of matrix-like ops; FLOPs = 2 x MACs + bias adds + per-element "
            "costs of other ops; per sample (batch divided out)",
            "batch": self.batch,
            "by_op_type": {op: c.as_dict() for op, c in sorted(self.by_op_type.items())},
            "unsupported": dict(self.unsupported),
            "unresolved": dict(self.unresolved),
            "notes": list(self.notes),
            "branches": {scope: c.as_dict() for scope, c in self.branches.items()},
            "nodes": [{"name": name, **c.as_dict()} for name, c in self.nodes.items()],
        }


@register_pass(
    "flops",
    "MACs, FLOPs, parameters, weight and activation bytes per op, layer, model",
    options=FlopsOptions,
)
def run_flops(context: PassContext) -> FlopsResult:
    graph = context.graph
    batch = int(graph.metadata.get("batch", 1))
    unsupported: Counter[str] = Counter()
    unresolved: Counter[str] = Counter()
    nodes: dict[str, Counts] = {}
    for node in graph.nodes:
        cost = _node_cost(node, graph, unsupported, unresolved)
        nodes[node.name] = _per_sample(cost, batch) + _storage(node, graph, batch)
    notes: list[str] = []
    branches: dict[str, Counts] = {}
    repeats: dict[str, int] = {"": 1}
    observed = observed_branches(graph, context.data)
    compute = _scope_total("", graph, nodes, _Tally(notes, branches, repeats, observed))
    params, weight_bytes = _stored_weights(graph)
    total = compute._replace(params=params, weight_bytes=weight_bytes)
    layers = {layer.name: _layer_counts(layer, nodes, repeats) for layer in graph.layers}
    by_op: dict[str, Counts] = {}
    for node in graph.nodes:
        by_op[node.op_type] = by_op.get(node.op_type, Counts()) + nodes[node.name]
    options = context.options
    training = None
    if options.train_samples:
        training = (
            float(total.flops) * options.train_factor * options.train_samples * options.epochs
        )
    return FlopsResult(
        nodes=MappingProxyType(nodes),
        layers=MappingProxyType(layers),
        by_op_type=MappingProxyType(by_op),
        total=total,
        unsupported=MappingProxyType(dict(unsupported)),
        unresolved=MappingProxyType(dict(unresolved)),
        notes=tuple(notes),
        batch=batch,
        training_flops=training,
        branches=MappingProxyType(branches),
    )


def _node_cost(node: Node, graph: LayerGraph, unsupported: Counter, unresolved: Counter) -> Cost:
    if node.outputs and all(name in graph.constants for name in node.outputs):
        return Cost(0, 0)  # Folded into a constant (a weight's DequantizeLinear): not per run.
    formula = formula_for(node.op_type) if not node.domain else None
    if formula is None:
        unsupported[_op_label(node)] += 1
        return Cost(0, 0)
    op = OpShapes(
        ins=[graph.shape(name) if name else None for name in node.inputs],
        outs=[graph.shape(name) if name else None for name in node.outputs],
        attrs=node.attrs,
    )
    try:
        return formula(op)
    except (KeyError, TypeError, IndexError, ValueError):
        unresolved[_op_label(node)] += 1
        return Cost(0, 0)


def _op_label(node: Node) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain else node.op_type


def _per_sample(cost: Cost, batch: int) -> Counts:
    return Counts(macs=cost.macs // batch, flops=cost.flops // batch)


def _storage(node: Node, graph: LayerGraph, batch: int) -> Counts:
    """Learned tensors a node reads (only layers have them) and the bytes of its outputs."""
    params = weight_bytes = 0
    layer = graph.layer_of_node.get(node.name)
    if layer is not None:
        for tensor in _learned_inputs(node, layer, graph):
            size, stored = _stored(tensor, graph)
            params += size
            weight_bytes += stored
    activation = sum(
        graph.tensors[o].nbytes or 0
        for o in node.outputs
        if o in graph.tensors and o not in graph.constants
    )
    return Counts(params=params, weight_bytes=weight_bytes, activation_bytes=activation // batch)


def _learned_inputs(node: Node, layer: Layer, graph: LayerGraph) -> list[str]:
    """The layer's learned tensors that ``node`` reads, directly or as the stored tensor they
    derive from (a quantized op reads its integer weight, the layer holds the real values)."""
    origins = graph.constants.origins
    return [
        tensor
        for tensor in dict.fromkeys(layer.tensors.values())
        if tensor in node.inputs or origins.get(tensor) in node.inputs
    ]


def _stored(tensor: str, graph: LayerGraph) -> tuple[int, int]:
    """Elements of a learned tensor and the bytes of the stored tensor it comes from (int8 for a
    quantized weight, 2 for bfloat16 ones), without reading any value."""
    value = graph.constants.values[tensor]
    origin = graph.constants.values.get(graph.constants.origins.get(tensor, tensor), value)
    return int(value.size), int(value.size) * origin.dtype.itemsize


def _layer_counts(layer: Layer, nodes: Mapping[str, Counts], repeats: Mapping[str, int]) -> Counts:
    """A layer's counts per run of the model: a layer in a Loop's body counts once per
    iteration."""
    counts = Counts()
    for name in layer.nodes:
        counts = counts + nodes[name]
    return counts.scaled(repeats.get(layer.scope, 1))


class _Tally(NamedTuple):
    """What summing the scopes records besides the totals: ``notes``, each subgraph's own cost
    (``branches``), how often each subgraph runs per run of the model (``repeats``), and the
    branches runs showed the main graph's Ifs to take (``observed``)."""

    notes: list[str]
    branches: dict[str, Counts]
    repeats: dict[str, int]
    observed: Mapping[str, Seen]


def _scope_total(
    scope: str, graph: LayerGraph, nodes: Mapping[str, Counts], tally: _Tally
) -> Counts:
    """Sum the nodes of one (sub)graph; control-flow nodes add their subgraphs' totals."""
    total = Counts()
    for node in graph.nodes:
        if node.scope != scope:
            continue
        total = total + nodes[node.name]
        if not node.branches:
            continue
        iterations = 1 if node.op_type == "If" else _iterations(node, graph, tally.notes)
        tally.repeats.update(dict.fromkeys(node.branches, tally.repeats[scope] * iterations))
        costs = {b: _scope_total(b, graph, nodes, tally) for b in node.branches}
        tally.branches.update(costs)
        if node.op_type == "If":
            total = total + costs[_counted_branch(node, graph, costs, tally)]
        else:
            total = total + next(iter(costs.values())).scaled(iterations)
    return total


def _counted_branch(
    node: Node, graph: LayerGraph, costs: Mapping[str, Counts], tally: _Tally
) -> str:
    """The branch of an If that counts (a constant condition's, the one runs showed it to take,
    else the more expensive), with a note for the main graph's Ifs."""
    taken = taken_branch(node, graph.constants.values)
    if taken is not None:
        tally.notes.append(f"If '{node.name}' has a constant condition: {taken} counts.")
        return taken
    larger = max(costs, key=lambda b: costs[b].flops)
    if node.scope:
        return larger
    branches = sorted(costs, key=lambda branch: branch.endswith("else_branch"))  # then first
    listed = ", ".join(f"{_branch_word(b)} {costs[b].flops:,}" for b in branches)
    seen = tally.observed.get(node.name)
    if seen is not None and len(seen.taken) == 1:
        (taken,) = seen.taken
        tally.notes.append(
            f"If '{node.name}' took its {_branch_word(taken)} branch on {seen.source} "
            f"(FLOPs {listed}): that branch counts{_nested_ifs(node, graph)}; per-branch totals "
            "are in the JSON (flops.branches)."
        )
        return taken
    split = (
        " and ".join(f"{_branch_word(b)} on {seen.taken[b]}" for b in branches if b in seen.taken)
        + f" of {seen.source}; "
        if seen is not None
        else ""
    )
    tally.notes.append(
        f"If '{node.name}' chooses a branch at run time (FLOPs {listed}); {split}the larger "
        f"counts{_nested_ifs(node, graph)}; per-branch totals are in the JSON (flops.branches)."
    )
    return larger


def _branch_word(scope: str) -> str:
    """'then' or 'else' for an If's branch scope."""
    return scope.rpartition(".")[2].removesuffix("_branch")


def _nested_ifs(node: Node, graph: LayerGraph) -> str:
    """', as in the N nested Ifs' when the If holds others, else ''."""
    inner = sum(
        1
        for other in graph.nodes
        if other.op_type == "If" and any(other.scope.startswith(b) for b in node.branches)
    )
    plural = "s" if inner > 1 else ""
    return f", as in the {inner} nested If{plural}" if inner else ""


def _iterations(node: Node, graph: LayerGraph, notes: list[str]) -> int:
    if node.op_type == "Loop":
        trip = loop_trip_count(node, graph.constants.values)
        if trip is not None:
            return trip
        notes.append(f"Loop '{node.name}': trip count unknown, its body is counted once.")
        return 1
    if node.op_type == "Scan":
        axes = node.attr("scan_input_axes") or ()
        first = node.inputs[-int(node.attr("num_scan_inputs", 1))]
        shape = graph.shape(first)
        if shape is not None:
            return int(shape[axes[0] if axes else 0])
        notes.append(f"Scan '{node.name}': length unknown, its body is counted once.")
    return 1


def _stored_weights(graph: LayerGraph) -> tuple[int, int]:
    """Parameters and bytes of the layers' learned tensors, each stored tensor counted once
    (tied weights, weights shared by the branches of an If)."""
    counted: dict[str, tuple[int, int]] = {}
    for layer in graph.layers:
        for tensor in layer.tensors.values():
            origin = graph.constants.origins.get(tensor, tensor)
            counted.setdefault(origin, _stored(tensor, graph))
    return sum(size for size, _ in counted.values()), sum(b for _, b in counted.values())
