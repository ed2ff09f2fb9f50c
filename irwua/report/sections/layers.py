"""The layer table: one row per weighted layer, the columns of every section whose pass ran."""

from __future__ import annotations

from typing import Any

from irwua.report.cells import dims
from irwua.report.sections.section import Document, LayerColumn, Report, Section

BASE_COLUMNS = (
    LayerColumn("name", lambda e: {"text": e["name"]}),
    LayerColumn("op", lambda e: {"text": e["op_type"]}),
    LayerColumn("weight", lambda e: {"text": dims(e["tensors"].get("weight", []))}),
)


class Layers(Section):
    key = "layers"
    title = "Layers"

    def view(self, report: Report) -> dict[str, Any]:
        return layer_table(report.analysis.document, report.sections)


def layer_table(document: Document, sections) -> dict[str, Any]:
    """``{"columns": [title, ...], "rows": [[cell, ...], ...]}``, a row per layer entry."""
    columns = [*BASE_COLUMNS]
    for section in sections:
        columns += section.layer_columns(document)
    rows = [[column.cell(entry) for column in columns] for entry in document["layers"]]
    return {"columns": [column.title for column in columns], "rows": rows}


SECTION = Layers()
