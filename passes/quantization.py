"""The ``quantization`` pass: how much int8 quantization changes the model, whole and layer by
layer, measured rather than estimated.

For each mode of ``quant_modes`` (``irwua.quantization.copies``: ``dynamic``, or ``static`` QDQ
calibrated on the data), the pass quantizes the whole model, then each weighted layer alone (its
nodes only, the rest in float), runs every copy in onnxruntime on the data (limited by
``max_samples``; the same samples calibrate the static ranges) and measures its first output
against the float model's, as the pruning pass does (``irwua.runtime.fidelity``). A layer the
mode does not quantize (an op onnxruntime's tool skips) has no fidelity (None). Layers whose
quantization alone moves the outputs beyond ``tolerance`` are the ones to keep in float
(``keep_float``); when there are any, the whole model is measured again with them left in float
(``mixed``). ``bytes``: the serialized size of each whole copy.

Without data the pass does not run and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx

from irwua.data.dataset import Dataset
from irwua.errors import IrwuaError
from irwua.ir.graph import LayerGraph
from irwua.options import QuantizationOptions
from irwua.pipeline import PassContext, PassResult, register_pass
from irwua.pruning.scores import prunable_layers
from irwua.quantization.copies import Calibration, is_quantized, prepared, quantized
from irwua.runtime.fidelity import Fidelity, measure, predict
from irwua.runtime.progress import progress
from irwua.runtime.sessions import make_session


@dataclass(frozen=True)
class ModeResult:
    """One mode: the whole model quantized, each layer alone, the layers to keep in float and
    the whole model with them in float (None when no layer needs it)."""

    mode: str
    whole: Fidelity | None
    bytes: int
    layers: Mapping[str, Fidelity | None]
    keep_float: tuple[str, ...]
    mixed: Fidelity | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "whole": None if self.whole is None else self.whole.to_json(),
            "bytes": self.bytes,
            "layers": [
                {"layer": k, "quantized": v is not None, **(v.to_json() if v else {})}
                for k, v in self.layers.items()
            ],
            "keep_float": list(self.keep_float),
            "mixed": None if self.mixed is None else self.mixed.to_json(),
        }


@dataclass(frozen=True)
class QuantizationResult(PassResult):
    """The modes measured, or why none was."""

    ran: bool
    note: str | None = None
    samples: int = 0
    tolerance: float = 0.0
    float_bytes: int = 0
    modes: Mapping[str, ModeResult] = field(default_factory=dict)

    def section_json(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "note": self.note,
            "samples": self.samples,
            "tolerance": self.tolerance,
            "float_bytes": self.float_bytes,
            "modes": [mode.to_json() for mode in self.modes.values()],
        }


@register_pass(
    "quantization",
    "quantize to int8 (onnxruntime) whole and one layer at a time, and measure agreement",
    options=QuantizationOptions,
    needs_data="quantization measures each int8 copy by running it on the data",
)
def run_quantization(context: PassContext) -> QuantizationResult:
    graph, options = context.graph, context.options
    if context.data is None or graph.source is None:
        return QuantizationResult(False, "no data given: quantization is measured by running it")
    layers = {layer.name: layer.nodes for layer in prunable_layers(graph)}
    data = context.data.limit(options.max_samples)
    proto = prepared(graph)
    reference = _outputs(proto, graph, data, options.batch_size)
    labels = None if context.labels is None else context.labels[: len(reference)]
    jobs = [(mode, name) for mode in options.quant_modes for name in (None, *layers)]
    measured: dict[tuple[str, str | None], tuple[Fidelity | None, int]] = {}
    modes = {}
    with Calibration(data) as calibration:

        def run(mode: str, nodes: tuple[str, ...] | None) -> tuple[Fidelity | None, int]:
            copy = quantized(proto, mode, nodes, calibration)
            if not is_quantized(copy):
                return None, copy.ByteSize()
            outputs = _outputs(copy, graph, data, options.batch_size)
            return measure(outputs, reference, labels), copy.ByteSize()

        for mode, name in progress(jobs, len(jobs), "quantization", options.progress, "model"):
            measured[mode, name] = run(mode, None if name is None else layers[name])
        for mode in options.quant_modes:
            (whole, size), per_layer = (
                measured[mode, None],
                {n: measured[mode, n][0] for n in layers},
            )
            keep = tuple(n for n, f in per_layer.items() if f and not f.within(options.tolerance))
            rest = tuple(node for n, nodes in layers.items() if n not in keep for node in nodes)
            mixed = (run(mode, rest)[0] if rest else None) if keep else None
            modes[mode] = ModeResult(mode, whole, size, MappingProxyType(per_layer), keep, mixed)
    return QuantizationResult(
        ran=True,
        samples=len(reference),
        tolerance=options.tolerance,
        float_bytes=proto.ByteSize(),
        modes=MappingProxyType(modes),
    )


def _outputs(
    proto: onnx.ModelProto, graph: LayerGraph, data: Dataset, batch_size: int
) -> np.ndarray:
    try:
        session = make_session(proto, graph.source.base_dir)
    except IrwuaError as exc:
        raise IrwuaError(f"The quantized model does not load: {exc}") from exc
    return predict(session, data, batch_size, show=False)
