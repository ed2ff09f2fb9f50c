"""Several models side by side on the same data: ``irwua.compare()`` and its ``Comparison``.

Each model is analyzed as ``analyze()`` would (cost and weight usage), then run over the data in
onnxruntime, and its first output is measured against the first model's, the *baseline*, with
``irwua.runtime.fidelity``: relative error, top-1 agreement and, when labels are given, accuracy.
What each model stores and how fast it runs are measured too: its non-zero parameters, its file
size, and its latency on one batch of the data, all models' runs interleaved
(``irwua.runtime.latency``).
The baseline is measured against itself like the others, so its relative error is exactly 0 and its
agreement exactly 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from irwua.analysis import Analysis, analyze
from irwua.errors import IrwuaError
from irwua.ingest.model_file import model_files
from irwua.options import Options
from irwua.pruning.storage import nonzero_params, stored_bytes
from irwua.report.files import write_folder
from irwua.runtime.fidelity import Fidelity, measure, predict
from irwua.runtime.latency import Latency, interleaved_latency
from irwua.runtime.sessions import make_session
from irwua.version import __version__

COMPARE_PASSES = ("flops", "metrics")


@dataclass(frozen=True)
class Column:
    """One compared quantity: ``key`` in the analysis totals, the costs or the fidelity
    (``section``), and how it is shown: "count" (1.2 M), "bytes" (1.5 MiB), "milliseconds",
    "share" (12.3%) or "number" (0.0123)."""

    key: str
    label: str
    section: str
    kind: str


COLUMNS = (
    Column("params", "parameters", "totals", "count"),
    Column("nonzero_params", "non-zero parameters", "costs", "count"),
    Column("file_bytes", "file size", "costs", "bytes"),
    Column("latency_ms", "latency per batch (median)", "costs", "milliseconds"),
    Column("macs", "MACs / sample", "totals", "count"),
    Column("flops", "FLOPs / sample", "totals", "count"),
    Column("effective_params", "effective weights", "totals", "count"),
    Column("utilization", "weight utilization", "totals", "share"),
    Column("mean_redundancy", "mean redundancy", "totals", "number"),
    Column("relative_error", "relative error vs baseline", "fidelity", "number"),
    Column("agreement", "top-1 agreement with baseline", "fidelity", "share"),
    Column("accuracy", "accuracy on the labels", "fidelity", "share"),
)


@dataclass(frozen=True)
class ComparedModel:
    """One model of a comparison: its name, its analysis, its outputs against the baseline's."""

    name: str
    analysis: Analysis
    fidelity: Fidelity
    nonzero_params: int
    file_bytes: int
    latency: Latency

    def costs(self) -> dict[str, Any]:
        """What the model stores and how fast it runs (``latency`` with its spread)."""
        return {
            "nonzero_params": self.nonzero_params,
            "file_bytes": self.file_bytes,
            "latency_ms": self.latency.median_ms,
            "latency": self.latency._asdict(),
        }

    def value(self, column: Column) -> float | int | None:
        sources = {
            "totals": self.analysis.document["totals"],
            "costs": self.costs(),
            "fidelity": self.fidelity.to_json(),
        }
        return sources[column.section].get(column.key)

    def to_dict(self) -> dict[str, Any]:
        document = self.analysis.document
        model = document["model"]
        return {
            "name": self.name,
            "model": {
                key: model.get(key) for key in ("path", "sha256", "framework", "input_shapes")
            },
            "passes": [entry["name"] for entry in document["passes"]],
            "totals": document["totals"],
            "costs": self.costs(),
            "fidelity": self.fidelity.to_json(),
        }


