"""Labels given with the data: one class id (or one-hot row) per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from irwua.errors import IrwuaError


def check_labels(labels: Any, samples: int) -> np.ndarray:
    """``labels`` as an array with one entry per sample (class ids or one-hot rows), or a clear
    error."""
    array = np.asarray(labels)
    if array.ndim == 0 or len(array) != samples:
        given = "a single value" if array.ndim == 0 else f"{len(array)} labels"
        raise IrwuaError(f"The data has {samples} samples but {given} were given as labels.")
    if array.dtype.kind in "iub" or (array.dtype.kind == "f" and array.ndim >= 2):
        return array
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        return array.astype(np.int64)
    raise IrwuaError(
        f"Labels must be class ids (integers) or one-hot rows, got {array.dtype} values."
    )
