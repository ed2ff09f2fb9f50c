"""The report's charts: one function per chart, each returns its matplotlib ``Figure``.

Charts only draw what the passes computed: importance charts read the importance arrays (never
raw weights; when importance ran without data they say it is magnitude), the others read the
analysis document (``layers[]`` entries and the ``flops``, ``pruning`` and ``pathways``
sections). ``svg.figure_svg`` turns a figure into inline SVG; nothing here shows a window.
Chart text is never mathtext (``svg.RC``), so a ``$`` in a layer name stays text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from irwua.report.formatting import CRITERION_TEXT
from irwua.report.svg import new_figure, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLORS = {
    "primary": "#2f6db5",
    "secondary": "#e07b39",
    "tertiary": "#5a9e6f",
    "muted": "#9aa5b1",
    "light": "#c9d8ec",
    "text": "#5b6675",
}
CRITERION_COLORS = {"importance": "#2f6db5", "magnitude": "#e07b39", "random": "#9aa5b1"}
GRANULARITY_LINES = {"unstructured": "-", "structured": "--"}
COVERAGE_LINES = {50: ":", 80: "--", 90: "-."}
LAYER_COLORMAP = "viridis"
RADAR_AXES = (
    ("utilization", lambda m: m["utilization"]),
    ("normalized\nentropy", lambda m: m["normalized_entropy"]),
    ("1 - Gini", lambda m: 1.0 - m["gini"]),
    ("weights for\n90%", lambda m: m["coverage_90"]),
    ("above low\nshare", lambda m: 1.0 - m["low_contribution"]),
    ("not near\nzero", lambda m: 1.0 - m["near_zero"]),
)
"""Radar spokes: each a fraction in [0, 1], larger meaning the layer spreads its work wider."""

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CURVE_POINTS = 50
SAMPLE_LIMIT = 1 << 18
"""Layers with more weights are summarized from a seeded sample of this many (plot accuracy)."""
FLOOR = 1e-3
"""Relative importances below this are drawn at it (log axis)."""
NAMED_TICKS = 40
"""Up to this many layers, the x axis names them; beyond, it numbers them."""


@dataclass(frozen=True)
class ImportanceSummary:
    """What the importance charts draw of one layer.

    ``quantiles``: relative importance I / mean(I) at ``QUANTILES`` (1 = the uniform share);
    ``curve``: share of the layer's importance held by its most important fraction x of
    weights, for x = 0, 1/CURVE_POINTS, ..., 1.
    """

    weights: int
    quantiles: tuple[float, ...]
    curve: np.ndarray


def summarize_importance(importance: np.ndarray, seed: int = 0) -> ImportanceSummary:
    """Quantiles and cumulative curve of one layer's importance array."""
    flat = np.asarray(importance, np.float32).ravel()
    n = flat.size
    if n > SAMPLE_LIMIT:
        flat = flat[np.random.default_rng(seed).integers(0, n, SAMPLE_LIMIT)]
    total = float(flat.sum(dtype=np.float64))
    grid = np.linspace(0.0, 1.0, CURVE_POINTS + 1)
    if flat.size == 0 or not total > 0 or not math.isfinite(total):
        return ImportanceSummary(n, tuple(0.0 for _ in QUANTILES), np.zeros_like(grid))
    ordered = np.sort(flat)
    quantiles = np.quantile(ordered, QUANTILES) * (flat.size / total)
    held = np.concatenate([[0.0], np.cumsum(ordered[::-1], dtype=np.float64) / total])
    curve = np.interp(grid * flat.size, np.arange(flat.size + 1), held)
    return ImportanceSummary(n, tuple(float(q) for q in quantiles), curve)


def importance_label(criterion: str) -> str:
    """Axis text for the importance a chart shows; says 'magnitude' when there was no data."""
    if criterion == "magnitude":
        return "magnitude |w| (no data: not activation-weighted)"
    return f"importance {CRITERION_TEXT.get(criterion, criterion)}"


