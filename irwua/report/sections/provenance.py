"""Provenance: the model file and its sha256, opset, inputs, data, passes and their time, and the
versions of Python, irwua and the libraries used."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil

from irwua.report.cells import dims
from irwua.report.sections.section import Report, Section

LIBRARIES = ("numpy", "onnx", "onnxruntime", "jinja2", "matplotlib", "graphviz")
FRAMEWORK_LIBRARIES = {"torch": ("torch", "onnxscript"), "tensorflow": ("tensorflow", "tf2onnx")}


class Provenance(Section):
    key = "provenance"
    title = "Provenance"

    def view(self, report: Report) -> list[tuple[str, str]]:
        document = report.analysis.document
        model, totals = document["model"], document["totals"]
        shapes = ", ".join(f"{name} {dims(d)}" for name, d in model["input_shapes"].items())
        rows = [
            ("model file", model.get("path") or "in-memory model"),
            ("sha256", model.get("sha256") or "n/a"),
            ("framework", model.get("framework") or "onnx"),
            ("exporter", model.get("exporter") or "none (an ONNX model)"),
            ("opset / IR version", f"{model['opset']} / {model['ir_version']}"),
            ("producer", model.get("producer") or "n/a"),
            ("input shapes", shapes or "none"),
        ]
        if model.get("framework_params") is not None:
            rows.append(("parameters per the framework", f"{model['framework_params']:,}"))
        rows += [("export note", note) for note in model.get("export_notes", [])]
        if model.get("data_samples"):
            per_sample = ", ".join(dims(d[1:]) for d in model["input_shapes"].values() if d)
            used = "" if totals.get("data") else " (no pass that ran reads the data)"
            rows.append(("data", f"{model['data_samples']} samples of {per_sample}{used}"))
        else:
            rows.append(("data", "none"))
        passes = ", ".join(f"{p['name']} {p['seconds']:.3f} s" for p in document["passes"])
        rows += [("passes (time)", passes), ("versions", _versions(model.get("framework")))]
        return rows


def _versions(framework: str | None) -> str:
    """Python, irwua and the libraries the analysis and this report used."""
    versions = [f"python {platform.python_version()}", f"irwua {_version('irwua')}"]
    names = LIBRARIES + FRAMEWORK_LIBRARIES.get(framework or "", ())
    versions += [f"{name} {_version(name)}" for name in names if _version(name)]
    versions.append("graphviz dot " + ("available" if shutil.which("dot") else "not found"))
    return ", ".join(versions)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


SECTION = Provenance()
