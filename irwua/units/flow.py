"""Unit-level connectivity: which output unit of which upstream layer feeds each input feature of a
layer, through the parameter-free ops between them.

A *unit layer* is a Conv, ConvTranspose, Gemm or MatMul layer (main graph, 2-D or larger weight):
it reads input features (a conv's input channels) and writes output units (its output channels).
``unit_flow`` follows every unit layer's input backward until it reaches unit layers, embeddings
or graph inputs, and records one ``UnitLink`` per (source, consumer):

The op registry's category of each op (``irwua.ops``) says how units pass it:

==========================================  ====================================================
op between the layers                       units
==========================================  ====================================================
activations, unary math, identity ops        kept
(Dropout, Cast), softmaxes, (De)Quantize
pooling, global pooling, Resize, LRN, Pad    kept when the units are channels (axis 1) and the
                                             op keeps their number
Transpose                                    kept, on the permuted axis
reductions (ReduceMean, ReduceSum, ...)      kept when the unit axis is not reduced
reshapes (Flatten, Reshape, Squeeze,         feature j reads unit j * inner_out // inner_in: a
Unsqueeze)                                   channel maps to its block of features ([N, C, H, W]
                                             -> [N, C*H*W]); a reshape that splits a unit loses
                                             the units; a graph input reshaped right away (an
                                             MLP's Flatten of an image) has a unit per feature
Concat, Split                                along the unit axis: offsets; along another: kept
broadcasting arithmetic (Add, Sub, Mul,      every input with the unit axis feeds the same units
Div, Max, Min, Sum, Mean, ...)               (a residual Add merges its branches, an SE gate
                                             [N, C, 1, 1] its channels); a broadcast input (a
                                             scalar, a mean over the units) is not followed
norm layers (BatchNorm, LayerNorm, ...) and  kept: they act per unit, so pathways run through
elementwise layers (learned per-unit scale   them; each link names them in ``via`` (pruning a unit
or shift)                                    must slice them too)
anything else (Gather, Slice, MatMul of two  units lost: a link of mode "layer" with a note
activations, recurrent layers, ...)
==========================================  ====================================================

Ops that read a shape rather than values (Shape, Size) or create a tensor (ConstantOfShape,
Range) end a walk; constants are never sources. Only an op's data inputs are followed (not a
Reshape's shape or a Clip's bounds). Structured pruning uses the same links: removing output
unit ``c`` of layer ``S`` removes the input features ``link.features_of(c)`` of each consumer,
and every layer in ``link.via``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from irwua.ir.geometry import geometry, is_unit_layer, output_axis, unit_counts
from irwua.ir.graph import Layer, LayerGraph, Node
from irwua.ops import Category, category_of, op_info

_BEHAVIOUR = {
    Category.ACTIVATION: "keep",
    Category.UNARY: "keep",
    Category.IDENTITY: "keep",
    Category.SOFTMAX: "keep",
    Category.QUANTIZATION: "keep",
    Category.POOLING: "per_channel",
    Category.GLOBAL_POOLING: "per_channel",
    Category.RESIZE: "per_channel",
    Category.RESHAPE: "reshape",
    Category.BROADCAST: "merge",
    Category.REDUCTION: "reduce",
    Category.SHAPE: "end",
    Category.CREATION: "end",
}
"""How the units pass the ops of each category of the op registry (see the module table):
"keep" (output element i reads input element i, or normalizes along an axis), "per_channel"
(the channels of an [N, C, ...] tensor are kept), "reshape", "merge" (broadcast inputs feed the
same units), "reduce", "end" (the op reads shapes, not values: the walk ends)."""

_OP_BEHAVIOUR = {
    "LRN": "per_channel",
    "Pad": "per_channel",
    "Transpose": "transpose",
    "Concat": "concat",
    "Split": "split",
}
"""Ops that units pass otherwise than the rest of their category."""


def _behaviour(node: Node) -> str | None:
    """How units pass ``node`` (None: they are lost)."""
    if node.domain:
        return None
    return _OP_BEHAVIOUR.get(node.op_type) or _BEHAVIOUR.get(category_of(node.op_type))


@dataclass(frozen=True)
class UnitLink:
    """How ``source``'s output units reach ``target``'s input features.

    ``source`` is a layer name or a graph input name. In mode "unit", ``features[i]`` of the
    target reads unit ``units[i]`` of the source (a Flatten repeats a channel over its block of
    features; a Concat offsets them); pairs are unique and sorted by feature. In mode "layer" the
    units could not be followed (``note`` says where) and both arrays are empty.
    ``shared``: some of these features also receive another source (a residual Add, or a layer
    link), so removing a source unit alone does not remove the feature. ``via``: per-unit layers
    (norm, elementwise) on the way; ``ops``: the parameter-free nodes on the way.
    """

    source: str
    target: str
    mode: str
    source_units: int
    features: np.ndarray
    units: np.ndarray
    via: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    shared: bool = False
    note: str | None = None

    def features_of(self, unit: int) -> np.ndarray:
        """The target input features that read source unit ``unit``."""
        return self.features[self.units == unit]

    def aggregate(self, values: np.ndarray, axis: int = 0) -> np.ndarray:
        """Sum ``values`` indexed by target input feature on ``axis`` into values indexed by
        source unit on that axis: ``out[u] = sum of values[j] over the features j reading u``."""
        shape = list(values.shape)
        shape[axis] = self.source_units
        out = np.zeros(shape, values.dtype)
        features, units = self.features, self.units
        if not features.size:
            return out
        first, last = int(features[0]), int(features[-1])
        before = (slice(None),) * axis
        if last - first + 1 == features.size and (np.diff(units) >= 0).all():
            # Contiguous features, units in order (a Flatten's blocks): sum runs of a view.
            starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
            runs = values[(*before, slice(first, last + 1))]
            if starts.size < features.size:
                runs = np.add.reduceat(runs, starts, axis=axis)
            low, high = int(units[0]), int(units[-1]) + 1
            contiguous = high - low == starts.size
            out[(*before, slice(low, high) if contiguous else units[starts])] = runs
        else:
            np.add.at(np.moveaxis(out, axis, 0), units, np.moveaxis(values, axis, 0)[features])
        return out


@dataclass(frozen=True)
class UnitFlow:
    """The unit layers of a graph (topological order), their sizes and the links between them."""

    layers: tuple[str, ...]
    in_features: dict[str, int]
    out_units: dict[str, int]
    links: tuple[UnitLink, ...]
    notes: tuple[str, ...] = ()

    @cached_property
    def _incoming(self) -> dict[str, list[UnitLink]]:
        table: dict[str, list[UnitLink]] = {}
        for link in self.links:
            table.setdefault(link.target, []).append(link)
        return table

    def incoming(self, layer: str) -> list[UnitLink]:
        """The links into ``layer``'s input features."""
        return self._incoming.get(layer, [])

    def outgoing(self, source: str) -> list[UnitLink]:
        """The links out of ``source``'s output units (a layer or graph input name)."""
        return [link for link in self.links if link.source == source]

    def uncovered(self, layer: str) -> np.ndarray:
        """``layer``'s input features that no unit-mode link reaches (a bool mask)."""
        mask = np.ones(self.in_features[layer], bool)
        for link in self.incoming(layer):
            mask[link.features] = False
        return mask


