"""``prune_model()``: a pruned copy of a model, measured against the original (``irwua prune``).

The weights (unstructured, or an N:M pattern) or output units (structured) with the lowest scores
go, at one ratio, selected as the pruning pass selects them (``irwua.pruning.selection``; the
scopes ``global``, ``uniform`` and ``owl``, ``irwua.pruning.vocabulary``). Unstructured pruning
zeroes weights: the model keeps its size and dense FLOPs, and needs sparse kernels or
compression to gain from the zeros. Structured pruning deletes units where the graph allows
(``irwua.pruning.cuts``), so the model gets smaller and cheaper. Both models are measured as
``irwua.derived`` measures them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from irwua.analysis import Analysis, analyze
from irwua.derived import Derived, measured
from irwua.errors import IrwuaError, root_reason
from irwua.ir.graph import LayerGraph
from irwua.options import Named, Options, SettingError
from irwua.pruning.cuts import cut_masks, cuts, shrink
from irwua.pruning.edits import with_tensors, zeroed
from irwua.pruning.plan_file import PruningPlan, weight_shapes
from irwua.pruning.reconstruction import input_moments, reconstructable, reconstructed_weights
from irwua.pruning.scores import prunable_layers
from irwua.pruning.selection import Selection
from irwua.pruning.shrink_plan import plan as plan_shrinking
from irwua.pruning.storage import stored_inline
from irwua.pruning.vocabulary import CRITERIA, GROUPINGS, MODEL_SCOPES, Method, n_m
from irwua.report.files import write_files
from irwua.units.flow import unit_flow


@dataclass(frozen=True, kw_only=True)
class Pruned(Derived):
    """A pruned model, what both models cost, and its fidelity to the original."""

    method: Method
    ratio: float
    plan: PruningPlan

    @property
    def criterion(self) -> str:
        return self.method.criterion

    @property
    def structured(self) -> bool:
        return self.method.structured

    @property
    def scope(self) -> str:
        return self.method.scope

    def save_plan(self, path: str | Path, inputs: Iterable[Path] = ()) -> Path:
        """Write the pruning plan (``irwua.pruning.plan_file``) to ``path`` atomically, never
        over the model's files or ``inputs``; ``irwua.apply_pruning`` applies it to a PyTorch
        module, ``prune_model(..., plan=path)`` to the model again."""
        path = Path(path)
        contents = {path.name: self.plan.to_bytes()}
        return write_files(path.parent, contents, [*self.source_files, *inputs])[path.name]

    def summary(self) -> str:
        """Both models' costs side by side, and the fidelity."""
        from irwua.report.text import pruned_text

        return pruned_text(self)


def prune_model(
    model: Any,
    data: Any,
    ratio: float | None,
    criterion: str = "importance",
    structured: bool = False,
    labels: Any = None,
    scope: str = "global",
    options: Options | None = None,
    framework: str | None = None,
    trust_code: bool = False,
    grouping: str = "layer",
    pattern: str | None = None,
    layers: Sequence[str] | None = None,
    plan: PruningPlan | str | Path | None = None,
    reconstruct: bool = False,
    width_multiple: int = 1,
) -> Pruned:
    """Prune ``ratio`` of ``model``'s weights with the lowest ``criterion`` scores
    ("importance", "magnitude" or "random") and measure the result on ``data``.

    ``structured`` removes whole output units (``ratio`` counts the weights they take out);
    ``pattern`` ("2:4", "4:8") zeroes the N lowest of every M inputs (``ratio`` is then N/M and
    may be None). ``scope`` "global" ranks all layers together, "uniform" prunes every layer at
    ``ratio``, "owl" prunes layers with more outlier weights less; ``grouping`` "output"
    compares each output unit's weights among themselves (Wanda). ``layers`` limits pruning to
    these layers (a layer an N:M pattern does not fit is then an error; without ``layers`` it
    stays dense, with a note). ``plan`` (a ``PruningPlan`` or its file) prunes exactly what the
    plan says instead, after checking it was made for this model (ratio and method come from
    it). ``reconstruct`` then updates the kept weights of each layer to keep its outputs on
    ``data`` (``irwua.pruning.reconstruction``). ``width_multiple`` (structured) rounds each
    kept width up to a multiple of it (8: onnxruntime's fast convolution kernels; see
    ``docs/measured-choices.md``). ``labels`` add accuracy. ``options`` (norm,
    batch_size, max_samples, prune_seed), ``framework`` and ``trust_code`` are as for
    ``analyze()``.
    """
    if plan is not None:
        plan = plan if isinstance(plan, PruningPlan) else PruningPlan.load(plan)
        method, ratio = plan.method, plan.ratio
    else:
        method = replace(
            _method(criterion, scope, structured, grouping, pattern),
            reconstruct=bool(reconstruct),
            multiple=_multiple(width_multiple, structured),
        )
        if method.pattern is not None:
            ratio = method.pattern[0] / method.pattern[1] if ratio is None else ratio
    _check(data, ratio, method)
    options = options or Options()
    analysis = analyze(
        model,
        data,
        passes=["importance", "flops"],
        options=options,
        framework=framework,
        trust_code=trust_code,
        labels=labels,
    )
    graph = analysis.graph
    notes: tuple[str, ...] = ()
    if plan is None:
        plan, notes = _planned(analysis, ratio, method, layers, options.prune_seed)
    else:
        names = [layer.name for layer in prunable_layers(graph)]
        plan.check(weight_shapes(graph, names)[0])
    moments = None
    if plan.method.reconstruct:
        names, _ = reconstructable(graph, list(plan.shapes))
        evaluation = analysis.dataset.limit(options.max_samples)
        moments = input_moments(graph, names, evaluation, options.batch_size)
    proto = _pruned_copy(graph, plan, moments)
    return Pruned(
        method=method,
        ratio=ratio,
        plan=plan,
        notes=notes,
        **measured(analysis, proto, options, "pruned"),
    )


