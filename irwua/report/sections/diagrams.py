"""Diagrams: the layer graph and, with the pathways pass, the neuron-level and top-pathway
drawings (``irwua.report.diagrams``); the sources of drawings ``dot`` could not render are saved
beside the report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irwua.report.sections.section import Report, Section

if TYPE_CHECKING:
    from irwua.report.diagrams import Diagram


class Diagrams(Section):
    key = "diagrams"
    title = "Diagrams"

    def view(self, report: Report) -> dict[str, Any]:
        from irwua.report.diagrams import diagrams  # Graphviz: not for the terminal summary.

        analysis = report.analysis
        return {"drawings": diagrams(analysis), "pathways": "pathways" in analysis.results}

    def files(self, view: dict[str, Any]) -> dict[str, str]:
        drawings: list[Diagram] = view["drawings"]
        return {d.file_name: d.source for d in drawings if d.svg is None and d.source}


SECTION = Diagrams()
