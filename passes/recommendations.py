"""The ``recommendations`` pass: what to prune or narrow, read off the measured pruning sweeps.

Everything comes from measurements on the user's data, compared with the unpruned model, never
from thresholds on weight or activation values (whose meaning changes with the input scale):

* ``max_sparsity`` of a layer: the largest ratio of its per-layer unstructured sweep up to which
  every point keeps top-1 agreement >= 1 - ``tolerance`` (for outputs without a top-1, the
  relative output error <= ``tolerance``);
* ``suggested_width``: its output units minus the most units its per-layer structured sweep
  removed within the same tolerance (None when the layer cannot shrink or was not swept);
* ``over_parameterized``: at least ``OVER_UNITS`` of its units, or ``OVER_SPARSITY`` of its
  weights, can go within the tolerance; both are shares, so they mean the same at any scale.

Per layer and granularity, the criterion whose sweep prunes furthest within the tolerance is
used (each is measured; on the digits MLP of the tests, magnitude beats importance on some
layers), random only when no other ran. Items add the whole-model picture (how far each
measured method prunes the whole model within the tolerance, and the ``irwua prune`` options of
the furthest), layers too sensitive to prune, and dead units (never active on the data, from the
metrics pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from irwua.ir.geometry import unit_counts
from irwua.ir.graph import LayerGraph
from irwua.options import RecommendationsOptions
from irwua.passes.metrics import MetricsResult
from irwua.passes.pruning import PruningResult, Sweep
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.pruning.scores import prunable_layers
from irwua.pruning.vocabulary import Method

PREFERENCE = ("importance", "magnitude", "random")
OVER_UNITS = 0.5
"""A layer whose structured sweep removes this share of its units within tolerance is flagged."""
OVER_SPARSITY = 0.8
"""A layer whose unstructured sweep zeroes this share of its weights within tolerance is flagged."""


@dataclass(frozen=True)
class LayerAdvice:
    """One layer's advice; ``criterion`` names the criterion of the unstructured sweep it used,
    then that of the structured one when it differs ("magnitude/importance")."""

    layer: str
    criterion: str
    max_sparsity: float
    width: int | None
    suggested_width: int | None
    over_parameterized: bool
    reason: str


@dataclass(frozen=True)
class Item:
    """One recommendation: its severity (warning, suggestion, info), the layer it is about
    (None for the whole model), its text, and its ``topic``: whole_model (how far pruning the
    whole model goes), width, over_parameterized, sensitive, dead_units or not_measured."""

    severity: str
    layer: str | None
    text: str
    topic: str


@dataclass(frozen=True)
class RecommendationsResult(PassResult):
    tolerance: float
    layers: Mapping[str, LayerAdvice]
    items: tuple[Item, ...]

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        advice = self.layers.get(layer_name)
        return {} if advice is None else {"max_sparsity": advice.max_sparsity}

    def section_json(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "layers": [
                {
                    "layer": a.layer,
                    "criterion": a.criterion,
                    "max_sparsity": a.max_sparsity,
                    "suggested_width": a.suggested_width,
                    "width": a.width,
                    "over_parameterized": a.over_parameterized,
                    "reason": a.reason,
                }
                for a in self.layers.values()
            ],
            "items": [
                {"severity": i.severity, "layer": i.layer, "text": i.text, "topic": i.topic}
                for i in self.items
            ],
        }


@register_pass(
    "recommendations",
    "per-layer safe sparsity, narrower widths, over-parameterized layers (from measurements)",
    requires=("pruning", "metrics"),
    options=RecommendationsOptions,
)
def run_recommendations(context: PassContext) -> RecommendationsResult:
    pruning: PruningResult = context.results["pruning"]
    metrics: MetricsResult = context.results["metrics"]
    tolerance = context.options.tolerance
    if not pruning.ran:
        note = f"No recommendations: pruning was not measured ({pruning.note})."
        return RecommendationsResult(
            tolerance, MappingProxyType({}), (Item("info", None, note, "not_measured"),)
        )
    graph = context.graph
    advice: dict[str, LayerAdvice] = {}
    for layer in prunable_layers(graph):
        found = _advise(layer.name, graph, pruning, metrics, tolerance)
        if found is not None:
            advice[layer.name] = found
    items = [*_global_items(pruning, tolerance), *_layer_items(advice, pruning, tolerance)]
    items += _dead_unit_items(graph, metrics)
    return RecommendationsResult(tolerance, MappingProxyType(advice), tuple(items))


def within(sweep: Sweep, tolerance: float) -> float:
    """The largest ratio up to which every point of ``sweep`` stays within ``tolerance``."""
    best = 0.0
    for point in sweep.points:
        if not point.fidelity.within(tolerance):
            break
        best = point.ratio
    return best


def _regression(pruning: PruningResult) -> bool:
    """Whether the model's outputs have no top-1 to agree on (fidelity is the relative error)."""
    return pruning.baseline is not None and pruning.baseline.agreement is None


def _kept(pruning: PruningResult, tolerance: float) -> str:
    """What staying within ``tolerance`` means for this model's outputs, in words."""
    if _regression(pruning):
        return f"relative output error <= {tolerance:.0%}"
    return f"top-1 agreement >= {1 - tolerance:.0%}"


