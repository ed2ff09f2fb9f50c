"""The tracking page (tracking.html) and the chart of weight usage over training.

Renderers only read: every number comes from the tracker's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from irwua.report.protocol import SnapshotLike, TrackerLike
from irwua.report.svg import figure_svg, new_figure, styled
from irwua.report.templating import render_page

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_LEGEND = 12
"""Layers named in the per-layer legend; more would hide the lines."""


def render_tracking_html(tracker: TrackerLike) -> str:
    """tracking.html: one self-contained page."""
    return render_page("tracking.html.j2", page=tracking_view(tracker))


@styled
def plot_tracking(history: Sequence[SnapshotLike]) -> Figure:
    """Three panels over the epochs: utilization and mean redundancy; importance concentration
    (Gini, coverage_80); each layer's utilization."""
    figure = new_figure(12.0, 3.4)
    usage, concentration, layers = figure.subplots(1, 3)
    epochs = [entry.epoch for entry in history]
    usage.plot(epochs, [e.utilization for e in history], marker="o", label="utilization")
    usage.plot(epochs, [e.mean_redundancy for e in history], marker="o", label="mean redundancy")
    concentration.plot(epochs, [e.gini for e in history], marker="o", label="Gini")
    concentration.plot(
        epochs, [e.coverage_80 for e in history], marker="o", label="80% of importance in"
    )
    names = list(dict.fromkeys(name for entry in history for name in entry.layers))
    for name in names:
        values = [entry.layers.get(name, {}).get("utilization", float("nan")) for entry in history]
        layers.plot(epochs, values, marker=".", label=name)
    titles = ("Weight usage", "Importance concentration", "Utilization per layer")
    for axes, title in zip((usage, concentration, layers), titles, strict=True):
        _decorate(axes, title, legend=axes is not layers or len(names) <= MAX_LEGEND)
    figure.tight_layout()
    return figure


def _decorate(axes: Axes, title: str, legend: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_title(title, loc="left")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0.0, 1.02)
    if legend and axes.get_lines():
        axes.legend(fontsize=7)


def tracking_view(tracker: TrackerLike) -> dict[str, Any]:
    """What tracking.html.j2 shows: one table row per epoch, the chart, the last epoch's layers."""
    history = tracker.history
    last = history[-1] if history else None
    return {
        "title": f"weight usage over {len(history)} recorded epochs",
        "passes": list(tracker.passes),
        "epochs": [entry.to_dict() for entry in history],
        "layers": [] if last is None else [{"name": k, **v} for k, v in last.layers.items()],
        "chart": figure_svg(plot_tracking(history)) if history else None,
    }
