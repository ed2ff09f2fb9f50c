"""How a pruned model is stored: in one self-contained file, so it loads from any folder.

The original's external-data tensors are copied into the pruned model (a pruned file that still
pointed at the original's ``weights.bin`` would break once moved, or once the original changed);
a model too large for one protobuf keeps its large tensors in one ``<name>.data`` file beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from irwua.ingest.model_file import PROTOBUF_LIMIT
from irwua.ingest.tensors import initializers
from irwua.ir.graph import LayerGraph

_EXTERNAL_MIN_BYTES = 1024
"""Tensors of at least this many bytes go to the ``.data`` file of a model over the limit."""


def stored_inline(proto: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> None:
    """Give every external-data initializer of ``proto`` its value from ``values`` (the layer
    graph's constants, by name), in place."""
    for tensor in initializers(proto.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL and tensor.name in values:
            tensor.CopyFrom(numpy_helper.from_array(np.asarray(values[tensor.name]), tensor.name))


def nonzero_params(graph: LayerGraph) -> int:
    """Non-zero entries of the layers' learned tensors, each stored tensor counted once (reads
    every weight)."""
    tensors = {
        graph.constants.origins.get(name, name): graph.constants.values[name]
        for layer in graph.layers
        for name in layer.tensors.values()
    }
    return sum(int(np.count_nonzero(value)) for value in tensors.values())


def stored_bytes(proto: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> int:
    """The bytes of the model's file and of the external data it refers to."""
    external = sum(
        np.asarray(values[tensor.name]).nbytes
        for tensor in initializers(proto.graph)
        if tensor.data_location == onnx.TensorProto.EXTERNAL and tensor.name in values
    )
    return proto.ByteSize() + external


def serialized(proto: onnx.ModelProto, name: str) -> dict[str, bytes]:
    """The file ``name`` holding ``proto``, and ``<name>.data`` when the model is over
    ``PROTOBUF_LIMIT``: then the main graph's large tensors are stored there."""
    if proto.ByteSize() < PROTOBUF_LIMIT:
        return {name: proto.SerializeToString()}
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    data = bytearray()
    location = f"{name}.data"
    for tensor in copy.graph.initializer:
        if not tensor.HasField("raw_data") or len(tensor.raw_data) < _EXTERNAL_MIN_BYTES:
            continue
        data.extend(b"\0" * (-len(data) % 4096))  # page-aligned: onnxruntime maps it
        offset, length = len(data), len(tensor.raw_data)
        data.extend(tensor.raw_data)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", offset), ("length", length)):
            tensor.external_data.add(key=key, value=str(value))
    return {name: copy.SerializeToString(), location: bytes(data)}
