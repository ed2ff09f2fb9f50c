"""The ``importance`` pass: how much each weight contributes to its layer's output on the data.

For a weight w_ij connecting input feature j to output unit i, I_ij = |w_ij| * s_j, where s_j is
a statistic of input feature j over the samples (and, for convolutions, the positions):

* ``l1`` (default, the seed tools' definition): s_j = mean |x_j|;
* ``l2`` (the Wanda criterion): s_j = sqrt(mean x_j^2);
* ``magnitude``: s_j = 1, also the fallback when there is no data.

What importance means per layer kind:

- Conv: input feature j is input channel j; a grouped/depthwise conv's output channel reads only
  the channels of its group. ConvTranspose: weight axis 0 is the input channel.
- Gemm / MatMul: the weight axis that meets the data's features, whatever the layout
  (Gemm [out, in] with transB=1, MatMul [in, out], or a constant left operand [out, in]).
- LSTM / GRU / RNN: W against the input features, R against the hidden states (the outputs Y).
- Embedding (Gather): a lookup is one-hot(token) @ E, so s_i is token i's frequency (l1) or its
  square root (l2).
- BatchNormalization: the scale against the normalized input, s_c = rms((x_c - mean_c) /
  sqrt(var_c + eps)) from the captured moments. Layer/Instance/GroupNorm, Einsum and elementwise
  layers: magnitude (their inputs are normalized per sample, or not captured).
- Bias: |b_i|, the weight of a constant input 1.

Besides the per-weight arrays: totals per output unit and per input unit.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.ir.constant_views import compact, magnitude
from irwua.ir.geometry import per_weight, unit_totals
from irwua.ir.graph import Layer, LayerGraph
from irwua.limits import check_scoring
from irwua.options import ImportanceOptions
from irwua.passes.activations import ActivationsResult, FeatureStats
from irwua.pipeline import PassContext, PassResult, register_pass


@dataclass(frozen=True)
class LayerImportance:
    """Importance of one layer's weights, shaped like the weight as stored in ONNX."""

    weight: np.ndarray
    bias: np.ndarray | None
    per_output: np.ndarray
    per_input: np.ndarray
    criterion: str
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportanceResult(PassResult):
    layers: Mapping[str, LayerImportance]
    criterion: str
    data: bool
    note: str | None = None
    save_weights: bool = False

    def totals_json(self) -> dict[str, Any]:
        return {"importance_criterion": self.criterion if self.data else "magnitude"}

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        layer = self.layers.get(layer_name)
        if layer is None:
            return {}
        return {
            "importance": float(layer.weight.sum(dtype=np.float64)),
            "importance_criterion": layer.criterion,
        }

    def section_json(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "data": self.data, "note": self.note}

    def files(self) -> dict[str, bytes]:
        """``importance_units.npz``, always: per layer (layers in graph order) its importance
        summed per output unit (``layer_<i>_out``) and per input unit (``layer_<i>_in``), and
        ``layer_names``. With ``save_weights`` (``--save-importance``) also ``importance.npz``:
        one array per layer shaped like its weight (``layer_<i>``), stored uncompressed
        (compressing a model's worth of floats took most of an LLM's analysis time).

        Keys never come from the model: a layer name can hold any character, collide with
        ``np.savez``'s own arguments or be longer than a zip member name may be."""
        names = np.array(list(self.layers), dtype=str)
        units: dict[str, np.ndarray] = {"layer_names": names}
        for i, layer in enumerate(self.layers.values()):
            units[f"layer_{i}_out"] = np.asarray(layer.per_output, np.float32)
            units[f"layer_{i}_in"] = np.asarray(layer.per_input, np.float32)
        files = {"importance_units.npz": _npz(units)}
        if self.save_weights:
            weights = {f"layer_{i}": layer.weight for i, layer in enumerate(self.layers.values())}
            files["importance.npz"] = _npz({**weights, "layer_names": names})
        return files


