"""Tidying what the PyTorch exporters produce, without changing what the model computes.

The exporters run unoptimized, because their optimizers fold BatchNorm into convolutions and merge
equal-valued initializers (two untouched LayerNorms would share one weight), which changes the
weights and parameter counts users compare against. Constants stay as the exporter computes them
from the parameters (irwua's own constant table follows transposes and reshapes back to the
parameter they view, so a tied weight is one tensor), except that irwua

- folds the weights of recurrent ops (LSTM, GRU, RNN), which the exporter builds from the
  parameters with Slice and Concat to reorder the gates, into initializers, and
- drops all-zero biases the exporter made up for layers that have none (a Conv with bias=False),
  so that every stored tensor is one the model has.

Folding everything would also cut position tables to the traced length and store a transposed
copy of a tied embedding, so it is kept to what recurrent layers need.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator, Sequence, Set

import numpy as np
import onnx
from onnx import numpy_helper

from irwua.exporters.carried import SCOPES_KEY
from irwua.exporters.provenance import upstream_tensors

_MADE_UP_BIAS_OPS = ("Conv", "ConvTranspose", "Gemm")
_RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_RECURRENT_WEIGHTS = (1, 2, 3)  # W, R, B
_NO_LIMIT = 1 << 62


def tidy(
    proto: onnx.ModelProto, values: dict[str, tuple[str, ...]], owned: Set[str]
) -> onnx.ModelProto:
    """``proto`` with recurrent weights folded and made-up zero biases dropped.

    ``values`` are the stored tensors each constant value was computed from before folding
    (``irwua.exporters.provenance.constant_values``); folded recurrent weights keep their names
    and are added to it. ``owned`` are the names of the tensors that belong to the model (a bias
    computed from one of them is kept even when it is zero).
    """
    import onnx_ir as ir
    from onnx_ir.passes.common import RemoveUnusedNodesPass

    tidied = _fold_recurrent_weights(proto, values)
    stored = {tensor.name: tensor for tensor in tidied.graph.initializer}
    for node in tidied.graph.node:
        if node.op_type in _MADE_UP_BIAS_OPS and len(node.input) == 3:
            bias = stored.get(node.input[2])
            made_up = owned.isdisjoint(values.get(node.input[2], ()))
            if bias is not None and made_up and not np.any(numpy_helper.to_array(bias)):
                del node.input[2]
    model = ir.from_proto(tidied)
    RemoveUnusedNodesPass()(model)
    return ir.to_proto(model)


def _fold_recurrent_weights(
    proto: onnx.ModelProto, values: dict[str, tuple[str, ...]]
) -> onnx.ModelProto:
    """``proto`` (a copy) whose recurrent ops read their constant W, R and B as initializers of
    the same names, recorded in ``values``; the ops that computed them are left for the
    unused-node pass."""
    tidied = onnx.ModelProto()
    tidied.CopyFrom(proto)
    graph = tidied.graph
    stored = {tensor.name for tensor in graph.initializer}
    wanted = {
        name
        for node in graph.node
        if node.op_type in _RECURRENT_OPS
        for i, name in enumerate(node.input)
        if i in _RECURRENT_WEIGHTS and name and name not in stored
    }
    if not wanted:
        return tidied
    import onnx_ir as ir
    from onnxscript.optimizer import fold_constants

    folded_model = ir.from_proto(proto)
    fold_constants(folded_model, input_size_limit=_NO_LIMIT, output_size_limit=_NO_LIMIT)
    folded = {t.name: t for t in ir.to_proto(folded_model).graph.initializer if t.name in wanted}
    for name in folded:
        values[name] = upstream_tensors(proto.graph, name)
    producers = [node for node in graph.node if set(node.output) & set(folded)]
    for node in producers:
        graph.node.remove(node)
    graph.initializer.extend(folded.values())
    return tidied


def unwrap(proto: onnx.ModelProto, prefix: str) -> None:
    """Take the wrapper's ``prefix`` (``model.``) off the exported tensor names, module scopes
    and TorchScript node names of ``proto``, in place, so they are the user's module paths."""
    scope = prefix.rstrip(".")
    renamed = {
        t.name: t.name[len(prefix) :] for t in proto.graph.initializer if t.name.startswith(prefix)
    }
    for graph in _graphs(proto.graph):
        for tensor in graph.initializer:
            tensor.name = renamed.get(tensor.name, tensor.name)
        for value in (*graph.input, *graph.output, *graph.value_info):
            value.name = renamed.get(value.name, value.name)
        for node in graph.node:
            node.input[:] = [renamed.get(name, name) for name in node.input]
            node.output[:] = [renamed.get(name, name) for name in node.output]
            node.name = "/".join(_unprefixed(node.name.split("/"), scope, prefix))
            for prop in node.metadata_props:
                if prop.key == SCOPES_KEY:
                    with contextlib.suppress(ValueError, SyntaxError):
                        path = ast.literal_eval(prop.value)
                        prop.value = repr(_unprefixed(path, scope, prefix))


def _unprefixed(path: Sequence[str], scope: str, prefix: str) -> list[str]:
    return [part.removeprefix(prefix) for part in path if part != scope]


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            for sub in (attr.g,) if attr.type == onnx.AttributeProto.GRAPH else attr.graphs:
                yield from _graphs(sub)
