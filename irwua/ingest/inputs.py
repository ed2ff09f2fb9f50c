"""A model's inputs: their declared shapes, the shapes they are bound to for one analysis, and
what per-sample counts are divided by.

Each graph input is bound to user-given shapes first (``NAME=1x3x224x224``), then the data's
shapes, then the declared shape with a symbolic leading (batch) dim set to 1. A symbolic dim
elsewhere must be given by the user; a given shape that contradicts a fixed dim is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import onnx

from irwua.errors import IrwuaError
from irwua.ir.dtypes import numpy_dtype
from irwua.ops import Category, category_of

if TYPE_CHECKING:
    from irwua.data.dataset import InputSpec

Shape = tuple[int, ...]


def parse_shape(text: str) -> tuple[str, Shape]:
    """Parse ``NAME=1x3x224x224`` (a bare ``1x3x224x224`` applies to the only input)."""
    name, _, dims = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.lower().replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise IrwuaError(
            f"Input shape '{text}' is not of the form NAME=DIMS with positive dims, "
            "e.g. image=1x3x224x224."
        )
    return name, shape


def model_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are real inputs, not initializers listed as inputs (old IR versions)."""
    stored = {t.name for t in proto.graph.initializer}
    return [vi for vi in proto.graph.input if vi.name not in stored]


def input_specs(proto: onnx.ModelProto) -> list[InputSpec]:
    """The model's inputs as declared: name, numpy dtype, dims, and the table an id input
    indexes."""
    from irwua.data.dataset import (
        InputSpec,  # Needed with data only: the CLI starts faster without.
    )

    tables = _id_tables(proto.graph)
    return [
        InputSpec(
            vi.name,
            numpy_dtype(vi.type.tensor_type.elem_type),
            declared_dims(vi),
            tables.get(vi.name),
        )
        for vi in model_inputs(proto)
    ]


_ID_PASS_THROUGH = frozenset({Category.IDENTITY, Category.RESHAPE})
"""Categories of ops that keep an id input's values on the way to its Gather."""


def _id_tables(graph: onnx.GraphProto) -> dict[str, tuple[str, int]]:
    """Graph inputs that are the indices of a Gather into a constant table (possibly through
    casts and reshapes), with that table's name and number of rows along the gathered axis."""
    tables: dict[str, tuple[int, ...]] = {t.name: tuple(t.dims) for t in graph.initializer}
    origin = {vi.name: vi.name for vi in graph.input if vi.name not in tables}
    found: dict[str, tuple[str, int]] = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    tables[node.output[0]] = tuple(attr.t.dims)
        elif (
            category_of(node.op_type, node.domain) in _ID_PASS_THROUGH
            and node.input
            and (node.input[0] in origin)
        ):
            origin[node.output[0]] = origin[node.input[0]]
        elif node.op_type == "Gather" and len(node.input) == 2 and node.input[1] in origin:
            dims = tables.get(node.input[0])
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            if dims and -len(dims) <= axis < len(dims):
                name, rows = origin[node.input[1]], dims[axis]
                if name not in found or rows < found[name][1]:
                    found[name] = (node.input[0], rows)
    return found


def bind_inputs(proto: onnx.ModelProto, given: Mapping[str, Shape]) -> dict[str, Shape]:
    """Choose a concrete shape for every model input, or explain which dims are missing."""
    inputs = model_inputs(proto)
    names = [vi.name for vi in inputs]
    given = dict(given)
    if "" in given:
        if len(inputs) != 1:
            raise IrwuaError(
                f"The model has {len(inputs)} inputs ({', '.join(names)}); name the input in "
                "--input-shape, e.g. NAME=1x3x224x224."
            )
        given[names[0]] = given.pop("")
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise IrwuaError(
            f"The model has no input named '{unknown[0]}'; its inputs are: {', '.join(names)}."
        )
    symbols: dict[str, int] = {}
    bound: dict[str, Shape] = {}
    for vi in inputs:
        declared = declared_dims(vi)
        if vi.name in given:
            bound[vi.name] = _check_given(vi.name, declared, given[vi.name], symbols)
        else:
            bound[vi.name] = _default_shape(vi.name, declared, symbols)
    return bound


def batch_size(proto: onnx.ModelProto, bound: Mapping[str, Shape]) -> int:
    """What per-sample counts are divided by: in the first input, the axis whose symbolic name
    contains 'batch', else its leading axis (1 for inputs of rank 0 or 1)."""
    inputs = model_inputs(proto)
    if not inputs or inputs[0].name not in bound:
        return 1
    shape = bound[inputs[0].name]
    declared = declared_dims(inputs[0]) or []
    for axis, dim in enumerate(declared):
        if isinstance(dim, str) and "batch" in dim.lower() and axis < len(shape):
            return shape[axis]
    return shape[0] if len(shape) >= 2 else 1


def declared_dims(vi: onnx.ValueInfoProto) -> tuple[int | str | None, ...] | None:
    ttype = vi.type.tensor_type
    if not ttype.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for dim in ttype.shape.dim:
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or None)
    return tuple(dims)


def declared_dtype(vi: onnx.ValueInfoProto) -> np.dtype | None:
    elem_type = vi.type.tensor_type.elem_type
    return numpy_dtype(elem_type) if elem_type else None


def _check_given(name: str, declared, shape: Shape, symbols: dict[str, int]) -> Shape:
    text = "x".join(map(str, shape))
    if declared is None:
        return shape
    if len(declared) != len(shape):
        raise IrwuaError(
            f"Input '{name}' has rank {len(declared)} ({_show(declared)}) but the given shape "
            f"{text} has rank {len(shape)}."
        )
    for axis, (want, got) in enumerate(zip(declared, shape, strict=True)):
        if isinstance(want, int) and want != got:
            raise IrwuaError(
                f"Input '{name}' needs {want} at axis {axis} ({_show(declared)}), "
                f"but the given shape is {text}."
            )
        if isinstance(want, str):
            symbols.setdefault(want, got)
    return shape


def _default_shape(name: str, declared, symbols: dict[str, int]) -> Shape:
    if declared is None:
        raise IrwuaError(
            f"Input '{name}' has no declared shape; give one with --input-shape {name}=DIMS."
        )
    dims: list[int] = []
    for axis, dim in enumerate(declared):
        if isinstance(dim, int):
            dims.append(dim)
        elif isinstance(dim, str) and dim in symbols:
            dims.append(symbols[dim])
        elif axis == 0:
            dims.append(1)
            if isinstance(dim, str):
                symbols[dim] = 1
        else:
            label = f"'{dim}'" if dim else "an unknown dimension"
            raise IrwuaError(
                f"Input '{name}' has {label} at axis {axis} ({_show(declared)}); "
                f"give it with --input-shape {name}=DIMS."
            )
    return tuple(dims)


def _show(declared) -> str:
    return "x".join("?" if d is None else str(d) for d in declared)


def bound_symbols(proto: onnx.ModelProto, bound: Mapping[str, Shape]) -> dict[str, int]:
    """Symbolic input dims ('batch', 'seq') and the sizes they are bound to."""
    symbols: dict[str, int] = {}
    for vi in model_inputs(proto):
        for dim, size in zip(declared_dims(vi) or (), bound.get(vi.name, ()), strict=False):
            if isinstance(dim, str):
                symbols.setdefault(dim, size)
    return symbols