@dataclass(frozen=True)
class Comparison:
    """Models analyzed on the same data; the first one is the baseline."""

    models: tuple[ComparedModel, ...]
    labels: bool

    @property
    def baseline(self) -> ComparedModel:
        return self.models[0]

    @property
    def samples(self) -> int:
        return self.baseline.fidelity.samples

    @property
    def columns(self) -> tuple[Column, ...]:
        """The compared quantities that at least one model has (no accuracy without labels)."""
        return tuple(
            column
            for column in COLUMNS
            if any(model.value(column) is not None for model in self.models)
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready Python: the content of compare.json (a copy)."""
        return json.loads(self.to_json())

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self._document(), indent=indent, allow_nan=False)

    def _document(self) -> dict[str, Any]:
        return {
            "irwua_version": __version__,
            "baseline": self.baseline.name,
            "samples": self.samples,
            "labels": self.labels,
            "columns": [
                {"key": c.key, "label": c.label, "section": c.section} for c in self.columns
            ],
            "models": [model.to_dict() for model in self.models],
        }

    def save(self, directory: str | os.PathLike, inputs: Iterable[Path] = ()) -> dict[str, Path]:
        """Write ``compare.json`` and ``compare.html`` into ``directory``, both or neither, never
        over a model's files or ``inputs`` (the data files)."""
        from irwua.report.comparison_page import render_compare_html

        contents = {"compare.json": self.to_json(), "compare.html": render_compare_html(self)}
        models = [path for m in self.models for path in model_files(m.analysis.graph.source)]
        return write_folder(Path(directory), contents, [*models, *inputs])

    def summary(self) -> str:
        """A text table: one row per compared quantity, one column per model."""
        from irwua.report.text import comparison_text

        return comparison_text(self)

    def _repr_html_(self) -> str:
        from irwua.report.comparison_page import render_compare_html
        from irwua.report.notebook import notebook_frame

        return notebook_frame(render_compare_html(self), "irwua comparison")


def compare(
    models: Sequence[Any],
    data: Any,
    labels: Any = None,
    names: Sequence[str] | None = None,
    passes: Iterable[str] = COMPARE_PASSES,
    options: Options | None = None,
    framework: str | None = None,
    trust_code: bool = False,
) -> Comparison:
    """Analyze ``models`` on the same ``data`` and measure each one's outputs against the first's.

    ``models`` are anything ``analyze()`` takes (ONNX paths or ModelProtos, torch modules, Keras
    models, saved-model paths); ``names`` label them (default: file name or class name).
    ``labels`` (one class id or one-hot row per sample) add each model's accuracy and go to the
    passes that measure it (pruning). ``passes``, ``options``, ``framework`` and
    ``trust_code`` are as for ``analyze()``; the options' ``batch_size`` and ``max_samples``
    also apply to the fidelity runs.
    """
    models = list(models)
    if len(models) < 2:
        raise IrwuaError(f"A comparison needs at least two models, got {len(models)}.")
    if data is None:
        raise IrwuaError("A comparison needs data: each model's outputs are measured on it.")
    names = _names(models, names)
    options = options or Options()
    passes = list(passes)
    measured: list[tuple[str, Analysis, Fidelity, Any]] = []
    reference: np.ndarray | None = None
    label_array: np.ndarray | None = None
    for model, name in zip(models, names, strict=True):
        with _about(name):
            analysis = analyze(
                model,
                data,
                passes=passes,
                options=options,
                framework=framework,
                trust_code=trust_code,
                labels=labels,
            )
            source = analysis.graph.source
            session = make_session(source.proto, source.base_dir)
            outputs = _outputs(session, analysis, options, name)
        if reference is None:
            reference = outputs
            if analysis.labels is not None:
                label_array = analysis.labels[: len(outputs)]
        with _about(name):
            fidelity = measure(outputs, reference, label_array)
        measured.append((name, analysis, fidelity, session))
    batches = [
        next(iter(analysis.dataset.batches(options.batch_size))) for _, analysis, *_ in measured
    ]
    latencies = interleaved_latency([session for *_, session in measured], batches)
    compared = tuple(
        ComparedModel(
            name,
            analysis,
            fidelity,
            nonzero_params(analysis.graph),
            stored_bytes(analysis.graph.source.proto, analysis.graph.constants.values),
            latency,
        )
        for (name, analysis, fidelity, _), latency in zip(measured, latencies, strict=True)
    )
    return Comparison(compared, labels=label_array is not None)


@contextmanager
def _about(name: str) -> Iterator[None]:
    """Errors inside say which model they are about."""
    try:
        yield
    except IrwuaError as exc:
        raise IrwuaError(f"Model '{name}': {exc}") from exc


def _outputs(session: Any, analysis: Analysis, options: Options, name: str) -> np.ndarray:
    """The analyzed model's first output over its data (the first ``max_samples`` samples)."""
    limited = analysis.dataset.limit(options.max_samples)
    return predict(session, limited, options.batch_size, f"evaluating {name}", options.progress)


def _names(models: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    """The given names, checked, or one per model from its file or class name, made unique."""
    if names is not None:
        names = [str(name) for name in names]
        if len(names) != len(models):
            raise IrwuaError(f"{len(names)} names were given for {len(models)} models.")
        if any(not name.strip() for name in names) or len(set(names)) != len(names):
            raise IrwuaError(f"Model names must be unique and non-empty, got {names}.")
        return names
    guessed = [_default_name(model) for model in models]
    counts = {name: guessed.count(name) for name in guessed}
    return [
        f"{name} ({index + 1})" if counts[name] > 1 else name for index, name in enumerate(guessed)
    ]


def _default_name(model: Any) -> str:
    """A path's file name, an ONNX graph's name, else the model's class name."""
    if isinstance(model, (str, os.PathLike)):
        return Path(model).name or str(model)
    if isinstance(model, onnx.ModelProto) and model.graph.name:
        return model.graph.name
    return type(model).__name__
