"""The ``pruning`` pass: how much of a model can be pruned, measured rather than estimated.

Each *sweep* prunes a copy of the model at every ratio of ``prune_ratios`` and runs it in
onnxruntime on the evaluation data (the data, limited by ``max_samples``); each *point* is the
pruned model's first output against the unpruned model's: relative error, top-1 agreement and,
with labels, accuracy (``irwua.runtime.fidelity``). A sweep is one combination of

* scope: ``global`` (all prunable layers ranked together), ``uniform`` (each layer at the
  ratio), ``owl`` (outlier-weighted layer ratios) or ``layer`` (one layer at a time, the others
  intact: the sensitivity analysis of Han et al. 2015, one sweep per layer);
  ``irwua.pruning.allocation`` says how each spreads the ratio;
* criterion: ``importance`` (the importance pass's scores, so ``Options.norm`` applies),
  ``magnitude`` or ``random`` (seeded by ``prune_seed``);
* granularity: ``unstructured`` (single weights of Conv, Gemm and MatMul layers, compared per
  layer or, with the ``output`` grouping, per output unit), ``structured`` (whole output units
  or channels, scored by their summed importance or L1 norm, each taking the consumers' inputs it
  fed, exactly as ``irwua prune --structured`` removes it; only layers that can shrink, see
  ``irwua.pruning.shrink_plan``) or an N:M pattern (one point, at N/M; layers whose input width
  is not a multiple of M stay dense and the sweep says so).

The ratio is the share of the scope's weights removed (``irwua.pruning.vocabulary``); each
point also records ``removed``, its share of all prunable weights. With ``prune_reconstruct``
every whole-model sweep runs a second time with reconstruction: the kept weights of each layer
updated to keep its outputs on the data (``irwua.pruning.reconstruction``; the input moments are
measured once, on the same data).

Defaults: ratios 0, 0.1, ..., 0.9; criteria importance, magnitude and random globally and
importance per layer (``prune_criteria`` sets both); scopes global and layer, both
granularities, grouping per layer. That is
(3 + layers) x 2 sweeps of 9 runs over the data each: a ResNet-50 wants ``max_samples`` and a
shorter ratio list. Each pruned model gets its own onnxruntime session, which pre-packs its
constant weights (``docs/measured-choices.md``, ``bench/pruning_sessions.py``).

Without data the pass does not run and says why; the JSON says so too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.data.dataset import Dataset
from irwua.ir.graph import LayerGraph
from irwua.options import PruningOptions
from irwua.passes.importance import ImportanceResult
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.pruning.cuts import cut_masks, cuts, masked, removed_weights
from irwua.pruning.edits import TensorKey, with_tensors, zeroed
from irwua.pruning.reconstruction import input_moments, reconstructable, reconstructed_weights
from irwua.pruning.scores import prunable_layers
from irwua.pruning.selection import Selection
from irwua.pruning.shrink_plan import ShrinkPlan, plan
from irwua.pruning.vocabulary import CRITERIA, Method
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
    """One method measured at each ratio (an N:M sweep has one ratio, N/M); ``layer`` names the
    pruned layer of a ``layer``-scope sweep; ``dense``: layers the method left intact, and why."""

    method: Method
    layer: str | None
    points: tuple[Point, ...]
    dense: Mapping[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return self.method.scope

    @property
    def criterion(self) -> str:
        return self.method.criterion

    @property
    def granularity(self) -> str:
        return self.method.granularity

    @property
    def grouping(self) -> str:
        return self.method.grouping

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "layer": self.layer,
            "criterion": self.criterion,
            "granularity": self.granularity,
            "grouping": self.grouping,
            "reconstruct": self.method.reconstruct,
            "dense": [{"layer": k, "reason": v} for k, v in self.dense.items()],
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
        self,
        scope: str,
        criterion: str,
        granularity: str,
        layer: str | None = None,
        grouping: str = "layer",
        reconstruct: bool = False,
    ) -> Sweep | None:
        """The sweep with these settings, or None when the options did not ask for it (another
        scope, criterion, granularity or grouping). A ``layer`` that is not one of the model's
        prunable layers raises ``UnknownLayerError`` (a ``KeyError``) naming the layers there
        are."""
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
        wanted = Method(criterion, scope, granularity, grouping, reconstruct)
        for sweep in self.sweeps:
            if (sweep.method, sweep.layer) == (wanted, layer):
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
    sweeper = _Sweeper(graph, context.results["importance"], shrink_plan, layers, options, data)
    jobs = list(sweeper.jobs())
    ratios = options.prune_ratios
    measured: dict[tuple[int, float], Point] = {}
    count = sum(sum(r > 0 for r in job.ratios(ratios)) for job in jobs)
    runs = progress(sweeper.runs(jobs, ratios), count, "pruning", options.progress, "model")
    dense: dict[int, Mapping[str, str]] = {}
    for index, ratio, changes, removed, left in runs:
        outputs = _predict(graph, data, options.batch_size, changes)
        measured[index, ratio] = Point(ratio, removed, measure(outputs, reference, labels))
        dense[index] = left
    unpruned = Point(0.0, 0.0, baseline)
    results = tuple(
        Sweep(
            job.method,
            job.layer,
            tuple(measured.get((i, r), unpruned) for r in job.ratios(ratios)),
            MappingProxyType(dict(dense.get(i, {}))),
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
    """One sweep to run: its method and the layers it prunes."""

    method: Method
    layer: str | None
    names: tuple[str, ...]

    def ratios(self, ratios: tuple[float, ...]) -> tuple[float, ...]:
        """The ratios of the sweep's points: ``ratios``, or for an N:M pattern its N/M (and 0
        when ``ratios`` has it)."""
        if self.method.pattern is None:
            return ratios
        n, m = self.method.pattern
        return (*(r for r in ratios if r == 0), n / m)


class _Sweeper:
    """Plans the sweeps and turns each (sweep, ratio) into the tensors of a pruned model."""

    def __init__(
        self,
        graph: LayerGraph,
        importance: ImportanceResult,
        shrink_plan: ShrinkPlan,
        layers: list[str],
        options: PruningOptions,
        data: Dataset,
    ) -> None:
        self.graph, self.importance, self.plan = graph, importance, shrink_plan
        self.layers, self.options, self.data = layers, options, data
        self.total = sum(graph.array(graph.layer_by_name[name]).size for name in layers)
        self._moments: dict[str, np.ndarray] | None = None

    def moments(self) -> dict[str, np.ndarray]:
        """The input moments of the reconstructable layers, measured when first needed."""
        if self._moments is None:
            names, _ = reconstructable(self.graph, self.layers)
            self._moments = input_moments(self.graph, names, self.data, self.options.batch_size)
        return self._moments

    def jobs(self) -> Iterator[_Job]:
        options = self.options
        for scope, criterion, granularity, grouping in _methods(options):
            method = Method(criterion, scope, granularity, grouping)
            names = list(self.plan.layers) if method.structured else self.layers
            if scope == "layer":
                for name in names:
                    yield _Job(method, name, (name,))
            elif names:
                yield _Job(method, None, tuple(names))
                if options.prune_reconstruct:
                    yield _Job(replace(method, reconstruct=True), None, tuple(names))

    def runs(
        self, jobs: list[_Job], ratios: tuple[float, ...]
    ) -> Iterator[tuple[int, float, dict[TensorKey, np.ndarray], float, Mapping[str, str]]]:
        """(job index, ratio, changed tensors, share of weights removed, layers left dense) for
        every run; a job's selection exists only while its runs are made (one score per weight
        of a large model)."""
        for index, job in enumerate(jobs):
            selection = Selection(
                self.graph,
                job.names,
                job.method,
                self.importance.layers,
                self.options.prune_seed,
                self.plan,
            )
            for ratio in job.ratios(ratios):
                if ratio > 0:
                    yield index, ratio, *self._changes(selection, ratio), selection.dense

    def _changes(
        self, selection: Selection, ratio: float
    ) -> tuple[dict[TensorKey, np.ndarray], float]:
        graph, reconstruct = self.graph, selection.method.reconstruct
        if selection.method.structured:
            cut = cuts(graph, self.plan, selection.units(ratio))
            weights = (
                reconstructed_weights(graph, cut_masks(graph, cut), self.moments())
                if reconstruct
                else None
            )
            return masked(graph, cut, weights), removed_weights(graph, cut) / self.total
        pruned = selection.pruned(ratio)
        changes = zeroed(graph, pruned)
        if reconstruct:
            changes.update(reconstructed_weights(graph, pruned, self.moments()))
        return changes, sum(int(f.sum()) for f in pruned.values()) / self.total


def _methods(options: PruningOptions) -> Iterator[tuple[str, str, str, str]]:
    """(scope, criterion, granularity, grouping) of every sweep the options ask for. Structured
    sweeps have no grouping and no OWL scope; an N:M pattern prunes every layer at N/M, so its
    whole-model sweep is one, ``uniform``."""
    seen = set()
    for scope in options.prune_scopes:
        default = CRITERIA if scope != "layer" else LAYER_CRITERIA
        for criterion in options.prune_criteria or default:
            for granularity in options.prune_granularity:
                for grouping in options.prune_grouping:
                    key = _method_key(scope, criterion, granularity, grouping)
                    if key is not None and key not in seen:
                        seen.add(key)
                        yield key


def _method_key(
    scope: str, criterion: str, granularity: str, grouping: str
) -> tuple[str, str, str, str] | None:
    if granularity == "structured":
        return None if scope == "owl" else (scope, criterion, granularity, "layer")
    if granularity != "unstructured":  # N:M
        return ("layer" if scope == "layer" else "uniform", criterion, granularity, "layer")
    return scope, criterion, granularity, grouping


def _predict(
    graph: LayerGraph, data: Dataset, batch_size: int, changes: Mapping[TensorKey, np.ndarray]
) -> np.ndarray:
    """The first output over ``data`` of the model with the ``changes`` tensors."""
    source = graph.source
    proto = with_tensors(source.proto, graph, changes) if changes else source.proto
    return predict(make_session(proto, source.base_dir), data, batch_size, show=False)
