"""Pruning: the measured sweeps, as curves and as tables of agreement (and accuracy) by ratio."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irwua.report.formatting import percent
from irwua.report.sections.section import Report, Section


class Pruning(Section):
    key = "pruning"
    title = "Pruning"

    def view(self, report: Report) -> dict[str, Any] | None:
        section = report.analysis.document.get("pruning")
        if section is None:
            return None
        sweeps = section.get("sweeps") or []
        if not sweeps:
            return {"note": section.get("note") or "The pruning pass measured no sweep."}
        from irwua.report import charts  # drawn for the page only, not for the terminal
        from irwua.report.svg import chart

        labels = bool(section.get("labels"))
        ratios = section.get("ratios") or sorted({p["ratio"] for s in sweeps for p in s["points"]})
        return {
            "charts": [chart(charts.pruning_curves(section))],
            "baseline": percent(section.get("baseline", {}).get("accuracy")),
            "samples": section.get("samples"),
            "labels": labels,
            "ratios": [percent(r, 0) for r in ratios],
            "global": [
                {
                    "label": f"{s['criterion']}, {s['granularity']}",
                    "cells": _cells(s, ratios, labels),
                }
                for s in sweeps
                if s["scope"] == "global"
            ],
            "layers": [
                {
                    "label": f"{s['layer']} ({s['criterion']}, {s['granularity']})",
                    "cells": _cells(s, ratios, False),
                }
                for s in sweeps
                if s["scope"] == "layer"
            ],
        }


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


SECTION = Pruning()
