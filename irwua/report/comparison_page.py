"""The comparison page (compare.html): a view model of a ``Comparison`` and its bar charts.

The page shows the compared quantities side by side, one column per model, each count also as a
multiple of the baseline's, then one bar chart per quantity. Renderers only read: every number
comes from the ``Comparison``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from irwua.report.formatting import format_value, human, human_bytes, percent
from irwua.report.protocol import ComparisonLike
from irwua.report.svg import figure_svg, new_figure, styled
from irwua.report.templating import render_page

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BASELINE_COLOUR = "#8795a8"
MODEL_COLOUR = "#3b6fb6"
CHARTS_PER_ROW = 3


def render_compare_html(comparison: ComparisonLike) -> str:
    """compare.html: one self-contained page."""
    return render_page("compare.html.j2", page=compare_view(comparison))


@styled
def plot_comparison(comparison: ComparisonLike) -> Figure:
    """One bar chart per compared quantity, a bar per model (the baseline in grey)."""
    from matplotlib.ticker import FuncFormatter

    columns = comparison.columns
    rows = -(-len(columns) // CHARTS_PER_ROW)
    figure = new_figure(3.4 * CHARTS_PER_ROW, 2.6 * rows)
    names = [_shortened(model.name) for model in comparison.models]
    slanted = len(names) > 3 or max(len(name) for name in names) > 12
    colours = [BASELINE_COLOUR] + [MODEL_COLOUR] * (len(names) - 1)
    positions = np.arange(len(names))
    for index, column in enumerate(columns):
        axes = figure.add_subplot(rows, CHARTS_PER_ROW, index + 1)
        values = [model.value(column) for model in comparison.models]
        heights = [np.nan if value is None else value for value in values]
        bars = axes.bar(positions, heights, color=colours)
        texts = [format_value(value, column.kind) for value in values]
        axes.bar_label(bars, labels=texts, fontsize=7)
        axes.set_title(column.label, loc="left")
        axes.yaxis.set_major_formatter(FuncFormatter(_tick_formatter(column.kind)))
        axes.set_xticks(positions, names)
        if slanted:
            for label in axes.get_xticklabels():
                label.set(rotation=25, horizontalalignment="right")
        axes.margins(y=0.2)
        if column.kind == "share":  # room for the bar labels, ticks up to 100% only
            axes.set_ylim(0, 1.15)
            axes.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    figure.tight_layout()
    return figure


def _shortened(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _tick_formatter(kind: str) -> Callable[[float, int], str]:
    """Axis ticks in the column's own units (counts as 40 k, shares as 60%)."""
    if kind == "share":
        return lambda value, _position: percent(value, 0)
    if kind == "count":
        return lambda value, _position: human(value)
    if kind == "bytes":
        return lambda value, _position: human_bytes(value)
    return lambda value, _position: f"{value:.3g}"


def compare_view(comparison: ComparisonLike) -> dict[str, Any]:
    """What compare.html.j2 shows, as plain values (text cells, one chart)."""
    baseline = comparison.baseline
    rows = []
    for column in comparison.columns:
        reference = baseline.value(column)
        cells = []
        for model in comparison.models:
            value = model.value(column)
            ratio = None
            if (
                column.kind in ("count", "bytes", "milliseconds")
                and model is not baseline
                and value is not None
                and reference
            ):
                ratio = f"{value / reference:.3g}x"
            cells.append({"text": format_value(value, column.kind), "ratio": ratio})
        rows.append({"label": column.label, "cells": cells})
    return {
        "title": f"comparison of {len(comparison.models)} models",
        "baseline": baseline.name,
        "samples": comparison.samples,
        "labels": comparison.labels,
        "names": [model.name for model in comparison.models],
        "rows": rows,
        "models": [model.to_dict() for model in comparison.models],
        "chart": figure_svg(plot_comparison(comparison)),
    }
