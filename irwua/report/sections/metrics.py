"""Weight usage: the global metrics and the importance charts; the layer table's metric columns,
each layer's activation, importance and metric values, and the terminal's least used layers."""

from __future__ import annotations

from typing import Any

from irwua.report.cells import fraction_cell, number_cell, optional_cell
from irwua.report.formatting import human, name_column, percent, shortened
from irwua.report.sections.section import Document, Entry, LayerColumn, Report, Section

LEAST_USED = 10
"""Layers listed in the terminal, least utilized first."""


class Metrics(Section):
    key = "metrics"
    title = "Weight usage"

    def view(self, report: Report) -> dict[str, Any] | None:
        analysis = report.analysis
        if "metrics" not in analysis.results:
            return None
        totals = analysis.document["totals"]
        criterion = totals["importance_criterion"]
        rows = [
            ("scored weights", human(totals["scored_weights"])),
            ("effective weights", human(totals["effective_params"])),
            ("utilization", percent(totals["utilization"])),
            ("compression potential", percent(totals["compression_potential"])),
            ("mean redundancy", f"{totals['mean_redundancy']:.3f}"),
            ("importance", criterion),
        ]
        return {"rows": rows, "charts": _usage_charts(analysis, criterion)}

    def layer_columns(self, document: Document) -> list[LayerColumn]:
        if "utilization" not in document["totals"]:
            return []
        return [
            LayerColumn("utilization", lambda e: fraction_cell(e["metrics"]["utilization"])),
            LayerColumn("redundancy", lambda e: number_cell(e["metrics"]["redundancy"], "{:.3f}")),
            LayerColumn("Gini", lambda e: number_cell(e["metrics"]["gini"], "{:.2f}")),
            LayerColumn(
                "90% of importance in", lambda e: fraction_cell(e["metrics"]["coverage_90"], 0)
            ),
            LayerColumn("low share", lambda e: fraction_cell(e["metrics"]["low_contribution"])),
            LayerColumn("near zero", lambda e: fraction_cell(e["metrics"]["near_zero"])),
            LayerColumn("dead units", lambda e: optional_cell(e["metrics"]["dead_units"])),
        ]

    def layer_items(self, entry: Entry, document: Document) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = []
        if "input_mean_abs" in entry:
            items.append(("input mean |x|", f"{entry['input_mean_abs']:.3g}"))
            items.append(("input zeros", percent(entry.get("input_zero_fraction"))))
        if "importance" in entry:
            items.append(("importance (sum)", f"{entry['importance']:.3g}"))
            items.append(("importance criterion", entry["importance_criterion"]))
        for key, value in entry.get("metrics", {}).items():
            items.append((key.replace("_", " "), _metric(key, value)))
        return items

    def text(self, document: Document) -> list[str]:
        totals = document["totals"]
        if "utilization" not in totals:
            return []
        source = (
            f"importance {totals['importance_criterion']} on {totals['samples']} samples"
            if totals.get("data")
            else "no data: importance is weight magnitude only"
        )
        if totals["utilization"] is None:
            return [
                "  weight usage: no layer has weights irwua can score (ONNX-ML ops keep theirs in "
                "attributes), so utilization and compression potential do not apply"
            ]
        lines = [
            f"  weight usage ({source}):",
            f"    utilization {totals['utilization']:.1%} "
            f"({human(totals['effective_params'])} effective of "
            f"{human(totals['scored_weights'])}), "
            f"compression potential {totals['compression_potential']:.1%}, "
            f"mean redundancy {totals['mean_redundancy']:.3f}",
        ]
        note = document.get("importance", {}).get("note") if totals.get("data") else None
        lines += [f"    note: {note}"] if note else []
        lines.append("    least used layers:")
        ranked = sorted(document["layers"], key=lambda layer: layer["metrics"]["utilization"])
        width = name_column([layer["name"] for layer in ranked[:LEAST_USED]], 64)
        for layer in ranked[:LEAST_USED]:
            metrics = layer["metrics"]
            dead = "" if metrics["dead_units"] is None else f"  dead units {metrics['dead_units']}"
            lines.append(
                f"      {shortened(layer['name'], width):<{width}} "
                f"utilization {metrics['utilization']:6.1%}  "
                f"gini {metrics['gini']:.2f}  90% in {metrics['coverage_90']:.0%}{dead}"
            )
        return lines


def _usage_charts(analysis, criterion: str) -> list[dict[str, Any]]:
    from irwua.report import charts  # drawn for the page only, not for the terminal
    from irwua.report.svg import chart

    layers = [layer for layer in analysis.document["layers"] if "metrics" in layer]
    if not layers:
        return []
    summaries = {
        name: charts.summarize_importance(layer.weight)
        for name, layer in analysis.results["importance"].layers.items()
    }
    metrics = {layer["name"]: layer["metrics"] for layer in layers}
    return [
        chart(
            charts.importance_distributions(summaries, criterion),
            "Boxes: 25-75% of each layer's weights, whiskers 5-95%, line the median; "
            "1 on the axis is the share every weight would have if all mattered equally.",
        ),
        chart(
            charts.cumulative_importance(summaries, metrics, criterion),
            "How few weights hold most of each layer's importance; dots mark where each layer "
            "reaches 50, 80 and 90% (the coverage metrics).",
        ),
        chart(charts.layer_comparison(layers)),
        chart(
            charts.efficiency_radar(layers),
            "Each spoke is a share, 1 = importance spread evenly over the layer's weights: the "
            "effective share used (utilization), the spread of importance (normalized entropy), "
            "its equality (1 - Gini), the share of weights holding 90% of it, and the shares "
            "not negligible and not near zero. The three least utilized layers are in colour.",
        ),
    ]


SHARES = frozenset(
    "utilization coverage_50 coverage_80 coverage_90 low_contribution sparsity near_zero".split()
)
"""The metrics that are shares of a layer's weights, shown as percentages."""


def _metric(key: str, value: Any) -> str:
    """A metric as the layer details show it: shares as percentages, counts in k/M, indices
    (entropy, redundancy, Gini) with three decimals."""
    if value is None:
        return "n/a"
    if key in SHARES:
        return percent(value)
    if isinstance(value, int) or key == "effective_weights":
        return human(value)
    return f"{value:.3f}"


SECTION = Metrics()
