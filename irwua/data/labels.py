"""Labels given with the data: one class id (or one-hot row) per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from irwua.errors import IrwuaError


def check_labels(labels: Any, samples: int, classes: int | None = None) -> np.ndarray:
    """``labels`` as an array with one entry per sample (class ids or one-hot rows), or a clear
    error; with ``classes`` (the width of the model's output), class ids must lie in
    ``0 .. classes - 1`` and one-hot rows must have ``classes`` columns."""
    array = np.asarray(labels)
    if array.ndim == 0 or len(array) != samples:
        given = "a single value" if array.ndim == 0 else f"{len(array)} labels"
        raise IrwuaError(f"The data has {samples} samples but {given} were given as labels.")
    if array.dtype.kind == "f" and array.ndim >= 2:
        if classes is not None and array.shape[-1] != classes:
            raise IrwuaError(
                f"The one-hot labels have {array.shape[-1]} columns but the model's output has "
                f"{classes} classes."
            )
        return array
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise IrwuaError(
            f"Labels must be class ids (integers) or one-hot rows, got {array.dtype} values."
        )
    if classes is not None and array.size:
        low, high = array.min(), array.max()
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise IrwuaError(
                f"Label {bad} is not a class of the model, whose output has {classes} classes "
                f"(ids 0 to {classes - 1})."
            )
    return array
