"""The per-layer parts of the HTML report: the sortable layer table and the layer details.

A table is ``{"columns": [title, ...], "rows": [[cell, ...], ...]}``; a cell is ``{"text": shown,
"sort": number}`` (``sort`` only for numbers, so the page sorts by value, not by '4.09 G').
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from irwua.report.formatting import human, human_bytes, percent, share

Cell = dict[str, Any]
Entry = Mapping[str, Any]


def layer_table(document: Mapping[str, Any]) -> dict[str, Any]:
    """One row per weighted layer; columns for the passes that ran."""
    total_flops = document["totals"].get("flops", 0)
    advice = _advice(document)
    columns: list[tuple[str, Callable[[Entry], Cell]]] = [
        ("name", lambda e: {"text": e["name"]}),
        ("op", lambda e: {"text": e["op_type"]}),
        ("weight", lambda e: {"text": _dims(e["tensors"].get("weight", []))}),
    ]
    if "flops" in document:
        columns += [
            ("params", lambda e: _number(e["params"], human(e["params"]))),
            ("MACs", lambda e: _number(e["macs"], human(e["macs"]))),
            ("FLOPs", lambda e: _number(e["flops"], human(e["flops"]))),
            ("share", lambda e: _number(e["flops"], share(e["flops"], total_flops))),
        ]
    if "utilization" in document["totals"]:
        columns += [
            ("utilization", lambda e: fraction_cell(e["metrics"]["utilization"])),
            ("redundancy", lambda e: _number(e["metrics"]["redundancy"], "{:.3f}")),
            ("Gini", lambda e: _number(e["metrics"]["gini"], "{:.2f}")),
            ("90% of importance in", lambda e: fraction_cell(e["metrics"]["coverage_90"], 0)),
            ("low share", lambda e: fraction_cell(e["metrics"]["low_contribution"])),
            ("near zero", lambda e: fraction_cell(e["metrics"]["near_zero"])),
            ("dead units", lambda e: optional_cell(e["metrics"]["dead_units"])),
        ]
    if advice:
        columns += [
            (
                "safe sparsity",
                lambda e: fraction_cell(advice.get(e["name"], {}).get("max_sparsity")),
            ),
            ("suggested width", lambda e: _width(advice.get(e["name"]))),
        ]
    rows = [[cell(entry) for _, cell in columns] for entry in document["layers"]]
    return {"columns": [title for title, _ in columns], "rows": rows}


def layer_details(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per layer: a one-line summary and every stored value, as (term, text) pairs."""
    advice = _advice(document)
    details = []
    for entry in document["layers"]:
        summary = entry["op_type"]
        if "metrics" in entry:
            summary += f", utilization {percent(entry['metrics']['utilization'])}"
        items = [item for item in _detail_items(entry, advice.get(entry["name"])) if item[1]]
        details.append({"name": entry["name"], "summary": summary, "items": items})
    return details


def _detail_items(entry: Entry, advice: Entry | None) -> list[tuple[str, Any]]:
    items = [("kind", f"{entry['kind']} ({entry['op_type']})")]
    items += [(key.replace("_", " "), entry.get(key)) for key in ("scope", "framework_name")]
    items += [(f"{role} shape", _dims(dims)) for role, dims in entry["tensors"].items()]
    if "params" in entry:
        items += [
            ("params", f"{entry['params']:,}"),
            ("weight bytes", human_bytes(entry["weight_bytes"])),
            ("MACs / FLOPs", f"{entry['macs']:,} / {entry['flops']:,}"),
            ("activation bytes", human_bytes(entry["activation_bytes"])),
        ]
    if "input_mean_abs" in entry:
        items.append(("input mean |x|", f"{entry['input_mean_abs']:.4g}"))
        items.append(("input zeros", percent(entry.get("input_zero_fraction"))))
    if "importance" in entry:
        items.append(("importance (sum)", f"{entry['importance']:.4g}"))
        items.append(("importance criterion", entry["importance_criterion"]))
    for key, value in entry.get("metrics", {}).items():
        items.append((key.replace("_", " "), _metric(value)))
    if "neuron_importance" in entry:
        neurons = entry["neuron_importance"]
        units = ", ".join(f"{unit} ({value:.3g})" for unit, value in neurons["top"])
        items.append(("most important units", f"{units} of {neurons['units']}"))
    if advice is not None:
        items.append(("recommendation", advice.get("reason")))
    items.append(("note", entry.get("note")))
    return items


def _advice(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    layers = document.get("recommendations", {}).get("layers", [])
    return {layer["layer"]: layer for layer in layers}


def _width(advice: Mapping[str, Any] | None) -> Cell:
    if not advice or advice.get("suggested_width") is None:
        return {"text": "n/a"}
    suggested = advice["suggested_width"]
    return {"text": f"{suggested} of {advice['width']}", "sort": suggested}


def _number(value: float | int | None, text: str) -> Cell:
    shown = text.format(value) if "{" in text else text
    return {"text": shown, "sort": value}


def fraction_cell(value: float | None, digits: int = 1) -> Cell:
    """A sortable table cell for a fraction, shown as a percentage."""
    return {"text": percent(value, digits), "sort": value}


def optional_cell(value: Any) -> Cell:
    """A sortable table cell for a value that may be missing (n/a)."""
    return {"text": "n/a" if value is None else str(value), "sort": value}


def _metric(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else f"{value:,}"


def _dims(dims) -> str:
    return "x".join(str(d) for d in dims) or "scalar"