def unit_flow(graph: LayerGraph) -> UnitFlow:
    """Follow the units into every unit layer of ``graph`` (see the module docstring)."""
    walker = _Walker(graph)
    names: list[str] = []
    in_features: dict[str, int] = {}
    out_units: dict[str, int] = {}
    links: list[UnitLink] = []
    for layer in graph.layers:
        if not is_unit_layer(layer, graph):
            continue
        names.append(layer.name)
        in_features[layer.name], out_units[layer.name] = unit_counts(layer, graph)
        links.extend(walker.links_into(layer, in_features[layer.name]))
    notes = [*walker.notes, *(link.note for link in links if link.note)]
    return UnitFlow(tuple(names), in_features, out_units, tuple(links), tuple(dict.fromkeys(notes)))


@dataclass(frozen=True)
class _Route:
    """One way from a source to a tensor. ``units[i]``: the source unit at position i of the
    tensor's unit axis (-1: none); None when the units were lost on the way. ``size``: the
    source's number of units (0 when lost)."""

    source: str
    size: int
    units: np.ndarray | None
    via: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    note: str | None = None


@dataclass
class _Walker:
    """Walks backward from tensors to their sources, remembering every (tensor, axis) it saw."""

    graph: LayerGraph
    notes: list[str] = field(default_factory=list)
    _memo: dict[tuple[str, int | None], list[_Route]] = field(default_factory=dict)

    def links_into(self, layer: Layer, n_in: int) -> list[UnitLink]:
        graph = self.graph
        shape = graph.shape(layer.data_input) if layer.data_input else None
        axis = None
        if shape is not None and layer.data_input:
            axis = geometry(layer, graph).feature_axis % len(shape)
            if shape[axis] != n_in:
                axis = None
        routes = self.routes(layer.data_input, axis) if layer.data_input else []
        if axis is None and layer.data_input:
            self.notes.append(f"{layer.name}: its input features could not be located")
        return _assemble(layer.name, n_in, routes)

    def routes(self, tensor: str, axis: int | None) -> list[_Route]:
        key = (tensor, axis)
        if key not in self._memo:
            self._memo[key] = _dedupe(self._find(tensor, axis))
        return self._memo[key]

    def _find(self, tensor: str, axis: int | None) -> list[_Route]:
        graph = self.graph
        if graph.is_constant(tensor):
            return []
        node = graph.producer.get(tensor)
        if node is None:
            return [self._input_route(tensor, axis)] if tensor in graph.inputs else []
        layer = graph.layer_of_node.get(node.name)
        if layer is not None:
            return self._through_layer(layer, tensor, axis)
        behaviour = _behaviour(node)
        if behaviour == "end":
            return []
        if axis is None:
            return [_lost(r, node.name) for r in self._all_inputs(node)]
        routes = self._through_op(node, behaviour, tensor, axis)
        if routes is not None:
            return routes
        note = f"units are not followed through {node.op_type} '{node.name}'"
        return [_lost(r, node.name, note) for r in self._all_inputs(node)]

    def _through_op(
        self, node: Node, behaviour: str | None, tensor: str, axis: int
    ) -> list[_Route] | None:
        """Routes through a parameter-free op that keeps the units (``behaviour``: how units
        pass it, ``_behaviour``), else None."""
        if behaviour == "reshape":
            data, shape = node.inputs[0], self.graph.shape(tensor)
            if data in self.graph.inputs and shape is not None:
                # A graph input reshaped right away (an MLP's Flatten): a unit per feature.
                return [_Route(data, shape[axis], np.arange(shape[axis]), ops=(node.name,))]
            for name, in_axis, index in _reshape_readings(data, tensor, axis, self.graph):
                routes = [_compose(r, index, node.name) for r in self.routes(name, in_axis)]
                if any(route.units is not None for route in routes):
                    return routes
            return None
        steps = _backward(node, behaviour, tensor, axis, self.graph)
        if steps is None:
            return None
        return [
            _compose(route, index, node.name)
            for name, in_axis, index in steps
            for route in self.routes(name, in_axis)
        ]

    def _all_inputs(self, node: Node) -> list[_Route]:
        info = op_info(node.op_type, node.domain)
        inputs = node.inputs if info is None else info.data(node.inputs)
        return [route for name in inputs if name for route in self.routes(name, None)]

    def _input_route(self, tensor: str, axis: int | None) -> _Route:
        shape = self.graph.shape(tensor)
        if axis is None or shape is None:
            return _Route(tensor, 0, None)
        return _Route(tensor, shape[axis], np.arange(shape[axis]))

    def _through_layer(self, layer: Layer, tensor: str, axis: int | None) -> list[_Route]:
        graph = self.graph
        if layer.kind in ("norm", "elementwise") and not layer.scope and layer.data_input:
            same_shape = graph.shape(layer.data_input) == graph.shape(tensor)
            if axis is None or same_shape:
                inner = self.routes(layer.data_input, axis if same_shape else None)
                return [replace(r, via=(layer.name, *r.via)) for r in inner]
        if axis is None:
            return [_Route(layer.name, 0, None)]
        source = is_unit_layer(layer, graph) or (layer.kind == "embedding" and not layer.scope)
        source_axis = output_axis(layer, graph) if source else None
        if source_axis is not None and source_axis == axis:
            size = graph.shape(tensor)[axis]
            return [_Route(layer.name, size, np.arange(size))]
        note = f"units are not followed out of {layer.kind} layer '{layer.name}'"
        if source_axis is not None:
            note = f"units of '{layer.name}' leave on another axis than its consumer reads"
        return [_Route(layer.name, 0, None, note=note)]


