"""The concise terminal report printed by ``irwua analyze`` and ``Analysis.print_report()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irwua.report.units import human, human_bytes, share

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
    return "\n".join(lines)


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
