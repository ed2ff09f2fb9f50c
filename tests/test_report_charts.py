"""The report's charts draw the analysis' numbers: importance (not weights), metrics, FLOPs,
pruning sweeps and pathways."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from report_models import DIGITS_CNN, DIGITS_IMAGES, light_resnet50

import irwua
from irwua.report import charts


@pytest.fixture(scope="module")
def digits() -> irwua.Analysis:
    return irwua.analyze(DIGITS_CNN, data=np.load(DIGITS_IMAGES), passes=["flops", "metrics"])


@pytest.fixture(scope="module")
def summaries(digits):
    return {
        name: charts.summarize_importance(layer.weight)
        for name, layer in digits["importance"].layers.items()
    }


def test_summary_matches_numpy():
    values = np.random.default_rng(0).exponential(size=5000).astype(np.float32)
    summary = charts.summarize_importance(values)
    relative = values / values.mean(dtype=np.float64)
    assert summary.quantiles == pytest.approx(np.quantile(relative, charts.QUANTILES), rel=1e-5)
    ordered = np.sort(values.astype(np.float64))[::-1]
    for x in (0.1, 0.5, 0.9):  # 5000 weights: the grid point lands on a whole count
        held = ordered[: round(x * values.size)].sum() / ordered.sum()
        assert summary.curve[round(x * charts.CURVE_POINTS)] == pytest.approx(held, rel=1e-6)
    assert summary.curve[0] == 0.0 and summary.curve[-1] == pytest.approx(1.0)


def test_summary_of_a_large_layer_is_sampled_but_close():
    values = np.random.default_rng(1).lognormal(size=3 * charts.SAMPLE_LIMIT).astype(np.float32)
    summary = charts.summarize_importance(values)
    ordered = np.sort(values.astype(np.float64))[::-1]
    exact = ordered[: values.size // 2].sum() / ordered.sum()
    assert summary.weights == values.size
    assert summary.curve[charts.CURVE_POINTS // 2] == pytest.approx(exact, abs=0.01)


def test_summary_of_an_unused_layer_is_zero_not_nan():
    summary = charts.summarize_importance(np.zeros((4, 4), np.float32))
    assert summary.quantiles == (0.0,) * 5 and not summary.curve.any()


def test_distribution_boxes_are_the_importance_quantiles_not_the_weights(digits, summaries):
    figure = charts.importance_distributions(summaries, "l1")
    boxes = next(c for c in figure.axes[0].collections if isinstance(c, PolyCollection))
    name = "12"  # reads layer 9's dead units: a quarter of its weights have importance 0
    index = list(summaries).index(name)
    corners = boxes.get_paths()[index].vertices[:, 1]
    importance = digits["importance"].layers[name].weight
    low, high = np.quantile(importance / importance.mean(dtype=np.float64), [0.25, 0.75])
    assert corners.min() == pytest.approx(max(low, charts.FLOOR))
    assert corners.max() == pytest.approx(high, rel=1e-4)
    weights = np.abs(digits.graph.array(digits.graph.layer_by_name[name]))
    assert np.quantile(weights / weights.mean(), 0.25) > 100 * corners.min()
    assert "|w| x mean|x|" in figure.axes[0].get_title()


def test_without_data_the_charts_say_magnitude():
    analysis = irwua.analyze(DIGITS_CNN, passes=["metrics"])
    criterion = analysis.document["totals"]["importance_criterion"]
    summaries = {
        n: charts.summarize_importance(li.weight) for n, li in analysis["importance"].layers.items()
    }
    for figure in (
        charts.importance_distributions(summaries, criterion),
        charts.cumulative_importance(summaries, {}, criterion),
    ):
        assert "magnitude" in figure.axes[0].get_title()


def test_cumulative_curves_and_coverage_marks(digits, summaries):
    metrics = {layer["name"]: layer["metrics"] for layer in digits.document["layers"]}
    figure = charts.cumulative_importance(summaries, metrics, "l1")
    axes = figure.axes[0]
    curves = next(c for c in axes.collections if isinstance(c, LineCollection))
    assert len(curves.get_segments()) == len(summaries)
    marks = [c for c in axes.collections if c.get_offsets().size and c is not curves]
    marked_90 = next(m for m in marks if np.allclose(m.get_offsets()[:, 1], 0.9))
    expected = sorted(m["coverage_90"] for m in metrics.values())
    assert sorted(marked_90.get_offsets()[:, 0]) == pytest.approx(expected)


def test_layer_comparison_bars_are_the_metrics(digits):
    layers = digits.document["layers"]
    figure = charts.layer_comparison(layers)
    bars = next(c for c in figure.axes[0].collections if isinstance(c, PolyCollection))
    heights = [path.vertices[:, 1].max() for path in bars.get_paths()]
    assert heights == pytest.approx([layer["metrics"]["utilization"] for layer in layers])


def test_radar_shows_the_least_utilized_layers(digits):
    layers = digits.document["layers"]
    figure = charts.efficiency_radar(layers, highlighted=3)
    named = [t.get_text().split(" (")[0] for t in figure.legends[0].get_texts()]
    least = sorted(layers, key=lambda layer: layer["metrics"]["utilization"])[:3]
    assert named == [*(layer["name"] for layer in least), f"the other {len(layers) - 3} layers"]


def test_flops_by_layer_sums_the_rest(digits):
    document = digits.document
    figure = charts.flops_by_layer(document["layers"], document["totals"]["flops"], limit=2)
    bars = figure.axes[0].patches
    flops = sorted((layer["flops"] for layer in document["layers"]), reverse=True)
    assert [bar.get_width() for bar in bars] == [flops[0], flops[1], sum(flops[2:])]
    assert figure.axes[0].get_yticklabels()[-1].get_text() == f"other {len(flops) - 2} layers"


def test_flops_by_op_splits_matrix_and_other_work(digits):
    by_op = digits.document["flops"]["by_op_type"]
    figure = charts.flops_by_op(by_op)
    widths = [bar.get_width() for bar in figure.axes[0].patches]
    ranked = [
        c for c in sorted(by_op.values(), key=lambda c: c["flops"], reverse=True) if c["flops"]
    ]
    matrix = [2 * c["macs"] for c in ranked]
    assert widths == pytest.approx(
        matrix + [c["flops"] - m for c, m in zip(ranked, matrix, strict=True)]
    )


PRUNING = {
    "ratios": [0.0, 0.5, 0.9],
    "samples": 100,
    "labels": True,
    "baseline": {"accuracy": 0.97},
    "sweeps": [
        {
            "scope": "global",
            "layer": None,
            "criterion": criterion,
            "granularity": "unstructured",
            "points": [
                {
                    "ratio": r,
                    "relative_error": r / 2,
                    "agreement": 1 - r / k,
                    "accuracy": 0.97 - r / k,
                }
                for r in (0.0, 0.5, 0.9)
            ],
        }
        for criterion, k in (("importance", 8), ("random", 2))
    ]
    + [
        {
            "scope": "layer",
            "layer": "fc1",
            "criterion": "importance",
            "granularity": "structured",
            "points": [{"ratio": 0.5, "relative_error": 0.1, "agreement": 0.9, "accuracy": None}],
        }
    ],
}


def test_pruning_curves_plot_the_measured_points():
    figure = charts.pruning_curves(PRUNING)
    agreement, accuracy, per_layer = figure.axes
    importance = next(
        line for line in agreement.lines if line.get_label() == "importance, unstructured, global"
    )
    assert list(importance.get_ydata()) == pytest.approx([1.0, 1 - 0.5 / 8, 1 - 0.9 / 8])
    assert accuracy.get_title() == "all layers: accuracy"
    assert any(line.get_ydata()[0] == 0.97 for line in accuracy.lines)  # the unpruned baseline
    assert per_layer.lines[0].get_label() == "fc1 (structured)"


def test_pathway_bars_use_log_scores():
    paths = [
        {
            "score": 0.0,
            "log_score": -800.0,
            "units": [{"layer": "x", "unit": 0}, {"layer": "fc", "unit": 1}],
        },
        {
            "score": 1e-3,
            "log_score": math.log(1e-3),
            "units": [{"layer": "x", "unit": 1}, {"layer": "fc", "unit": 2}],
        },
    ]
    figure = charts.pathway_bars({"top": paths})
    dots = figure.axes[0].lines[0]
    # log10 of each path's strength over the strongest's (the first underflows a float)
    assert list(dots.get_xdata()) == pytest.approx([-800 / math.log(10) + 3.0, 0.0])
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert ticks[-1] == "1" and any(t.startswith("1e-") for t in ticks)
    assert figure.axes[0].get_yticklabels()[0].get_text() == "x[0] > fc[1]"


def test_every_chart_is_a_figure_that_nothing_shows(digits, summaries):
    document = digits.document
    figures = [
        charts.importance_distributions(summaries, "l1"),
        charts.layer_comparison(document["layers"]),
        charts.efficiency_radar(document["layers"]),
        charts.flops_by_op(document["flops"]["by_op_type"]),
        charts.pruning_curves(PRUNING),
    ]
    assert all(isinstance(figure, Figure) and figure.axes for figure in figures)


def _ink(figure: Figure) -> list[float]:
    """For each axes of the figure, the share of its pixels that are not background."""
    from irwua.report.svg import chart_style

    with chart_style():
        figure.canvas.draw()
        pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    height = pixels.shape[0]
    shares = []
    for axes in figure.axes:
        box = axes.get_window_extent()
        top, bottom = int(height - box.y1), int(height - box.y0)
        region = pixels[max(top, 0) : bottom, int(box.x0) : int(box.x1)]
        shares.append(float(np.mean(region.min(axis=2) < 235)))
    return shares


def test_no_chart_panel_is_blank(digits, summaries):
    """Every panel of every chart has ink beyond its frame: the light ResNet-50 (constant
    weights: no near-zero weight anywhere, every layer's profile alike) and the digits CNN."""
    resnet = light_resnet50().document
    document = digits.document
    figures = {
        "digits layer comparison": charts.layer_comparison(document["layers"]),
        "digits radar": charts.efficiency_radar(document["layers"]),
        "digits importance": charts.importance_distributions(summaries, "l1"),
        "digits pruning": charts.pruning_curves(PRUNING),
        "resnet layer comparison": charts.layer_comparison(resnet["layers"]),
        "resnet radar": charts.efficiency_radar(resnet["layers"]),
        "resnet flops by op": charts.flops_by_op(resnet["flops"]["by_op_type"]),
    }
    for name, figure in figures.items():
        shares = _ink(figure)
        assert min(shares) > 0.01, (name, shares)
    labels = [t.get_text() for t in figures["resnet flops by op"].axes[0].get_xticklabels()]
    assert not any("e+" in label for label in labels)
    assert any(label.endswith((" k", " M", " G")) for label in labels)  # no 1e9 offset
