"""SVG for inlining into an HTML page: matplotlib figures and Graphviz drawings.

Inline SVGs share one document, so each one's ids (clip paths, markers, graph nodes) get a prefix
of their own, the XML prolog and comments go, and namespace declarations are dropped (an HTML
parser puts ``<svg>`` in the SVG namespace by itself): the page then names no URL at all.

Matplotlib is imported here, lazily, only when a chart is drawn; figures are created with
``new_figure`` (a plain ``matplotlib.figure.Figure`` on an Agg canvas), never through pyplot.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RC = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, and escaped by matplotlib
    "svg.hashsalt": "irwua",  # deterministic ids, so the same analysis gives the same report
    "text.parse_math": False,  # a '$' in a layer name is text, not mathtext
    "axes.axisbelow": True,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e7ec",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "figure.dpi": 100,
}
"""matplotlib settings for every report chart (applied only while drawing and saving)."""

_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(href="#|url\(#)([^")]+)')


@contextmanager
def chart_style() -> Iterator[None]:
    """Apply ``RC`` while a figure is built (``with chart_style(): fig = new_figure(...)``)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: the chart function ``draw`` builds its figure under ``chart_style()``."""

    @wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with chart_style():
            return draw(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float, **kwargs: Any) -> Figure:
    """A figure of ``width`` x ``height`` inches on an Agg canvas, outside pyplot's state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(figure)
    return figure


def figure_svg(figure: Figure) -> str:
    """The figure as inline ``<svg>`` text (no prolog, ids unique in the page); the figure is
    closed if pyplot knows it."""
    buffer = io.StringIO()
    with chart_style():
        figure.savefig(buffer, format="svg", metadata=_METADATA, bbox_inches="tight")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)
    return inline_svg(buffer.getvalue())


def chart(figure: Figure, caption: str = "") -> dict[str, Any]:
    """A chart for a template: ``{"svg": inline SVG marked safe (matplotlib escaped its text),
    "caption": caption}``."""
    from markupsafe import Markup

    return {"svg": Markup(figure_svg(figure)), "caption": caption}


def inline_svg(text: str) -> str:
    """SVG document text made fit to paste into HTML: from ``<svg`` on, without comments or
    namespace declarations, ``xlink:href`` as ``href``, every id prefixed with a hash of the
    drawing."""
    start = text.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    svg = re.sub(r"<!--.*?-->", "", text[start:], flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = svg.replace("xlink:href=", "href=")
    prefix = "s" + hashlib.sha1(svg.encode("utf-8")).hexdigest()[:10] + "-"
    svg = _ID.sub(lambda match: f'id="{prefix}{match.group(1)}"', svg)
    return _REFERENCE.sub(lambda match: f"{match.group(1)}{prefix}{match.group(2)}", svg)
