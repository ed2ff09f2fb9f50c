"""Recommendations: what to prune or narrow, and per layer the measured safe sparsity and the
suggested width (also as columns of the layer table and lines of the terminal summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irwua.report.cells import fraction_cell, optional_cell
from irwua.report.formatting import percent
from irwua.report.sections.section import Document, Entry, LayerColumn, Report, Section

SHOWN_ITEMS = 10
"""Recommendations printed in the terminal; the report has all."""


class Recommendations(Section):
    key = "recommendations"
    title = "Recommendations"

    def view(self, report: Report) -> dict[str, Any] | None:
        section = report.analysis.document.get("recommendations")
        if section is None:
            return None
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

    def layer_columns(self, document: Document) -> list[LayerColumn]:
        advice = _advice(document)
        if not advice:
            return []
        return [
            LayerColumn(
                "safe sparsity",
                lambda e: fraction_cell(advice.get(e["name"], {}).get("max_sparsity")),
            ),
            LayerColumn("suggested width", lambda e: _width(advice.get(e["name"]))),
        ]

    def layer_items(self, entry: Entry, document: Document) -> list[tuple[str, Any]]:
        advice = _advice(document).get(entry["name"])
        return [] if advice is None else [("recommendation", advice.get("reason"))]

    def text(self, document: Document) -> list[str]:
        if "recommendations" not in document:
            return []
        items = document["recommendations"].get("items", [])
        lines = [f"  recommendations ({len(items)}):" if items else "  recommendations: none"]
        for item in items[:SHOWN_ITEMS]:
            where = f" {item['layer']}:" if item.get("layer") else ""
            lines.append(f"    [{item['severity']}]{where} {item['text']}")
        if len(items) > SHOWN_ITEMS:
            lines.append(f"    ... {len(items) - SHOWN_ITEMS} more in the report")
        return lines


def _advice(document: Document) -> dict[str, Mapping[str, Any]]:
    layers = document.get("recommendations", {}).get("layers", [])
    return {layer["layer"]: layer for layer in layers}


def _width(advice: Mapping[str, Any] | None) -> dict[str, Any]:
    if not advice or advice.get("suggested_width") is None:
        return {"text": "n/a"}
    suggested = advice["suggested_width"]
    return {"text": f"{suggested} of {advice['width']}", "sort": suggested}


SECTION = Recommendations()
