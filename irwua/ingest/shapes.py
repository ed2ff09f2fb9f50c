"""Concrete shapes for every tensor, for one binding of the model's input shapes
(``irwua.ingest.inputs``).

1. Work the shapes out with irwua's rules for the common ops (``shape_propagation``) when they
   cover every node;
2. else run ONNX's static shape inference on a *skeleton* of the model (``skeleton``), which
   holds no weight bytes.
3. Whatever is still unknown is read from one onnxruntime run on synthetic inputs, with every
   intermediate tensor of the main graph exposed as an output.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import onnx

from irwua.errors import IrwuaError, root_reason
from irwua.ingest.inputs import (
    Shape,
    bound_symbols,
    declared_dims,
    declared_dtype,
    input_specs,
    model_inputs,
)
from irwua.ingest.shape_propagation import propagate_shapes
from irwua.ingest.skeleton import weightless_skeleton
from irwua.ingest.tensors import initializers, subgraphs
from irwua.ir.dtypes import numpy_dtype
from irwua.ir.graph import ConstantTable, Node, TensorInfo
from irwua.ir.source import ModelSource
from irwua.limits import check_memory

SYNTHETIC_SHARE = 8
"""The memory limit must hold this many times the synthetic inputs for the shape-reading run
(the inputs, and the tensors the run keeps as outputs)."""


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
        dtype = declared_dtype(vi)
        if dtype is None or vi.name not in bound:
            return None
        inputs[vi.name] = TensorInfo(vi.name, bound[vi.name], dtype)
    declared = {
        vi.name: (declared_dims(vi), declared_dtype(vi))
        for vi in [*proto.graph.value_info, *proto.graph.output]
    }
    return propagate_shapes(nodes, inputs, constants, opset, declared, bound_symbols(proto, bound))


def onnx_shapes(source: ModelSource, bound: Mapping[str, Shape]) -> dict[str, TensorInfo]:
    """The shapes from ONNX's shape inference (strict: inputs that do not fit are refused)."""
    skeleton = weightless_skeleton(source.proto, bound, bound_symbols(source.proto, bound))
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
    """Run the model once in onnxruntime on synthetic inputs, bounded in time and memory
    (``irwua.runtime.bounded``), and read the tensors' shapes. When the run fails or stops, the
    tensors stay unsized: a warning names them (the passes report the ops they cannot size)."""
    from irwua.runtime.bounded import RunStopped, bounded_shapes
    from irwua.runtime.sessions import run_with_outputs, synthetic_inputs

    specs = input_specs(source.proto)
    needed = sum(math.prod(bound[spec.name]) * spec.dtype.itemsize for spec in specs)
    try:
        check_memory(SYNTHETIC_SHARE * needed, "running the model on synthetic inputs")
        feeds = synthetic_inputs(specs, bound)
        shapes = bounded_shapes(
            lambda: run_with_outputs(source.proto, feeds, names, source.base_dir)
        )
    except (IrwuaError, RunStopped) as exc:
        listed = ", ".join(f"'{name}'" for name in names[:3]) + (", ..." if len(names) > 3 else "")
        warnings.warn(
            f"{len(names)} tensors ({listed}) stay unsized: static shape inference cannot size "
            f"them and the run on synthetic inputs that would read their shapes {_phrase(exc)}; "
            "give the inputs' shapes (--input-shape) or --data, or store the shapes in the "
            "model's value_info",
            stacklevel=2,
        )
        return {}
    return {
        name: TensorInfo(name, shape, np.dtype(dtype)) for name, (shape, dtype) in shapes.items()
    }


def _phrase(exc: Exception) -> str:
    """What went wrong, as the end of a sentence."""
    if isinstance(exc, IrwuaError):
        return f"was refused ({str(exc).rstrip('.')})"
    return str(exc)


def _format(bound: Mapping[str, Shape]) -> str:
    return ", ".join(f"{name}={'x'.join(map(str, shape))}" for name, shape in bound.items())