def short(name: str, width: int = 28) -> str:
    """A name cut to ``width`` characters from the left (the tail of a module path says most)."""
    return name if len(name) <= width else "..." + name[-(width - 3) :]


@styled
def importance_distributions(summaries: Mapping[str, ImportanceSummary], criterion: str) -> Figure:
    """Box per layer: 5/25/50/75/95% quantiles of importance relative to the uniform share."""
    figure = new_figure(_width(len(summaries)), 3.6)
    axes = figure.add_subplot()
    positions = np.arange(1, len(summaries) + 1)
    q = np.maximum(np.array([s.quantiles for s in summaries.values()]).reshape(-1, 5), FLOOR)
    axes.vlines(positions, q[:, 0], q[:, 4], color=COLORS["primary"], linewidth=0.8)
    _rectangles(axes, positions, q[:, 1], q[:, 3], COLORS["light"], COLORS["primary"])
    axes.hlines(q[:, 2], positions - 0.35, positions + 0.35, color=COLORS["primary"], zorder=3)
    axes.axhline(1.0, color=COLORS["secondary"], linewidth=0.8, linestyle="--")
    _log_scale(axes, "y")
    axes.set_ylabel("relative importance (1 = uniform share)")
    axes.set_title(f"Per-layer distribution of {importance_label(criterion)}")
    _layer_ticks(axes, list(summaries))
    return figure