def _compose(route: _Route, index: np.ndarray | None, op: str) -> _Route:
    """``route`` seen from a tensor whose position i reads position ``index[i]`` of the route's
    tensor (-1: reads nothing of it; None: the same positions)."""
    units = route.units
    if units is not None and index is not None:
        units = np.where(index >= 0, units[np.maximum(index, 0)], -1)
    return replace(route, units=units, ops=(op, *route.ops))


def _lost(route: _Route, op: str, note: str | None = None) -> _Route:
    return replace(route, size=0, units=None, ops=(op, *route.ops), note=route.note or note)


def _dedupe(routes: list[_Route]) -> list[_Route]:
    """Merge routes from the same source with the same unit map (diamonds of unit-keeping ops)."""
    merged: dict[tuple[str, bytes | None], _Route] = {}
    for route in routes:
        if route.units is not None and not (route.units >= 0).any():
            continue
        key = (route.source, None if route.units is None else route.units.tobytes())
        old = merged.get(key)
        if old is None:
            merged[key] = route
        else:
            via = tuple(dict.fromkeys(old.via + route.via))
            ops = tuple(dict.fromkeys(old.ops + route.ops))
            merged[key] = replace(old, via=via, ops=ops, note=old.note or route.note)
    return list(merged.values())


def _assemble(target: str, n_in: int, routes: list[_Route]) -> list[UnitLink]:
    """One link per source: unit mode when every route kept the units."""
    by_source: dict[str, list[_Route]] = {}
    for route in routes:
        by_source.setdefault(route.source, []).append(route)
    readers = np.zeros(n_in, np.int64)
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for source, group in by_source.items():
        if any(r.units is None for r in group):
            readers += 1
            continue
        features = np.concatenate([np.flatnonzero(r.units >= 0) for r in group])
        units = np.concatenate([r.units[r.units >= 0] for r in group])
        unique = np.unique(np.stack([features, units]), axis=1)
        pairs[source] = (unique[0], unique[1])
        readers[np.unique(unique[0])] += 1
    links = []
    for source, group in by_source.items():
        via = tuple(dict.fromkeys(v for r in group for v in r.via))
        ops = tuple(dict.fromkeys(o for r in group for o in r.ops))
        note = next((r.note for r in group if r.note), None)
        empty = np.zeros(0, np.int64)
        features, units = pairs.get(source, (empty, empty))
        links.append(
            UnitLink(
                source=source,
                target=target,
                mode="unit" if source in pairs else "layer",
                source_units=max(r.size for r in group),
                features=features,
                units=units,
                via=via,
                ops=ops,
                shared=bool((readers[features] > 1).any()) if source in pairs else True,
                note=note,
            )
        )
    return links


