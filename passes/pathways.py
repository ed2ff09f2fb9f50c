"""The ``pathways`` pass: which chains of units carry the network's computation.

**Connections.** For a unit layer T (Conv, ConvTranspose, Gemm, MatMul) with weight importance
I (the ``importance`` pass), the importance of the connection from input feature j to output unit
o is I summed over everything but those two axes: for a convolution, input channel -> output
channel summed over the kernel positions (a grouped convolution connects only the channels of a
group). ``irwua.units.flow`` tells which source unit feeds each input feature; a source unit's
connection to o sums its features' connections (a channel flattened into a block of features
sums the block). Every connection is divided by T's total importance, so a layer's connections
sum to 1 over its distinct input features: ``connections[(source, T)]`` is a matrix
[source units, T's units], and one that is T's only source sums to 1. Norm and per-unit
elementwise layers are not nodes: their effect on the activations is already in the importance of
the next layer (I = |w| x statistic of the input), so a path runs straight through them.

**Pathways.** A pathway runs from an input unit to an output unit, one unit per unit layer, and
its score is the product of its connections. Paths start at graph inputs (unit = index on the
axis that reaches the first layer's features, e.g. the image channel) or, where units cannot be
followed further back (a Gather, a MatMul of two activations), at the input features of the first
layer, named by the tensor it reads. Paths end at the output units of layers no unit link leaves.
A skip connection gives a shorter path, which scores higher as it multiplies fewer factors <= 1.
The K best are found exactly by dynamic programming (``irwua.units.kbest``): ``top`` over every end,
``per_output`` for each unit of the output layer (the last end layer, e.g. the classifier).
Scores are products kept with a per-layer log scale: ``log_score`` is exact for deep networks
where ``score`` underflows to 0.

**Neuron importance.** For each unit, the share of the total score of all start-to-end paths that
passes through it (sums to 1 per layer): a unit with strong incoming weights but no use
downstream scores low.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.ir.geometry import geometry
from irwua.ir.graph import Layer, LayerGraph
from irwua.options import PathwaysOptions
from irwua.passes.importance import ImportanceResult
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.units import kbest
from irwua.units.flow import UnitFlow, unit_counts, unit_flow
from irwua.units.kbest import Edge

JSON_OUTPUTS = 100
"""analysis.json lists ``per_output`` for at most this many output units (the result has all)."""

JSON_UNITS = 10
"""Units per layer in analysis.json's ``neuron_importance.top``."""

_START_NOTE = "paths start at these input features: their units could not be followed further"


@dataclass(frozen=True)
class Pathway:
    """One path: its score, the natural log of that score, and its (layer or input, unit) steps
    from the input unit to the output unit."""

    score: float
    units: tuple[tuple[str, int], ...]
    log_score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "log_score": self.log_score,
            "units": [{"layer": name, "unit": unit} for name, unit in self.units],
        }


@dataclass(frozen=True)
class PathwaysResult(PassResult):
    """Connections, top pathways and neuron importance (see the module docstring)."""

    k: int
    connections: Mapping[tuple[str, str], np.ndarray]
    neuron_importance: Mapping[str, np.ndarray]
    top: tuple[Pathway, ...]
    per_output: Mapping[int, tuple[Pathway, ...]]
    output_layer: str | None
    flow: UnitFlow
    starts: Mapping[str, str]
    notes: tuple[str, ...]

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        shares = self.neuron_importance.get(layer_name)
        if shares is None:
            return {}
        order = np.argsort(-shares, kind="stable")[:JSON_UNITS]
        top = [[int(unit), float(shares[unit])] for unit in order]
        return {"neuron_importance": {"top": top, "units": int(shares.size)}}

    def section_json(self) -> dict[str, Any]:
        links = [
            {
                "source": link.source,
                "target": link.target,
                "mode": link.mode,
                "via": list(link.via),
                "note": link.note,
            }
            for link in self.flow.links
        ]
        links += [
            {"source": start, "target": target, "mode": "unit", "via": [], "note": _START_NOTE}
            for target, start in self.starts.items()
        ]
        outputs = sorted(self.per_output)[:JSON_OUTPUTS]
        return {
            "k": self.k,
            "output_layer": self.output_layer,
            "top": [path.to_json() for path in self.top],
            "per_output": [
                {"unit": unit, "paths": [path.to_json() for path in self.per_output[unit]]}
                for unit in outputs
            ],
            "links": links,
            "notes": list(self.notes),
        }


