"""Which layers can lose whole output units (structured pruning), and why the others cannot.

A layer can shrink when all of its units go to consumers that can lose inputs: its output must
not reach the model's outputs, a residual Add (the other branch would need the same units), a
grouped convolution, or an op the units are not followed through; the reason is kept for every
layer that cannot. ``irwua.units.flow`` says which consumer features read each unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from irwua.ir.geometry import geometry
from irwua.ir.graph import Layer, LayerGraph, Node
from irwua.units.flow import UnitFlow, UnitLink

SHRINKABLE_KINDS = frozenset({"conv", "gemm", "matmul"})
_SHAPE_READERS = frozenset({"Shape", "Size"})


@dataclass(frozen=True)
class Shrinkable:
    """A layer whose output units can be removed: its links to consumers, the per-unit layers
    between them, and the flattening Reshape nodes on the way (rewritten to [0, -1], so that
    the width is inferred)."""

    layer: str
    units: int
    links: tuple[UnitLink, ...]
    via: tuple[str, ...]
    reshapes: tuple[str, ...]


@dataclass(frozen=True)
class ShrinkPlan:
    """Which layers can shrink, and why each other unit layer cannot."""

    layers: Mapping[str, Shrinkable]
    reasons: Mapping[str, str]


def plan(graph: LayerGraph, flow: UnitFlow) -> ShrinkPlan:
    """The layers of ``graph`` that can lose output units (see the module docstring)."""
    layers: dict[str, Shrinkable] = {}
    reasons: dict[str, str] = {}
    for name in flow.layers:
        layer = graph.layer_by_name[name]
        links = tuple(flow.outgoing(name))
        reason, reshapes = _source_reason(layer, graph), ()
        if reason is None:
            reason, reshapes = _reach_reason(layer, links, graph)
        if reason is None:
            reason = _links_reason(links, graph)
        if reason is None:
            via = tuple(dict.fromkeys(v for link in links for v in link.via))
            layers[name] = Shrinkable(name, flow.out_units[name], links, via, reshapes)
        else:
            reasons[name] = reason
    return ShrinkPlan(layers, reasons)


def _source_reason(layer: Layer, graph: LayerGraph) -> str | None:
    """Why ``layer``'s weight cannot lose units or input features (None: it can)."""
    if layer.kind not in SHRINKABLE_KINDS:
        return f"{layer.op_type} layers are not shrunk"
    if geometry(layer, graph).groups > 1:
        return "grouped convolutions are not shrunk"
    if layer.kind == "matmul" and graph.array(layer).ndim != 2:
        return "batched MatMul weights are not shrunk"
    return None


def _links_reason(links: tuple[UnitLink, ...], graph: LayerGraph) -> str | None:
    if not links:
        return "its output is not read by another layer"
    for link in links:
        if link.mode != "unit":
            note = f": {link.note}" if link.note else ""
            return f"its units cannot be traced into '{link.target}'{note}"
        if link.shared:
            return f"its units share inputs of '{link.target}' with another source (a residual Add)"
        reason = _source_reason(graph.layer_by_name[link.target], graph)
        if reason is not None:
            return f"its consumer '{link.target}' cannot lose inputs: {reason}"
    return None


def _reach_reason(
    layer: Layer, links: tuple[UnitLink, ...], graph: LayerGraph
) -> tuple[str | None, tuple[str, ...]]:
    """Follow the layer's output forward: everything it reaches must be on its links."""
    ops = {op for link in links for op in link.ops}
    via = {v for link in links for v in link.via}
    targets = {link.target for link in links}
    reshapes: list[str] = []
    stack, seen = [layer.output], set()
    while stack:
        tensor = stack.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        if tensor in graph.outputs:
            return "its units reach the model's outputs", ()
        for node in graph.consumers.get(tensor, []):
            owner = graph.layer_of_node.get(node.name)
            if owner is not None and owner.name in targets and owner.data_input == tensor:
                continue
            if owner is not None and owner.name in via:
                stack.append(owner.output)
            elif owner is None and node.op_type in _SHAPE_READERS:
                continue
            elif owner is None and node.name in ops:
                if node.op_type == "Reshape" and not _flattening(node, graph):
                    return f"its units pass Reshape '{node.name}' of a fixed shape", ()
                if node.op_type == "Reshape" and _flat_shape_known(node, graph):
                    reshapes.append(node.name)
                stack.extend(out for out in node.outputs if out)
            else:
                return f"its units reach {node.op_type} '{node.name}', which is not followed", ()
    return None, tuple(reshapes)


def _flattening(node: Node, graph: LayerGraph) -> bool:
    """A Reshape to [batch, features] that keeps axis 0; its shape can then be [0, -1]. A shape
    computed at run time (``x.view(x.size(0), -1)``) whose result is not known is taken as one."""
    if not graph.is_constant(node.inputs[1]) and not _flat_shape_known(node, graph):
        return True
    return _flat_shape_known(node, graph)


def _flat_shape_known(node: Node, graph: LayerGraph) -> bool:
    """Whether the tensor shapes show a Reshape to [batch, features] that keeps axis 0 (then
    rewritten to [0, -1] without ``allowzero``: a computed shape may hold the old width as a
    constant, as torch's exporter writes ``Flatten``; a batch is never 0)."""
    shape_in, shape_out = graph.shape(node.inputs[0]), graph.shape(node.outputs[0])
    return (
        shape_in is not None
        and shape_out is not None
        and len(shape_out) == 2
        and shape_in[0] == shape_out[0]
    )
