"""Reconstruction: with the pruning mask fixed, the kept weights of each layer moved so that the
layer's output on the calibration data changes least (the objective of OBS and SparseGPT).

For one output row w (over the layer's input features: a Gemm's inputs, a convolution's
channel x kernel positions) with pruned set P and kept set K, the change of the output over the
samples is (w' - w)^T H (w' - w) with H = sum of x x^T over the samples and positions (the
input's second-moment matrix). With w'_P = 0 its minimum is at

    w'_K = w_K + (H_KK + damping)^-1 H_KP w_P,

solved exactly per row (rows sharing a pruned set, as all rows of a consumer losing the same
inputs to structured pruning, share one solve). ``damping`` adds ``DAMPING`` x the mean of
diag(H) to the diagonal, as SparseGPT does, so that inputs never seen active keep a solvable
system. H is taken on the unpruned model (as Wanda's statistics are), not re-measured after
each layer.

``input_moments`` accumulates H per layer over the data one batch at a time: each batch's inputs
leave onnxruntime (a weightless copy exposing them), are reduced to H in numpy and dropped, so
memory is one batch of inputs plus one [in, in] float64 matrix per layer. Layers it cannot take
(grouped convolutions, non-2-D convolutions, ``auto_pad``, a weight on the left of a MatMul, more
than ``MAX_WIDTH`` inputs) are left as pruned, and ``skipped`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from irwua.data.dataset import Dataset
from irwua.ir.geometry import geometry
from irwua.ir.graph import Layer, LayerGraph
from irwua.runtime.instrument import exposed_name, instrument
from irwua.runtime.sessions import make_session, run

DAMPING = 0.01
MAX_WIDTH = 8192
"""Layers with more input features are not reconstructed (H would hold MAX_WIDTH^2 doubles)."""


def reconstructable(graph: LayerGraph, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The layers of ``names`` reconstruction can take, and why each other one is skipped."""
    taken, skipped = [], {}
    for name in names:
        reason = _reason(graph.layer_by_name[name], graph)
        if reason is None:
            taken.append(name)
        else:
            skipped[name] = reason
    return taken, skipped


