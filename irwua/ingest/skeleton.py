"""A model's *skeleton*: its graph without large weight bytes, for ONNX's checker and shape
inference. Large initializers (and every external-data one) become typed graph inputs, so neither
needs the weights nor copies them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from irwua.ingest.inputs import Shape, model_inputs

SMALL_INITIALIZER = 4096
"""Initializers up to this many elements stay in the skeleton (shape tensors, axes, scales)."""


def weightless_skeleton(
    proto: onnx.ModelProto, bound: Mapping[str, Shape], symbols: Mapping[str, int]
) -> onnx.ModelProto:
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
        if size <= SMALL_INITIALIZER and tensor.data_location != onnx.TensorProto.EXTERNAL:
            small.append(tensor)
        else:
            inputs.append(
                onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
            )
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


def _bound_dims(vi: onnx.ValueInfoProto, symbols: Mapping[str, int]) -> onnx.ValueInfoProto:
    """A copy of ``vi`` whose symbolic dims known in ``symbols`` are set to their sizes."""
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(vi)
    if copy.type.HasField("tensor_type"):
        for dim in copy.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in symbols:
                dim.dim_value = symbols[dim.dim_param]
    return copy
