"""onnxruntime sessions on copies of a model (the user's model is never modified).

onnxruntime gets a weightless copy of the model: the large initializers stored inside the
protobuf reach it as arrays (``SessionOptions.add_external_initializers``, which copies each
one once into the session) rather than serialized with the graph, and weights in external-data
files keep their references, which onnxruntime memory-maps itself. So a model's weights are
never serialized again, and the protobuf handed over stays small whatever the model's size.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from irwua.data.dataset import InputSpec
from irwua.errors import IrwuaError, root_reason
from irwua.ir.dtypes import is_float, numpy_dtype
from irwua.limits import format_size, max_memory, resident_bytes

STUB_LOCATION = "<irwua: value passed as an array>"
"""The external-data location of an initializer whose value ``make_session`` passes as an array."""

_WAKE_SECONDS = 0.05
"""How often the thread waiting for a run looks for a signal and at the memory (a finished run
ends the wait at once)."""

_STOP_SECONDS = 5.0
"""How long an interrupted run is given to stop before the interrupt goes on without it."""

_INLINE_LIMIT = 1024
"""Inline initializers smaller than this (bytes) stay in the protobuf: they cost nothing, and
shape inference reads the small ones (Reshape shapes, axes)."""

_ARRAY_TYPES = frozenset(
    {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.INT8,
        onnx.TensorProto.INT16,
        onnx.TensorProto.INT32,
        onnx.TensorProto.INT64,
        onnx.TensorProto.UINT8,
        onnx.TensorProto.UINT16,
        onnx.TensorProto.UINT32,
        onnx.TensorProto.UINT64,
        onnx.TensorProto.BOOL,
    }
)
"""Element types that numpy holds natively, so onnxruntime can take their values as arrays."""


def weightless(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` without the values of its main graph's large inline initializers.

    Each one stays declared (name, type, shape) as external data at ``STUB_LOCATION``;
    ``make_session`` passes its value as an array. External-data references, small tensors and
    subgraphs are copied as they are.
    """
    copy = onnx.ModelProto()
    _copy_fields(proto, copy, skip="graph")
    _copy_fields(proto.graph, copy.graph, skip="initializer")
    for tensor in proto.graph.initializer:
        if _passed_as_array(tensor):
            stub = copy.graph.initializer.add(
                name=tensor.name, data_type=tensor.data_type, dims=tensor.dims
            )
            stub.data_location = onnx.TensorProto.EXTERNAL
            stub.external_data.add(key="location", value=STUB_LOCATION)
        else:
            copy.graph.initializer.append(tensor)
    return copy


