"""The summary: the headline numbers as cards, and what importance was computed from."""

from __future__ import annotations

from typing import Any

from irwua.report.formatting import CRITERION_TEXT, human, human_bytes, percent
from irwua.report.sections.section import Document, Report, Section


class Summary(Section):
    key = "summary"
    title = "Summary"

    def view(self, report: Report) -> dict[str, Any]:
        document = report.analysis.document
        totals = document["totals"]
        cards = [("weighted layers", str(totals["layers"]))]
        if "flops" in document:
            cards += [
                ("parameters", human(totals["params"])),
                ("MACs / sample", human(totals["macs"])),
                ("FLOPs / sample", human(totals["flops"])),
                ("weights", human_bytes(totals["weight_bytes"])),
                ("activations / sample", human_bytes(totals["activation_bytes"])),
            ]
            if totals.get("training_flops"):
                cards.append(("training estimate", human(totals["training_flops"], "FLOPs")))
        if "utilization" in totals:
            cards += [
                ("weight utilization", percent(totals["utilization"])),
                ("effective weights", human(totals["effective_params"])),
                ("compression potential", percent(totals["compression_potential"])),
                ("mean redundancy", f"{totals['mean_redundancy']:.3f}"),
            ]
        recommendations = document.get("recommendations", {}).get("items", [])
        warnings = sum(1 for item in recommendations if item["severity"] == "warning")
        if recommendations:
            cards.append(("recommendations", f"{len(recommendations)} ({warnings} warnings)"))
        return {"cards": cards}

    def text(self, document: Document) -> list[str]:
        model, totals = document["model"], document["totals"]
        shapes = ", ".join(
            f"{k}={'x'.join(map(str, v)) or 'scalar'}" for k, v in model["input_shapes"].items()
        )
        return [
            f"irwua {document['irwua_version']} - {model.get('path') or 'in-memory model'}",
            f"  opset {model['opset']}, inputs {shapes}, {totals['layers']} weighted layers",
        ]


def importance_source(document: Document) -> str | None:
    """One sentence on what importance was computed from (and the layers it could not measure),
    or None when it did not run."""
    totals = document["totals"]
    if "importance_criterion" not in totals:
        return None
    if not totals.get("data"):
        return "No data was given: importance is weight magnitude |w| only."
    criterion = CRITERION_TEXT.get(totals["importance_criterion"], "")
    note = document.get("importance", {}).get("note")
    return (
        f"Importance is {criterion} ({totals['importance_criterion']}), measured on "
        f"{totals['samples']} samples." + (f" {note[0].upper()}{note[1:]}." if note else "")
    )


SECTION = Summary()
