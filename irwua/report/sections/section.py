"""A section of the HTML report: one module of ``irwua.report.sections`` and one template,
``templates/sections/<key>.html.j2``, which lays out the section's ``view``.

Besides its own part of the page, a section may add columns to the layer table
(``layer_columns``), entries to each layer's details (``layer_items``), lines to the terminal
summary (``text``) and files beside the report (``files``): a new pass shows up everywhere from
its own section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from irwua.report.protocol import AnalysisLike

Document = Mapping[str, Any]
Entry = Mapping[str, Any]
"""A ``layers[]`` entry of the analysis document."""
Cell = dict[str, Any]
"""A table cell: ``{"text": shown, "sort": number}`` (``sort`` for numbers only)."""


class LayerColumn(NamedTuple):
    """A column of the layer table: its title and the cell of each layer entry."""

    title: str
    cell: Callable[[Entry], Cell]


class Report(NamedTuple):
    """What a section's view is made from: the analysis and every section of the page."""

    analysis: AnalysisLike
    sections: Sequence[Section]


class Section:
    """Base of the report's sections; ``key`` is its anchor and template name."""

    key: str
    title: str

    @property
    def template(self) -> str:
        return f"sections/{self.key}.html.j2"

    def view(self, report: Report) -> Any:
        """What the template shows, as plain data; None when the section is not shown."""
        raise NotImplementedError

    def layer_columns(self, document: Document) -> list[LayerColumn]:
        """Columns this section adds to the layer table (none unless its pass ran)."""
        return []

    def layer_items(self, entry: Entry, document: Document) -> list[tuple[str, Any]]:
        """(term, text) pairs this section adds to a layer's details."""
        return []

    def text(self, document: Document) -> list[str]:
        """Lines this section adds to the terminal summary."""
        return []

    def files(self, view: Any) -> dict[str, str]:
        """Files saved beside the report (the sources of diagrams ``dot`` could not render)."""
        return {}
