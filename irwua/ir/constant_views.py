"""Constant views: weights a file only describes, such as a ConstantOfShape (onnx's "light" zoo
models build every weight so), are kept as arrays of zero strides, one stored value repeated.

Work on them stays proportional to what is stored: |w| of a constant is a constant view, and a
statistic that weighs every element alike (mean, max, all) is read from ``compact(array)``.
"""

from __future__ import annotations

import numpy as np


def is_constant(array: np.ndarray) -> bool:
    """Whether every element of ``array`` is one stored value (all strides zero, two or more
    elements)."""
    return array.size > 1 and not any(array.strides)


def compact(array: np.ndarray) -> np.ndarray:
    """The stored elements of ``array``: index 0 along every axis of zero stride (a view). Each
    stored element stands for the same number of elements of ``array``, so means, maxima and
    "all"/"any" over it are those over ``array``."""
    index = tuple(
        slice(0, 1) if stride == 0 and size > 1 else slice(None)
        for stride, size in zip(array.strides, array.shape, strict=True)
    )
    return array[index]


def magnitude(array: np.ndarray) -> np.ndarray:
    """|array| in float32; a constant stays a read-only constant view of its shape."""
    if is_constant(array):
        value = np.abs(np.asarray(array.reshape(-1)[:1], np.float32)).reshape(())
        return np.broadcast_to(value, array.shape)
    return np.abs(np.asarray(array, np.float32))
