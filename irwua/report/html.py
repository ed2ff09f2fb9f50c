"""The self-contained HTML report: a data model built here, rendered by a Jinja2 template.

Autoescape is on, so every name taken from the model is shown as text. The page has inline CSS
only and references no remote URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irwua.report.units import human, human_bytes, share

if TYPE_CHECKING:
    from irwua.analysis import Analysis


def render_html(analysis: Analysis) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("irwua.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_bytecode_cache(jinja2),
    )
    environment.filters.update(human=human, human_bytes=human_bytes)
    environment.globals["share"] = share
    return environment.get_template("report.html.j2").render(report=_report_model(analysis))


def _bytecode_cache(jinja2):
    """Compiled templates cached under the user's cache dir (saves ~30 ms a run), if writable."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "irwua" / "templates"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(root))


def _report_model(analysis: Analysis) -> dict[str, Any]:
    document = analysis.document
    flops = document.get("flops")
    by_op = []
    if flops:
        by_op = sorted(flops["by_op_type"].items(), key=lambda item: item[1]["flops"], reverse=True)
    return {
        "title": document["model"].get("path") or "in-memory model",
        "model": document["model"],
        "totals": document["totals"],
        "layers": document["layers"],
        "flops": flops,
        "metrics": "utilization" in document["totals"],
        "by_op": by_op,
        "passes": document["passes"],
        "version": document["irwua_version"],
    }
