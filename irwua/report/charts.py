"""The report's charts: one function per chart, each returns its matplotlib ``Figure``.

Charts only draw what the passes computed: importance charts read the importance arrays (never
raw weights; when importance ran without data they say it is magnitude), the others read the
analysis document (``layers[]`` entries and the ``flops``, ``pruning`` and ``pathways``
sections). ``svg.figure_svg`` turns a figure into inline SVG; nothing here shows a window.
Chart text is never mathtext (``svg.RC``), so a ``$`` in a layer name stays text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from irwua.report.formatting import CRITERION_TEXT, human, sweep_label
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
    ("used\n(utilization)", lambda m: m["utilization"]),
    ("spread\n(entropy)", lambda m: m["normalized_entropy"]),
    ("equal\n(1 - Gini)", lambda m: 1.0 - m["gini"]),
    ("weights\nfor 90%", lambda m: m["coverage_90"]),
    ("not\nnegligible", lambda m: 1.0 - m["low_contribution"]),
    ("not\nnear zero", lambda m: 1.0 - m["near_zero"]),
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
        _percent_axis(axes, "y")
    sparsity = np.array([m["sparsity"] for m in metrics])
    _rectangles(rows[2], positions, 0.0, sparsity, COLORS["tertiary"])
    shares = np.array([m["near_zero"] for m in metrics] + [*sparsity])
    rows[2].set_ylim(0, max(float(shares.max(initial=0.0)) * 1.15, 0.01))  # small shares show
    if not shares.any():
        rows[2].text(
            0.5,
            0.5,
            "no layer has near-zero or zero weights",
            transform=rows[2].transAxes,
            ha="center",
            va="center",
            color=COLORS["text"],
        )
    rows[0].set_title("Layer comparison (shares of each layer's weights; exact zeros dark)")
    _layer_ticks(rows[2], [layer["name"] for layer in layers])
    return figure


@styled
def efficiency_radar(layers: Sequence[Mapping[str, Any]], highlighted: int = 3) -> Figure:
    """One radar of how widely each layer spreads its importance, each spoke a fraction with
    1 = evenly used: every layer a thin grey outline, the ``highlighted`` least utilized in
    colour and named, so that the odd layers stand out from the common profile."""
    from matplotlib.lines import Line2D

    figure = new_figure(6.4, 4.6)
    axes = figure.add_axes((0, 0, 0.62, 1))
    angles = np.linspace(0, 2 * np.pi, len(RADAR_AXES), endpoint=False) + np.pi / 2
    spokes = np.column_stack([np.cos(angles), np.sin(angles)])
    for ring in (0.25, 0.5, 0.75, 1.0):
        outline = np.vstack([spokes * ring, spokes[:1] * ring])
        axes.plot(outline[:, 0], outline[:, 1], color=COLORS["muted"], linewidth=0.4)
    for spoke, (text, _) in zip(spokes, RADAR_AXES, strict=True):
        axes.plot([0, spoke[0]], [0, spoke[1]], color=COLORS["muted"], linewidth=0.4)
        x, y = spoke * 1.2
        axes.text(x, y, text, ha="center", va="center", fontsize=8, color=COLORS["text"])
    ranked = sorted(layers, key=lambda layer: layer["metrics"]["utilization"])
    chosen = ranked[:highlighted]
    colors = [COLORS["secondary"], COLORS["primary"], COLORS["tertiary"]]
    for layer in ranked[highlighted:]:
        shape = _radar_shape(layer, spokes)
        axes.plot(shape[:, 0], shape[:, 1], color=COLORS["muted"], linewidth=0.6, alpha=0.6)
    handles = []
    for layer, color in zip(chosen, itertools.cycle(colors)):
        shape = _radar_shape(layer, spokes)
        axes.fill(shape[:, 0], shape[:, 1], color=color, alpha=0.12)
        axes.plot(shape[:, 0], shape[:, 1], color=color, linewidth=1.6)
        utilization = layer["metrics"]["utilization"]
        label = f"{short(layer['name'], 30)} (utilization {100 * utilization:.0f}%)"
        handles.append(Line2D([], [], color=color, linewidth=1.6, label=label))
    if len(ranked) > highlighted:
        others = f"the other {len(ranked) - highlighted} layers"
        handles.append(Line2D([], [], color=COLORS["muted"], linewidth=0.6, label=others))
    figure.legend(handles=handles, loc="center left", bbox_to_anchor=(0.62, 0.5), fontsize=8)
    axes.set_xlim(-1.45, 1.45)
    axes.set_ylim(-1.35, 1.4)
    axes.set_aspect("equal")
    axes.set_axis_off()
    axes.set_title("How evenly each layer uses its weights (1 = evenly)", fontsize=10)
    return figure


def _radar_shape(layer: Mapping[str, Any], spokes: np.ndarray) -> np.ndarray:
    """A layer's closed outline on the radar's spokes."""
    values = np.clip([value(layer["metrics"]) for _, value in RADAR_AXES], 0.0, 1.0)
    points = spokes * values[:, None]
    return np.vstack([points, points[:1]])


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
    _count_axis(axes, "x")
    axes.set_title("FLOPs by op type")
    axes.legend(loc="lower right")
    return figure


@styled
def pruning_curves(pruning: Mapping[str, Any]) -> Figure:
    """Measured pruning sweeps: agreement with the unpruned model (and accuracy with labels,
    else the relative output error) against the share of the prunable weights each point
    removed, so that sweeps compare at equal compression (a structured sweep's ratio also
    counts its consumers' inputs; one layer's sweep removes a share of that layer)."""
    sweeps = pruning["sweeps"]
    whole = [s for s in sweeps if s["scope"] != "layer"]
    layer_sweeps = [s for s in sweeps if s["scope"] == "layer"]
    panels: list[tuple[str, list, str]] = []
    if whole:
        panels.append(("agreement", whole, "all layers: top-1 agreement"))
        second = "accuracy" if pruning.get("labels") else "relative_error"
        panels.append((second, whole, f"all layers: {second.replace('_', ' ')}"))
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
            style = GRANULARITY_LINES.get(sweep["granularity"], ":")
            axes.plot(
                [p.get("removed", p["ratio"]) for p in points],
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
        axes.set_xlabel("share of the prunable weights removed")
        _percent_axis(axes, "x")
        if key != "relative_error":
            axes.set_ylim(-0.02, 1.02)
            _percent_axis(axes, "y")
        axes.set_title(title)
        _legend_or_colorbar(figure, axes, len(group), below=True)
    figure.subplots_adjust(wspace=0.35)
    return figure


@styled
def pathway_bars(pathways: Mapping[str, Any], limit: int = 15) -> Figure:
    """The top pathways' strength relative to the strongest (1 = as strong; their scores are
    products of normalized connection importances, too small for a float in deep networks, so
    the ratios come from the log scores)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    top = pathways["top"][:limit]
    figure = new_figure(8.5, 0.9 + 0.3 * max(len(top), 1))
    axes = figure.add_subplot()
    positions = np.arange(len(top))[::-1]
    logs = np.array([_log10_score(path) for path in top])
    finite = np.isfinite(logs)
    if finite.any():  # a path of score 0 (an unused unit on it) has no dot
        # log10 of each path's strength over the strongest's, drawn on a linear axis whose
        # ticks read as the ratio: the ratios of deep networks underflow a float
        relative = logs[finite] - logs[finite].max()
        spread = max(-float(relative.min()), 1.0)
        base = -1.15 * spread
        axes.hlines(positions[finite], base, relative, color=COLORS["light"], linewidth=2)
        axes.plot(relative, positions[finite], "o", color=COLORS["primary"])
        axes.set_xlim(base, 0.08 * spread)
        if spread <= 2:  # within a hundredfold: ticks at 1, 0.5, 0.2, 0.1, ...
            ratios = [r for r in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if np.log10(r) >= base]
            axes.xaxis.set_major_locator(FixedLocator(np.log10(ratios)))
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.xaxis.set_major_formatter(FuncFormatter(_ratio_tick))
    axes.set_yticks(positions, [path_text(path) for path in top], fontsize=7)
    axes.set_xlabel("strength relative to the strongest pathway (1 = as strong)")
    axes.set_title(f"Top {len(top)} pathways, input unit to output unit")
    return figure


