"""``prune_model()``: a pruned copy of a model, measured against the original (``irwua prune``).

The weights (unstructured) or output units (structured) with the lowest scores go, at one ratio,
ranked as the pruning pass ranks them (``irwua.pruning.ranking``): ``global``, one threshold on each
score's share of its layer's total, or ``uniform``, the same ratio in every layer. Unstructured
pruning zeroes weights: the model keeps its size and dense FLOPs, and needs sparse kernels or
compression to gain from the zeros. Structured pruning deletes units where the graph allows
(``irwua.pruning.cuts``), so the model gets smaller and cheaper.

Both models are measured the same way: parameters and FLOPs by the flops pass, the serialized
size, the latency on one batch of the data (runs of both models interleaved:
``irwua.runtime.latency``), and the pruned model's first output against the original's on the
data (``irwua.runtime.fidelity``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from irwua.analysis import Analysis, analyze
from irwua.errors import IrwuaError, root_reason
from irwua.ingest.build import build_graph
from irwua.ingest.model_file import model_files
from irwua.ir.graph import LayerGraph
from irwua.ir.source import ModelSource
from irwua.options import Named, Options, SettingError
from irwua.passes import PASSES
from irwua.passes.flops import Counts
from irwua.pipeline import PassManager
from irwua.pruning.cuts import cuts, shrink
from irwua.pruning.edits import with_tensors, zeroed
from irwua.pruning.ranking import prunable_layers, ranking
from irwua.pruning.shrink_plan import plan
from irwua.pruning.storage import nonzero_params, serialized, stored_bytes, stored_inline
from irwua.pruning.vocabulary import CRITERIA, MODEL_SCOPES
from irwua.report.files import write_files
from irwua.runtime.fidelity import Fidelity, accuracy, measure, predict
from irwua.runtime.latency import Latency, interleaved_latency
from irwua.runtime.sessions import make_session
from irwua.units.flow import unit_flow


@dataclass(frozen=True)
class ModelStats:
    """What a model costs: stored parameters and how many are non-zero, FLOPs per sample,
    serialized bytes, and the time of one batch."""

    params: int
    nonzero: int
    flops: int
    bytes: int
    latency: Latency


@dataclass(frozen=True)
class Pruned:
    """A pruned model, what both models cost, and the pruned model's fidelity to the original."""

    proto: onnx.ModelProto
    criterion: str
    ratio: float
    structured: bool
    scope: str
    before: ModelStats
    after: ModelStats
    fidelity: Fidelity
    baseline_accuracy: float | None
    batch: int
    notes: tuple[str, ...]
    source_files: tuple[Path, ...] = ()

    def save(self, path: str | Path, inputs: Iterable[Path] = ()) -> Path:
        """Write the pruned model to ``path`` atomically (nothing is ever half-written), never
        over the original model's files or ``inputs`` (the data files).

        The file holds every weight, so it loads from anywhere; a model too large for one
        protobuf (2 GiB) gets its weights in ``<name>.data`` beside it."""
        path = Path(path)
        if path.is_dir():
            raise IrwuaError(f"'{path}' is a directory; give a file name such as pruned.onnx.")
        contents = serialized(self.proto, path.name)
        written = write_files(path.parent, contents, [*self.source_files, *inputs])
        return written[path.name]

    def summary(self) -> str:
        """Both models' costs side by side, and the fidelity."""
        from irwua.report.text import pruned_text

        return pruned_text(self)


