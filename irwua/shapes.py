"""Concrete shapes for every tensor, for one binding of the model's input shapes.

1. Bind each graph input: user-given shapes first (``NAME=1x3x224x224``), then the data's shapes,
   then the declared shape with a symbolic leading (batch) dim set to 1. A symbolic dim elsewhere
   must be given by the user; a given shape that contradicts a fixed dim is refused.
2. Work the shapes out with irwua's rules for the common ops (``static_shapes``) when they cover
   every node; else run ONNX's static shape inference on a *skeleton* of the model: large
   initializers are replaced by typed graph inputs, so inference needs no weight bytes and never
   copies them.
3. Whatever is still unknown is read from one onnxruntime run on synthetic inputs, with every
   intermediate tensor of the main graph exposed as an output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import onnx

from irwua.errors import IrwuaError, root_reason
from irwua.graph import ConstantTable, Node, TensorInfo
from irwua.ingest import ModelSource, initializers, numpy_dtype, subgraphs
from irwua.static_shapes import static_shapes

if TYPE_CHECKING:
    from irwua.data import InputSpec

Shape = tuple[int, ...]

_SMALL_INITIALIZER = 4096
"""Initializers up to this many elements stay in the skeleton (shape tensors, axes, scales)."""


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
    from irwua.data import InputSpec  # Needed with data only: the CLI starts faster without.

    tables = _id_tables(proto.graph)
    return [
        InputSpec(
            vi.name,
            numpy_dtype(vi.type.tensor_type.elem_type),
            _declared_dims(vi),
            tables.get(vi.name),
        )
        for vi in model_inputs(proto)
    ]


_ID_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten"}


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
        elif node.op_type in _ID_PASS_THROUGH and node.input and node.input[0] in origin:
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
        declared = _declared_dims(vi)
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
    declared = _declared_dims(inputs[0]) or []
    for axis, dim in enumerate(declared):
        if isinstance(dim, str) and "batch" in dim.lower() and axis < len(shape):
            return shape[axis]
    return shape[0] if len(shape) >= 2 else 1


def _declared_dims(vi: onnx.ValueInfoProto) -> tuple[int | str | None, ...] | None:
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


def _declared_dtype(vi: onnx.ValueInfoProto) -> np.dtype | None:
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


def infer_tensors(
    source: ModelSource,
    bound: Mapping[str, Shape],
    nodes: list[Node],
    constants: ConstantTable,
    opset: int,
) -> dict[str, TensorInfo]:
    """Shapes and dtypes of every tensor of the model (main graph and subgraphs), given its
    ``nodes`` and ``constants`` as the layer graph holds them."""
    tensors = rule_shapes(source.proto, bound, nodes, constants, opset)
    if tensors is None:
        tensors = onnx_shapes(source, bound)
    outputs = [vi.name for vi in source.proto.graph.output]
    missing = [name for name in _read_outputs(nodes, outputs) if _unresolved(tensors.get(name))]
    if missing:
        tensors.update(_run_for_shapes(source, bound, missing))
    return tensors


def rule_shapes(
    proto: onnx.ModelProto,
    bound: Mapping[str, Shape],
    nodes: list[Node],
    constants: ConstantTable,
    opset: int,
) -> dict[str, TensorInfo] | None:
    """The shapes from irwua's own rules, or None when they do not cover the model."""
    inputs = {}
    for vi in model_inputs(proto):
        dtype = _declared_dtype(vi)
        if dtype is None or vi.name not in bound:
            return None
        inputs[vi.name] = TensorInfo(vi.name, bound[vi.name], dtype)
    declared = {
        vi.name: (_declared_dims(vi), _declared_dtype(vi))
        for vi in [*proto.graph.value_info, *proto.graph.output]
    }
    return static_shapes(nodes, inputs, constants, opset, declared, _symbols(proto, bound))


def onnx_shapes(source: ModelSource, bound: Mapping[str, Shape]) -> dict[str, TensorInfo]:
    """The shapes from ONNX's shape inference (strict: inputs that do not fit are refused)."""
    skeleton = _skeleton(source.proto, bound)
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise IrwuaError(
            f"The input shapes {_format(bound)} do not fit the model: {root_reason(exc)}."
        ) from exc
    except (ValueError, RuntimeError) as exc:  # Malformed models fail in the checker first.
        raise IrwuaError(f"The model is not valid ONNX: {root_reason(exc)}.") from exc
    tensors: dict[str, TensorInfo] = {}
    _collect(inferred.graph, tensors)
    for tensor in initializers(source.proto.graph):
        tensors[tensor.name] = TensorInfo(
            tensor.name, tuple(tensor.dims), numpy_dtype(tensor.data_type)
        )
    return tensors


