"""The ``activations`` pass: per-feature statistics of every weighted layer's input, on real data.

A weightless copy of the model is instrumented (``irwua.runtime.instrument``) so that onnxruntime
reduces each layer input inside the graph to per-feature vectors (or, for ReLU maps between
convolutions, per-sample ones that numpy sums): sum |x|, sum x^2, max |x|, non-zero count and
element count (and sum x for BatchNormalization inputs). onnxruntime gets the weights as the layer
graph's arrays or maps their external-data files itself (``irwua.runtime.sessions``): the pass never
serializes the weights. Data streams through in batches; the sums and maxima of the batches merge
exactly, and memory does not grow with the number of samples. Also captured: the max |y| of each
layer's activated output (after a following ReLU or similar) to find dead units, a recurrent layer's
hidden states, and the token counts of embeddings.

A convolution output that no activation follows (before a residual Add) is not captured: its
dead units come from the bound |y_i| <= |b_i| + sum_j |w_ij| max |x_j| (summed over the kernel)
on the input statistics. The bound is zero exactly when the unit's bias and every weight meeting
an input feature that is ever non-zero are zero, which makes the unit dead; a dead unit it
misses would need non-zero terms that always cancel (or, in a strided conv, non-zero inputs only
where the unit never looks). Capturing such an output would cost a full-size tensor and undo
onnxruntime's Conv+Add+Relu fusion (``docs/measured-choices.md``).

Without data the pass returns an empty result that says so; importance then falls back to
magnitude only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.ir.geometry import geometry, output_axis, per_weight, unit_totals
from irwua.ir.graph import Layer, LayerGraph, Node
from irwua.limits import check_scoring
from irwua.ops import Category, category_of, op_info
from irwua.options import ActivationsOptions
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.runtime.instrument import Capture, exposed_name, instrument, output_name, per_feature
from irwua.runtime.progress import progress
from irwua.runtime.sessions import make_session, run, weightless

_PASS_THROUGH = frozenset({Category.ACTIVATION, Category.IDENTITY})
"""Categories of single-consumer ops after a layer whose output still indexes its units (and
BatchNormalization): the activated output is captured after them."""


@dataclass(frozen=True)
class FeatureStats:
    """Statistics per feature of one tensor over all samples (and positions); ``sum`` (signed)
    is captured for BatchNormalization inputs only, else None."""

    count: float
    sum_abs: np.ndarray
    sum_sq: np.ndarray
    max_abs: np.ndarray
    nonzero: np.ndarray
    sum: np.ndarray | None = None

    @property
    def mean_abs(self) -> np.ndarray:
        return self.sum_abs / max(self.count, 1.0)

    @property
    def rms(self) -> np.ndarray:
        return np.sqrt(self.sum_sq / max(self.count, 1.0))

    @property
    def mean(self) -> np.ndarray | None:
        return None if self.sum is None else self.sum / max(self.count, 1.0)

    @property
    def zero_fraction(self) -> np.ndarray:
        return 1.0 - self.nonzero / max(self.count, 1.0)


@dataclass(frozen=True)
class ActivationsResult(PassResult):
    """Per-layer statistics; ``available`` is False when no data was given, or when onnxruntime
    cannot run the model (a custom-domain op, an opset newer than it knows): ``note`` says why.

    ``output_max``: per output unit, the max |y| of the layer's activated output on the data,
    or, for a convolution that no activation follows, the bound on it described in the module
    docstring."""

    available: bool
    samples: int = 0
    inputs: Mapping[str, FeatureStats] = field(default_factory=dict)
    hidden: Mapping[str, FeatureStats] = field(default_factory=dict)
    output_max: Mapping[str, np.ndarray] = field(default_factory=dict)
    token_counts: Mapping[str, np.ndarray] = field(default_factory=dict)
    nonfinite_inputs: int = 0
    note: str | None = None

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
            "note": self.note,
        }


def _unrunnable(graph: LayerGraph, failure: IrwuaError) -> ActivationsResult:
    """The result when the instrumented model does not load: if the user's model itself does not
    load either, the analysis goes on without statistics (importance falls back to magnitude)
    and says why; otherwise the instrumentation is at fault and the error stands."""
    try:
        make_session(weightless(graph.source.proto), graph.source.base_dir, graph.constants.values)
    except IrwuaError as exc:
        note = f"{str(exc).rstrip('.')}; importance is weight magnitude only"
        warnings.warn(note, stacklevel=2)
        return ActivationsResult(available=False, note=note)
    raise failure


@register_pass(
    "activations",
    "per-feature statistics of each layer's input on the data (onnxruntime)",
    options=ActivationsOptions,
)
def run_activations(context: PassContext) -> ActivationsResult:
    graph, data, options = context.graph, context.data, context.options
    if data is None or graph.source is None:
        return ActivationsResult(available=False)
    sizes = [graph.array(layer).size for layer in graph.layers]
    check_scoring(sizes, max(sizes, default=0))
    data = data.limit(options.max_samples)
    plan = _Plan(graph)
    proto = instrument(graph.source.proto, plan.captures, graph.opset, plan.token_tensors.values())
    try:
        session = make_session(proto, graph.source.base_dir, graph.constants.values)
    except IrwuaError as exc:
        return _unrunnable(graph, exc)
    wanted = [out.name for out in session.get_outputs()]
    feeds_needed = {i.name for i in session.get_inputs()}
    readers = plan.readers()
    totals: dict[str, np.ndarray] = {}
    batches = data.batches(options.batch_size, finite_only=True)
    for batch in progress(batches, batches.count, "activations", options.progress):
        if not wanted:
            continue  # Nothing to capture (e.g. quantized layers only); the data is still checked.
        values = run(session, wanted, {k: v for k, v in batch.items() if k in feeds_needed})
        for name, value in zip(wanted, values, strict=True):
            if name in readers:
                capture, stat = readers[name]
                _merge_stat(totals, name, stat, per_feature(capture, stat, value))
            else:
                _merge_tokens(totals, name, value)
    return plan.result(totals, batches.used, batches.nonfinite)


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
        self.bounded: list[str] = []
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
            signed = layer.op_type == "BatchNormalization"  # its importance needs the mean
            index = self._capture(layer.data_input, geo.feature_axis, full=True, signed=signed)
            if index is not None:
                self.inputs[layer.name] = index
        if layer.kind == "recurrent":
            hidden = graph.node_by_name[layer.node].outputs[0]
            index = self._capture(hidden, -1, full=True) if hidden else None
            if index is not None:
                self.hidden[layer.name] = index

    def _plan_output(self, layer: Layer) -> None:
        axis = output_axis(layer, self.graph) if layer.kind != "embedding" else None
        if axis is None:
            return
        tensor = _activated_output(layer, self.graph)
        if tensor == layer.output and self._boundable(layer, axis):
            self.bounded.append(layer.name)
            return
        index = self._capture(tensor, axis, full=False)
        if index is not None:
            self.outputs[layer.name] = index

    def _boundable(self, layer: Layer, axis: int) -> bool:
        """Whether the dead units of a conv that no activation follows are better bounded from
        its weights and input maxima than measured: its input is captured, its output is not."""
        shape = self.graph.shape(layer.output)
        captured = bool(shape) and (layer.output, axis % len(shape)) in self._index
        return layer.kind == "conv" and not captured and layer.name in self.inputs

    def _capture(self, tensor: str, axis: int, full: bool, signed: bool = False) -> int | None:
        """The index of the capture of ``tensor`` along ``axis``: added if new, widened if it
        lacks statistics asked for now (one capture serves every request)."""
        info = self.graph.tensors.get(tensor)
        if info is None or info.shape is None or info.dtype.kind != "f" or not info.shape:
            return None
        axis %= len(info.shape)
        key = (tensor, axis)
        if key not in self._index:
            after = info.shape[axis + 1 :]
            self._index[key] = len(self.captures)
            self.captures.append(
                Capture(
                    tensor,
                    axis,
                    len(info.shape),
                    cast=info.dtype != np.float32,
                    full=full,
                    nonnegative=_nonnegative(tensor, self.graph),
                    signed=signed,
                    positions=math.prod(after) if all(isinstance(d, int) for d in after) else None,
                )
            )
        index = self._index[key]
        old = self.captures[index]
        self.captures[index] = replace(old, full=old.full or full, signed=old.signed or signed)
        return index

    def readers(self) -> dict[str, tuple[Capture, str]]:
        """The capture and statistic behind each statistics output of the session."""
        return {
            output_name(index, stat): (capture, stat)
            for index, capture in enumerate(self.captures)
            for stat in capture.stats
        }

    def result(self, totals: Mapping[str, np.ndarray], samples: int, nonfinite: int):
        def stats(index: int) -> FeatureStats:
            names = ("sum_abs", "sum_sq", "max_abs", "nonzero", "sum")
            values = {s: totals.get(output_name(index, s)) for s in names}
            if self.captures[index].signed and self.captures[index].nonnegative:
                values["sum"] = values["sum_abs"]  # x >= 0: sum x is sum |x|
            features = max(values["sum_abs"].size, 1)
            return FeatureStats(
                count=float(totals[output_name(index, "size")]) / features, **values
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
                | {n: self._output_bound(n, stats(self.inputs[n]).max_abs) for n in self.bounded}
            ),
            token_counts=MappingProxyType(tokens),
            nonfinite_inputs=nonfinite,
        )

    def _output_bound(self, layer_name: str, input_max: np.ndarray) -> np.ndarray:
        """|b_i| + sum_j |w_ij| max |x_j| per output unit i: bounds |y_i| on the data, and is zero
        exactly when the unit's bias and every weight meeting a non-zero input are zero."""
        graph = self.graph
        layer = graph.layer_by_name[layer_name]
        weight = np.abs(np.asarray(graph.array(layer), np.float32))
        bound = unit_totals(layer, graph, weight * per_weight(layer, graph, input_max), "out")
        bias = graph.array(layer, "bias")
        if bias is None:
            return bound
        magnitude = np.abs(np.asarray(bias, np.float64)).reshape(-1)
        return bound + (magnitude if magnitude.size == bound.size else magnitude.max(initial=0))


