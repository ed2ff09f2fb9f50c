"""Layer geometry: which axis of a layer's input holds its features, and how those features line
up with the axes of its weight as stored in ONNX.

This is the one place that knows the layouts: Conv [out, in/group, k...], ConvTranspose
[in, out/group, k...], Gemm [out, in] (transB=1) or [in, out], MatMul [in, out] on the right or
[out, in] on the left, recurrent W [dirs, gates*hidden, in], embeddings [vocab, dim], and
per-feature vectors (normalization scale, elementwise constants).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irwua.ir.graph import Layer, LayerGraph

UNIT_KINDS = frozenset({"conv", "conv_transpose", "gemm", "matmul"})
"""Layer kinds with input features and output units through a weight matrix."""


@dataclass(frozen=True)
class Geometry:
    """How a layer's weight relates to its input and output units.

    ``feature_axis``: axis of the data input that indexes input features (None: not captured).
    ``in_axis``/``out_axis``: weight axes indexing input and output units (None when the weight
    has no such axis). ``groups``: grouped convolutions split input channels into groups.
    """

    feature_axis: int | None
    in_axis: int | None
    out_axis: int | None
    groups: int = 1


def geometry(layer: Layer, graph: LayerGraph) -> Geometry:
    """The geometry of ``layer`` (see ``Geometry``)."""
    node = graph.node_by_name[layer.node]
    weight = graph.array(layer)
    if layer.kind == "conv":
        return Geometry(1, 1, 0, int(node.attr("group", 1)))
    if layer.kind == "conv_transpose":
        return Geometry(1, 0, 1, int(node.attr("group", 1)))
    if layer.kind == "gemm":
        weight_is_b = not layer.weight_left
        transposed = node.attr("transB" if weight_is_b else "transA", 0)
        data_transposed = node.attr("transA" if weight_is_b else "transB", 0)
        if weight_is_b:  # y = x @ B: B is [in, out], or [out, in] when transB=1.
            in_axis, out_axis = (1, 0) if transposed else (0, 1)
            return Geometry(0 if data_transposed else 1, in_axis, out_axis)
        in_axis, out_axis = (0, 1) if transposed else (1, 0)  # y = A @ x: A is [out, in].
        return Geometry(1 if data_transposed else 0, in_axis, out_axis)
    if layer.kind == "matmul":
        if weight.ndim < 2:
            return Geometry(-1, 0, None)
        if not layer.weight_left:  # x @ W, W [..., in, out]
            return Geometry(-1, weight.ndim - 2, weight.ndim - 1)
        return Geometry(-2, weight.ndim - 1, weight.ndim - 2)  # W @ x, W [..., out, in]
    if layer.kind == "recurrent":
        return Geometry(-1, 2, 1)
    if layer.kind == "embedding":
        return Geometry(None, 0, 1)
    if layer.kind == "norm":
        return Geometry(-1 if node.op_type == "LayerNormalization" else 1, 0, 0)
    return Geometry(None, None, None)  # einsum, elementwise: magnitude only


def per_weight(layer: Layer, graph: LayerGraph, feature_values: np.ndarray) -> np.ndarray:
    """Spread a per-input-feature vector over the weight: an array broadcastable to its shape.

    For a grouped convolution, output channel o reads input channels of its own group only.
    """
    weight = graph.array(layer)
    geo = geometry(layer, graph)
    if geo.in_axis is None:
        return np.ones((1,) * weight.ndim, np.float32)
    values = np.asarray(feature_values, np.float32)
    if geo.groups > 1 and layer.kind == "conv":
        out_channels, in_per_group = weight.shape[0], weight.shape[1]
        group_of_out = np.arange(out_channels) // (out_channels // geo.groups)
        index = group_of_out[:, None] * in_per_group + np.arange(in_per_group)[None, :]
        return values[index].reshape(out_channels, in_per_group, *([1] * (weight.ndim - 2)))
    shape = [1] * weight.ndim
    shape[geo.in_axis] = weight.shape[geo.in_axis]
    if values.size != weight.shape[geo.in_axis]:
        raise ValueError(
            f"layer {layer.name}: {values.size} input features for a weight axis of "
            f"{weight.shape[geo.in_axis]}"
        )
    return values.reshape(shape)


def unit_totals(layer: Layer, graph: LayerGraph, importance: np.ndarray, axis: str) -> np.ndarray:
    """Importance summed per output unit (``axis='out'``) or per input unit (``'in'``)."""
    geo = geometry(layer, graph)
    if axis == "in" and geo.groups > 1 and layer.kind == "conv":
        per_group = importance.shape[0] // geo.groups
        spatial = tuple(range(2, importance.ndim))
        return np.concatenate(
            [
                importance[g * per_group : (g + 1) * per_group].sum(
                    axis=(0, *spatial), dtype=np.float64
                )
                for g in range(geo.groups)
            ]
        )
    keep = geo.out_axis if axis == "out" else geo.in_axis
    if keep is None:
        return np.asarray([importance.sum(dtype=np.float64)])
    other = tuple(a for a in range(importance.ndim) if a != keep)
    return importance.sum(axis=other, dtype=np.float64)


def is_unit_layer(layer: Layer, graph: LayerGraph) -> bool:
    """Whether ``layer`` maps input features to output units through a weight matrix (see
    ``UNIT_KINDS``): the nodes of pathways and the layers pruning works on."""
    if layer.kind not in UNIT_KINDS or layer.scope:
        return False
    geo = geometry(layer, graph)
    return geo.in_axis is not None and geo.out_axis is not None and geo.feature_axis is not None


def unit_counts(layer: Layer, graph: LayerGraph) -> tuple[int, int]:
    """(input features, output units) of a unit layer, groups included."""
    weight = graph.array(layer)
    geo = geometry(layer, graph)
    n_in, n_out = weight.shape[geo.in_axis], weight.shape[geo.out_axis]
    if layer.kind == "conv":
        n_in *= geo.groups
    elif layer.kind == "conv_transpose":
        n_out *= geo.groups
    return int(n_in), int(n_out)


def output_axis(layer: Layer, graph: LayerGraph) -> int | None:
    """The axis of ``layer``'s output tensor that indexes its units (None: not a unit source)."""
    shape = graph.shape(layer.output)
    if shape is None:
        return None
    if layer.kind in ("conv", "conv_transpose"):
        return 1
    left = layer.weight_left
    if layer.kind == "gemm":
        return 0 if left else 1
    if layer.kind == "matmul":
        return len(shape) - (2 if left else 1)
    if layer.kind == "embedding":
        return len(shape) - 1
    if layer.kind == "norm":  # per-feature scale: the axis its input features are on
        return geometry(layer, graph).feature_axis % len(shape)
    return None
