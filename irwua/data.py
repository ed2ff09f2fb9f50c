"""User data as model inputs: conversion, validation against the model, and batching.

Data may be a numpy array (single-input models), a list/tuple of arrays (inputs in order) or a dict
of arrays by input name; torch and TensorFlow tensors are converted with ``np.asarray``. Axis 0 is
the sample axis of every array. Each array is checked against the model's declared input: rank,
fixed dims and dtype kind, with a message that names what was expected and what was given.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from irwua.errors import IrwuaError


@dataclass(frozen=True)
class InputSpec:
    """A model input as declared: name, numpy dtype and dims (int, symbol name or None)."""

    name: str
    dtype: np.dtype
    dims: tuple[int | str | None, ...] | None


@dataclass(frozen=True)
class Dataset:
    """Model inputs by name, every array with the same number of samples on axis 0.

    The arrays are kept as given (a memory map stays a memory map); each batch is converted to
    the model's dtype when it is read, so the data is never copied whole.
    """

    arrays: Mapping[str, np.ndarray]
    dtypes: Mapping[str, np.dtype]
    samples: int

    def batches(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        """Consecutive batches of at most ``size`` samples, in the model's dtypes.

        Rows of a memory-mapped array are released once their batch is done, so that memory
        does not grow with the number of samples.
        """
        for start in range(0, self.samples, size):
            yield {
                name: np.array(array[start : start + size], dtype=self.dtypes[name])
                for name, array in self.arrays.items()
            }
            for array in self.arrays.values():
                _release_rows(array, start, start + size)

    def limit(self, samples: int | None) -> Dataset:
        """The first ``samples`` samples (all of them when None)."""
        if samples is None or samples >= self.samples:
            return self
        arrays = {name: array[:samples] for name, array in self.arrays.items()}
        return Dataset(arrays, self.dtypes, samples)

    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """Input shapes for one sample (axis 0 of size 1), used to bind symbolic dims."""
        return {name: (1, *array.shape[1:]) for name, array in self.arrays.items()}


def _release_rows(array: np.ndarray, start: int, stop: int) -> None:
    """Tell the kernel a memory map's pages for rows ``start:stop`` are no longer needed.

    Pages of a read-only file mapping count in the process's resident memory once read; dropping
    them is safe, as they are read again from the file if touched.
    """
    mapping = array.base
    while mapping is not None and not isinstance(mapping, mmap.mmap):
        mapping = getattr(mapping, "base", None)
    if mapping is None or not array.flags.c_contiguous or not hasattr(mapping, "madvise"):
        return
    origin = np.frombuffer(mapping, np.uint8).__array_interface__["data"][0]
    first = array[start:stop].__array_interface__["data"][0] - origin
    aligned = first - first % mmap.PAGESIZE
    length = (min(stop, len(array)) - start) * array.strides[0] + (first - aligned)
    try:
        mapping.madvise(mmap.MADV_DONTNEED, aligned, length)
    except (OSError, ValueError):
        return


def count_nonfinite(batch: Mapping[str, np.ndarray]) -> int:
    """NaN and infinite values in the floating-point arrays of a batch."""
    return sum(
        int(array.size - np.count_nonzero(np.isfinite(array)))
        for array in batch.values()
        if array.dtype.kind == "f"
    )


def make_dataset(data: Any, inputs: Sequence[InputSpec]) -> Dataset:
    """Match ``data`` to the model's inputs and check shapes and dtypes."""
    named = _by_name(data, [spec.name for spec in inputs])
    arrays = {spec.name: _checked(spec, named[spec.name]) for spec in inputs}
    counts = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name}: {count}" for name, count in counts.items())
        raise IrwuaError(f"The inputs have different numbers of samples ({listed}).")
    samples = next(iter(counts.values()))
    if samples == 0:
        raise IrwuaError("The data is empty: it has 0 samples.")
    return Dataset(arrays, {spec.name: spec.dtype for spec in inputs}, samples)


def _by_name(data: Any, names: list[str]) -> dict[str, Any]:
    if isinstance(data, Mapping):
        missing = [name for name in names if name not in data]
        extra = [key for key in data if key not in names]
        if missing or extra:
            raise IrwuaError(
                f"The data's keys ({', '.join(map(str, data))}) do not match the model's inputs "
                f"({', '.join(names)})."
            )
        return dict(data)
    if isinstance(data, (list, tuple)):
        if len(data) != len(names):
            raise IrwuaError(
                f"The data has {len(data)} arrays but the model has {len(names)} inputs "
                f"({', '.join(names)})."
            )
        return dict(zip(names, data, strict=True))
    if len(names) != 1:
        raise IrwuaError(
            f"The model has {len(names)} inputs ({', '.join(names)}); pass the data as a list "
            "or a dict of arrays by input name."
        )
    return {names[0]: data}


def _checked(spec: InputSpec, value: Any) -> np.ndarray:
    array = _to_numpy(value)
    given = "x".join(map(str, array.shape)) or "a scalar"
    if spec.dims is not None:
        expected = "x".join("?" if not isinstance(d, int) else str(d) for d in spec.dims)
        if array.ndim != len(spec.dims):
            raise IrwuaError(
                f"Input '{spec.name}' expects rank {len(spec.dims)} ({expected}, samples on "
                f"axis 0) but the data has shape {given}."
            )
        for axis, dim in enumerate(spec.dims):
            if axis > 0 and isinstance(dim, int) and array.shape[axis] != dim:
                raise IrwuaError(
                    f"Input '{spec.name}' expects {expected} but the data has shape {given} "
                    f"(axis {axis} should be {dim})."
                )
    return _check_dtype(spec, array)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise IrwuaError(f"The data cannot be read as an array: {exc}.") from exc


def _check_dtype(spec: InputSpec, array: np.ndarray) -> np.ndarray:
    """Accept an array whose values convert to the model's dtype (ints to floats, ...)."""
    want, have = spec.dtype, array.dtype
    if have == want:
        return array
    compatible = (
        (want.kind == "f" and have.kind in "fiub")
        or (want.kind in "iu" and have.kind in "iub")
        or (want.kind == "b" and have.kind == "b")
    )
    if not compatible:
        raise IrwuaError(
            f"Input '{spec.name}' expects {want.name} values but the data is {have.name}."
        )
    return array
