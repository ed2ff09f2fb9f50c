"""onnxruntime sessions on copies of a model (the user's model is never modified)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx

from irwua.errors import IrwuaError, root_reason
from irwua.graph import TensorInfo


def make_session(proto: onnx.ModelProto, base_dir: Path | None = None):
    """An onnxruntime CPU session for ``proto``; external data is looked up in ``base_dir``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if base_dir is not None:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", str(base_dir)
        )
    try:
        return ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types.
        raise IrwuaError(f"onnxruntime cannot load the model: {root_reason(exc)}.") from exc


def with_outputs(proto: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    """A copy of ``proto`` whose graph also outputs the tensors ``names``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    present = {vi.name for vi in copy.graph.output}
    for name in names:
        if name not in present:
            copy.graph.output.append(onnx.ValueInfoProto(name=name))
    return copy


def run_with_outputs(
    proto: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    names: Sequence[str],
    base_dir: Path | None = None,
) -> dict[str, np.ndarray]:
    """Run a copy of the model and return the tensors ``names`` by name."""
    session = make_session(with_outputs(proto, names), base_dir)
    wanted = [out.name for out in session.get_outputs() if out.name in set(names)]
    try:
        values = session.run(wanted, dict(feeds))
    except Exception as exc:
        raise IrwuaError(f"onnxruntime could not run the model: {root_reason(exc)}.") from exc
    return dict(zip(wanted, values, strict=True))


def synthetic_inputs(
    proto: onnx.ModelProto,
    bound: Mapping[str, tuple[int, ...]],
    known: Mapping[str, TensorInfo],
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Inputs of the bound shapes: normal floats, zero integers (valid ids), False booleans."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for name, shape in bound.items():
        info = known.get(name)
        dtype = info.dtype if info is not None else np.dtype(np.float32)
        if dtype.kind == "f":
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "O" or dtype.kind in "US":
            feeds[name] = np.full(shape, "", dtype=object)
        else:
            feeds[name] = np.zeros(shape, dtype)
    return feeds
