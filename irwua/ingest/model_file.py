"""Reading an ONNX model file: checked before parsing, so that a missing, empty, truncated or
non-ONNX file gets one clear sentence; the parsed model travels as a ``ModelSource`` with its path
and sha256 (provenance, and the folder its external data is read from)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from irwua.errors import IrwuaError
from irwua.ingest.skeleton import weightless_skeleton
from irwua.ingest.tensors import (
    external_locations,
    external_tensors,
    subgraphs,
)
from irwua.ir.source import ModelSource
from irwua.limits import check_memory

PROTOBUF_LIMIT = 2**31
"""The most bytes protobuf parses as one message."""


def load_model(source: str | os.PathLike | onnx.ModelProto) -> ModelSource:
    """Parse an ONNX file (or accept a ModelProto) and check it looks like a model."""
    if isinstance(source, onnx.ModelProto):
        _check_model(source, "the given ModelProto")
        _check_valid(source, "the given ModelProto")
        return ModelSource(proto=source, path=None, sha256=None)
    path = Path(source)
    check_model_path(path)
    if path.is_dir():
        raise IrwuaError(f"'{path}' is a directory, not an ONNX model file.")
    size = path.stat().st_size
    if size > PROTOBUF_LIMIT:
        raise IrwuaError(
            f"'{path}' has {size:,} bytes, more than the 2 GiB one ONNX protobuf can hold; a model "
            "that large keeps its weights in external-data files."
        )
    check_memory(2 * size, f"reading the model file '{path}'")
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
    _check_valid(proto, f"'{path}'")
    return ModelSource(proto=proto, path=path.resolve(), sha256=hashlib.sha256(data).hexdigest())


def check_model_path(path: Path) -> None:
    """Refuse a model path that does not exist or is neither a regular file nor a folder (a
    pipe or a device, which would hang or never end)."""
    if not path.exists():
        raise IrwuaError(f"Model file '{path}' does not exist.")
    if not (path.is_file() or path.is_dir()):
        raise IrwuaError(
            f"'{path}' is not a regular file (a pipe or a device); save the model first."
        )


def _check_model(proto: onnx.ModelProto, what: str) -> None:
    """Reject protobuf that parsed but is not a usable model (random bytes often parse)."""
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.node:
        raise IrwuaError(f"{what} is not an ONNX model: it has no graph with nodes.")
    if not proto.graph.output:
        raise IrwuaError(f"{what} is not a usable ONNX model: its graph has no outputs.")


def _check_valid(proto: onnx.ModelProto, what: str) -> None:
    """Refuse what ONNX's checker refuses (cycles, inputs nobody produces, a value produced
    twice, an empty op type, attributes that break a schema), strings that are not UTF-8, and
    opsets from the future.

    The checker reads the model's skeleton (``irwua.ingest.skeleton``): no weight bytes are
    copied or serialized again, and external data (checked by irwua, from the model's folder)
    is not looked for in the current directory. What irwua reads although the checker would
    not is left out of what it checks: initializers absent from the graph's inputs (the
    skeleton is IR version 4 or newer), graph inputs or outputs declared without a type or a
    shape, value_info without a type, and ops ONNX does not define (irwua lists them as not counted;
    an op registered with ``irwua.ops.register`` is analyzed)."""
    field = _undecodable_text(proto)
    if field is not None:
        raise IrwuaError(f"{what} is not a valid ONNX model: its {field} is not UTF-8 text.")
    skeleton = weightless_skeleton(proto, {}, {})
    del skeleton.graph.value_info[:]  # shape hints: irwua and onnxruntime read them if usable
    for value in [*skeleton.graph.input, *skeleton.graph.output]:
        if not value.HasField("type"):
            value.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
        if value.type.HasField("tensor_type") and not value.type.tensor_type.HasField("shape"):
            value.type.tensor_type.shape.SetInParent()
    for tensor in external_tensors(skeleton.graph):
        tensor.ClearField("external_data")
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.dims[:]
        tensor.dims.append(0)
    _set_aside_unknown_ops(skeleton)
    try:
        onnx.checker.check_model(skeleton)
    except (onnx.checker.ValidationError, ValueError) as exc:
        reason = " ".join(str(exc).split()).rstrip(".")
        raise IrwuaError(f"{what} is not a valid ONNX model: {reason}.") from exc
    opset, newest = opset_version(proto), onnx.defs.onnx_opset_version()
    if opset > newest:
        raise IrwuaError(
            f"{what} asks for ONNX opset {opset}; the newest opset irwua's onnx knows is {newest}."
        )


UNCHECKED_DOMAIN = "irwua.unchecked"
"""The domain the checker's copy moves ops ONNX does not define to, so that it skips them."""


def _set_aside_unknown_ops(skeleton: onnx.ModelProto) -> None:
    """Move the default-domain nodes of ops ONNX does not define (at any depth) to
    ``UNCHECKED_DOMAIN``; their neighbours are still checked."""
    graphs, moved = [skeleton.graph], False
    while graphs:
        for node in graphs.pop().node:
            if node.domain in ("", "ai.onnx") and node.op_type and not onnx.defs.has(node.op_type):
                node.domain, moved = UNCHECKED_DOMAIN, True
            graphs.extend(sub for _, sub in subgraphs(node))
    if moved:
        skeleton.opset_import.append(onnx.helper.make_opsetid(UNCHECKED_DOMAIN, 1))


def _undecodable_text(message: Message) -> str | None:
    """The name of the first string field of ``message`` (or of a message inside it) that holds
    bytes that are not UTF-8 (protobuf then gives them as ``bytes``), else None. A tensor's
    data is not walked: its strings are its name, doc string and external-data entries."""
    if isinstance(message, onnx.TensorProto):
        texts = [("name", message.name), ("doc_string", message.doc_string)]
        texts += [("external_data", t) for e in message.external_data for t in (e.key, e.value)]
        bad = next((field for field, text in texts if isinstance(text, bytes)), None)
        return None if bad is None else f"TensorProto.{bad}"
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if field.is_repeated else (value,)
            if any(isinstance(item, bytes) for item in values):
                return f"{message.DESCRIPTOR.name}.{field.name}"
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if field.is_repeated else (value,):
                found = _undecodable_text(item)
                if found is not None:
                    return found
    return None


def model_files(source: ModelSource) -> list[Path]:
    """The files a model is read from: its own file and its external-data files."""
    if source.path is None:
        return []
    locations = external_locations(source.proto.graph)
    return [source.path, *(source.path.parent / location for location in sorted(locations))]


def opset_version(proto: onnx.ModelProto) -> int:
    """The default-domain opset the model was written for."""
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1
