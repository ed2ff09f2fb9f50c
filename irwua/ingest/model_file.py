"""Reading an ONNX model file: checked before parsing, so that a missing, empty, truncated or
non-ONNX file gets one clear sentence; the parsed model travels as a ``ModelSource`` with its path
and sha256 (provenance, and the folder its external data is read from)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from irwua.errors import IrwuaError
from irwua.ir.source import ModelSource


def load_model(source: str | os.PathLike | onnx.ModelProto) -> ModelSource:
    """Parse an ONNX file (or accept a ModelProto) and check it looks like a model."""
    if isinstance(source, onnx.ModelProto):
        _check_model(source, "the given ModelProto")
        return ModelSource(proto=source, path=None, sha256=None)
    path = Path(source)
    if not path.exists():
        raise IrwuaError(f"Model file '{path}' does not exist.")
    if path.is_dir():
        raise IrwuaError(f"'{path}' is a directory, not an ONNX model file.")
    data = path.read_bytes()
    if not data:
        raise IrwuaError(f"Model file '{path}' is empty.")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except DecodeError as exc:
        raise IrwuaError(
            f"'{path}' is not a valid ONNX model (the file is truncated or not ONNX: {exc})."
        ) from exc
    _check_model(proto, f"'{path}'")
    return ModelSource(proto=proto, path=path.resolve(), sha256=hashlib.sha256(data).hexdigest())


def _check_model(proto: onnx.ModelProto, what: str) -> None:
    """Reject protobuf that parsed but is not a usable model (random bytes often parse)."""
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.node:
        raise IrwuaError(f"{what} is not an ONNX model: it has no graph with nodes.")
    if not proto.graph.output:
        raise IrwuaError(f"{what} is not a usable ONNX model: its graph has no outputs.")


def opset_version(proto: onnx.ModelProto) -> int:
    """The default-domain opset the model was written for."""
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1
