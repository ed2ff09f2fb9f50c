"""Tensors, attributes and subgraphs of a parsed ONNX model as numpy and plain Python.

Tensors stored as external data are memory-mapped read-only, never read whole, and a location
that leaves the model's directory is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from irwua.errors import IrwuaError
from irwua.ir.dtypes import numpy_dtype

_PLAIN_TYPES = {
    elem_type: np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).newbyteorder("<")
    for elem_type in (
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.INT8,
        onnx.TensorProto.UINT8,
        onnx.TensorProto.INT16,
        onnx.TensorProto.UINT16,
        onnx.TensorProto.INT32,
        onnx.TensorProto.UINT32,
        onnx.TensorProto.INT64,
        onnx.TensorProto.UINT64,
        onnx.TensorProto.BOOL,
    )
}
"""Element types whose raw data numpy reads as is (little-endian, one element per item)."""

_TYPED_FIELDS = {
    onnx.TensorProto.FLOAT: "float_data",
    onnx.TensorProto.DOUBLE: "double_data",
    onnx.TensorProto.INT32: "int32_data",
    onnx.TensorProto.INT64: "int64_data",
}
"""Element types stored in a repeated field of their own type when not raw."""


def tensor_to_array(tensor: onnx.TensorProto, base_dir: Path | None) -> np.ndarray:
    """Convert a TensorProto to numpy; external data is memory-mapped read-only.

    The common layouts (raw data of a plain numeric type, float/double/int32/int64 fields) are
    read directly, as ``numpy_helper.to_array`` reads them, without its per-call type-table
    lookups; the rest goes through ``to_array``."""
    if any(dim < 0 for dim in tensor.dims):
        raise IrwuaError(f"Tensor '{tensor.name}' has a negative dimension {list(tensor.dims)}.")
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        try:
            common = _read_common(tensor)
            return numpy_helper.to_array(tensor) if common is None else common
        except KeyError as exc:  # onnx's type table lacks the element type
            raise IrwuaError(
                f"Tensor '{tensor.name}' has an unknown element type {tensor.data_type}."
            ) from exc
        except (ValueError, TypeError) as exc:
            raise IrwuaError(f"Tensor '{tensor.name}' cannot be read: {exc}.") from exc
    return _map_external(tensor, base_dir)


def _read_common(tensor: onnx.TensorProto) -> np.ndarray | None:
    """The value of a tensor stored in one of the common layouts, else None."""
    plain = _PLAIN_TYPES.get(tensor.data_type)
    if plain is None:
        return None
    dims = tuple(tensor.dims)
    if tensor.HasField("raw_data"):
        return np.frombuffer(tensor.raw_data, plain).reshape(dims)
    field = _TYPED_FIELDS.get(tensor.data_type)
    return None if field is None else np.array(getattr(tensor, field), plain).reshape(dims)


def _map_external(tensor: onnx.TensorProto, base_dir: Path | None) -> np.ndarray:
    """Memory-map an external-data tensor after checking its location stays in ``base_dir``."""
    target, offset = _external_target(tensor, base_dir)
    dtype = numpy_dtype(tensor.data_type)
    shape = tuple(tensor.dims)
    if math.prod(shape) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(target, dtype=dtype, mode="r", offset=offset, shape=shape)


_MAPPABLE_TYPES = frozenset(
    {
        *_PLAIN_TYPES,
        onnx.TensorProto.COMPLEX64,
        onnx.TensorProto.COMPLEX128,
        onnx.TensorProto.BFLOAT16,
        onnx.TensorProto.FLOAT8E4M3FN,
        onnx.TensorProto.FLOAT8E4M3FNUZ,
        onnx.TensorProto.FLOAT8E5M2,
        onnx.TensorProto.FLOAT8E5M2FNUZ,
    }
)
"""Element types of one fixed size per element, whose external bytes numpy maps as they are
(strings hold pointers in numpy, and 4-bit types pack two elements per byte)."""


def _external_target(tensor: onnx.TensorProto, base_dir: Path | None) -> tuple[Path, int]:
    """The file and offset an external-data tensor is read from, once checked: its element
    type is one numpy maps as bytes, the location stays inside ``base_dir``, the file exists
    and holds the tensor's bytes."""
    if tensor.data_type not in _MAPPABLE_TYPES:
        kind = (
            onnx.TensorProto.DataType.Name(tensor.data_type)
            if tensor.data_type in (onnx.TensorProto.DataType.values())
            else str(tensor.data_type)
        )
        raise IrwuaError(
            f"Tensor '{tensor.name}' of element type {kind} is stored as external data, which "
            "irwua reads only for fixed-size numeric types."
        )
    info = {entry.key: entry.value for entry in tensor.external_data}
    if base_dir is None:
        raise IrwuaError(
            f"Tensor '{tensor.name}' is stored in an external file; load the model from its "
            "path so the file can be found."
        )
    location = info.get("location", "")
    offset = info.get("offset", "0")
    if "\0" in location or not (offset.isascii() and offset.isdigit()):
        raise IrwuaError(
            f"Tensor '{tensor.name}' has an invalid external-data reference (location "
            f"{location!r}, offset {offset!r})."
        )
    target = (base_dir / location).resolve()
    if not target.is_relative_to(base_dir.resolve()):
        raise IrwuaError(
            f"Tensor '{tensor.name}' points to external data '{location}' outside the model's "
            "directory; irwua refuses to read it."
        )
    if not target.is_file():
        raise IrwuaError(f"External data file '{target}' for tensor '{tensor.name}' is missing.")
    needed = math.prod(tensor.dims) * numpy_dtype(tensor.data_type).itemsize
    if int(offset) + needed > target.stat().st_size:
        raise IrwuaError(
            f"External data file '{target}' is too short for tensor '{tensor.name}' "
            f"(needs {needed} bytes at offset {offset})."
        )
    return target, int(offset)