Step = tuple[str, int, "np.ndarray | None"]


def _backward(
    node: Node, behaviour: str | None, tensor: str, axis: int, graph: LayerGraph
) -> list[Step] | None:
    """For a parameter-free ``node`` writing ``tensor`` with units on ``axis`` and passing them
    as ``behaviour`` says: the inputs that carry units, each with its unit axis and position map
    (see ``_compose``); None when the units are lost."""
    data = node.inputs[0] if node.inputs else ""
    out_shape = graph.shape(tensor)
    if behaviour == "keep":
        return [(data, axis, None)]
    if behaviour == "per_channel":
        in_shape = graph.shape(data)
        keeps = axis == 1 and in_shape is not None and out_shape is not None
        return [(data, axis, None)] if keeps and in_shape[1] == out_shape[1] else None
    if behaviour == "transpose":
        rank = len(out_shape) if out_shape else 0
        perm = node.attr("perm") or list(range(rank))[::-1]
        return [(data, int(perm[axis]), None)]
    if behaviour == "reduce":
        return _through_reduce(node, axis, graph)
    if behaviour == "concat":
        return _through_concat(node, tensor, axis, graph)
    if behaviour == "split":
        return _through_split(node, tensor, axis, graph)
    if behaviour == "merge":
        return _through_merge(node, tensor, axis, graph)
    return None


