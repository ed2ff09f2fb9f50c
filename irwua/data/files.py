"""Sample data from ``.npy`` and ``.npz`` files, for ``irwua analyze --data``.

Files are read with ``allow_pickle=False``: an array of Python objects would need pickle, which
can run code, so such a file is refused. An ``.npz`` whose arrays were saved by name
(``np.savez(f, image=x, mask=m)``) gives a dict by input name; one saved positionally
(``np.savez(f, x, m)``: ``arr_0``, ``arr_1``, ...) gives the arrays in order.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np

from irwua.errors import IrwuaError, root_reason
from irwua.limits import check_memory


def read_data_file(path: str | Path) -> np.ndarray | list[np.ndarray] | dict[str, np.ndarray]:
    """The arrays stored in an ``.npy`` or ``.npz`` file."""
    path = Path(path)
    if not path.exists():
        raise IrwuaError(f"Data file '{path}' does not exist.")
    if not path.is_file():
        raise IrwuaError(f"Data file '{path}' is not a regular file.")
    if path.suffix.lower() not in (".npy", ".npz"):
        raise IrwuaError(f"Data file '{path}' is not an .npy or .npz file.")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False, mmap_mode="r")  # streamed, not read whole
        with np.load(path, allow_pickle=False) as loaded:
            check_memory(_unpacked_bytes(loaded.zip), f"unpacking the arrays of '{path}'")
            arrays = {name: loaded[name] for name in loaded.files}
    except (ValueError, OSError, OverflowError, EOFError, zipfile.BadZipFile) as exc:
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


def _unpacked_bytes(archive: zipfile.ZipFile) -> int:
    """The bytes the members of an ``.npz`` unpack to: the larger of the size each member's zip
    entry declares and the size its ``.npy`` header declares (numpy allocates that before reading),
    found without decompressing more than the headers."""
    total = 0
    for info in archive.infolist():
        declared = info.file_size
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                header = np.lib.format.read_array_header_1_0
                if version != (1, 0):
                    header = np.lib.format.read_array_header_2_0
                shape, _, dtype = header(member)
            except (ValueError, OSError, EOFError):
                shape, dtype = (), np.dtype(np.uint8)  # Not an array: np.load explains.
        total += max(declared, math.prod(shape) * dtype.itemsize)
    return total


def _natural(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, -1)