def external_tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    """The tensors of ``graph`` and its subgraphs whose values are in external files: stored
    tensors and tensor attributes (a Constant's value)."""
    tensors = list(initializers(graph))
    nodes = [graph.node]
    while nodes:
        for node in nodes.pop():
            for attr in node.attribute:
                tensors.extend(
                    [attr.t] if attr.type == onnx.AttributeProto.TENSOR else attr.tensors
                )
            nodes.extend(sub.node for _, sub in subgraphs(node))
    return [t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]


def subgraphs(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.GraphProto]]:
    """The (attribute name, graph) pairs held by a control-flow node (If, Loop, Scan)."""
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.name, attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for index, graph in enumerate(attr.graphs):
                yield f"{attr.name}[{index}]", graph


def external_locations(graph: onnx.GraphProto) -> set[str]:
    """The external-data files (``location`` entries) that the stored tensors of ``graph`` and of
    its subgraphs refer to."""
    return {
        entry.value
        for tensor in external_tensors(graph)
        for entry in tensor.external_data
        if entry.key == "location"
    }


def initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """The stored tensors of ``graph`` and of all its subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for _, sub in subgraphs(node):
            yield from initializers(sub)


_ATTRIBUTE_READERS = {
    onnx.AttributeProto.INT: lambda attr: attr.i,
    onnx.AttributeProto.FLOAT: lambda attr: attr.f,
    onnx.AttributeProto.STRING: lambda attr: attr.s.decode("utf-8", "replace"),
    onnx.AttributeProto.INTS: lambda attr: tuple(attr.ints),
    onnx.AttributeProto.FLOATS: lambda attr: tuple(attr.floats),
    onnx.AttributeProto.STRINGS: lambda attr: tuple(
        s.decode("utf-8", "replace") for s in attr.strings
    ),
}


def attributes(node: onnx.NodeProto, base_dir: Path | None = None) -> dict[str, object]:
    """Plain-Python attribute values; tensors become numpy (external data from ``base_dir``);
    subgraphs and rarer kinds are left out (subgraphs become scopes of the layer graph)."""
    values: dict[str, object] = {}
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.TENSOR:
            values[attr.name] = tensor_to_array(attr.t, base_dir)
            continue
        reader = _ATTRIBUTE_READERS.get(attr.type)
        if reader is not None:
            values[attr.name] = reader(attr)
    return values