def _through_reduce(node: Node, axis: int, graph: LayerGraph) -> list[Step] | None:
    data = node.inputs[0]
    in_shape = graph.shape(data)
    if in_shape is None:
        return None
    axes = node.attr("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        value = graph.constants.get(node.inputs[1])
        if value is None:
            return None
        axes = value.tolist()
    rank = len(in_shape)
    reduced = sorted(a % rank for a in axes) if axes else list(range(rank))
    if not node.attr("keepdims", 1):
        kept = [a for a in range(rank) if a not in reduced]
        return [(data, kept[axis], None)] if axis < len(kept) else None
    return None if axis in reduced else [(data, axis, None)]


def _reshape_readings(data: str, tensor: str, axis: int, graph: LayerGraph) -> list[Step]:
    """The ways to read a row-major reshape's output positions on ``axis`` as units of one input
    axis, most likely first.

    Output position j covers ``inner_out`` consecutive elements of each outer block. Input axis
    ``a`` (stride ``inner_in``, size ``n``) gives a unit per position when no position spans two
    of its units (``inner_in % inner_out == 0``) and every outer block repeats the same units
    (its size is a multiple of ``inner_in * n``); position j then reads unit
    ``(j * inner_out // inner_in) % n``. Flatten [N, C, H, W] -> [N, C*H*W] reads channel
    j // (H*W) first, and channels-last [N, H, W, C] -> [N, H*W*C] can read channel j % C: the
    walk keeps the first reading that reaches a unit source.
    """
    in_shape, out_shape = graph.shape(data), graph.shape(tensor)
    if in_shape is None or out_shape is None:
        return []
    outer = math.prod(out_shape[:axis])
    inner_out = math.prod(out_shape[axis + 1 :])
    block = out_shape[axis] * inner_out
    aligned = [a for a in range(len(in_shape)) if math.prod(in_shape[:a]) == outer]
    order = aligned[-1:] + [a for a in reversed(range(len(in_shape))) if in_shape[a] > 1]
    readings: list[Step] = []
    for a in dict.fromkeys(order):
        inner_in, size = math.prod(in_shape[a + 1 :]), in_shape[a]
        if inner_out and inner_in % inner_out == 0 and block % (inner_in * size) == 0:
            index = (np.arange(out_shape[axis]) * inner_out // inner_in) % size
            readings.append((data, a, index))
    return readings


def _through_concat(node: Node, tensor: str, axis: int, graph: LayerGraph) -> list[Step] | None:
    out_shape = graph.shape(tensor)
    if out_shape is None:
        return None
    cat_axis = int(node.attr("axis")) % len(out_shape)
    steps: list[Step] = []
    offset = 0
    for name in node.inputs:
        shape = graph.shape(name)
        if shape is None:
            return None
        if cat_axis != axis:
            index = None
        else:
            index = np.arange(out_shape[axis]) - offset
            index[(index < 0) | (index >= shape[axis])] = -1
            offset += shape[axis]
        if not graph.is_constant(name):
            steps.append((name, axis, index))
    return steps


def _through_split(node: Node, tensor: str, axis: int, graph: LayerGraph) -> list[Step] | None:
    shapes = [graph.shape(name) for name in node.outputs]
    if any(shape is None for shape in shapes):
        return None
    split_axis = int(node.attr("axis", 0)) % len(shapes[0])
    if split_axis != axis:
        return [(node.inputs[0], axis, None)]
    position = node.outputs.index(tensor)
    offset = sum(shape[axis] for shape in shapes[:position])
    return [(node.inputs[0], axis, np.arange(shapes[position][axis]) + offset)]


def _through_merge(node: Node, tensor: str, axis: int, graph: LayerGraph) -> list[Step] | None:
    """Broadcasting elementwise ops: an input with the output's units on the aligned axis feeds
    them; a broadcast input (a scalar, a per-position mask) feeds no unit in particular."""
    out_shape = graph.shape(tensor)
    if out_shape is None:
        return None
    steps: list[Step] = []
    for name in node.inputs:
        shape = graph.shape(name)
        if not name or graph.is_constant(name):
            continue
        if shape is None:
            return None
        in_axis = axis - (len(out_shape) - len(shape))
        if in_axis >= 0 and shape[in_axis] == out_shape[axis]:
            steps.append((name, in_axis, None))
    return steps
