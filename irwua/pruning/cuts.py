"""The tensor slices that removing output units takes out, zeroed or deleted.

Removing unit u of layer S takes out S's weights and bias for u, the per-unit parameters of the
normalization or scale layers between S and its consumers (a BatchNorm's scale, shift, mean and
variance for channel u) and, in every consumer, the input features that read u (a channel's
whole block of features after a Flatten), as the shrink plan (``shrink_plan``) found them. The
same cuts either zero the tensors (``masked``: for measuring, in one session) or delete them
(``shrink``: a smaller model), so a sweep measures exactly the model ``irwua prune --structured``
writes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from irwua.ir.geometry import geometry
from irwua.ir.graph import Layer, LayerGraph
from irwua.pruning.edits import TensorKey, drop_unused, with_tensors
from irwua.pruning.shrink_plan import ShrinkPlan

Cuts = dict[TensorKey, dict[int, np.ndarray]]
"""Per tensor, the indices to remove along each axis."""


def cuts(graph: LayerGraph, plan: ShrinkPlan, removed: Mapping[str, np.ndarray]) -> Cuts:
    """The tensor slices that removing units ``removed`` (per layer, unit indices) takes out."""
    result: Cuts = {}

    def add(layer: Layer, role: str, axis: int, indices: np.ndarray) -> None:
        entry = result.setdefault((layer.name, role), {})
        entry[axis] = np.union1d(entry.get(axis, np.zeros(0, np.int64)), indices)

    for name, units in removed.items():
        if not len(units):
            continue
        item = plan.layers[name]
        layer = graph.layer_by_name[name]
        add(layer, "weight", geometry(layer, graph).out_axis, units)
        bias = graph.array(layer, "bias")
        if bias is not None and bias.ndim and bias.shape[-1] == item.units:
            add(layer, "bias", bias.ndim - 1, units)
        for via_name in item.via:
            via = graph.layer_by_name[via_name]
            for role in via.tensors:
                axis = _unit_axis(graph.array(via, role), item.units)
                if axis is not None:
                    add(via, role, axis, units)
        for link in item.links:
            target = graph.layer_by_name[link.target]
            features = link.features[np.isin(link.units, units)]
            add(target, "weight", geometry(target, graph).in_axis, features)
    return result


def cut_masks(graph: LayerGraph, cut: Cuts) -> dict[str, np.ndarray]:
    """Per layer whose weight ``cut`` touches, True at the weight entries it removes."""
    masks = {}
    for (name, role), axes in cut.items():
        if role != "weight":
            continue
        mask = np.zeros(graph.array(graph.layer_by_name[name]).shape, bool)
        for axis, indices in axes.items():
            index = [slice(None)] * mask.ndim
            index[axis] = indices
            mask[tuple(index)] = True
        masks[name] = mask
    return masks


def removed_weights(graph: LayerGraph, cut: Cuts) -> int:
    """How many weight entries (the layers' ``weight`` tensors, not biases or norms) ``cut``
    takes out."""
    total = 0
    for (name, role), axes in cut.items():
        if role == "weight":
            shape = graph.array(graph.layer_by_name[name]).shape
            kept = [size - len(axes.get(axis, ())) for axis, size in enumerate(shape)]
            total += int(np.prod(shape, dtype=np.int64) - np.prod(kept, dtype=np.int64))
    return total


def _unit_axis(value: np.ndarray, units: int) -> int | None:
    """The axis of a per-unit parameter that indexes the units (None: broadcast, e.g. a scalar)."""
    axes = [axis for axis, size in enumerate(value.shape) if size == units]
    return axes[0] if len(axes) == 1 else None


def masked(
    graph: LayerGraph, cut: Cuts, weights: Mapping[TensorKey, np.ndarray] | None = None
) -> dict[TensorKey, np.ndarray]:
    """The cut tensors with the removed slices set to zero (same shapes); ``weights`` replace
    the graph's values of some tensors first (reconstructed weights)."""
    values = {}
    for key, axes in cut.items():
        value = np.array(_value(graph, key, weights))
        for axis, indices in axes.items():
            index = [slice(None)] * value.ndim
            index[axis] = indices
            value[tuple(index)] = 0
        values[key] = value
    return values


def shrink(
    proto: onnx.ModelProto,
    graph: LayerGraph,
    plan: ShrinkPlan,
    cut: Cuts,
    weights: Mapping[TensorKey, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """A copy of ``proto`` with the removed slices deleted from its tensors; ``weights`` replace
    the graph's values of some tensors first (reconstructed weights)."""
    values = {}
    for key, axes in cut.items():
        value = np.asarray(_value(graph, key, weights))
        for axis, indices in axes.items():
            value = np.delete(value, indices, axis=axis)
        values[key] = value
    copy = with_tensors(proto, graph, values)
    reshapes = {name for item in plan.layers.values() for name in item.reshapes}
    outputs = {graph.node_by_name[name].outputs for name in reshapes}
    flat = numpy_helper.from_array(np.array([0, -1], np.int64), "irwua_pruned/flat_shape")
    for node in copy.graph.node:
        if tuple(node.output) in outputs:
            node.input[1] = flat.name
            kept = [a for a in node.attribute if a.name != "allowzero"]  # 0 means "keep" here
            del node.attribute[:]
            node.attribute.extend(kept)
    if outputs:
        copy.graph.initializer.append(flat)
        drop_unused(copy.graph)
    del copy.graph.value_info[:]  # intermediate shapes changed; onnxruntime infers them again
    return copy


def _value(
    graph: LayerGraph, key: TensorKey, weights: Mapping[TensorKey, np.ndarray] | None
) -> np.ndarray:
    if weights is not None and key in weights:
        return weights[key]
    return graph.array(graph.layer_by_name[key[0]], key[1])
