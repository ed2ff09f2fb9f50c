"""Sample data from ``.npy`` and ``.npz`` files, for ``irwua analyze --data``.

Files are read with ``allow_pickle=False``: an array of Python objects would need pickle, which
can run code, so such a file is refused. An ``.npz`` whose arrays were saved by name
(``np.savez(f, image=x, mask=m)``) gives a dict by input name; one saved positionally
(``np.savez(f, x, m)``: ``arr_0``, ``arr_1``, ...) gives the arrays in order.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from irwua.errors import IrwuaError, root_reason


def read_data_file(path: str | Path) -> np.ndarray | list[np.ndarray] | dict[str, np.ndarray]:
    """The arrays stored in an ``.npy`` or ``.npz`` file."""
    path = Path(path)
    if not path.is_file():
        raise IrwuaError(f"Data file '{path}' does not exist.")
    if path.suffix.lower() not in (".npy", ".npz"):
        raise IrwuaError(f"Data file '{path}' is not an .npy or .npz file.")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False, mmap_mode="r")  # streamed, not read whole
        with np.load(path, allow_pickle=False) as loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if "object" in str(exc).lower():
            raise IrwuaError(
                f"Data file '{path}' holds Python objects, which only pickle can load and "
                "pickle can run code; save the data as numeric arrays."
            ) from exc
        raise IrwuaError(
            f"Data file '{path}' is not a readable array file: {root_reason(exc)}."
        ) from exc
    if not arrays:
        raise IrwuaError(f"Data file '{path}' holds no arrays.")
    positional = [f"arr_{i}" for i in range(len(arrays))]
    if sorted(arrays, key=_natural) == positional:
        return [arrays[name] for name in positional]
    return arrays


def _natural(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, -1)
