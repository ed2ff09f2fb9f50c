"""Numbers as people read them, shared by the terminal and HTML reports."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))

CRITERION_TEXT = {"l1": "|w| x mean|x|", "l2": "|w| x rms(x)", "magnitude": "|w|"}
"""What each importance criterion multiplies, in the words every report uses."""


def sweep_label(sweep: Mapping[str, Any]) -> str:
    """A whole-model pruning sweep (its JSON) named by its method: ``'importance, structured,
    global'``, ``'magnitude, unstructured, uniform, per output'``."""
    from irwua.pruning.vocabulary import Method

    grouping, reconstruct = sweep.get("grouping", "layer"), bool(sweep.get("reconstruct"))
    method = Method(sweep["criterion"], sweep["scope"], sweep["granularity"], grouping, reconstruct)
    return method.describe()


def human(value: float | int | None, unit: str = "") -> str:
    """``4089184256`` -> ``'4.09 G'``; ``None`` -> ``'n/a'``."""
    if value is None:
        return "n/a"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}".rstrip()
    return f"{value:.4g} {unit}".rstrip()


def human_bytes(value: float | int | None) -> str:
    """Bytes in binary units: ``1536`` -> ``'1.5 KiB'``."""
    if value is None:
        return "n/a"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.4g} {unit}"
        size /= 1024
    return f"{size:.4g} GiB"


def share(part: float, whole: float) -> str:
    """A percentage, '0%' when the whole is zero."""
    return f"{100.0 * part / whole:.1f}%" if whole else "0%"


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.634`` -> ``'63.4%'``; ``None`` -> ``'n/a'``."""
    return "n/a" if fraction is None else f"{100.0 * fraction:.{digits}f}%"


def format_value(value: float | int | None, kind: str) -> str:
    """A value shown as its kind says: "count" (1.2 M), "share" (12.3%), "bytes" (1.5 MiB),
    "milliseconds" (0.48 ms) or "number" (0.0123); 'n/a' when there is none."""
    if kind == "count":
        return human(value)
    if kind == "share":
        return percent(value)
    if kind == "bytes":
        return human_bytes(value)
    if value is None:
        return "n/a"
    return duration(value) if kind == "milliseconds" else f"{value:.4g}"


def duration(milliseconds: float) -> str:
    """``0.482`` -> ``'0.482 ms'``, ``2310`` -> ``'2.31 s'``."""
    if milliseconds >= 1000:
        return f"{milliseconds / 1000:.3g} s"
    return f"{milliseconds:.3g} ms"


def spread(median_ms: float, low_ms: float, high_ms: float) -> str:
    """A latency as its median ± half its interquartile range: ``'0.48 ms ±0.06'``."""
    half = (high_ms - low_ms) / 2
    unit = 1000 if median_ms >= 1000 else 1
    return f"{duration(median_ms)} ±{half / unit:.2g}"


def shortened(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle with '...' so that both its
    start and its end show (a layer path's end names the layer itself)."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    head = (width - 3) // 3
    return f"{text[:head]}...{text[len(text) - (width - 3 - head) :]}"


def name_column(names: Sequence[str], other_columns: int) -> int:
    """The width of a terminal table's name column: the longest name, at most what the
    terminal's width leaves beside ``other_columns`` characters (120 when it is not a terminal),
    and at least 24 when the names need it."""
    columns = shutil.get_terminal_size((120, 24)).columns
    return min(max(map(len, names), default=0), max(columns - other_columns, 24))
