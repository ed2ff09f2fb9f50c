"""A model derived from an analyzed original (pruned, quantized), measured against it.

Both models are measured the same way: parameters and FLOPs by the flops pass, the serialized
size, the latency on one batch of the data (runs of both models interleaved:
``irwua.runtime.latency``), and the derived model's first output against the original's on the
data (``irwua.runtime.fidelity``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from irwua.analysis import Analysis
from irwua.errors import IrwuaError
from irwua.ingest.build import build_graph
from irwua.ingest.model_file import model_files
from irwua.ir.graph import LayerGraph
from irwua.ir.source import ModelSource
from irwua.options import Options
from irwua.passes import PASSES
from irwua.passes.flops import Counts
from irwua.pipeline import PassManager
from irwua.pruning.storage import nonzero_params, serialized, stored_bytes
from irwua.report.files import write_files
from irwua.runtime.fidelity import Fidelity, accuracy, measure, predict
from irwua.runtime.latency import Latency, interleaved_latency
from irwua.runtime.sessions import make_session


@dataclass(frozen=True)
class ModelStats:
    """What a model costs: stored parameters and how many are non-zero, FLOPs per sample,
    serialized bytes, and the time of one batch."""

    params: int
    nonzero: int
    flops: int
    bytes: int
    latency: Latency


@dataclass(frozen=True, kw_only=True)
class Derived:
    """A derived model, what both models cost, and the derived model's fidelity to the
    original on ``fidelity.samples`` samples (latency on batches of ``batch``)."""

    proto: onnx.ModelProto
    before: ModelStats
    after: ModelStats
    fidelity: Fidelity
    baseline_accuracy: float | None
    batch: int
    notes: tuple[str, ...] = ()
    source_files: tuple[Path, ...] = ()

    def save(self, path: str | Path, inputs: Iterable[Path] = ()) -> Path:
        """Write the model to ``path`` atomically (nothing is ever half-written), never over
        the original model's files or ``inputs`` (the data files).

        The file holds every weight, so it loads from anywhere; a model too large for one
        protobuf (2 GiB) gets its weights in ``<name>.data`` beside it."""
        path = Path(path)
        if path.is_dir():
            raise IrwuaError(f"'{path}' is a directory; give a file name such as model.onnx.")
        contents = serialized(self.proto, path.name)
        written = write_files(path.parent, contents, [*self.source_files, *inputs])
        return written[path.name]


def measured(
    analysis: Analysis, proto: onnx.ModelProto, options: Options, what: str
) -> dict[str, Any]:
    """The fields of ``Derived`` for ``proto``, derived from ``analysis``'s model (analyzed
    with the flops pass, on data): ``what`` names it in progress and errors ("pruned")."""
    graph = analysis.graph
    evaluation = analysis.dataset.limit(options.max_samples)
    original = make_session(graph.source.proto, graph.source.base_dir)
    try:
        derived = make_session(proto, graph.source.base_dir)
    except IrwuaError as exc:
        raise IrwuaError(f"The {what} model does not load: {exc}") from exc
    reference = predict(
        original, evaluation, options.batch_size, "original model", options.progress
    )
    outputs = predict(derived, evaluation, options.batch_size, f"{what} model", options.progress)
    labels = None if analysis.labels is None else analysis.labels[: len(reference)]
    batch = next(iter(evaluation.batches(options.batch_size)))
    latency_before, latency_after = interleaved_latency([original, derived], [batch, batch])
    after_source = graph.source._replace(
        proto=proto, sha256=None, learned=_learned_after(graph.source, proto)
    )
    after_graph = build_graph(after_source, _shapes(graph))
    after_flops = PassManager(after_graph, PASSES, options).run(["flops"])["flops"].total
    return {
        "proto": proto,
        "before": _stats(graph, analysis["flops"].total, graph.source.proto, latency_before),
        "after": _stats(after_graph, after_flops, proto, latency_after),
        "fidelity": measure(outputs, reference, labels),
        "baseline_accuracy": None if labels is None else accuracy(reference, labels),
        "batch": len(next(iter(batch.values()))),
        "source_files": tuple(model_files(graph.source)),
    }


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


def _learned_after(source: ModelSource, derived: onnx.ModelProto) -> frozenset[str] | None:
    """The learned tensors of the derived model: the original's, and the initializers the
    derivation wrote (every one replaces or adds a learned tensor)."""
    if source.learned is None:
        return None
    before = {tensor.name for tensor in source.proto.graph.initializer}
    written = {t.name for t in derived.graph.initializer if t.name not in before}
    return source.learned | written
