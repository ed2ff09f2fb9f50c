"""The ``activations`` pass: per-feature statistics of every weighted layer's input, on real data.

A copy of the model is instrumented (``irwua.instrument``) so that onnxruntime reduces each layer
input to per-feature vectors inside the graph: sum |x|, sum x^2, sum x, max |x|, non-zero count and
element count. Data streams through in batches; the sums and maxima of the batches merge exactly,
and memory does not grow with the number of samples. Also captured: the max |y| of each layer's
activated output (after a following ReLU or similar) to find dead units, a recurrent layer's
hidden states, and the token counts of embeddings.

Without data the pass returns an empty result that says so; importance then falls back to
magnitude only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.data import count_nonfinite
from irwua.features import geometry
from irwua.graph import Layer, LayerGraph
from irwua.instrument import Capture, exposed_name, instrument, output_name
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.progress import progress
from irwua.runtime import make_session

_PASS_THROUGH = frozenset(
    "Relu LeakyRelu PRelu Clip Sigmoid HardSigmoid Tanh Gelu Elu Selu Celu Softplus HardSwish "
    "Mish Dropout Identity BatchNormalization".split()
)
"""Single-consumer ops after a layer that still index its output units (activations, BN)."""


@dataclass(frozen=True)
class FeatureStats:
    """Statistics per feature of one tensor over all samples (and positions)."""

    count: float
    sum_abs: np.ndarray
    sum_sq: np.ndarray
    sum: np.ndarray
    max_abs: np.ndarray
    nonzero: np.ndarray

    @property
    def mean_abs(self) -> np.ndarray:
        return self.sum_abs / max(self.count, 1.0)

    @property
    def rms(self) -> np.ndarray:
        return np.sqrt(self.sum_sq / max(self.count, 1.0))

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.count, 1.0)

    @property
    def zero_fraction(self) -> np.ndarray:
        return 1.0 - self.nonzero / max(self.count, 1.0)


@dataclass(frozen=True)
class ActivationsResult(PassResult):
    """Per-layer statistics; ``available`` is False when no data was given."""

    available: bool
    samples: int = 0
    inputs: Mapping[str, FeatureStats] = field(default_factory=dict)
    hidden: Mapping[str, FeatureStats] = field(default_factory=dict)
    output_max: Mapping[str, np.ndarray] = field(default_factory=dict)
    token_counts: Mapping[str, np.ndarray] = field(default_factory=dict)
    nonfinite_inputs: int = 0

    def totals_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "data": self.available}

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        stats = self.inputs.get(layer_name)
        if stats is None:
            return {}
        return {
            "input_mean_abs": float(stats.mean_abs.mean()),
            "input_zero_fraction": float(stats.zero_fraction.mean()),
        }

    def section_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "samples": self.samples,
            "nonfinite_inputs": self.nonfinite_inputs,
        }


@register_pass(
    "activations", "per-feature statistics of each layer's input on the data (onnxruntime)"
)
def run_activations(context: PassContext) -> ActivationsResult:
    graph, data, options = context.graph, context.data, context.options
    if data is None or graph.source is None:
        return ActivationsResult(available=False)
    data = data.limit(options.max_samples)
    plan = _Plan(graph)
    proto = instrument(graph.source.proto, plan.captures, graph.opset, plan.token_tensors.values())
    session = make_session(proto, graph.source.base_dir)
    wanted = [out.name for out in session.get_outputs()]
    feeds_needed = {i.name for i in session.get_inputs()}
    totals: dict[str, np.ndarray] = {}
    nonfinite = 0
    batches = data.batches(options.batch_size)
    count = -(-data.samples // options.batch_size)
    for batch in progress(batches, count, "activations", options.progress):
        nonfinite += count_nonfinite(batch)
        values = session.run(wanted, {k: v for k, v in batch.items() if k in feeds_needed})
        for name, value in zip(wanted, values, strict=True):
            _merge(totals, name, value, plan)
    if nonfinite:
        warnings.warn(
            f"The data holds {nonfinite} NaN or infinite values; statistics computed from them "
            "may be NaN or infinite.",
            stacklevel=2,
        )
    return plan.result(totals, data.samples, nonfinite)


class _Plan:
    """Which tensors to capture for which layers, and how to read the merged outputs back."""

    def __init__(self, graph: LayerGraph) -> None:
        self.graph = graph
        self.captures: list[Capture] = []
        self._index: dict[tuple[str, int], int] = {}
        self.inputs: dict[str, int] = {}
        self.hidden: dict[str, int] = {}
        self.outputs: dict[str, int] = {}
        self.token_tensors: dict[str, str] = {}
        # Tensors inside control-flow subgraphs cannot be graph outputs: those layers are skipped.
        layers = [layer for layer in graph.layers if not layer.scope]
        for layer in layers:
            self._plan_inputs(layer)
        for layer in layers:  # After the inputs: an activated output is often the next input.
            self._plan_output(layer)

    def _plan_inputs(self, layer: Layer) -> None:
        graph = self.graph
        geo = geometry(layer, graph)
        if layer.kind == "embedding" and layer.data_input:
            self.token_tensors[layer.name] = layer.data_input
        elif geo.feature_axis is not None and layer.data_input:
            index = self._capture(layer.data_input, geo.feature_axis, full=True)
            if index is not None:
                self.inputs[layer.name] = index
        if layer.kind == "recurrent":
            hidden = graph.node_by_name[layer.node].outputs[0]
            index = self._capture(hidden, -1, full=True) if hidden else None
            if index is not None:
                self.hidden[layer.name] = index

    def _plan_output(self, layer: Layer) -> None:
        out_axis = {"conv": 1, "conv_transpose": 1, "gemm": 1, "matmul": -1, "norm": 1}
        if layer.kind in out_axis:
            tensor = _activated_output(layer, self.graph)
            index = self._capture(tensor, out_axis[layer.kind], full=False)
            if index is not None:
                self.outputs[layer.name] = index

    def _capture(self, tensor: str, axis: int, full: bool) -> int | None:
        """The index of the capture of ``tensor`` along ``axis``, added if new; a full capture
        also serves a request for max |x| only."""
        info = self.graph.tensors.get(tensor)
        if info is None or info.shape is None or info.dtype.kind != "f" or not info.shape:
            return None
        axis %= len(info.shape)
        key = (tensor, axis)
        if key not in self._index:
            cast = info.dtype != np.float32
            self._index[key] = len(self.captures)
            self.captures.append(Capture(tensor, axis, len(info.shape), cast=cast, full=full))
        return self._index[key]

    def result(self, totals: Mapping[str, np.ndarray], samples: int, nonfinite: int):
        def stats(index: int) -> FeatureStats:
            sums = {
                s: totals[output_name(index, s)] for s in ("sum_abs", "sum_sq", "sum", "nonzero")
            }
            features = max(sums["sum_abs"].size, 1)
            return FeatureStats(
                count=float(totals[output_name(index, "size")]) / features,
                max_abs=totals[output_name(index, "max_abs")],
                **sums,
            )

        tokens = {}
        for layer_name, tensor in self.token_tensors.items():
            vocab = self.graph.array(self.graph.layer_by_name[layer_name]).shape[0]
            counts = totals.get(exposed_name(tensor), np.zeros(0))
            tokens[layer_name] = np.pad(counts, (0, max(vocab - counts.size, 0)))[:vocab]
        return ActivationsResult(
            available=True,
            samples=samples,
            inputs=MappingProxyType({n: stats(i) for n, i in self.inputs.items()}),
            hidden=MappingProxyType({n: stats(i) for n, i in self.hidden.items()}),
            output_max=MappingProxyType(
                {n: totals[output_name(i, "max_abs")] for n, i in self.outputs.items()}
            ),
            token_counts=MappingProxyType(tokens),
            nonfinite_inputs=nonfinite,
        )


def _activated_output(layer: Layer, graph: LayerGraph) -> str:
    """The layer's output after following single-consumer activation ops (where ReLU zeros)."""
    tensor = layer.output
    while True:
        readers = graph.consumers.get(tensor, [])
        if len(readers) != 1 or readers[0].op_type not in _PASS_THROUGH:
            return tensor
        tensor = readers[0].outputs[0]


def _merge(totals: dict[str, np.ndarray], name: str, value: np.ndarray, plan: _Plan) -> None:
    """Add one batch's outputs to the running totals (max for maxima, bincount for tokens)."""
    if name.startswith("irwua_exposed_"):  # token ids of an embedding
        counts = np.bincount(np.asarray(value, np.int64).ravel().clip(min=0))
        value = counts.astype(np.float64)
        previous = totals.get(name, np.zeros(0))
        size = max(previous.size, value.size)
        totals[name] = np.pad(previous, (0, size - previous.size)) + np.pad(
            value, (0, size - value.size)
        )
        return
    value = np.asarray(value, np.float64)
    if name not in totals:
        totals[name] = value
    elif name.endswith("_max_abs"):
        totals[name] = np.maximum(totals[name], value)
    else:
        totals[name] = totals[name] + value
