"""The public API: ``analyze()`` and the ``Analysis`` it returns."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.ingest.build import build_graph
from irwua.ingest.inputs import Shape, input_specs
from irwua.ingest.model_file import model_files
from irwua.ir.graph import LayerGraph
from irwua.options import Options
from irwua.passes import PASSES
from irwua.pipeline import PassManager, PassResult
from irwua.report.files import write_folder
from irwua.version import __version__

if TYPE_CHECKING:
    from irwua.data.dataset import Dataset

DEFAULT_PASSES = ("flops", "metrics")
"""The passes ``analyze`` and ``irwua analyze`` run unless told otherwise."""


@dataclass
class Analysis:
    """The layer graph of one model and the results of the passes run on it; ``dataset`` and
    ``labels`` are the data and labels as checked against the model (None without them)."""

    graph: LayerGraph
    results: Mapping[str, PassResult]
    seconds: Mapping[str, float]
    options: Options = field(default_factory=Options)
    dataset: Dataset | None = None
    labels: np.ndarray | None = None

    def __getitem__(self, pass_name: str) -> PassResult:
        try:
            return self.results[pass_name]
        except KeyError:
            ran = ", ".join(self.results) or "none"
            raise KeyError(f"pass {pass_name!r} did not run (ran: {ran})") from None

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready Python: totals, layers[], one section per pass (a copy)."""
        return json.loads(self.to_json(indent=None))

    @cached_property
    def document(self) -> dict[str, Any]:
        """The analysis as one JSON-ready document, built once; renderers read this."""
        totals: dict[str, Any] = {"layers": len(self.graph.layers)}
        for result in self.results.values():
            totals.update(result.totals_json())
        layers = []
        for layer in self.graph.layers:
            entry: dict[str, Any] = {
                "name": layer.name,
                "op_type": layer.op_type,
                "kind": layer.kind,
                "tensors": {
                    role: list(self.graph.shape(t) or ()) for role, t in layer.tensors.items()
                },
            }
            for key, value in (
                ("scope", layer.scope),
                ("framework_name", layer.framework_name),
                ("note", layer.note),
            ):
                if value:
                    entry[key] = value
            for result in self.results.values():
                entry.update(result.layer_json(layer.name))
            layers.append(entry)
        document: dict[str, Any] = {
            "irwua_version": __version__,
            "model": self.graph.metadata,
            "passes": [{"name": name, "seconds": round(s, 6)} for name, s in self.seconds.items()],
            "totals": totals,
            "layers": layers,
        }
        for name, result in self.results.items():
            section = result.section_json()
            if section:
                document[name] = section
        return document

    def to_json(self, indent: int | None = None) -> str:
        """The document as JSON text (compact unless ``indent`` is given)."""
        return json.dumps(self.document, indent=indent, allow_nan=False, default=_json_default)

    def save(
        self, directory: str | os.PathLike, html: bool = True, inputs: Iterable[Path] = ()
    ) -> dict[str, Path]:
        """Write ``analysis.json``, ``report.html`` and the passes' files
        (``importance_units.npz``, and ``importance.npz`` with ``save_importance``) into
        ``directory`` (created if needed), plus the ``.dot`` sources of diagrams when Graphviz's
        ``dot`` could not render them. ``html=False`` skips the report (charts, diagrams) and
        writes the data only.

        All files are rendered first and then written under temporary names and renamed, so an
        error never leaves a half-written file behind. Files of an earlier save into the same
        folder that this one does not write are removed (``irwua.report.files.write_folder``).
        Nothing is written over the model's files or over ``inputs`` (the data files).
        """
        contents: dict[str, str | bytes] = {"analysis.json": self.to_json()}
        if html:
            from irwua.report.analysis_page import render_report

            contents.update(render_report(self))
        for result in self.results.values():
            contents.update(result.files())
        return write_folder(Path(directory), contents, [*model_files(self.graph.source), *inputs])

    def summary(self) -> str:
        """The terminal summary: headline numbers, costs, weight usage, recommendations."""
        from irwua.report.text import analysis_text

        return analysis_text(self)

    def print_report(self) -> None:
        print(self.summary())

    def _repr_html_(self) -> str:
        """Jupyter shows an analysis as its HTML report, in a sandboxed frame."""
        from irwua.report.analysis_page import render_html
        from irwua.report.notebook import notebook_frame

        return notebook_frame(render_html(self), "irwua report")


def analyze(
    model: Any,
    data: Any = None,
    passes: Iterable[str] = DEFAULT_PASSES,
    input_shapes: Mapping[str, Shape] | None = None,
    options: Options | None = None,
    framework: str | None = None,
    trust_code: bool = False,
    labels: Any = None,
) -> Analysis:
    """Analyze ``model`` by running ``passes`` and the passes they require.

    ``model`` is an ONNX path or ``onnx.ModelProto``, a torch module, a Keras model or tf.Module,
    or the path of a saved model (see ``irwua.exporters``); ``framework`` ("torch", "tensorflow",
    "onnx") overrides detection, and ``trust_code`` allows saved PyTorch files, which load
    through pickle. ``data`` is sample input: an array, a list of arrays or a dict by input
    name, samples on axis 0 (framework models are traced on it). ``input_shapes`` binds symbolic
    input dims (``{"image": (1, 3, 224, 224)}``); without it they come from ``data`` (one sample),
    else a symbolic batch dim becomes 1. ``labels`` (one class id or one-hot row per sample of
    ``data``) add accuracy to the passes that measure it (pruning).
    """
    from irwua.exporters import load

    if labels is not None and data is None:
        raise IrwuaError("Labels were given without data; pass the samples they belong to.")

    loaded = load(model, framework=framework, example=data, trust_code=trust_code)
    dataset = None
    if data is not None:
        from irwua.data.dataset import (
            make_dataset,  # Imported with data only: the CLI starts faster.
        )

        if loaded.call_options:
            data = {key: value for key, value in data.items() if key not in loaded.call_options}
        dataset = make_dataset(data, input_specs(loaded.source.proto))
    shapes = dataset.sample_shapes() if dataset is not None else {}
    shapes.update(input_shapes or {})
    graph = build_graph(loaded.source, shapes, loaded.layer_names, loaded.layer_notes)
    graph.metadata["framework"] = loaded.framework
    graph.metadata["exporter"] = loaded.exporter
    graph.metadata["export_notes"] = list(loaded.notes)
    graph.metadata["framework_params"] = loaded.framework_params
    if dataset is not None:
        graph.metadata["data_samples"] = dataset.samples
    label_array = None
    if labels is not None:
        from irwua.data.labels import check_labels

        label_array = check_labels(labels, dataset.samples, _classes(graph))
    manager = PassManager(graph, PASSES, options or Options(), dataset, label_array)
    manager.run(list(passes))
    return Analysis(
        graph, dict(manager.results), dict(manager.seconds), manager.options, dataset, label_array
    )


def _classes(graph: LayerGraph) -> int | None:
    """The width of the model's first output, when it is a batch of class scores."""
    info = graph.tensors.get(graph.outputs[0]) if graph.outputs else None
    if info is None or info.shape is None or len(info.shape) < 2 or info.shape[-1] < 2:
        return None
    return int(info.shape[-1])


def _json_default(value: Any) -> Any:
    """Numpy scalars and arrays as JSON numbers and lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