def _npz(members: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


@register_pass(
    "importance",
    "per-weight importance |w| x input statistic",
    requires=("activations",),
    options=ImportanceOptions,
)
def run_importance(context: PassContext) -> ImportanceResult:
    criterion = context.options.norm
    activations: ActivationsResult = context.results["activations"]
    graph = context.graph
    weights = [graph.array(layer) for layer in graph.layers]
    scores = [(w if activations.available else compact(w)).size for w in weights]  # views stay
    check_scoring(scores, max((w.size for w in weights), default=0))
    layers = {
        layer.name: _layer_importance(layer, graph, activations, criterion)
        for layer in graph.layers
    }
    note = None
    if not activations.available:
        note = activations.note or "no data given: importance is weight magnitude only"
    elif criterion != "magnitude":
        note = _subgraph_note([layer for layer in graph.layers if layer.scope])
    return ImportanceResult(
        MappingProxyType(layers),
        criterion,
        activations.available,
        note,
        save_weights=context.options.save_importance,
    )


def _subgraph_note(layers: list[Layer]) -> str | None:
    """Why the layers inside Loop or If bodies are scored by weight magnitude, or None."""
    if not layers:
        return None
    names = ", ".join(f"'{layer.name}'" for layer in layers[:3])
    names += ", ..." if len(layers) > 3 else ""
    return (
        f"{len(layers)} layer{'s' if len(layers) > 1 else ''} inside Loop or If bodies ({names}) "
        "are scored by weight magnitude only: onnxruntime cannot capture a subgraph's tensors"
    )


def _layer_importance(
    layer: Layer, graph: LayerGraph, activations: ActivationsResult, criterion: str
) -> LayerImportance:
    weight = magnitude(graph.array(layer))
    statistic, used = _input_statistic(layer, graph, activations, criterion)
    importance = weight
    if statistic is not None:
        with np.errstate(invalid="ignore"):  # inf x 0: reported just below
            importance = weight * per_weight(layer, graph, statistic)
    if not np.isfinite(compact(importance)).all():
        raise IrwuaError(
            f"The importance of layer '{layer.name}' is not finite: its weights or its inputs on "
            "the data hold NaN or infinite values."
        )
    bias = graph.array(layer, "bias")
    extra = {}
    hidden = activations.hidden.get(layer.name)
    recurrent = graph.array(layer, "R")
    if recurrent is not None:
        r_importance = np.abs(np.asarray(recurrent, np.float32))
        if hidden is not None and criterion != "magnitude":
            r_importance = r_importance * _statistic(hidden, criterion).reshape(1, 1, -1)
        extra["R"] = r_importance
    return LayerImportance(
        weight=importance,
        bias=None if bias is None else np.abs(np.asarray(bias, np.float32)),
        per_output=unit_totals(layer, graph, importance, "out"),
        per_input=unit_totals(layer, graph, importance, "in"),
        criterion=used,
        extra=MappingProxyType(extra),
    )


def _input_statistic(
    layer: Layer, graph: LayerGraph, activations: ActivationsResult, criterion: str
) -> tuple[np.ndarray | None, str]:
    """The per-input-feature statistic s_j and the criterion actually used for this layer."""
    if criterion == "magnitude" or not activations.available:
        return None, "magnitude"
    if layer.kind == "embedding" and layer.name in activations.token_counts:
        counts = activations.token_counts[layer.name]
        frequency = counts / max(counts.sum(), 1.0)
        return (frequency if criterion == "l1" else np.sqrt(frequency)), criterion
    stats = activations.inputs.get(layer.name)
    if stats is None:
        return None, "magnitude"
    if layer.kind == "norm":
        if layer.op_type != "BatchNormalization":
            return None, "magnitude"
        return _normalized_rms(layer, graph, stats), "l2"
    return _statistic(stats, criterion), criterion


def _statistic(stats: FeatureStats, criterion: str) -> np.ndarray:
    return stats.mean_abs if criterion == "l1" else stats.rms


def _normalized_rms(layer: Layer, graph: LayerGraph, stats: FeatureStats) -> np.ndarray:
    """rms of (x - running_mean) / sqrt(running_var + eps), from E[x] and E[x^2]."""
    mean = np.asarray(graph.array(layer, "mean"), np.float64)
    var = np.asarray(graph.array(layer, "var"), np.float64)
    eps = float(graph.node_by_name[layer.node].attr("epsilon", 1e-5))
    second_moment = stats.sum_sq / max(stats.count, 1.0)
    centered = second_moment - 2 * mean * stats.mean + mean**2
    return np.sqrt(np.maximum(centered, 0.0) / (var + eps))
