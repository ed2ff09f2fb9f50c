"""The self-contained HTML report: a view model built here, rendered by Jinja2 templates.

``report_view`` turns an ``Analysis`` into plain data (cards, tables of cells, chart SVGs,
diagrams), one entry per section, ``None`` for a section whose pass did not run; the templates
(``report.html.j2`` and ``sections/*.html.j2``) only lay it out. Autoescape is on, so every name
from the model shows as text; charts and diagrams are SVG escaped by matplotlib and dot.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from irwua.report import charts
from irwua.report.diagrams import Diagram, diagrams
from irwua.report.formatting import human, human_bytes, percent, share
from irwua.report.layers_view import layer_details, layer_table
from irwua.report.results_view import pathways_view, pruning_view, recommendations_view
from irwua.report.svg import chart
from irwua.report.templating import render_page

if TYPE_CHECKING:
    from irwua.analysis import Analysis

LIBRARIES = ("numpy", "onnx", "onnxruntime", "jinja2", "matplotlib", "graphviz")
FRAMEWORK_LIBRARIES = {"torch": ("torch", "onnxscript"), "tensorflow": ("tensorflow", "tf2onnx")}


def render_report(analysis: Analysis) -> dict[str, str]:
    """``report.html`` and, for diagrams ``dot`` could not render, their ``.dot`` sources."""
    drawings = diagrams(analysis)
    files = {"report.html": render_page("report.html.j2", report=report_view(analysis, drawings))}
    files.update({d.file_name: d.source for d in drawings if d.svg is None and d.source})
    return files


def render_html(analysis: Analysis) -> str:
    """The report page alone."""
    return render_report(analysis)["report.html"]


def report_view(analysis: Analysis, drawings: list[Diagram]) -> dict[str, Any]:
    """Everything the report templates show, section by section."""
    document = analysis.document
    sections = {
        "summary": _summary(document),
        "metrics": _metrics(analysis) if "metrics" in analysis.results else None,
        "flops": _flops(document) if "flops" in document else None,
        "layers": layer_table(document),
        "details": layer_details(document),
        "diagrams": drawings,
        "pathways": pathways_view(document["pathways"]) if "pathways" in document else None,
        "pruning": pruning_view(document["pruning"]) if "pruning" in document else None,
        "recommendations": (
            recommendations_view(document["recommendations"])
            if "recommendations" in document
            else None
        ),
        "provenance": _provenance(analysis),
    }
    titles = {
        "summary": "Summary",
        "metrics": "Weight usage",
        "flops": "FLOPs",
        "layers": "Layers",
        "details": "Layer details",
        "diagrams": "Diagrams",
        "pathways": "Pathways",
        "pruning": "Pruning",
        "recommendations": "Recommendations",
        "provenance": "Provenance",
    }
    return {
        "title": document["model"].get("path") or "in-memory model",
        "sections": sections,
        "nav": [(key, titles[key]) for key, value in sections.items() if value],
    }


def _summary(document: Mapping[str, Any]) -> dict[str, Any]:
    totals = document["totals"]
    cards = [("weighted layers", str(totals["layers"]))]
    if "flops" in document:
        cards += [
            ("parameters", human(totals["params"])),
            ("MACs / sample", human(totals["macs"])),
            ("FLOPs / sample", human(totals["flops"])),
            ("weights", human_bytes(totals["weight_bytes"])),
            ("activations / sample", human_bytes(totals["activation_bytes"])),
        ]
        if totals.get("training_flops"):
            cards.append(("training estimate", human(totals["training_flops"], "FLOPs")))
    if "utilization" in totals:
        cards += [
            ("weight utilization", percent(totals["utilization"])),
            ("effective weights", human(totals["effective_params"])),
            ("compression potential", percent(totals["compression_potential"])),
            ("mean redundancy", f"{totals['mean_redundancy']:.3f}"),
        ]
    recommendations = document.get("recommendations", {}).get("items", [])
    warnings = sum(1 for item in recommendations if item["severity"] == "warning")
    if recommendations:
        cards.append(("recommendations", f"{len(recommendations)} ({warnings} warnings)"))
    return {"cards": cards, "source": importance_source(totals)}


def importance_source(totals: Mapping[str, Any]) -> str | None:
    """One sentence on what importance was computed from, or None when it did not run."""
    if "importance_criterion" not in totals:
        return None
    if not totals.get("data"):
        return "No data was given: importance is weight magnitude |w| only."
    criterion = charts.CRITERION_TEXT.get(totals["importance_criterion"], "")
    return (
        f"Importance is {criterion} ({totals['importance_criterion']}), measured on "
        f"{totals['samples']} samples."
    )


def _metrics(analysis: Analysis) -> dict[str, Any]:
    totals = analysis.document["totals"]
    criterion = totals["importance_criterion"]
    rows = [
        ("scored weights", human(totals["scored_weights"])),
        ("effective weights", human(totals["effective_params"])),
        ("utilization", percent(totals["utilization"])),
        ("compression potential", percent(totals["compression_potential"])),
        ("mean redundancy", f"{totals['mean_redundancy']:.3f}"),
        ("importance", criterion),
    ]
    return {"rows": rows, "charts": _usage_charts(analysis, criterion)}


def _usage_charts(analysis: Analysis, criterion: str) -> list[dict[str, Any]]:
    layers = [layer for layer in analysis.document["layers"] if "metrics" in layer]
    if not layers:
        return []
    summaries = {
        name: charts.summarize_importance(layer.weight)
        for name, layer in analysis["importance"].layers.items()
    }
    metrics = {layer["name"]: layer["metrics"] for layer in layers}
    return [
        chart(
            charts.importance_distributions(summaries, criterion),
            "Boxes: 25-75% of each layer's weights, whiskers 5-95%, line the median; "
            "1 on the axis is the share every weight would have if all mattered equally.",
        ),
        chart(
            charts.cumulative_importance(summaries, metrics, criterion),
            "How few weights hold most of each layer's importance; dots mark where each layer "
            "reaches 50, 80 and 90% (the coverage metrics).",
        ),
        chart(charts.layer_comparison(layers)),
        chart(
            charts.efficiency_radar(layers),
            "Each spoke is a fraction, 1 = importance spread evenly over the weights"
            + (" (the 12 least utilized layers)." if len(layers) > 12 else "."),
        ),
    ]


def _flops(document: Mapping[str, Any]) -> dict[str, Any]:
    flops, totals = document["flops"], document["totals"]
    by_op = sorted(flops["by_op_type"].items(), key=lambda item: item[1]["flops"], reverse=True)
    op_rows = [
        [
            {"text": op},
            {"text": human(counts["macs"]), "sort": counts["macs"]},
            {"text": human(counts["flops"]), "sort": counts["flops"]},
            {"text": share(counts["flops"], totals["flops"]), "sort": counts["flops"]},
            {"text": human(counts["params"]), "sort": counts["params"]},
            {"text": human_bytes(counts["activation_bytes"]), "sort": counts["activation_bytes"]},
        ]
        for op, counts in by_op
    ]
    warnings = [
        f"{what}: " + ", ".join(f"{op} x{count}" for op, count in sorted(ops.items()))
        for what, ops in (
            ("Unsupported ops, not counted", flops["unsupported"]),
            ("Ops with unknown shapes, not counted", flops["unresolved"]),
        )
        if ops
    ]
    return {
        "convention": flops["convention"],
        "warnings": warnings + list(flops["notes"]),
        "op_columns": ["op type", "MACs", "FLOPs", "share", "params", "activations"],
        "op_rows": op_rows,
        "charts": [
            chart(charts.flops_by_layer(document["layers"], totals["flops"])),
            chart(charts.flops_by_op(flops["by_op_type"])),
        ],
    }


def _provenance(analysis: Analysis) -> list[tuple[str, str]]:
    document = analysis.document
    model, totals = document["model"], document["totals"]
    shapes = ", ".join(f"{name} {_dims(dims)}" for name, dims in model["input_shapes"].items())
    rows = [
        ("model file", model.get("path") or "in-memory model"),
        ("sha256", model.get("sha256") or "n/a"),
        ("framework", model.get("framework") or "onnx"),
        ("opset / IR version", f"{model['opset']} / {model['ir_version']}"),
        ("producer", model.get("producer") or "n/a"),
        ("input shapes", shapes or "none"),
    ]
    if model.get("framework_params") is not None:
        rows.append(("parameters per the framework", f"{model['framework_params']:,}"))
    rows += [("export note", note) for note in model.get("export_notes", [])]
    if totals.get("data"):
        per_sample = ", ".join(_dims(dims[1:]) for dims in model["input_shapes"].values())
        rows.append(("data", f"{totals['samples']} samples of {per_sample}"))
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


def _dims(dims) -> str:
    return "x".join(str(d) for d in dims) or "scalar"