def _method(
    criterion: str, scope: str, structured: bool, grouping: str, pattern: str | None
) -> Method:
    if criterion not in CRITERIA:
        raise SettingError(
            Named("criterion"), f" must be one of {', '.join(CRITERIA)}, not {criterion!r}."
        )
    if scope not in MODEL_SCOPES:
        raise SettingError(
            Named("scope"),
            f" must be one of {', '.join(MODEL_SCOPES)}, not {scope!r} (the layer scope "
            "prunes one layer alone: the pruning pass's sensitivity sweep).",
        )
    if grouping not in GROUPINGS:
        raise SettingError(
            Named("grouping"), f" must be one of {', '.join(GROUPINGS)}, not {grouping!r}."
        )
    if pattern is not None:
        if n_m(str(pattern)) is None:
            raise SettingError(
                Named("pattern"), f" must be N:M with 0 < N < M, such as 2:4; got {pattern!r}."
            )
        if structured:
            raise SettingError(Named("pattern"), " zeroes weights; it does not go with structured.")
        return Method(criterion, "uniform", str(pattern))
    if structured and (scope == "owl" or grouping != "layer"):
        raise SettingError(
            Named("structured"),
            " removes whole units: it takes the global or uniform scope and no grouping.",
        )
    return Method(criterion, scope, "structured" if structured else "unstructured", grouping)


def _multiple(value: Any, structured: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingError(Named("width_multiple"), f" must be a whole number >= 1, not {value!r}.")
    if value > 1 and not structured:
        raise SettingError(Named("width_multiple"), " rounds the widths structured pruning keeps.")
    return value


def _check(data: Any, ratio: Any, method: Method) -> None:
    if data is None:
        raise IrwuaError("Pruning needs data: the pruned model is measured on it (--data).")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise SettingError(Named("ratio"), f" must be a number between 0 and 1, got {ratio!r}.")
    if method.pattern is not None and ratio != method.pattern[0] / method.pattern[1]:
        n, m = method.pattern
        raise SettingError(
            Named("ratio"), f" of {n}:{m} sparsity is {n / m:g}; leave it out or give that."
        )


def _planned(
    analysis: Analysis, ratio: float, method: Method, layers: Sequence[str] | None, seed: int
) -> tuple[PruningPlan, tuple[str, ...]]:
    """What ``method`` removes from the analyzed model at ``ratio``, and notes on layers left
    as they were."""
    graph = analysis.graph
    names = [layer.name for layer in prunable_layers(graph)]
    if not names:
        raise IrwuaError("The model has no Conv, Gemm or MatMul weights to prune.")
    shapes, out_axes = weight_shapes(graph, names)
    names = _chosen(names, layers)
    notes: tuple[str, ...] = ()
    shrink_plan = None
    if method.structured:
        shrink_plan = plan_shrinking(graph, unit_flow(graph))
        notes = tuple(
            f"'{name}' keeps its width: {why}"
            for name, why in shrink_plan.reasons.items()
            if name in names
        )
        names = [name for name in names if name in shrink_plan.layers]
        if not names:
            raise IrwuaError(f"No layer can lose units; {'; '.join(notes)}.")
    selection = Selection(graph, names, method, analysis["importance"].layers, seed, shrink_plan)
    if selection.dense and layers is not None:
        name, why = next(iter(selection.dense.items()))
        raise IrwuaError(f"'{name}' cannot take the {method.granularity} pattern: {why}.")
    notes += tuple(f"'{name}' stays dense: {why}" for name, why in selection.dense.items())
    if method.structured:
        cut = cuts(graph, shrink_plan, selection.units(ratio))
        return PruningPlan(method, ratio, shapes, out_axes, cuts=cut), notes
    return PruningPlan(method, ratio, shapes, out_axes, masks=selection.pruned(ratio)), notes


def _pruned_copy(
    graph: LayerGraph, pruning: PruningPlan, moments: Mapping[str, np.ndarray] | None
) -> onnx.ModelProto:
    """The model with ``pruning`` applied, its kept weights reconstructed from ``moments``
    when given; checked by onnx."""
    if pruning.cuts:
        shrink_plan = plan_shrinking(graph, unit_flow(graph))
        weights = None
        if moments is not None:
            weights = reconstructed_weights(graph, cut_masks(graph, pruning.cuts), moments)
        proto = shrink(graph.source.proto, graph, shrink_plan, pruning.cuts, weights)
    else:
        values = zeroed(graph, pruning.masks)
        if moments is not None:
            values.update(reconstructed_weights(graph, pruning.masks, moments))
        proto = with_tensors(graph.source.proto, graph, values)
    stored_inline(proto, graph.constants.values)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise IrwuaError(f"The pruned model is not valid ONNX: {root_reason(exc)}.") from exc
    return proto


def _chosen(names: list[str], layers: Sequence[str] | None) -> list[str]:
    """The prunable ``names`` limited to ``layers``; a name that is not prunable is an error."""
    if layers is None:
        return names
    unknown = [name for name in layers if name not in names]
    if unknown or not layers:
        listed = ", ".join(f"'{name}'" for name in names[:30])
        what = f"'{unknown[0]}' is not" if unknown else "No layer was named; give"
        raise IrwuaError(f"{what} one of the layers that can be pruned: {listed}.")
    return [name for name in names if name in layers]
