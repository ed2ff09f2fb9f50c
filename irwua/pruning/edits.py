"""Edits of a copy of an ONNX model: a layer's learned tensors replaced by new values.

A layer's tensor is whatever value name its node reads (an initializer, a Constant's output, the
end of a folded Transpose/Cast chain); an edit points the layer's own nodes at a new name, so a
tensor shared with another layer is left alone for that layer. Stored tensors and nodes whose
values nobody reads any more are dropped, so a pruned model does not carry its old weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from irwua.ingest.tensors import subgraphs
from irwua.ir.graph import Layer, LayerGraph

TensorKey = tuple[str, str]
"""(layer name, role): one learned tensor of one layer."""


def _new_name(layer: Layer, role: str, taken: set[str]) -> str:
    """A value name for an edited tensor that no value of the model has yet (a model pruned
    before already holds ``irwua_pruned/...`` names), reserved in ``taken``."""
    name = base = f"irwua_pruned/{layer.name}/{role}"
    while name in taken:
        name = f"{base}#{len(taken)}"
    taken.add(name)
    return name


def with_tensors(
    proto: onnx.ModelProto, graph: LayerGraph, values: Mapping[TensorKey, np.ndarray]
) -> onnx.ModelProto:
    """A copy of ``proto`` in which each (layer, role) tensor holds the given value."""
    copy = _copy(proto)
    taken = _read_names(copy.graph) | {t.name for t in copy.graph.initializer}
    taken.update(out for node in copy.graph.node for out in node.output)
    for (layer_name, role), value in values.items():
        layer = graph.layer_by_name[layer_name]
        name = _rewire(copy, graph, layer, role, _new_name(layer, role, taken))
        copy.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
    drop_unused(copy.graph)
    return copy


def _copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    return copy


def _rewire(proto: onnx.ModelProto, graph: LayerGraph, layer: Layer, role: str, name: str) -> str:
    """Point the layer's nodes at ``name`` instead of its ``role`` tensor; return ``name``."""
    old = layer.tensors[role]
    outputs = {graph.node_by_name[node].outputs for node in layer.nodes}
    for node in proto.graph.node:
        if tuple(node.output) in outputs:
            for index, value in enumerate(node.input):
                if value == old:
                    node.input[index] = name
    return name


def drop_unused(graph: onnx.GraphProto) -> None:
    """Remove initializers and main-graph nodes whose values nothing reads, until none is left.

    Values read inside subgraphs (outer-scope references) count as read.
    """
    while True:
        read = _read_names(graph) | {value.name for value in graph.output}
        dead = [n for n in graph.node if not any(out in read for out in n.output if out)]
        for node in dead:
            graph.node.remove(node)
        unused = [t for t in graph.initializer if t.name not in read]
        for tensor in unused:
            graph.initializer.remove(tensor)
        gone = {t.name for t in unused}
        listed = [value for value in graph.input if value.name in gone]
        for value in listed:
            graph.input.remove(value)
        if not dead and not unused:
            return


def _read_names(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for node in graph.node:
        names.update(name for name in node.input if name)
        for _, sub in subgraphs(node):
            names |= _read_names(sub)
            names.update(value.name for value in sub.output)
    return names


def zeroed(
    graph: LayerGraph, pruned: Mapping[str, np.ndarray]
) -> dict[tuple[str, str], np.ndarray]:
    """Each layer's weight with its pruned entries (``Ranking.pruned``) set to zero."""
    return {
        (name, "weight"): np.where(flags, 0, graph.array(graph.layer_by_name[name]))
        for name, flags in pruned.items()
    }
