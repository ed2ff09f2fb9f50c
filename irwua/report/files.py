"""Writing output files atomically: all or none, never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from irwua.errors import IrwuaError


def write_files(directory: Path, contents: Mapping[str, str | bytes]) -> dict[str, Path]:
    """Write files atomically: each to a temporary name in ``directory``, then renamed."""
    staged: dict[Path, Path] = {}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in contents.items():
            handle, temp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            staged[Path(temp)] = directory / name
            os.fchmod(handle, _new_file_mode())  # mkstemp makes 0600; give what open() would.
            data = text.encode("utf-8") if isinstance(text, str) else text
            with os.fdopen(handle, "wb") as file:
                file.write(data)
        for temp, final in staged.items():
            os.replace(temp, final)
    except OSError as exc:
        for temp in staged:
            temp.unlink(missing_ok=True)
        raise IrwuaError(f"Cannot write to '{directory}': {exc.strerror or exc}.") from exc
    return {final.name: final for final in staged.values()}


def _new_file_mode() -> int:
    """The mode a new file gets from ``open()``: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