def prune_model(
    model: Any,
    data: Any,
    ratio: float,
    criterion: str = "importance",
    structured: bool = False,
    labels: Any = None,
    scope: str = "global",
    options: Options | None = None,
    framework: str | None = None,
    trust_code: bool = False,
) -> Pruned:
    """Prune ``ratio`` of ``model``'s weights (``structured``: of its output units) with the
    lowest ``criterion`` scores ("importance", "magnitude" or "random") and measure the result
    on ``data``.

    ``scope`` "global" ranks all layers together, "uniform" prunes every layer at ``ratio``.
    ``labels`` add accuracy. ``options`` (norm, batch_size, max_samples, prune_seed),
    ``framework`` and ``trust_code`` are as for ``analyze()``.
    """
    _check(data, ratio, criterion, scope)
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
    proto, notes = _prune(analysis, ratio, criterion, structured, scope, options.prune_seed)
    evaluation = analysis.dataset.limit(options.max_samples)
    original = make_session(graph.source.proto, graph.source.base_dir)
    try:
        pruned = make_session(proto, graph.source.base_dir)
    except IrwuaError as exc:
        raise IrwuaError(f"The pruned model does not load: {exc}") from exc
    reference = predict(
        original, evaluation, options.batch_size, "original model", options.progress
    )
    outputs = predict(pruned, evaluation, options.batch_size, "pruned model", options.progress)
    label_array = None if analysis.labels is None else analysis.labels[: len(reference)]
    batch = next(iter(evaluation.batches(options.batch_size)))
    latency_before, latency_after = interleaved_latency([original, pruned], [batch, batch])
    after_source = graph.source._replace(
        proto=proto, sha256=None, learned=_learned_after(graph.source, proto)
    )
    after_graph = build_graph(after_source, _shapes(graph))
    after_flops = PassManager(after_graph, PASSES, options).run(["flops"])["flops"].total
    return Pruned(
        proto=proto,
        criterion=criterion,
        ratio=ratio,
        structured=structured,
        scope=scope,
        before=_stats(graph, analysis["flops"].total, graph.source.proto, latency_before),
        after=_stats(after_graph, after_flops, proto, latency_after),
        fidelity=measure(outputs, reference, label_array),
        baseline_accuracy=None if label_array is None else accuracy(reference, label_array),
        batch=len(next(iter(batch.values()))),
        notes=notes,
        source_files=tuple(model_files(graph.source)),
    )


def _check(data: Any, ratio: Any, criterion: str, scope: str) -> None:
    if data is None:
        raise IrwuaError("Pruning needs data: the pruned model is measured on it (--data).")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise SettingError(Named("ratio"), f" must be a number between 0 and 1, got {ratio!r}.")
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


def _prune(
    analysis: Analysis, ratio: float, criterion: str, structured: bool, scope: str, seed: int
) -> tuple[onnx.ModelProto, tuple[str, ...]]:
    """The pruned copy of the analyzed model, and notes on layers that kept their width."""
    graph = analysis.graph
    names = [layer.name for layer in prunable_layers(graph)]
    if not names:
        raise IrwuaError("The model has no Conv, Gemm or MatMul weights to prune.")
    notes: tuple[str, ...] = ()
    if structured:
        shrink_plan = plan(graph, unit_flow(graph))
        notes = tuple(
            f"'{name}' keeps its width: {why}" for name, why in shrink_plan.reasons.items()
        )
        if not shrink_plan.layers:
            raise IrwuaError(f"No layer can lose units; {'; '.join(notes)}.")
        names = list(shrink_plan.layers)
    groups = [names] if scope == "global" else [[name] for name in names]
    pruned: dict[str, np.ndarray] = {}
    for group in groups:
        order = ranking(graph, group, criterion, analysis["importance"].layers, structured, seed)
        pruned.update(order.pruned(ratio))
    if structured:
        removed = {name: np.flatnonzero(flags) for name, flags in pruned.items()}
        proto = shrink(graph.source.proto, graph, shrink_plan, cuts(graph, shrink_plan, removed))
    else:
        proto = with_tensors(graph.source.proto, graph, zeroed(graph, pruned))
    stored_inline(proto, graph.constants.values)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise IrwuaError(f"The pruned model is not valid ONNX: {root_reason(exc)}.") from exc
    return proto, notes


def _shapes(graph: LayerGraph) -> Mapping[str, tuple[int, ...]]:
    return {name: tuple(shape) for name, shape in graph.metadata["input_shapes"].items()}


def _stats(
    graph: LayerGraph, flops: Counts, proto: onnx.ModelProto, latency: Latency
) -> ModelStats:
    return ModelStats(
        params=flops.params,
        nonzero=nonzero_params(graph),
        flops=flops.flops,
        bytes=stored_bytes(proto, graph.constants.values),
        latency=latency,
    )


def _learned_after(source: ModelSource, pruned: onnx.ModelProto) -> frozenset[str] | None:
    """The learned tensors of the pruned model: the original's, and the initializers pruning
    wrote (every one replaces a layer's learned tensor)."""
    if source.learned is None:
        return None
    before = {tensor.name for tensor in source.proto.graph.initializer}
    written = {t.name for t in pruned.graph.initializer if t.name not in before}
    return source.learned | written
