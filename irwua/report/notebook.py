"""Reports in Jupyter: a page shown in a sandboxed frame of the notebook.

The page goes into the ``srcdoc`` attribute of an ``<iframe>`` (escaped whole by the template, so
nothing of it is parsed by the notebook): its CSS cannot restyle the notebook, and its script (the
table sorting) runs in the frame's own opaque origin (``sandbox="allow-scripts"`` without
``allow-same-origin``), out of reach of the notebook and its kernel.
"""

from __future__ import annotations

from irwua.report.templating import render_page

FRAME_HEIGHT = 720
"""Pixels; the page scrolls inside the frame."""


def notebook_frame(page: str, title: str) -> str:
    """HTML for a notebook cell's output that shows the self-contained ``page``."""
    return render_page("notebook.html.j2", page=page, title=title, height=FRAME_HEIGHT)
