"""Layer details: per layer a one-line summary and every stored value, from every section."""

from __future__ import annotations

from typing import Any

from irwua.report.cells import dims
from irwua.report.formatting import percent
from irwua.report.sections.section import Report, Section
from irwua.report.sections.verdict import layer_anchor

NAMING_KEYS = ("scope", "framework_name")
"""Entry keys that say where a layer sits: its subgraph scope and the framework's name."""


class Details(Section):
    key = "details"
    title = "Layer details"

    def view(self, report: Report) -> list[dict[str, Any]]:
        document = report.analysis.document
        details = []
        for index, entry in enumerate(document["layers"]):
            summary = entry["op_type"]
            if "metrics" in entry:
                summary += f", utilization {percent(entry['metrics']['utilization'])}"
            items = [("kind", f"{entry['kind']} ({entry['op_type']})")]
            items += [
                (key.replace("_", " "), entry.get(key)) for key in ("scope", "framework_name")
            ]
            items += [(f"{role} shape", dims(shape)) for role, shape in entry["tensors"].items()]
            for section in report.sections:
                items += section.layer_items(entry, document)
            items.append(("note", entry.get("note")))
            shown = [item for item in items if item[1]]
            details.append(
                {
                    "name": entry["name"],
                    "anchor": layer_anchor(index),
                    "summary": summary,
                    "items": shown,
                }
            )
        return details


SECTION = Details()
