"""FLOPs: the counting convention, what could not be counted, charts by layer and by op type,
and a table by op type; the layer table's cost columns and the terminal's cost lines."""

from __future__ import annotations

from typing import Any

from irwua.report.cells import number_cell
from irwua.report.formatting import human, human_bytes, name_column, share, shortened
from irwua.report.sections.section import Document, Entry, LayerColumn, Report, Section

TOP_LAYERS = 10
"""Layers listed in the terminal, most expensive first."""


class Flops(Section):
    key = "flops"
    title = "FLOPs"

    def view(self, report: Report) -> dict[str, Any] | None:
        document = report.analysis.document
        if "flops" not in document:
            return None
        from irwua.report import charts  # drawn for the page only, not for the terminal
        from irwua.report.svg import chart

        flops, totals = document["flops"], document["totals"]
        by_op = sorted(flops["by_op_type"].items(), key=lambda item: item[1]["flops"], reverse=True)
        op_rows = [
            [
                {"text": op},
                number_cell(counts["macs"], human(counts["macs"])),
                number_cell(counts["flops"], human(counts["flops"])),
                number_cell(counts["flops"], share(counts["flops"], totals["flops"])),
                number_cell(counts["params"], human(counts["params"])),
                number_cell(counts["activation_bytes"], human_bytes(counts["activation_bytes"])),
            ]
            for op, counts in by_op
        ]
        return {
            "convention": flops["convention"],
            "warnings": [f"{what}: {_listed(ops)}" for what, ops in _uncounted(flops) if ops]
            + list(flops["notes"]),
            "op_columns": ["op type", "MACs", "FLOPs", "share", "params", "activations"],
            "op_rows": op_rows,
            "charts": [
                chart(charts.flops_by_layer(document["layers"], totals["flops"])),
                chart(charts.flops_by_op(flops["by_op_type"])),
            ],
        }

    def layer_columns(self, document: Document) -> list[LayerColumn]:
        if "flops" not in document:
            return []
        total = document["totals"].get("flops", 0)
        return [
            LayerColumn("params", lambda e: number_cell(e["params"], human(e["params"]))),
            LayerColumn("MACs", lambda e: number_cell(e["macs"], human(e["macs"]))),
            LayerColumn("FLOPs", lambda e: number_cell(e["flops"], human(e["flops"]))),
            LayerColumn("share", lambda e: number_cell(e["flops"], share(e["flops"], total))),
        ]

    def layer_items(self, entry: Entry, document: Document) -> list[tuple[str, Any]]:
        if "params" not in entry:
            return []
        return [
            ("params", f"{entry['params']:,}"),
            ("weight bytes", human_bytes(entry["weight_bytes"])),
            ("MACs / FLOPs", f"{entry['macs']:,} / {entry['flops']:,}"),
            ("activation bytes", human_bytes(entry["activation_bytes"])),
        ]

    def text(self, document: Document) -> list[str]:
        if "flops" not in document:
            return []
        flops, totals = document["flops"], document["totals"]
        lines = [
            f"  params {human(totals['params'])} ({human_bytes(totals['weight_bytes'])}), "
            f"MACs {human(totals['macs'])}, FLOPs {human(totals['flops'])} per sample, "
            f"activations {human_bytes(totals['activation_bytes'])}",
        ]
        if totals.get("training_flops"):
            lines.append(f"  training estimate: {human(totals['training_flops'])} FLOPs")
        texts = ("unsupported ops (not counted)", "ops with unknown shapes (not counted)")
        for text, (_, ops) in zip(texts, _uncounted(flops), strict=True):
            if ops:
                lines.append(f"  {text}: {_listed(ops)}")
        lines += [f"  note: {note}" for note in flops["notes"]]
        top = sorted(document["layers"], key=lambda layer: layer.get("flops", 0), reverse=True)
        if top:
            lines.append("  top layers by FLOPs:")
        width = name_column([layer["name"] for layer in top[:TOP_LAYERS]], 56)
        for layer in top[:TOP_LAYERS]:
            lines.append(
                f"    {shortened(layer['name'], width):<{width}} {layer['op_type']:<18} "
                f"{human(layer['flops']):>9} {share(layer['flops'], totals['flops']):>6}  "
                f"params {human(layer['params'])}"
            )
        return lines


def _uncounted(flops: Document) -> list[tuple[str, dict[str, int]]]:
    return [
        ("Unsupported ops, not counted", flops["unsupported"]),
        ("Ops with unknown shapes, not counted", flops["unresolved"]),
    ]


def _listed(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} x{count}" for op, count in sorted(ops.items()))


SECTION = Flops()