def _best(pruning: PruningResult, granularity: str, layer: str, tolerance: float) -> Sweep | None:
    """The layer's sweep that prunes furthest within ``tolerance`` among the criteria that ran
    (random only when no other did); ties go to the first in ``PREFERENCE``."""
    sweeps = [pruning.sweep("layer", criterion, granularity, layer) for criterion in PREFERENCE]
    ran = [sweep for sweep in sweeps if sweep is not None]
    informed = [sweep for sweep in ran if sweep.criterion != "random"] or ran
    return max(informed, key=lambda sweep: within(sweep, tolerance), default=None)


def _advise(
    name: str,
    graph: LayerGraph,
    pruning: PruningResult,
    metrics: MetricsResult,
    tolerance: float,
) -> LayerAdvice | None:
    unstructured = _best(pruning, "unstructured", name, tolerance)
    structured = _best(pruning, "structured", name, tolerance)
    if unstructured is None and structured is None:
        return None
    criterion = "/".join(dict.fromkeys(s.criterion for s in (unstructured, structured) if s))
    sparsity = within(unstructured, tolerance) if unstructured else 0.0
    width = unit_counts(graph.layer_by_name[name], graph)[1]
    suggested = None
    if structured is not None:
        removable = min(round(within(structured, tolerance) * width), width - 1)
        suggested = width - removable
    over = sparsity >= OVER_SPARSITY or (
        suggested is not None and width - suggested >= OVER_UNITS * width
    )
    reason = f"{sparsity:.0%} of its weights can be zeroed"
    if unstructured is not None:
        reason += f" ({unstructured.criterion} pruning)"
    if structured is not None and suggested is not None:
        reason += f" and {width - suggested} of its {width} units removed ({structured.criterion})"
    reason += f" with {_kept(pruning, tolerance)}"
    if name in pruning.fixed:
        reason += f"; it keeps its width: {pruning.fixed[name]}"
    utilization = metrics.layers.get(name, {}).get("utilization")
    if utilization is not None:
        reason += f"; importance utilization {utilization:.0%}"
    return LayerAdvice(name, criterion, sparsity, width, suggested, over, reason)


def _global_items(pruning: PruningResult, tolerance: float) -> list[Item]:
    """How far each whole-model sweep prunes within the tolerance, furthest first, and the
    ``irwua prune`` options of the furthest (ties go to the first swept)."""
    whole = [sweep for sweep in pruning.sweeps if sweep.scope != "layer"]
    if not whole:
        return []
    reach = sorted(((within(sweep, tolerance), sweep) for sweep in whole), key=lambda r: -r[0])
    listed = "; ".join(f"{sweep.method.describe()} {share:.0%}" for share, sweep in reach)
    text = (
        f"Pruning the whole model, these shares of its weights can be removed with "
        f"{_kept(pruning, tolerance)}: {listed}."
    )
    share, best = reach[0]
    if share > 0:
        text += f" The furthest: irwua prune {prune_flags(best.method)} --ratio {share:g}."
    return [Item("info", None, text, "whole_model")]


def prune_flags(method: Method) -> str:
    """The ``irwua prune`` options that prune with ``method``."""
    flags = [f"--criterion {method.criterion}"]
    if method.pattern is not None:
        flags.append(f"--pattern {method.granularity}")
        return " ".join([*flags, "--reconstruct"] if method.reconstruct else flags)
    if method.structured:
        flags.append("--structured")
    if method.scope != "global":
        flags.append(f"--scope {method.scope}")
    if method.grouping != "layer":
        flags.append(f"--grouping {method.grouping}")
    if method.reconstruct:
        flags.append("--reconstruct")
    if method.multiple > 1:
        flags.append(f"--width-multiple {method.multiple}")
    return " ".join(flags)


def _layer_items(
    advice: Mapping[str, LayerAdvice], pruning: PruningResult, tolerance: float
) -> list[Item]:
    items = []
    first = min((r for r in pruning.ratios if r > 0), default=None)
    for a in advice.values():
        if a.suggested_width is not None and a.suggested_width < (a.width or 0):
            severity = "suggestion" if a.over_parameterized else "info"
            text = f"Narrow '{a.layer}' from {a.width} to {a.suggested_width} units: {a.reason}."
            items.append(Item(severity, a.layer, text, "width"))
        elif a.over_parameterized:
            text = f"'{a.layer}' is over-parameterized: {a.reason}."
            items.append(Item("suggestion", a.layer, text, "over_parameterized"))
        if first is not None and a.max_sparsity == 0.0:
            changes = (
                f"moves its outputs by more than {tolerance:.0%}"
                if _regression(pruning)
                else f"changes more than {tolerance:.0%} of the predictions"
            )
            text = (
                f"'{a.layer}' is sensitive: pruning {first:.0%} of its weights already {changes}; "
                "keep it dense."
            )
            items.append(Item("warning", a.layer, text, "sensitive"))
    return items


def _dead_unit_items(graph: LayerGraph, metrics: MetricsResult) -> list[Item]:
    items = []
    for layer in graph.layers:
        dead = metrics.layers.get(layer.name, {}).get("dead_units")
        if dead:
            items.append(
                Item("suggestion", layer.name, dead_units_text(layer.name, dead), "dead_units")
            )
    return items


def dead_units_text(layer: str, dead: int) -> str:
    """The sentence on a layer's output units that are never active on the data."""
    return (
        f"{dead} output units of '{layer}' are never active on the data; removing them changes "
        "no output on it."
    )
