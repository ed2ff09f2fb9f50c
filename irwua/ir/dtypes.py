"""Element types: ONNX's numbers as numpy dtypes, and which of them hold real numbers."""

from __future__ import annotations

import functools

import numpy as np
import onnx


@functools.cache
def numpy_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type (float32 for types numpy cannot hold)."""
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        return np.dtype(np.float32)


def is_float(dtype: np.dtype) -> bool:
    """Whether ``dtype`` holds real floating-point numbers, including the types numpy lacks and
    ml_dtypes provides (bfloat16, float8, float4), whose numpy kind is 'V'."""
    return dtype.kind == "f" or (dtype.kind == "V" and dtype.name.startswith(("float", "bfloat")))
