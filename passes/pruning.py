"""The ``pruning`` pass: how much of a model can be pruned, measured rather than estimated.

Each *sweep* prunes a copy of the model at every ratio of ``prune_ratios`` and runs it in
onnxruntime on the evaluation data (the data, limited by ``max_samples``); each *point* is the
pruned model's first output against the unpruned model's: relative error, top-1 agreement and,
with labels, accuracy (``irwua.runtime.fidelity``). A sweep is one combination of

* scope: ``global`` (all prunable layers at once, one threshold on each score's share of its
  layer's total, see ``irwua.pruning.ranking``) or ``layer`` (one layer at a time, the others
  intact: the sensitivity analysis of Han et al. 2015, one sweep per layer);
* criterion: ``importance`` (the importance pass's scores, so ``Options.norm`` applies),
  ``magnitude`` or ``random`` (seeded by ``prune_seed``);
* granularity: ``unstructured`` (single weights of Conv, Gemm and MatMul layers; the ratio is the
  share of weights zeroed) or ``structured`` (whole output units or channels, scored by their
  summed importance or L1 norm; the ratio is the share of units removed, and each unit also
  takes the consumers' inputs it fed, exactly as ``irwua prune --structured`` removes it;
  only layers that can shrink, see ``irwua.pruning.shrink_plan``).

Defaults: ratios 0, 0.1, ..., 0.9; criteria importance, magnitude and random globally and
importance per layer (``prune_criteria`` sets both); both scopes and both granularities. That is
(3 + layers) x 2 sweeps of 9 runs over the data each: a ResNet-50 wants ``max_samples`` and a
shorter ratio list. Each pruned model gets its own onnxruntime session, which pre-packs its
constant weights (``docs/measured-choices.md``, ``bench/pruning_sessions.py``).

Without data the pass does not run and says why; the JSON says so too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.data.dataset import Dataset
from irwua.ir.graph import LayerGraph
from irwua.options import PruningOptions
from irwua.passes.importance import ImportanceResult
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.pruning.cuts import cuts, masked
from irwua.pruning.edits import TensorKey, with_tensors, zeroed
from irwua.pruning.ranking import Ranking, prunable_layers, ranking
from irwua.pruning.shrink_plan import ShrinkPlan, plan
from irwua.pruning.vocabulary import CRITERIA
from irwua.runtime.fidelity import Fidelity, measure, predict
from irwua.runtime.progress import progress
from irwua.runtime.sessions import make_session
from irwua.units.flow import unit_flow

LAYER_CRITERIA = ("importance",)
"""Criteria of the per-layer sweeps when ``prune_criteria`` is not given."""


@dataclass(frozen=True)
class Point:
    """One pruned model: its ratio, the share of all prunable weights it zeroes, its fidelity."""

    ratio: float
    removed: float
    fidelity: Fidelity

    def to_json(self) -> dict[str, Any]:
        fidelity = self.fidelity
        return {
            "ratio": self.ratio,
            "removed": self.removed,
            "relative_error": fidelity.relative_error,
            "agreement": fidelity.agreement,
            "accuracy": fidelity.accuracy,
        }


@dataclass(frozen=True)
class Sweep:
    scope: str
    layer: str | None
    criterion: str
    granularity: str
    points: tuple[Point, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "layer": self.layer,
            "criterion": self.criterion,
            "granularity": self.granularity,
            "points": [point.to_json() for point in self.points],
        }


@dataclass(frozen=True)
class PruningResult(PassResult):
    """The sweeps, or why none ran. ``widths``: output units of the layers that can shrink;
    ``fixed``: why each other layer keeps its width."""

    ran: bool
    note: str | None = None
    ratios: tuple[float, ...] = ()
    samples: int = 0
    labels: bool = False
    baseline: Fidelity | None = None
    sweeps: tuple[Sweep, ...] = ()
    widths: Mapping[str, int] = field(default_factory=dict)
    fixed: Mapping[str, str] = field(default_factory=dict)

    def sweep(
        self, scope: str, criterion: str, granularity: str, layer: str | None = None
    ) -> Sweep | None:
        """The sweep with these settings, or None when the options did not ask for it (another
        scope, criterion or granularity). A ``layer`` that is not one of the model's prunable
        layers raises ``UnknownLayerError`` (a ``KeyError``) naming the layers there are."""
        if layer is not None:
            from irwua.errors import UnknownLayerError

            swept = [s.layer for s in self.sweeps if s.layer is not None]
            known = dict.fromkeys([*swept, *self.widths, *self.fixed])
            if layer not in known:
                if not self.ran:
                    raise UnknownLayerError(f"No layer was swept: {self.note}.")
                names = ", ".join(f"'{name}'" for name in list(known)[:30])
                more = f" and {len(known) - 30} more" if len(known) > 30 else ""
                raise UnknownLayerError(
                    f"No layer '{layer}' to sweep; the layers that can be swept: {names}{more}."
                )
        for sweep in self.sweeps:
            if (sweep.scope, sweep.criterion, sweep.granularity, sweep.layer) == (
                scope,
                criterion,
                granularity,
                layer,
            ):
                return sweep
        return None

    def section_json(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "note": self.note,
            "ratios": list(self.ratios),
            "samples": self.samples,
            "labels": self.labels,
            "baseline": {"accuracy": self.baseline.accuracy if self.baseline else None},
            "structured": {
                "widths": dict(self.widths),
                "fixed": [{"layer": k, "reason": v} for k, v in self.fixed.items()],
            },
            "sweeps": [sweep.to_json() for sweep in self.sweeps],
        }


@register_pass(
    "pruning",
    "prune weights or units at several ratios and measure agreement/accuracy (onnxruntime)",
    requires=("importance",),
    options=PruningOptions,
    needs_data="pruning measures each pruned model by running it on the data",
)
def run_pruning(context: PassContext) -> PruningResult:
    graph, options = context.graph, context.options
    if context.data is None or graph.source is None:
        return PruningResult(False, "no data given: pruning is measured by running the model")
    layers = [layer.name for layer in prunable_layers(graph)]
    if not layers:
        return PruningResult(False, "the model has no Conv, Gemm or MatMul weights to prune")
    data = context.data.limit(options.max_samples)
    shrink_plan = plan(graph, unit_flow(graph))
    reference = _predict(graph, data, options.batch_size, {})
    labels = None if context.labels is None else context.labels[: len(reference)]
    baseline = measure(reference, reference, labels)
    sweeper = _Sweeper(graph, context.results["importance"], shrink_plan, layers, options)
    jobs = list(sweeper.jobs())
    ratios = [r for r in options.prune_ratios if r > 0]
    measured: dict[tuple[int, float], Point] = {}
    runs = progress(
        sweeper.runs(jobs, ratios), len(jobs) * len(ratios), "pruning", options.progress, "model"
    )
    for index, ratio, changes, removed in runs:
        outputs = _predict(graph, data, options.batch_size, changes)
        measured[index, ratio] = Point(ratio, removed, measure(outputs, reference, labels))
    unpruned = Point(0.0, 0.0, baseline)
    results = tuple(
        Sweep(
            job.scope,
            job.layer,
            job.criterion,
            job.granularity,
            tuple(measured.get((i, r), unpruned) for r in options.prune_ratios),
        )
        for i, job in enumerate(jobs)
    )
    return PruningResult(
        ran=True,
        ratios=options.prune_ratios,
        samples=len(reference),
        labels=labels is not None,
        baseline=baseline,
        sweeps=results,
        widths=MappingProxyType({n: s.units for n, s in shrink_plan.layers.items()}),
        fixed=MappingProxyType(dict(shrink_plan.reasons)),
    )


@dataclass(frozen=True)
class _Job:
    """One sweep to run: its settings and the layers it prunes."""

    scope: str
    layer: str | None
    criterion: str
    granularity: str
    names: tuple[str, ...]


class _Sweeper:
    """Plans the sweeps and turns each (sweep, ratio) into the tensors of a pruned model."""

    def __init__(
        self,
        graph: LayerGraph,
        importance: ImportanceResult,
        shrink_plan: ShrinkPlan,
        layers: list[str],
        options: PruningOptions,
    ) -> None:
        self.graph, self.importance, self.plan = graph, importance, shrink_plan
        self.layers, self.options = layers, options
        self.total = sum(graph.array(graph.layer_by_name[name]).size for name in layers)

    def jobs(self) -> Iterator[_Job]:
        options = self.options
        for scope in options.prune_scopes:
            default = CRITERIA if scope == "global" else LAYER_CRITERIA
            for criterion in options.prune_criteria or default:
                for granularity in options.prune_granularity:
                    structured = granularity == "structured"
                    names = list(self.plan.layers) if structured else self.layers
                    groups = [names] if scope == "global" else [[name] for name in names]
                    for group in groups:
                        if group:
                            layer = group[0] if scope == "layer" else None
                            yield _Job(scope, layer, criterion, granularity, tuple(group))

    def runs(
        self, jobs: list[_Job], ratios: list[float]
    ) -> Iterator[tuple[int, float, dict[TensorKey, np.ndarray], float]]:
        """(job index, ratio, changed tensors, share of weights removed) for every run; a job's
        ranking exists only while its runs are made (one per weight of a large model)."""
        for index, job in enumerate(jobs):
            structured = job.granularity == "structured"
            order = ranking(
                self.graph,
                job.names,
                job.criterion,
                self.importance.layers,
                structured,
                self.options.prune_seed,
            )
            for ratio in ratios:
                yield index, ratio, *self._changes(order, structured, ratio)

    def _changes(
        self, order: Ranking, structured: bool, ratio: float
    ) -> tuple[dict[TensorKey, np.ndarray], float]:
        graph = self.graph
        pruned = order.pruned(ratio)
        if structured:
            cut = cuts(graph, self.plan, {n: np.flatnonzero(f) for n, f in pruned.items()})
            removed = sum(
                _cut_size(graph.array(graph.layer_by_name[key[0]]), axes)
                for key, axes in cut.items()
                if key[1] == "weight"
            )
            return masked(graph, cut), removed / self.total
        return zeroed(graph, pruned), sum(int(f.sum()) for f in pruned.values()) / self.total


def _predict(
    graph: LayerGraph, data: Dataset, batch_size: int, changes: Mapping[TensorKey, np.ndarray]
) -> np.ndarray:
    """The first output over ``data`` of the model with the ``changes`` tensors."""
    source = graph.source
    proto = with_tensors(source.proto, graph, changes) if changes else source.proto
    return predict(make_session(proto, source.base_dir), data, batch_size, show=False)


def _cut_size(value: np.ndarray, axes: Mapping[int, np.ndarray]) -> int:
    """How many elements of ``value`` the cut removes."""
    kept = [size - len(axes.get(axis, ())) for axis, size in enumerate(value.shape)]
    return int(value.size - np.prod(kept, dtype=np.int64))
