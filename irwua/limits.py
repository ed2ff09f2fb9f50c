"""How much memory irwua may use for what a model file only describes.

A file of a few hundred bytes can declare a 20000 x 20000 input, a weight built by
ConstantOfShape, or an ``.npz`` member that inflates to gigabytes. irwua keeps such values as
views where it can, and checks the bytes it is about to materialise against one budget,
``max_memory()``: ``--max-memory`` on the command line, ``IRWUA_MAX_MEMORY`` in the environment,
``set_max_memory()`` in Python, by default half of the machine's physical memory. Beyond it, irwua
refuses in one sentence that names what was too large and how to raise the limit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from irwua.errors import IrwuaError

ENV = "IRWUA_MAX_MEMORY"
DEFAULT_SHARE = 0.5
"""The share of physical memory irwua may use when no limit is given."""


_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``512M``, ``4G``, ``1.5GiB`` or a plain number; ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(text)
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError(text)
    return size


def set_max_memory(size: int | str | None) -> None:
    """Set the budget for this process and the processes it starts (None: the default)."""
    if size is None:
        os.environ.pop(ENV, None)
        return
    os.environ[ENV] = str(parse_size(size) if isinstance(size, str) else int(size))


def max_memory() -> int:
    """The budget in bytes."""
    given = os.environ.get(ENV)
    if given:
        try:
            return parse_size(given)
        except ValueError:
            raise IrwuaError(
                f"{ENV}={given!r} is not a size; give bytes or a size such as 4G."
            ) from None
    return int(DEFAULT_SHARE * physical_memory())


def physical_memory() -> int:
    """The machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(needed: int, what: str) -> None:
    """Refuse ``what`` (a phrase: "the synthetic inputs", "layer 'fc'") when it needs more than
    the budget."""
    limit = max_memory()
    if needed > limit:
        raise IrwuaError(
            f"{what[0].upper()}{what[1:]} would need {format_size(needed)}, more than the memory "
            f"limit of {format_size(limit)}; raise it with --max-memory (or {ENV}) if the "
            "machine has it."
        )


def check_scoring(scores: Sequence[int], largest: int) -> None:
    """Refuse scoring layers when it needs more than the budget: the importance pass keeps
    ``scores[i]`` float32 scores for layer i (one for a constant weight scored without data,
    ``irwua.ir.constant_views``), and the layer being scored, charted or followed by pathways
    needs 8 bytes per weight of the largest layer (``largest`` weights) besides."""
    needed = 4 * sum(scores) + 8 * largest
    layers = f"{len(scores)} layer" + ("s" if len(scores) != 1 else "")
    check_memory(needed, f"scoring the weights of {layers} ({largest:,} in the largest)")


def resident_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (0 where /proc does not tell)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def format_size(count: int) -> str:
    """``count`` bytes in binary units, one decimal: "768.0 MiB"."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
