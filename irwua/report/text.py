"""The concise terminal report printed by ``irwua analyze`` and ``Analysis.print_report()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irwua.report.formatting import human, human_bytes, share

if TYPE_CHECKING:
    from irwua.analysis import Analysis

TOP_LAYERS = 10


def render_text(analysis: Analysis) -> str:
    document = analysis.document
    model, totals = document["model"], document["totals"]
    shapes = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in model["input_shapes"].items())
    lines = [
        f"irwua {document['irwua_version']} - {model.get('path') or 'in-memory model'}",
        f"  opset {model['opset']}, inputs {shapes}, {totals['layers']} weighted layers",
    ]
    if "flops" in document:
        lines += _flops_lines(document, totals)
    if "utilization" in totals:
        lines += _metrics_lines(document, totals)
    if "recommendations" in document:
        lines += _recommendation_lines(document["recommendations"])
    return "\n".join(lines)


def _recommendation_lines(section: dict) -> list[str]:
    items = section.get("items", [])
    lines = [f"  recommendations ({len(items)}):" if items else "  recommendations: none"]
    for item in items[:TOP_LAYERS]:
        where = f" {item['layer']}:" if item.get("layer") else ""
        lines.append(f"    [{item['severity']}]{where} {item['text']}")
    if len(items) > TOP_LAYERS:
        lines.append(f"    ... {len(items) - TOP_LAYERS} more in the report")
    return lines


def _metrics_lines(document: dict, totals: dict) -> list[str]:
    source = (
        f"importance {totals['importance_criterion']} on {totals['samples']} samples"
        if totals.get("data")
        else "no data: importance is weight magnitude only"
    )
    lines = [
        f"  weight usage ({source}):",
        f"    utilization {totals['utilization']:.1%} "
        f"({human(totals['effective_params'])} effective of {human(totals['scored_weights'])}), "
        f"compression potential {totals['compression_potential']:.1%}, "
        f"mean redundancy {totals['mean_redundancy']:.3f}",
        "    least used layers:",
    ]
    ranked = sorted(document["layers"], key=lambda layer: layer["metrics"]["utilization"])
    for layer in ranked[:TOP_LAYERS]:
        metrics = layer["metrics"]
        dead = "" if metrics["dead_units"] is None else f"  dead units {metrics['dead_units']}"
        lines.append(
            f"      {layer['name'][:40]:<40} utilization {metrics['utilization']:6.1%}  "
            f"gini {metrics['gini']:.2f}  90% in {metrics['coverage_90']:.0%}{dead}"
        )
    return lines


def _flops_lines(document: dict, totals: dict) -> list[str]:
    flops = document["flops"]
    lines = [
        f"  params {human(totals['params'])} ({human_bytes(totals['weight_bytes'])}), "
        f"MACs {human(totals['macs'])}, FLOPs {human(totals['flops'])} per sample, "
        f"activations {human_bytes(totals['activation_bytes'])}",
    ]
    if totals.get("training_flops"):
        lines.append(f"  training estimate: {human(totals['training_flops'])} FLOPs")
    if flops["unsupported"]:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(flops["unsupported"].items()))
        lines.append(f"  unsupported ops (not counted): {listed}")
    if flops["unresolved"]:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(flops["unresolved"].items()))
        lines.append(f"  ops with unknown shapes (not counted): {listed}")
    lines += [f"  note: {note}" for note in flops["notes"]]
    top = sorted(document["layers"], key=lambda layer: layer.get("flops", 0), reverse=True)
    if top:
        lines.append("  top layers by FLOPs:")
    for layer in top[:TOP_LAYERS]:
        lines.append(
            f"    {layer['name'][:40]:<40} {layer['op_type']:<18} {human(layer['flops']):>9} "
            f"{share(layer['flops'], totals['flops']):>6}  params {human(layer['params'])}"
        )
    return lines