@register_pass(
    "pathways",
    "unit-to-unit connection importance, top-K pathways, neuron importance",
    requires=("importance",),
    options=PathwaysOptions,
)
def run_pathways(context: PassContext) -> PathwaysResult:
    graph = context.graph
    importance: ImportanceResult = context.results["importance"]
    k = context.options.top_k
    units = unit_flow(graph)
    notes = list(units.notes)
    edges, starts = _edges(graph, units, importance, notes)
    if not edges:
        notes.append("no Conv, Gemm or MatMul layer with a constant weight: no pathways")
        return PathwaysResult(k, {}, {}, (), {}, None, units, {}, tuple(notes))
    ranked = kbest.k_best(edges, k)
    sources = {edge.source for edge in edges}
    ends = [name for name in units.layers if name in ranked and name not in sources]
    top = tuple(_pathways(edges, ranked, [(name, None) for name in ends], k))
    output = ends[-1]
    per_output = PerOutput(edges, ranked, output, units.out_units[output], k)
    if len(per_output) > JSON_OUTPUTS:
        notes.append(
            f"analysis.json lists the pathways of the first {JSON_OUTPUTS} of "
            f"{len(per_output)} output units; the Python result has all"
        )
    return PathwaysResult(
        k=k,
        connections=MappingProxyType({(e.source, e.target): e.weights.T for e in edges}),
        neuron_importance=MappingProxyType(kbest.flow(edges)),
        top=top,
        per_output=per_output,
        output_layer=output,
        flow=units,
        starts=MappingProxyType(starts),
        notes=tuple(notes),
    )


class PerOutput(Mapping[int, tuple[Pathway, ...]]):
    """The top-K pathways ending at each unit of the output layer, traced from the dynamic
    program's tables when first asked for: a language model's head has tens of thousands of
    units, while the JSON and the report show the first ``JSON_OUTPUTS``."""

    def __init__(
        self, edges: list[Edge], ranked: Mapping[str, kbest.Ranked], layer: str, units: int, k: int
    ) -> None:
        self._edges = edges
        self._ranked = ranked
        self._layer = layer
        self._units = units
        self._k = k
        self._traced: dict[int, tuple[Pathway, ...]] = {}

    def __getitem__(self, unit: int) -> tuple[Pathway, ...]:
        if not isinstance(unit, int | np.integer) or not 0 <= unit < self._units:
            raise KeyError(unit)
        unit = int(unit)
        if unit not in self._traced:
            ends = [(self._layer, unit)]
            self._traced[unit] = tuple(_pathways(self._edges, self._ranked, ends, self._k))
        return self._traced[unit]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self._units))

    def __len__(self) -> int:
        return self._units


def _edges(
    graph: LayerGraph, units: UnitFlow, importance: ImportanceResult, notes: list[str]
) -> tuple[list[Edge], dict[str, str]]:
    """One edge per unit link, plus one from the tensor a layer reads for the features no unit
    link reaches (path starts); also returns those starts by layer."""
    edges: list[Edge] = []
    starts: dict[str, str] = {}
    for name in units.layers:
        layer = graph.layer_by_name[name]
        matrix = feature_matrix(layer, graph, importance.layers[name].weight)  # [out, in]
        total = float(matrix.sum(dtype=np.float64))
        if not math.isfinite(total):
            notes.append(f"{name}: non-finite importance values are counted as 0")
            matrix = np.where(np.isfinite(matrix), matrix, np.float32(0))
            total = float(matrix.sum(dtype=np.float64))
        scale = np.float32(1.0 / total if total > 0 else 0.0)
        for link in units.incoming(name):
            if link.mode == "unit":
                weights = link.aggregate(matrix, axis=1)  # [out, source units]
                weights *= scale
                edges.append(Edge(link.source, name, weights))
        uncovered = units.uncovered(name)
        if uncovered.any():
            start = layer.data_input or f"{name}:input"
            starts[name] = start
            weights = np.where(uncovered, matrix * scale, np.float32(0))
            edges.append(Edge(start, name, weights))
    return edges, starts


def feature_matrix(layer: Layer, graph: LayerGraph, importance: np.ndarray) -> np.ndarray:
    """``layer``'s importance as [output units, input features] (float32): summed over every
    other weight axis (a conv's kernel), a grouped convolution's blocks on the diagonal."""
    geo = geometry(layer, graph)
    n_in, n_out = unit_counts(layer, graph)
    other = tuple(a for a in range(importance.ndim) if a not in (geo.in_axis, geo.out_axis))
    summed = importance.sum(axis=other, dtype=np.float64) if other else importance
    pair = summed if geo.out_axis < geo.in_axis else summed.T  # [out (per group), in (per group)]
    if pair.shape == (n_out, n_in):
        return np.asarray(pair, np.float32)
    matrix = np.zeros((n_out, n_in), np.float32)
    rows, cols = n_out // geo.groups, n_in // geo.groups
    for group in range(geo.groups):
        block_rows = slice(group * rows, (group + 1) * rows)
        block_cols = slice(group * cols, (group + 1) * cols)
        matrix[block_rows, block_cols] = pair[
            block_rows if pair.shape[0] == n_out else slice(None),
            block_cols if pair.shape[1] == n_in else slice(None),
        ]
    return matrix


def _pathways(
    edges: list[Edge],
    ranked: Mapping[str, kbest.Ranked],
    ends: list[tuple[str, int | None]],
    k: int,
) -> Iterator[Pathway]:
    for path in kbest.best_paths(edges, ranked, ends, k):
        yield Pathway(math.exp(path.log_score), path.units, path.log_score)
