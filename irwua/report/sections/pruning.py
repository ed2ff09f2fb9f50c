"""Pruning: the measured sweeps, as curves and as tables of agreement (and accuracy) by ratio."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irwua.report.formatting import percent, sweep_label
from irwua.report.sections.section import Document, Report, Section

TEXT_RATIOS = (0.3, 0.5, 0.7, 0.9)
"""The ratios the terminal summary shows (those the sweeps measured)."""


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
        ratios = _ratios(section, sweeps)
        return {
            "charts": [chart(charts.pruning_curves(section))],
            "readings": readings(sweeps),
            "baseline": percent(section.get("baseline", {}).get("accuracy")),
            "samples": section.get("samples"),
            "labels": labels,
            "ratios": [percent(r, 0) for r in ratios],
            "global": [
                {"label": sweep_label(s), "cells": _cells(s, ratios, labels)}
                for s in sweeps
                if s["scope"] != "layer"
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

    def text(self, document: Document) -> list[str]:
        section = document.get("pruning")
        if section is None:
            return []
        sweeps = [s for s in section.get("sweeps") or [] if s["scope"] != "layer"]
        if not sweeps:
            return [f"  pruning: not measured ({section.get('note') or 'no sweep ran'})"]
        labels = bool(section.get("labels"))
        measured = {p["ratio"] for s in sweeps for p in s["points"]}
        ratios = [r for r in TEXT_RATIOS if r in measured] or sorted(measured)[-4:]
        rows = [(sweep_label(s), _cells(s, ratios, labels)) for s in sweeps]
        label_width = max(len(label) for label, _ in rows)
        width = max(len(cell) for _, cells in rows for cell in cells) + 2
        baseline = section.get("baseline", {}).get("accuracy")
        measure = "top-1 agreement / accuracy" if labels else "top-1 agreement"
        accuracy = f", baseline accuracy {percent(baseline)}" if labels else ""
        lines = [
            f"  pruning, all layers at once ({measure} on {section['samples']} samples{accuracy}):",
            f"    {'share pruned':<{label_width}}"
            + "".join(f"{percent(r, 0):>{width}}" for r in ratios),
        ]
        lines += [
            f"    {label:<{label_width}}" + "".join(f"{cell:>{width}}" for cell in cells)
            for label, cells in rows
        ]
        return lines


BEATEN_BY = (("random", "importance"), ("random", "magnitude"), ("magnitude", "importance"))
"""(better, expected) criterion pairs whose reversals the report points out."""

MARGIN = 0.01
"""Agreement differences below this are not called a reversal."""


def readings(sweeps: list[Mapping[str, Any]]) -> list[str]:
    """What the global sweeps show that a reader would not expect, in words: where a simpler
    criterion keeps more agreement than a more informed one at the same share of the weights
    removed (the other sweep interpolated there), and what that means."""
    by_key = {
        (s["criterion"], s["granularity"], s["scope"], s.get("grouping", "layer")): s
        for s in sweeps
        if s["scope"] != "layer" and not s.get("reconstruct")
    }
    texts: list[str] = []
    explained: set[str] = set()
    methods = dict.fromkeys(key[1:] for key in by_key)
    for granularity, scope, grouping in methods:
        for better, expected in BEATEN_BY:
            mine = by_key.get((better, granularity, scope, grouping))
            theirs = by_key.get((expected, granularity, scope, grouping))
            if mine is None or theirs is None:
                continue
            wins = _wins(mine, theirs)
            if not wins:
                continue
            where = ", ".join(
                f"{percent(r, 0)} ({percent(a, 1)} vs {percent(b, 1)})" for r, a, b in wins
            )
            where = f"{where} of the weights removed"
            meaning = _meaning(better, expected, granularity)
            method = ", ".join(
                [granularity, scope] + ([f"per {grouping}"] if grouping != "layer" else [])
            )
            texts.append(
                f"{method.capitalize()}: {better} keeps more agreement than {expected} at "
                f"{where}." + ("" if meaning in explained else f" {meaning}")
            )
            explained.add(meaning)
    return texts


def _wins(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[tuple[float, float, float]]:
    """(share removed, mine, theirs) at ``mine``'s points where it keeps clearly more agreement
    than ``theirs`` removing the same share of the weights (``theirs`` interpolated between its
    points; none outside them)."""
    import numpy as np

    known = sorted(
        (p.get("removed", p["ratio"]), p["agreement"])
        for p in theirs["points"]
        if p.get("agreement") is not None
    )
    if len(known) < 2:
        return []
    removed, agreement = np.array(known).T
    found = []
    for point in mine["points"]:
        share = point.get("removed", point["ratio"])
        if point.get("agreement") is None or not removed[0] < share <= removed[-1]:
            continue
        other = float(np.interp(share, removed, agreement))
        if point["agreement"] > other + MARGIN:
            found.append((share, point["agreement"], other))
    return found


def _meaning(better: str, expected: str, granularity: str) -> str:
    if better == "random" and granularity == "structured":
        return (
            "The unit scores do not predict which units the outputs need on this model; the "
            "per-layer sweeps below show which layers tolerate cuts. Prefer the per-layer "
            "widths of the recommendations to one structured ratio for the whole model."
        )
    if better == "random":
        return (
            "The scores do not rank weights by what the outputs need on this data; check that "
            "the data is representative of what the model sees."
        )
    return (
        f"On this model and data, weight magnitude alone predicts what can go better than "
        f"{expected} (|w| weighted by the inputs); the recommendations use, per layer, the "
        "criterion measured to prune furthest."
    )


def _ratios(section: Mapping[str, Any], sweeps: list[Mapping[str, Any]]) -> list[float]:
    """The ratios of the tables: the pass's, and those of N:M sweeps (N/M)."""
    measured = {point["ratio"] for sweep in sweeps for point in sweep["points"]}
    return sorted({*(section.get("ratios") or ()), *measured})


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
