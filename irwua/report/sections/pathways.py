"""Pathways: the top pathways (chart and table), the best pathway per output unit, the notes on
links whose units could not be followed; each layer's most important units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irwua.report.sections.section import Document, Entry, Report, Section


class Pathways(Section):
    key = "pathways"
    title = "Pathways"

    def view(self, report: Report) -> dict[str, Any] | None:
        section = report.analysis.document.get("pathways")
        if section is None:
            return None
        from irwua.report import charts  # drawn for the page only, not for the terminal
        from irwua.report.svg import chart

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
        return {
            "charts": [chart(charts.pathway_bars(section))] if section["top"] else [],
            "top": top,
            "per_output": per_output,
            "notes": notes + list(section.get("notes", [])),
        }

    def text(self, document: Document) -> list[str]:
        section = document.get("pathways")
        if section is None:
            return []
        if not section["top"]:
            return ["  pathways: none found (see the notes in the report)"]
        best = section["top"][0]
        return [
            f"  pathways: {len(section['top'])} strongest from the inputs to "
            f"'{section['output_layer']}'; the strongest: {_units(best)}"
        ]

    def layer_items(self, entry: Entry, document: Document) -> list[tuple[str, Any]]:
        if "neuron_importance" not in entry:
            return []
        neurons = entry["neuron_importance"]
        units = ", ".join(f"{unit} ({value:.3g})" for unit, value in neurons["top"])
        return [("most important units", f"{units} of {neurons['units']}")]


def _units(path: Mapping[str, Any]) -> str:
    return " > ".join(f"{unit['layer']}[{unit['unit']}]" for unit in path["units"])


SECTION = Pathways()