def _skeleton(proto: onnx.ModelProto, bound: Mapping[str, Shape]) -> onnx.ModelProto:
    """The model without large weight bytes, with inputs set to their bound shapes and the
    inputs' symbolic dims bound in the declared shapes of other tensors too (the only shape
    known for the output of a custom op)."""
    graph = proto.graph
    inputs = [
        onnx.helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type, bound[vi.name])
        if vi.name in bound
        else vi
        for vi in model_inputs(proto)
    ]
    small = []
    for tensor in graph.initializer:
        size = int(np.prod(tensor.dims, dtype=np.int64))
        if size <= _SMALL_INITIALIZER and tensor.data_location != onnx.TensorProto.EXTERNAL:
            small.append(tensor)
        else:
            inputs.append(
                onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
            )
    symbols = _symbols(proto, bound)
    skeleton_graph = onnx.helper.make_graph(
        list(graph.node),
        graph.name or "main",
        inputs,
        [_bound_dims(vi, symbols) for vi in graph.output],
        small,
        value_info=[_bound_dims(vi, symbols) for vi in graph.value_info],
    )
    skeleton = onnx.helper.make_model(
        skeleton_graph, opset_imports=list(proto.opset_import), ir_version=max(proto.ir_version, 4)
    )
    skeleton.functions.extend(proto.functions)
    return skeleton


def _symbols(proto: onnx.ModelProto, bound: Mapping[str, Shape]) -> dict[str, int]:
    """Symbolic input dims ('batch', 'seq') and the sizes they are bound to."""
    symbols: dict[str, int] = {}
    for vi in model_inputs(proto):
        for dim, size in zip(_declared_dims(vi) or (), bound.get(vi.name, ()), strict=False):
            if isinstance(dim, str):
                symbols.setdefault(dim, size)
    return symbols


def _bound_dims(vi: onnx.ValueInfoProto, symbols: Mapping[str, int]) -> onnx.ValueInfoProto:
    """A copy of ``vi`` whose symbolic dims known in ``symbols`` are set to their sizes."""
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(vi)
    if copy.type.HasField("tensor_type"):
        for dim in copy.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in symbols:
                dim.dim_value = symbols[dim.dim_param]
    return copy


def _collect(graph: onnx.GraphProto, tensors: dict[str, TensorInfo]) -> None:
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        info = _to_info(vi)
        if info is not None and (vi.name not in tensors or _unresolved(tensors[vi.name])):
            tensors[vi.name] = info
    for node in graph.node:
        for _, sub in subgraphs(node):
            _collect(sub, tensors)


def _to_info(vi: onnx.ValueInfoProto) -> TensorInfo | None:
    if not vi.type.HasField("tensor_type"):
        return None
    ttype = vi.type.tensor_type
    dtype = numpy_dtype(ttype.elem_type)
    shape = None
    if ttype.HasField("shape"):
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in ttype.shape.dim]
        shape = None if any(d < 0 for d in dims) else tuple(int(d) for d in dims)
    return TensorInfo(vi.name, shape, dtype)


def _unresolved(info: TensorInfo | None) -> bool:
    return info is None or info.shape is None


def _read_outputs(nodes: list[Node], graph_outputs: list[str]) -> list[str]:
    """Node outputs of the main graph that something uses: a node (here or in a subgraph) reads
    them or the graph returns them. An unread output (the mask of an old Dropout, which ONNX's
    inference leaves unsized) needs no shape, so it never costs an onnxruntime run."""
    used = set(graph_outputs).union(*(node.inputs for node in nodes))
    return [out for node in nodes if not node.scope for out in node.outputs if out in used]


def _run_for_shapes(
    source: ModelSource, bound: Mapping[str, Shape], names: list[str]
) -> dict[str, TensorInfo]:
    """Run the model once in onnxruntime on synthetic inputs and read the tensors' shapes."""
    from irwua.runtime import run_with_outputs, synthetic_inputs

    feeds = synthetic_inputs(input_specs(source.proto), bound)
    try:
        values = run_with_outputs(source.proto, feeds, names, source.base_dir)
    except IrwuaError:
        return {}  # Left unknown; the passes report the ops they could not size.
    return {
        name: TensorInfo(name, tuple(int(d) for d in value.shape), value.dtype)
        for name, value in values.items()
        if isinstance(value, np.ndarray)
    }


def _format(bound: Mapping[str, Shape]) -> str:
    return ", ".join(f"{name}={'x'.join(map(str, shape))}" for name, shape in bound.items())
