"""User data as model inputs: conversion, validation against the model, and batching.

Data may be a numpy array (single-input models), a list/tuple of arrays (inputs in order) or a dict
of arrays by input name; torch and TensorFlow tensors are converted with ``np.asarray``. Axis 0 is
the sample axis of every array, except for an input the model declares as a scalar (a mode flag, a
sample rate): it takes one value, fed unchanged to every run. Each array is checked against the
model's declared input: rank, fixed dims and dtype kind, with a message that names what was
expected and what was given.
"""

from __future__ import annotations

import mmap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.ir.dtypes import is_float


@dataclass(frozen=True)
class InputSpec:
    """A model input as declared: name, numpy dtype and dims (int, symbol name or None).

    ``ids`` is set when the input holds indices into a constant table (token ids of an
    embedding): the table's name and number of rows, which bound the valid values.
    """

    name: str
    dtype: np.dtype
    dims: tuple[int | str | None, ...] | None
    ids: tuple[str, int] | None = None


@dataclass(frozen=True)
class Dataset:
    """Model inputs by name, every array with the same number of samples on axis 0.

    The arrays are kept as given (a memory map stays a memory map); each batch is converted to
    the model's dtype when it is read, so the data is never copied whole. ``fixed_batch`` is set
    when the model's batch dim is a fixed number: every run then takes exactly that many samples.
    """

    arrays: Mapping[str, np.ndarray]
    dtypes: Mapping[str, np.dtype]
    samples: int
    fixed_batch: int | None = None
    ids: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    settings: Mapping[str, np.ndarray] = field(default_factory=dict)
    """The values of the inputs declared as scalars (no sample axis), in the model's dtypes."""

    def batches(self, size: int, finite_only: bool = False) -> Batches:
        """One pass over the data in batches of ``size`` samples (of ``fixed_batch`` when set).

        ``finite_only`` leaves out the samples that hold NaN or infinite values (statistics stay
        meaningful); otherwise they are passed on. Either way they are counted and warned about.
        """
        return Batches(self, self.fixed_batch or size, finite_only)

    def limit(self, samples: int | None) -> Dataset:
        """The first ``samples`` samples (all of them when None)."""
        if samples is None or samples >= self.samples:
            return self
        arrays = {name: array[:samples] for name, array in self.arrays.items()}
        return replace(self, arrays=arrays, samples=samples)

    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """Input shapes for one run of the smallest batch, used to bind symbolic dims."""
        first = self.fixed_batch or 1
        shapes = {name: (first, *array.shape[1:]) for name, array in self.arrays.items()}
        return shapes | {name: () for name in self.settings}