def _nonnegative(tensor: str, graph: LayerGraph) -> bool:
    """Whether ``tensor`` can never hold a negative value, judged by the ops that produce it (a
    ReLU's output, max-pooled or flattened, ...): its magnitude is then itself."""
    pending, seen = [tensor], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        node = graph.producer.get(name)
        if node is None or node.domain:
            return False
        info = op_info(node.op_type)
        if info is None:
            return False
        if info.nonnegative or (node.op_type == "Clip" and _clips_at_zero(node, graph)):
            continue
        if not info.selects:
            return False
        pending.extend(info.data(node.inputs))
    return True


def _clips_at_zero(node: Node, graph: LayerGraph) -> bool:
    """Whether a Clip's lower bound (an input from opset 11, an attribute before) is >= 0."""
    low = node.inputs[1] if len(node.inputs) > 1 else ""
    value = graph.constants.get(low) if low else node.attr("min")
    return value is not None and np.size(value) == 1 and float(np.asarray(value).ravel()[0]) >= 0


def _activated_output(layer: Layer, graph: LayerGraph) -> str:
    """The layer's output after following single-consumer activation ops (where ReLU zeros)."""
    tensor = layer.output
    while True:
        readers = graph.consumers.get(tensor, [])
        if len(readers) != 1 or not _passes_units(readers[0]):
            return tensor
        tensor = readers[0].outputs[0]


def _passes_units(node: Node) -> bool:
    """Whether a node after a layer keeps indexing its output units (activations, identity ops,
    BatchNormalization)."""
    category = category_of(node.op_type, node.domain)
    return category in _PASS_THROUGH or (node.op_type == "BatchNormalization" and not node.domain)


def _merge_tokens(totals: dict[str, np.ndarray], name: str, ids: np.ndarray) -> None:
    """Add one batch's token ids of an embedding to its running counts per id."""
    value = np.bincount(np.asarray(ids, np.int64).ravel().clip(min=0)).astype(np.float64)
    previous = totals.get(name, np.zeros(0))
    size = max(previous.size, value.size)
    totals[name] = np.pad(previous, (0, size - previous.size)) + np.pad(
        value, (0, size - value.size)
    )


def _merge_stat(totals: dict[str, np.ndarray], name: str, stat: str, value: np.ndarray) -> None:
    """Add one batch's statistic (per feature, ``per_feature``) to its running total: the max
    for max_abs, the sum for everything else."""
    if name not in totals:
        totals[name] = value
    elif stat == "max_abs":
        totals[name] = np.maximum(totals[name], value)
    else:
        totals[name] = totals[name] + value