def _reason(layer: Layer, graph: LayerGraph) -> str | None:
    geo = geometry(layer, graph)
    weight = graph.array(layer)
    if layer.kind == "conv":
        node = graph.node_by_name[layer.nodes[0]]
        if geo.groups > 1:
            return "grouped convolutions are not reconstructed"
        if weight.ndim != 4 or node.attr("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            return "only 2-D convolutions with explicit pads are reconstructed"
    elif layer.kind in ("gemm", "matmul"):
        if layer.weight_left or weight.ndim != 2:
            return "only a weight on the right of the product is reconstructed"
        if layer.kind == "gemm" and graph.node_by_name[layer.nodes[0]].attr("transA", 0):
            return "a transposed Gemm input is not reconstructed"
    else:
        return f"{layer.op_type} layers are not reconstructed"
    if _rows(weight, geo.out_axis).shape[1] > MAX_WIDTH:
        return f"more than {MAX_WIDTH} input features"
    return None


def input_moments(
    graph: LayerGraph, names: Sequence[str], data: Dataset, batch_size: int
) -> dict[str, np.ndarray]:
    """H = sum of x x^T per layer of ``names`` (``reconstructable`` ones) over ``data``."""
    layers = [graph.layer_by_name[name] for name in names]
    inputs = list(dict.fromkeys(layer.data_input for layer in layers))
    proto = instrument(graph.source.proto, [], graph.opset, expose=inputs)
    session = make_session(proto, graph.source.base_dir, graph.constants.values)
    wanted = [exposed_name(tensor) for tensor in inputs]
    needed = {value.name for value in session.get_inputs()}
    moments = {name: None for name in names}
    for batch in data.batches(batch_size, finite_only=True):
        values = run(session, wanted, {k: v for k, v in batch.items() if k in needed})
        by_tensor = dict(zip(inputs, values, strict=True))
        for layer in layers:
            features = _features(layer, graph, np.asarray(by_tensor[layer.data_input]))
            product = (features.T @ features).astype(np.float64)
            total = moments[layer.name]
            moments[layer.name] = product if total is None else total + product
    return {name: value for name, value in moments.items() if value is not None}


def reconstructed(
    graph: LayerGraph,
    name: str,
    pruned: np.ndarray,
    moments: np.ndarray,
    damping: float = DAMPING,
) -> np.ndarray:
    """The layer's weight with ``pruned`` (shaped like it) set to zero and every other weight of
    each row moved to keep the row's output (see the module docstring)."""
    layer = graph.layer_by_name[name]
    out_axis = geometry(layer, graph).out_axis
    weight = np.asarray(graph.array(layer), np.float64)
    rows, masks = _rows(weight, out_axis), _rows(pruned, out_axis)
    scale = max(float(np.mean(np.diag(moments))), 1e-12)
    damped = moments + damping * scale * np.eye(len(moments))
    result = np.where(masks, 0.0, rows)
    patterns, inverse = np.unique(masks, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        if not pattern.any() or pattern.all():
            continue
        chosen = np.flatnonzero(inverse.ravel() == index)
        keep, drop = ~pattern, pattern
        right = damped[np.ix_(keep, drop)] @ rows[np.ix_(chosen, drop)].T
        update = np.linalg.solve(damped[np.ix_(keep, keep)], right)
        result[np.ix_(chosen, keep)] = rows[np.ix_(chosen, keep)] + update.T
    return _unrows(result, weight.shape, out_axis).astype(graph.array(layer).dtype)


def reconstructed_weights(
    graph: LayerGraph, masks: Mapping[str, np.ndarray], moments: Mapping[str, np.ndarray]
) -> dict[tuple[str, str], np.ndarray]:
    """The reconstructed weight of each layer of ``masks`` (True: pruned) that has moments."""
    return {
        (name, "weight"): reconstructed(graph, name, mask, moments[name])
        for name, mask in masks.items()
        if name in moments
    }


def _rows(values: np.ndarray, out_axis: int) -> np.ndarray:
    """A weight-shaped array as [output units, input features] (a convolution's features are
    its channels x kernel positions, in the weight's order)."""
    return np.moveaxis(values, out_axis, 0).reshape(values.shape[out_axis], -1)


def _unrows(rows: np.ndarray, shape: tuple[int, ...], out_axis: int) -> np.ndarray:
    moved = [shape[out_axis], *(size for axis, size in enumerate(shape) if axis != out_axis)]
    return np.moveaxis(rows.reshape(moved), 0, out_axis)


def _features(layer: Layer, graph: LayerGraph, x: np.ndarray) -> np.ndarray:
    """The layer's input as [samples x positions, input features] in float32."""
    x = x.astype(np.float32, copy=False)
    if layer.kind != "conv":
        return x.reshape(-1, x.shape[-1])
    node = graph.node_by_name[layer.nodes[0]]
    kernel = graph.array(layer).shape[2:]
    pads = list(node.attr("pads", [0, 0, 0, 0]))
    strides = list(node.attr("strides", [1, 1]))
    dilations = list(node.attr("dilations", [1, 1]))
    padded = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    span = [dilations[i] * (kernel[i] - 1) + 1 for i in range(2)]
    windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=(2, 3))
    windows = windows[:, :, :: strides[0], :: strides[1], :: dilations[0], :: dilations[1]]
    # [N, C, oh, ow, kh, kw] -> [N, oh, ow, C, kh, kw] -> [N*oh*ow, C*kh*kw]
    patches = windows.transpose(0, 2, 3, 1, 4, 5)
    return patches.reshape(-1, x.shape[1] * kernel[0] * kernel[1])
