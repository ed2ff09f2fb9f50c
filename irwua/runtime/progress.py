"""Progress of long loops: a tqdm bar on stderr, only when it is a terminal and only once the
loop has run for ``SHOW_AFTER_SECONDS``, with the elapsed time, the rate and an estimate of the
time left."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

SHOW_AFTER_SECONDS = 1.0


def progress(
    items: Iterable[T], total: int | None, label: str, enabled: bool = True, unit: str = "batch"
) -> Iterator[T]:
    """Yield ``items`` (``total`` of them, when known), drawing ``label`` and the bar."""
    stream = sys.stderr
    if not (enabled and stream.isatty()):
        yield from items
        return
    from tqdm import tqdm  # only for a terminal: the import costs a tenth of a second

    with tqdm(
        items,
        total=total,
        desc=label,
        unit=unit,
        file=stream,
        delay=SHOW_AFTER_SECONDS,
        leave=False,
    ) as bar:
        yield from bar