@styled
def cumulative_importance(
    summaries: Mapping[str, ImportanceSummary],
    metrics: Mapping[str, Mapping[str, Any]],
    criterion: str,
) -> Figure:
    """Share of each layer's importance held by its top weights, with the 50/80/90% marks at
    the exact coverage the metrics pass measured."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    figure = new_figure(7.5, 4.2)
    axes = figure.add_subplot()
    grid = np.linspace(0.0, 1.0, CURVE_POINTS + 1)
    colors = _layer_colors(len(summaries))
    curves = [np.column_stack([grid, s.curve]) for s in summaries.values()]
    axes.add_collection(LineCollection(curves, colors=colors, linewidths=1.0))
    pairs = list(zip(summaries, colors, strict=True))
    for level, style in COVERAGE_LINES.items():
        measured = [(metrics[n][f"coverage_{level}"], c) for n, c in pairs if n in metrics]
        if measured:
            x, marks = zip(*measured, strict=True)
            axes.scatter(x, [level / 100] * len(x), s=9, c=list(marks), zorder=3)
        axes.axhline(level / 100, color=COLORS["muted"], linewidth=0.8, linestyle=style)
        axes.text(1.0, level / 100, f" {level}%", va="center", fontsize=8, color=COLORS["muted"])
    axes.plot([0, 1], [0, 1], color=COLORS["muted"], linewidth=0.8, label="all weights equal")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("fraction of the layer's weights, most important first")
    axes.set_ylabel("share of the layer's importance")
    axes.set_title(f"Cumulative {importance_label(criterion)}")
    names = [
        Line2D([], [], color=c, label=short(n)) for n, c in zip(summaries, colors, strict=True)
    ]
    _legend_or_colorbar(figure, axes, len(summaries), names)
    return figure


@styled
def layer_comparison(layers: Sequence[Mapping[str, Any]]) -> Figure:
    """Utilization, redundancy and sparsity of every layer (rows share the layer axis)."""
    figure = new_figure(_width(len(layers)), 5.6)
    rows = figure.subplots(3, 1, sharex=True)
    positions = np.arange(1, len(layers) + 1)
    metrics = [layer["metrics"] for layer in layers]
    panels = (
        ("utilization", "utilization", COLORS["primary"]),
        ("redundancy", "redundancy", COLORS["secondary"]),
        ("near_zero", "near-zero / zero weights", COLORS["light"]),
    )
    for axes, (key, title, color) in zip(rows, panels, strict=True):
        _rectangles(axes, positions, 0.0, np.array([m[key] for m in metrics]), color)
        axes.set_ylabel(title, fontsize=8)
        axes.set_ylim(0, 1)
    sparsity = np.array([m["sparsity"] for m in metrics])
    _rectangles(rows[2], positions, 0.0, sparsity, COLORS["tertiary"])
    rows[0].set_title("Layer comparison (fractions; sparsity: exact zeros, dark)")
    _layer_ticks(rows[2], [layer["name"] for layer in layers])
    return figure


@styled
def efficiency_radar(layers: Sequence[Mapping[str, Any]], limit: int = 12) -> Figure:
    """One radar per layer (the ``limit`` least utilized when there are more): how widely the
    layer spreads its importance, each spoke a fraction with 1 = evenly used. The radars share
    one plain axes (polar axes cost ten times more to draw)."""
    from matplotlib.collections import LineCollection, PolyCollection

    chosen = sorted(layers, key=lambda layer: layer["metrics"]["utilization"])[:limit]
    columns = min(4, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    figure = new_figure(2.5 * columns, 2.5 * rows)
    axes = figure.add_axes((0, 0, 1, 1))
    angles = np.linspace(0, 2 * np.pi, len(RADAR_AXES), endpoint=False)
    spokes = np.column_stack([np.cos(angles), np.sin(angles)])
    centers = [(3.0 * (i % columns), -3.0 * (i // columns)) for i in range(len(chosen))]
    frames, shapes = [], []
    for center, layer in zip(centers, chosen, strict=True):
        values = np.clip([value(layer["metrics"]) for _, value in RADAR_AXES], 0.0, 1.0)
        shapes.append(center + spokes * values[:, None])
        frames += [np.array([center, center + spoke]) for spoke in spokes]
        frames += [center + spokes * ring for ring in (0.5, 1.0)]
        frames[-2:] = [np.vstack([f, f[:1]]) for f in frames[-2:]]
        axes.text(center[0], center[1] + 1.35, short(layer["name"], 26), ha="center", fontsize=8)
        for (text, _), (x, y) in zip(RADAR_AXES, center + spokes * 1.12, strict=True):
            axes.text(x, y, text, ha="center", va="center", fontsize=5.5, color=COLORS["text"])
    axes.add_collection(LineCollection(frames, colors=COLORS["muted"], linewidths=0.4))
    axes.add_collection(
        PolyCollection(shapes, facecolors=COLORS["light"], edgecolors=COLORS["primary"])
    )
    axes.set_xlim(-1.6, 3.0 * (columns - 1) + 1.6)
    axes.set_ylim(-3.0 * (rows - 1) - 1.4, 1.6)
    axes.set_aspect("equal")
    axes.set_axis_off()
    return figure


@styled
def flops_by_layer(layers: Sequence[Mapping[str, Any]], total: int, limit: int = 25) -> Figure:
    """The layers with most FLOPs per sample, the rest summed, with their share of the model."""
    ranked = sorted(layers, key=lambda layer: layer.get("flops", 0), reverse=True)
    names = [short(layer["name"], 36) for layer in ranked[:limit]]
    values = [layer.get("flops", 0) for layer in ranked[:limit]]
    if len(ranked) > limit:
        names.append(f"other {len(ranked) - limit} layers")
        values.append(sum(layer.get("flops", 0) for layer in ranked[limit:]))
    return _share_bars(names, values, total, "FLOPs per sample by layer")


@styled
def flops_by_op(by_op_type: Mapping[str, Mapping[str, int]], limit: int = 20) -> Figure:
    """FLOPs per sample by op type: 2 x MACs (matrix work) and the other per-element costs."""
    ranked = sorted(by_op_type.items(), key=lambda item: item[1]["flops"], reverse=True)[:limit]
    ranked = [(op, counts) for op, counts in ranked if counts["flops"] > 0] or ranked[:1]
    figure = new_figure(7.5, 0.9 + 0.28 * len(ranked))
    axes = figure.add_subplot()
    positions = np.arange(len(ranked))[::-1]
    matrix = np.array([2 * counts["macs"] for _, counts in ranked], dtype=float)
    other = np.array([counts["flops"] for _, counts in ranked], dtype=float) - matrix
    axes.barh(positions, matrix, color=COLORS["primary"], label="2 x MACs")
    axes.barh(positions, other, left=matrix, color=COLORS["secondary"], label="other FLOPs")
    axes.set_yticks(positions, [op for op, _ in ranked])
    axes.set_xlabel("FLOPs per sample")
    axes.set_title("FLOPs by op type")
    axes.legend(loc="lower right")
    return figure


@styled
def pruning_curves(pruning: Mapping[str, Any]) -> Figure:
    """Measured pruning sweeps: agreement with the unpruned model (and accuracy with labels,
    else the relative output error) against the pruned fraction."""
    sweeps = pruning["sweeps"]
    global_sweeps = [s for s in sweeps if s["scope"] == "global"]
    layer_sweeps = [s for s in sweeps if s["scope"] == "layer"]
    panels: list[tuple[str, list, str]] = []
    if global_sweeps:
        panels.append(("agreement", global_sweeps, "global: top-1 agreement"))
        second = "accuracy" if pruning.get("labels") else "relative_error"
        panels.append((second, global_sweeps, f"global: {second.replace('_', ' ')}"))
    if layer_sweeps:
        panels.append(("agreement", layer_sweeps, "one layer at a time: agreement"))
    figure = new_figure(4.3 * max(len(panels), 1), 3.4)
    for index, (key, group, title) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        colors = _layer_colors(len(group)) if group[0]["scope"] == "layer" else None
        for number, sweep in enumerate(group):
            points = [p for p in sweep["points"] if p.get(key) is not None]
            label = _sweep_label(sweep)
            color = colors[number] if colors else CRITERION_COLORS.get(sweep["criterion"])
            style = GRANULARITY_LINES.get(sweep["granularity"], "-")
            axes.plot(
                [p["ratio"] for p in points],
                [p[key] for p in points],
                style,
                marker="o",
                ms=3,
                color=color,
                label=label,
            )
        baseline = pruning.get("baseline", {}).get("accuracy")
        if key == "accuracy" and baseline is not None:
            axes.axhline(baseline, color=COLORS["muted"], linewidth=0.8, label="unpruned")
        axes.set_xlabel("fraction of weights pruned")
        axes.set_title(title)
        _legend_or_colorbar(figure, axes, len(group))
    figure.subplots_adjust(wspace=0.35)
    return figure


@styled
def pathway_bars(pathways: Mapping[str, Any], limit: int = 15) -> Figure:
    """The top pathways' scores (product of the normalized connection importances on them), as
    log10: deep networks have scores too small for a float."""
    top = pathways["top"][:limit]
    figure = new_figure(8.5, 0.9 + 0.3 * max(len(top), 1))
    axes = figure.add_subplot()
    positions = np.arange(len(top))[::-1]
    scores = np.array([_log10_score(path) for path in top])
    if len(top):  # a dot per path on a stem: a log score has no zero for a bar to start at
        spread = max(float(scores.max() - scores.min()), 0.1)
        base = float(scores.min()) - 0.2 * spread
        axes.hlines(positions, base, scores, color=COLORS["light"], linewidth=2)
        axes.plot(scores, positions, "o", color=COLORS["primary"])
        axes.set_xlim(base, float(scores.max()) + 0.1 * spread)
    axes.set_yticks(positions, [path_text(path) for path in top], fontsize=7)
    axes.set_xlabel("log10 of the pathway score (product of normalized connection importances)")
    axes.set_title(f"Top {len(top)} pathways, input unit to output unit")
    return figure


def _log10_score(path: Mapping[str, Any]) -> float:
    if path.get("log_score") is not None:
        return path["log_score"] / math.log(10)
    return math.log10(path["score"]) if path["score"] > 0 else -math.inf


def path_text(path: Mapping[str, Any], width: int = 14) -> str:
    """``'image[0] > conv1[3] > ... > fc[7]'``: the first two and last two units of a path."""
    units = [f"{short(unit['layer'], width)}[{unit['unit']}]" for unit in path["units"]]
    if len(units) > 4:
        units = [*units[:2], "...", *units[-2:]]
    return " > ".join(units)


def _sweep_label(sweep: Mapping[str, Any]) -> str:
    if sweep["scope"] == "layer":
        structured = " (structured)" if sweep["granularity"] == "structured" else ""
        return short(sweep["layer"] or "", 24) + structured
    return f"{sweep['criterion']}, {sweep['granularity']}"


def _share_bars(names: list[str], values: list[float], total: float, title: str) -> Figure:
    figure = new_figure(7.5, 0.9 + 0.26 * max(len(names), 1))
    axes = figure.add_subplot()
    positions = np.arange(len(names))[::-1]
    bars = axes.barh(positions, values, color=COLORS["primary"])
    shares = [f" {100 * v / total:.1f}%" if total else "" for v in values]
    axes.bar_label(bars, shares, fontsize=7)
    axes.set_yticks(positions, names, fontsize=7)
    axes.set_xlabel("FLOPs per sample")
    axes.set_title(title)
    axes.margins(x=0.12)
    return figure


def _log_scale(axes: Axes, which: str) -> None:
    """A log axis (``which`` "x" or "y") labelled in plain numbers, not mathtext."""
    from matplotlib.ticker import NullFormatter, StrMethodFormatter

    axis = axes.xaxis if which == "x" else axes.yaxis
    (axes.set_xscale if which == "x" else axes.set_yscale)("log")
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _width(layers: int) -> float:
    return min(max(6.0, 0.22 * layers), 16.0)


def _layer_colors(count: int) -> list:
    from matplotlib import colormaps

    return list(colormaps[LAYER_COLORMAP](np.linspace(0.0, 1.0, count)))


def _rectangles(axes: Axes, positions, bottom, top, face: str, edge: str | None = None) -> None:
    """Bars 0.7 wide at ``positions`` from ``bottom`` to ``top``, drawn as one collection (a bar
    per layer as its own patch makes wide models slow to draw)."""
    from matplotlib.collections import PolyCollection

    low = np.broadcast_to(bottom, np.shape(positions))
    left, right = positions - 0.35, positions + 0.35
    boxes = np.stack(
        [np.column_stack(c) for c in ((left, low), (right, low), (right, top), (left, top))], 1
    )
    collection = PolyCollection(boxes, facecolors=face, edgecolors=edge or face, zorder=2)
    axes.add_collection(collection)
    axes.autoscale_view()


def _layer_ticks(axes: Axes, names: Sequence[str], start: int = 1) -> None:
    """Layer names on the x axis when few, else layer numbers."""
    positions = np.arange(start, start + len(names))
    if len(names) <= NAMED_TICKS:
        axes.set_xticks(positions, [short(name, 24) for name in names], fontsize=7)
        axes.tick_params(axis="x", labelrotation=60)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
    else:
        axes.set_xlabel("layer number (graph order)")
    axes.set_xlim(start - 0.7, start + len(names) - 0.3)


def _legend_or_colorbar(figure: Figure, axes: Axes, count: int, handles: Sequence = ()) -> None:
    """For up to 10 lines a legend (``handles`` plus the labelled artists), for more a colour
    bar of the layer number."""
    if count <= 10:
        labelled = axes.get_legend_handles_labels()[0]
        axes.legend(handles=[*handles, *labelled], fontsize=7, loc="lower right")
        return
    from matplotlib import cm, colors

    mappable = cm.ScalarMappable(colors.Normalize(1, count), LAYER_COLORMAP)
    figure.colorbar(mappable, ax=axes, label="layer number (graph order)", fraction=0.05)
