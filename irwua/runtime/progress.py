"""A minimal progress bar for long loops, drawn on stderr only when it is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

SHOW_AFTER_SECONDS = 1.0


def progress(
    items: Iterable[T], total: int | None, label: str, enabled: bool = True
) -> Iterator[T]:
    """Yield ``items``; after a second, draw ``label [#####.....] done/total`` on a terminal."""
    stream = sys.stderr
    show = enabled and stream.isatty()
    start = time.monotonic()
    drawn = False
    for done, item in enumerate(items, start=1):
        yield item
        if show and time.monotonic() - start > SHOW_AFTER_SECONDS:
            stream.write(f"\r{label} {_bar(done, total)}")
            stream.flush()
            drawn = True
    if drawn:
        stream.write("\n")


def _bar(done: int, total: int | None, width: int = 30) -> str:
    if not total:
        return f"{done}"
    filled = int(width * min(done / total, 1.0))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
