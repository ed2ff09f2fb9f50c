"""Report sections of the pathways, pruning and recommendations passes (analysis.json sections;
their shapes are documented in those passes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irwua.report import charts
from irwua.report.formatting import percent
from irwua.report.layers_view import fraction_cell, optional_cell
from irwua.report.svg import chart

Section = Mapping[str, Any]


def pathways_view(section: Section) -> dict[str, Any]:
    """Top pathways (chart and table), the best pathway per output unit, and the notes."""
    top = [
        {"rank": rank, "score": f"{path['score']:.4g}", "units": _units(path)}
        for rank, path in enumerate(section["top"], start=1)
    ]
    per_output = []
    for entry in section.get("per_output", []):
        best = entry["paths"][0] if entry["paths"] else None
        per_output.append(
            {
                "unit": entry["unit"],
                "score": f"{best['score']:.4g}" if best else "n/a",
                "units": _units(best) if best else "none",
            }
        )
    notes = [
        f"{link['source']} -> {link['target']}: {link['note']}"
        for link in section.get("links", [])
        if link.get("mode") == "layer" and link.get("note")
    ]
    figures = [chart(charts.pathway_bars(section))] if section["top"] else []
    return {
        "charts": figures,
        "top": top,
        "per_output": per_output,
        "notes": notes + list(section.get("notes", [])),
    }


def pruning_view(section: Section) -> dict[str, Any]:
    """Measured pruning sweeps: curves, the global sweeps by ratio, the per-layer sweeps."""
    sweeps = section.get("sweeps") or []
    if not sweeps:
        return {"note": section.get("note") or "The pruning pass measured no sweep."}
    labels = bool(section.get("labels"))
    global_sweeps = [s for s in sweeps if s["scope"] == "global"]
    layer_sweeps = [s for s in sweeps if s["scope"] == "layer"]
    ratios = section.get("ratios") or sorted({p["ratio"] for s in sweeps for p in s["points"]})
    view: dict[str, Any] = {
        "charts": [chart(charts.pruning_curves(section))],
        "baseline": percent(section.get("baseline", {}).get("accuracy")),
        "samples": section.get("samples"),
        "labels": labels,
        "ratios": [percent(r, 0) for r in ratios],
        "global": [
            {"label": f"{s['criterion']}, {s['granularity']}", "cells": _cells(s, ratios, labels)}
            for s in global_sweeps
        ],
        "layers": [
            {
                "label": f"{s['layer']} ({s['criterion']}, {s['granularity']})",
                "cells": _cells(s, ratios, False),
            }
            for s in layer_sweeps
        ],
    }
    return view


def recommendations_view(section: Section) -> dict[str, Any]:
    """The recommendations and, per layer, the measured safe sparsity and suggested width."""
    rows = [
        [
            {"text": layer["layer"]},
            optional_cell(layer.get("width")),
            optional_cell(layer.get("suggested_width")),
            fraction_cell(layer.get("max_sparsity")),
            {"text": "yes" if layer.get("over_parameterized") else "no"},
            {"text": layer.get("reason", "")},
        ]
        for layer in section.get("layers", [])
    ]
    return {
        "tolerance": percent(section.get("tolerance")),
        "items": list(section.get("items", [])),
        "columns": [
            "layer",
            "width",
            "suggested width",
            "safe sparsity",
            "over-parameterized",
            "why",
        ],
        "rows": rows,
    }


def _units(path: Mapping[str, Any]) -> str:
    return " > ".join(f"{unit['layer']}[{unit['unit']}]" for unit in path["units"])


def _cells(sweep: Mapping[str, Any], ratios, labels: bool) -> list[str]:
    """Agreement (and accuracy with labels) of a sweep at each ratio, 'n/a' where not run."""
    points = {point["ratio"]: point for point in sweep["points"]}
    cells = []
    for ratio in ratios:
        point = points.get(ratio)
        if point is None:
            cells.append("n/a")
        elif labels and point.get("accuracy") is not None:
            cells.append(f"{percent(point['agreement'])} / {percent(point['accuracy'])}")
        else:
            cells.append(percent(point["agreement"]))
    return cells
