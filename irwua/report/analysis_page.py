"""The report of one analysis (report.html): every section whose pass ran, rendered by Jinja2.

Each section (``irwua.report.sections``) turns the analysis into plain data (cards, tables of
cells, chart SVGs, diagrams); the templates (``report.html.j2`` and ``sections/*.html.j2``) only
lay it out. Autoescape is on, so every name from the model shows as text; charts and diagrams are
SVG escaped by matplotlib and dot.
"""

from __future__ import annotations

from irwua.report.protocol import AnalysisLike
from irwua.report.sections import SECTIONS, Report
from irwua.report.sections.summary import importance_source
from irwua.report.templating import render_page


def render_report(analysis: AnalysisLike) -> dict[str, str]:
    """``report.html`` and the files its sections save beside it (``.dot`` sources)."""
    report = Report(analysis, SECTIONS)
    shown = []
    files: dict[str, str] = {}
    for section in SECTIONS:
        view = section.view(report)
        if view is not None:
            shown.append(
                {
                    "key": section.key,
                    "title": section.title,
                    "template": section.template,
                    "view": view,
                }
            )
            files.update(section.files(view))
    document = analysis.document
    page = {
        "title": document["model"].get("path") or "in-memory model",
        "subtitle": importance_source(document),
        "sections": shown,
    }
    return {"report.html": render_page("report.html.j2", report=page), **files}


def render_html(analysis: AnalysisLike) -> str:
    """The report page alone."""
    return render_report(analysis)["report.html"]