@dataclass
class Batches:
    """One pass over a ``Dataset``: an iterable of batches (dicts of arrays in the model's
    dtypes) that counts what it saw. After the pass, ``used`` is the number of samples passed on,
    ``nonfinite`` the number of NaN or infinite values and ``skipped`` the samples left out."""

    dataset: Dataset
    size: int
    finite_only: bool
    used: int = 0
    nonfinite: int = 0
    skipped: int = 0

    @property
    def count(self) -> int:
        """The number of batches (at most; for progress bars)."""
        return -(-self.dataset.samples // self.size)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        data = self.dataset
        for start in range(0, data.samples, self.size):
            stop = min(start + self.size, data.samples)
            if data.fixed_batch and stop - start < data.fixed_batch:
                self.skipped += stop - start  # a fixed-batch model cannot run a partial batch
                break
            # Rows already in the model's dtype are passed on as they are (no copy, as a plain
            # onnxruntime loop would); their memory-map pages are dropped once the batch is done.
            batch = {
                name: np.ascontiguousarray(array[start:stop], dtype=data.dtypes[name])
                for name, array in data.arrays.items()
            }
            checked = self._checked(batch, stop - start)
            if checked is not None:
                self.used += len(next(iter(checked.values())))
                yield checked | dict(data.settings)
            for array in data.arrays.values():
                _release_rows(array, start, stop)
        self._report()

    def _checked(self, batch: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray] | None:
        """Check ids against their tables; count non-finite values and leave out their rows."""
        for name, (table, size) in self.dataset.ids.items():
            _check_ids(name, batch[name], table, size)
        counts = _nonfinite_rows(batch, rows)
        if not counts.any():
            return batch
        self.nonfinite += int(counts.sum())
        if not self.finite_only:
            return batch
        keep = counts == 0
        if self.dataset.fixed_batch or not keep.any():
            self.skipped += rows
            return None
        self.skipped += int(rows - keep.sum())
        return {name: array[keep] for name, array in batch.items()}

    def _report(self) -> None:
        data = self.dataset
        remainder = data.samples % data.fixed_batch if data.fixed_batch else 0
        if self.used == 0 and self.nonfinite:
            raise IrwuaError(
                f"No sample of the data can be used: the {data.samples} samples hold NaN or "
                "infinite values."
            )
        if self.used == 0:
            raise IrwuaError(
                f"The model takes exactly {data.fixed_batch} samples per run (its batch dim is "
                f"fixed) but only {data.samples} are used; give more samples."
            )
        if self.nonfinite:
            effect = (
                f"{self.skipped - remainder} samples are left out because of them"
                if self.finite_only
                else "results computed from them may be NaN or infinite"
            )
            warnings.warn(
                f"The data holds {self.nonfinite} NaN or infinite values; {effect}.", stacklevel=3
            )
        if remainder:
            warnings.warn(
                f"The model takes exactly {data.fixed_batch} samples per run (its batch dim is "
                f"fixed); the last {remainder} samples are left out.",
                stacklevel=3,
            )


def _nonfinite_rows(batch: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
    """The number of NaN or infinite values in each sample of a batch (float inputs)."""
    counts = np.zeros(rows, np.int64)
    for array in batch.values():
        if array.dtype.kind == "f" and array.ndim:
            counts += np.count_nonzero(~np.isfinite(array.reshape(rows, -1)), axis=1)
    return counts


def _check_ids(name: str, ids: np.ndarray, table: str, rows: int) -> None:
    """Ids must index the table: 0 .. rows-1 (or -rows .. -1, counted from the end)."""
    if not ids.size:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < -rows or high >= rows:
        bad = high if high >= rows else low
        raise IrwuaError(
            f"Input '{name}' holds the id {bad}, but it indexes '{table}', which has {rows} rows "
            f"(ids 0 to {rows - 1})."
        )


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


def make_dataset(data: Any, inputs: Sequence[InputSpec]) -> Dataset:
    """Match ``data`` to the model's inputs and check shapes, dtypes and the samples per run."""
    if not inputs:
        raise IrwuaError("The model has no inputs, so it takes no data.")
    named = _by_name(data, [spec.name for spec in inputs])
    settings = {spec.name: _setting(spec, named[spec.name]) for spec in inputs if spec.dims == ()}
    if len(settings) == len(inputs):
        raise IrwuaError(
            "Every input of the model is a scalar, so the data has no samples: irwua needs at "
            "least one input with samples on axis 0."
        )
    arrays = {
        spec.name: _checked(spec, named[spec.name]) for spec in inputs if spec.name not in settings
    }
    counts = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name}: {count}" for name, count in counts.items())
        raise IrwuaError(f"The inputs have different numbers of samples ({listed}).")
    samples = next(iter(counts.values()))
    if samples == 0:
        raise IrwuaError("The data is empty: it has 0 samples.")
    first = next(spec for spec in inputs if spec.name in arrays)
    fixed = first.dims[0] if first.dims and isinstance(first.dims[0], int) else None
    if fixed is not None and samples < fixed:
        raise IrwuaError(
            f"Input '{first.name}' takes exactly {fixed} samples per run (its batch dim is "
            f"fixed) but the data has {samples}."
        )
    ids = {spec.name: spec.ids for spec in inputs if spec.ids is not None}
    dtypes = {spec.name: spec.dtype for spec in inputs}
    return Dataset(arrays, dtypes, samples, fixed, ids, settings)


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
    array = to_numpy(value)
    given = "x".join(map(str, array.shape)) or "a scalar"
    if array.ndim == 0:
        raise IrwuaError(f"Input '{spec.name}' needs samples on axis 0, but the data is a scalar.")
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


def _setting(spec: InputSpec, value: Any) -> np.ndarray:
    """The one value of an input the model declares as a scalar, in the model's dtype."""
    array = to_numpy(value)
    if array.ndim:
        raise IrwuaError(
            f"Input '{spec.name}' is a scalar (the model declares no axes for it, so it takes one "
            f"value for every run) but the data has shape {'x'.join(map(str, array.shape))}."
        )
    return np.asarray(_check_dtype(spec, array), dtype=spec.dtype)


def to_numpy(value: Any) -> np.ndarray:
    """``value`` as a numpy array without copying what need not be (a memory map stays one;
    a CPU torch tensor shares its memory), or a clear error."""
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
        (is_float(want) and (have.kind in "iub" or is_float(have)))
        or (want.kind in "iu" and have.kind in "iub")
        or (want.kind == "b" and have.kind == "b")
        or (want.kind == "O" and have.kind in "OUS")  # ONNX strings
    )
    if not compatible:
        raise IrwuaError(
            f"Input '{spec.name}' expects {want.name} values but the data is {have.name}."
        )
    return array