def _ratio_tick(exponent: float, _position: int) -> str:
    """A tick at log10(ratio) ``exponent`` shown as the ratio: 1, 0.1, 0.001, 1e-12."""
    if exponent > 1e-9:
        return ""
    return f"{10.0**exponent:.2g}" if exponent >= -3 else f"1e{exponent:.0f}"


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
        granularity = sweep["granularity"]
        return short(sweep["layer"] or "", 24) + (
            "" if granularity == "unstructured" else f" ({granularity})"
        )
    return sweep_label(sweep)


def _share_bars(names: list[str], values: list[float], total: float, title: str) -> Figure:
    figure = new_figure(7.5, 0.9 + 0.26 * max(len(names), 1))
    axes = figure.add_subplot()
    positions = np.arange(len(names))[::-1]
    bars = axes.barh(positions, values, color=COLORS["primary"])
    shares = [f" {100 * v / total:.1f}%" if total else "" for v in values]
    axes.bar_label(bars, shares, fontsize=7)
    axes.set_yticks(positions, names, fontsize=7)
    axes.set_xlabel("FLOPs per sample")
    _count_axis(axes, "x")
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


def _count_axis(axes: Axes, which: str) -> None:
    """Counts on an axis in k/M/G (``irwua.report.formatting.human``), never with an offset."""
    from matplotlib.ticker import FuncFormatter

    axis = axes.xaxis if which == "x" else axes.yaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _: human(value)))


def _percent_axis(axes: Axes, which: str) -> None:
    """Shares on an axis as percentages."""
    from matplotlib.ticker import PercentFormatter

    axis = axes.xaxis if which == "x" else axes.yaxis
    axis.set_major_formatter(PercentFormatter(1.0, decimals=None))


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
    """Layer names on the x axis: every layer's when few, else every k-th (graph order)."""
    step = max(1, math.ceil(len(names) / NAMED_TICKS))
    positions = np.arange(start, start + len(names))[::step]
    axes.set_xticks(positions, [short(name, 24) for name in names[::step]], fontsize=7)
    axes.tick_params(axis="x", labelrotation=60)
    for label in axes.get_xticklabels():
        label.set_horizontalalignment("right")
    if step > 1:
        axes.set_xlabel(f"layers in graph order (one in {step} named)")
    axes.set_xlim(start - 0.7, start + len(names) - 0.3)


def _legend_or_colorbar(
    figure: Figure, axes: Axes, count: int, handles: Sequence = (), below: bool = False
) -> None:
    """For up to 10 lines a legend (``handles`` plus the labelled artists; ``below`` the axes,
    where it covers no curve), for more a colour bar of the layer number."""
    if count <= 10:
        labelled = axes.get_legend_handles_labels()[0]
        place = (
            {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "ncol": 2}
            if below
            else {"loc": "lower right"}
        )
        axes.legend(handles=[*handles, *labelled], fontsize=7, **place)
        return
    from matplotlib import cm, colors

    mappable = cm.ScalarMappable(colors.Normalize(1, count), LAYER_COLORMAP)
    figure.colorbar(mappable, ax=axes, label="layer number (graph order)", fraction=0.05)
