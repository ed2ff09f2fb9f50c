"""Table cells and short texts shared by the report's sections.

A cell is ``{"text": shown, "sort": number}``; ``sort`` is given for numbers only, so the page
sorts by value, not by '4.09 G'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from irwua.report.formatting import percent


def number_cell(value: float | int | None, text: str) -> dict[str, Any]:
    """A sortable cell: ``text`` shown (a format such as ``"{:.3f}"`` is applied to ``value``)."""
    shown = text.format(value) if "{" in text else text
    return {"text": shown, "sort": value}


def fraction_cell(value: float | None, digits: int = 1) -> dict[str, Any]:
    """A sortable cell for a fraction, shown as a percentage."""
    return {"text": percent(value, digits), "sort": value}


def optional_cell(value: Any) -> dict[str, Any]:
    """A sortable cell for a value that may be missing (n/a)."""
    return {"text": "n/a" if value is None else str(value), "sort": value}


def dims(shape: Sequence[int] | None) -> str:
    """A shape as ``1x3x224x224`` ('scalar' for rank 0, '?' when unknown)."""
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape) or "scalar"