def make_session(
    proto: onnx.ModelProto,
    base_dir: Path | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    outputs: Sequence[str] = (),
):
    """An onnxruntime CPU session for a weightless copy of ``proto`` that also outputs the
    tensors ``outputs``; external data is looked up in ``base_dir``.

    ``proto`` may already be weightless (``weightless``, ``irwua.runtime.instrument.instrument``):
    the values of its stubs then come from ``arrays`` by name (the layer graph's constants, so no
    copy is made on irwua's side). Values stored in ``proto`` itself are read from it.
    """
    import onnxruntime as ort

    light = weightless(proto)
    present = {vi.name for vi in light.graph.output}
    light.graph.output.extend(onnx.ValueInfoProto(name=n) for n in outputs if n not in present)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: irwua reports errors itself, in one sentence
    if base_dir is not None:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", str(base_dir)
        )
    stubs = [tensor for tensor in light.graph.initializer if _is_stub(tensor)]
    if stubs:
        originals = {tensor.name: tensor for tensor in proto.graph.initializer}
        values = [
            ort.OrtValue.ortvalue_from_numpy(_value(originals[s.name], arrays or {})) for s in stubs
        ]
        options.add_external_initializers([s.name for s in stubs], values)
    try:
        return ort.InferenceSession(
            light.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types.
        raise IrwuaError(f"onnxruntime cannot load the model: {root_reason(exc)}.") from exc


def _copy_fields(source, target, skip: str) -> None:
    """Copy every set field of protobuf message ``source`` into ``target`` except ``skip``."""
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        if descriptor.is_repeated:
            getattr(target, descriptor.name).extend(value)
        elif descriptor.message_type is not None:
            getattr(target, descriptor.name).CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def _passed_as_array(tensor: onnx.TensorProto) -> bool:
    if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.data_type not in _ARRAY_TYPES:
        return False
    itemsize = numpy_dtype(tensor.data_type).itemsize
    return int(np.prod(tensor.dims, dtype=np.int64)) * itemsize >= _INLINE_LIMIT


def _is_stub(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL and any(
        entry.key == "location" and entry.value == STUB_LOCATION for entry in tensor.external_data
    )


def _value(tensor: onnx.TensorProto, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The value of an initializer passed as an array: read from ``tensor`` when it holds it,
    else (a stub) taken from ``arrays``, which must match its declared type and shape."""
    if not _is_stub(tensor):
        return onnx.numpy_helper.to_array(tensor)
    value = arrays.get(tensor.name)
    dtype = numpy_dtype(tensor.data_type)
    if value is None or value.dtype != dtype or value.shape != tuple(tensor.dims):
        raise IrwuaError(f"The value of initializer '{tensor.name}' is not available.")
    return np.ascontiguousarray(value)


def run_with_outputs(
    proto: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    names: Sequence[str],
    base_dir: Path | None = None,
) -> dict[str, np.ndarray]:
    """Run a copy of the model and return the tensors ``names`` by name."""
    session = make_session(proto, base_dir, outputs=names)
    wanted = [out.name for out in session.get_outputs() if out.name in set(names)]
    return dict(zip(wanted, run(session, wanted, feeds), strict=True))


def run(session: Any, names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[Any]:
    """``session.run``, with onnxruntime's failures as one clear sentence.

    The run happens in irwua's worker thread while this one waits, so Ctrl-C (and SIGTERM in
    the CLI) is handled at once, however long the model runs, and a run whose memory grows by
    more than ``irwua.limits.max_memory()`` (a Loop that keeps allocating) is refused: either
    way onnxruntime is told to stop."""
    import onnxruntime as ort

    options = ort.RunOptions()
    base, limit = resident_bytes(os.getpid()), max_memory()
    job = _Job(lambda: session.run(list(names), dict(feeds), options))
    _worker().put(job)
    try:
        while not job.done.wait(_WAKE_SECONDS):
            if resident_bytes(os.getpid()) - base > limit:
                raise IrwuaError(
                    "onnxruntime's run of the model needed more than the memory limit of "
                    f"{format_size(limit)}; raise it with --max-memory if the machine has it, "
                    "or give fewer samples per batch."
                )
    except BaseException:
        options.terminate = True
        job.done.wait(_STOP_SECONDS)
        raise
    if job.error is not None:
        error = job.error
        raise IrwuaError(f"onnxruntime could not run the model: {root_reason(error)}.") from error
    return job.outputs


class _Job:
    """One call for the worker thread, and what came of it."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.outputs: Any = None
        self.error: Exception | None = None
        self.done = threading.Event()  # not Thread.join: an interrupted join loses its state

    def __call__(self) -> None:
        try:
            self.outputs = self.call()
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidArgument types.
            self.error = exc
        finally:
            self.done.set()


_WORKERS: dict[int, queue.SimpleQueue] = {}
"""Process id -> the queue of its onnxruntime thread (a forked child has none of its parent's
threads, so it starts its own)."""


def _worker() -> queue.SimpleQueue:
    """The queue of this process's one onnxruntime thread (a daemon: it never holds the exit
    up)."""
    jobs = _WORKERS.get(os.getpid())
    if jobs is None:
        jobs = _WORKERS[os.getpid()] = queue.SimpleQueue()

        def serve() -> None:
            while True:
                jobs.get()()

        threading.Thread(target=serve, name="irwua-onnxruntime", daemon=True).start()
    return jobs


def synthetic_inputs(
    specs: Sequence[InputSpec], bound: Mapping[str, tuple[int, ...]], seed: int = 0
) -> dict[str, np.ndarray]:
    """Inputs of the bound shapes that fit each input's type and range: normal floats, ids
    spread over the rows of the table they index, other integers 0, booleans True, strings
    empty."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        shape, dtype = bound[spec.name], spec.dtype
        if is_float(dtype):
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif spec.ids is not None:
            feeds[spec.name] = rng.integers(0, spec.ids[1], shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[spec.name] = np.ones(shape, dtype)
        elif dtype.kind in "OUS":
            feeds[spec.name] = np.full(shape, "", dtype=object)
        else:
            feeds[spec.name] = np.zeros(shape, dtype)
    return feeds
