"""Which stored tensors each ONNX value and node derives from, through the constant ops exporters
put on the way.

Exporters often derive a layer's weight from a framework parameter with a few constant ops (a
Transpose for a Linear, a Slice/Concat that reorders an LSTM's gates). Recorded before those ops
are folded away, the sources tell which framework tensors a layer's weights really are.
"""

from __future__ import annotations

from collections.abc import Mapping

import onnx

_GRAPH_ATTRIBUTES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def constant_values(graph: onnx.GraphProto) -> dict[str, tuple[str, ...]]:
    """Every constant value of the main graph -> the initializers it is computed from."""
    known: dict[str, tuple[str, ...]] = {t.name: (t.name,) for t in graph.initializer}
    for node in graph.node:
        parts = [known.get(name) for name in node.input if name]
        if any(part is None for part in parts) or any(
            attr.type in _GRAPH_ATTRIBUTES for attr in node.attribute
        ):
            continue
        found = tuple(dict.fromkeys(source for part in parts for source in part or ()))
        for output in node.output:
            known[output] = found
    return known


def node_sources(
    graph: onnx.GraphProto, values: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    """Each node that reads stored tensors -> those tensors, in input order."""
    result: dict[str, tuple[str, ...]] = {}
    for node in graph.node:
        found = tuple(dict.fromkeys(s for name in node.input for s in values.get(name, ())))
        if found:
            result[node.name] = found
    return result


def upstream_tensors(graph: onnx.GraphProto, name: str) -> tuple[str, ...]:
    """The initializers that value ``name`` is computed from, through any ops (a slice whose
    bounds come from a Shape counts the sliced tensor, not the shape's source)."""
    stored = {tensor.name for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    found: dict[str, None] = {}
    pending, seen = [name], set()
    while pending:
        value = pending.pop()
        if value in seen:
            continue
        seen.add(value)
        if value in stored:
            found[value] = None
        elif value in producers:
            pending.extend(reversed([i for i in producers[value].input if i]))
    return tuple(found)
