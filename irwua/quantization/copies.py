"""int8 copies of a model, made with onnxruntime's quantization tools (``quantize_dynamic`` and
``quantize_static``), whole or one set of nodes at a time.

* ``dynamic``: weights stored as int8 (per tensor), activations quantized at run time from
  their observed range; no calibration. Best for MatMul-heavy models (transformers, RNNs).
* ``static``: QDQ format (QuantizeLinear/DequantizeLinear pairs the runtime fuses), int8 weights
  per output channel, uint8 activations (onnxruntime's recommended pairing on x86-64) with
  ranges calibrated (min/max) on the data. ``Calibration`` runs the calibration once and keeps
  the ranges in a cache file, so quantizing one layer after another reuses them.

Nodes are named in the copy as irwua names them (``irwua.ingest.build.named_nodes``), so a layer's
``nodes`` select what is quantized (dynamic mode turns a Gemm into a MatMul named
``<name>_MatMul`` first, and that name is selected too). onnxruntime's tools print advice through
``logging``; it is silenced here (irwua reports what it measured instead).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from irwua.data.dataset import Dataset
from irwua.errors import IrwuaError
from irwua.ir.geometry import is_unit_layer
from irwua.ir.graph import LayerGraph
from irwua.pruning.edits import with_tensors
from irwua.pruning.storage import stored_inline

CALIBRATION_BATCH = 32


class Calibration:
    """Calibration ranges of one model on ``data``: computed by the first static copy, read
    back by the others. Use as a context manager (the cache lives in a temporary folder)."""

    def __init__(self, data: Dataset, batch_size: int = CALIBRATION_BATCH) -> None:
        self.data, self.batch_size = data, batch_size
        self._folder = tempfile.TemporaryDirectory(prefix="irwua-calibration-")
        self.cache = Path(self._folder.name) / "ranges.json"

    def __enter__(self) -> Calibration:
        return self

    def __exit__(self, *_: object) -> None:
        self._folder.cleanup()

    def reader(self):
        """A data reader for ``quantize_static`` (None once the ranges are cached)."""
        if self.cache.exists():
            return None
        from onnxruntime.quantization import CalibrationDataReader

        batches = iter(self.data.batches(self.batch_size))

        class _Reader(CalibrationDataReader):
            def get_next(self):
                return next(batches, None)

        return _Reader()


def prepared(graph: LayerGraph) -> onnx.ModelProto:
    """The graph's model as onnxruntime's tools take it best: every weight inline, and each
    weighted layer reading its weight from an initializer (a weight reaching its MatMul through a
    Transpose or a Cast, as torch's exporter writes Linear, is folded into its value; the tools
    quantize only constant initializers)."""
    stored = {tensor.name for tensor in graph.source.proto.graph.initializer}
    values = {
        (layer.name, "weight"): np.asarray(graph.array(layer))
        for layer in graph.layers
        if is_unit_layer(layer, graph) and layer.tensors.get("weight") not in stored
    }
    proto = with_tensors(graph.source.proto, graph, values) if values else graph.source.proto
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    stored_inline(copy, graph.constants.values)
    return copy


def quantized(
    proto: onnx.ModelProto,
    mode: str,
    nodes: Sequence[str] | None = None,
    calibration: Calibration | None = None,
) -> onnx.ModelProto:
    """An int8 copy of ``proto`` (weights inline): all quantizable nodes, or only ``nodes``
    (irwua's node names). ``static`` needs a ``calibration``."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    copy = _named(proto)
    with tempfile.TemporaryDirectory(prefix="irwua-quantize-") as folder, _quiet():
        output = Path(folder) / "quantized.onnx"
        selected = None if nodes is None else list(nodes)
        if selected is not None and mode == "dynamic":
            selected += [f"{name}_MatMul" for name in selected]
        try:
            if mode == "dynamic":
                quantize_dynamic(
                    copy, output, weight_type=QuantType.QInt8, nodes_to_quantize=selected
                )
            else:
                if calibration is None:
                    raise ValueError("static quantization needs a Calibration")
                quantize_static(
                    copy,
                    output,
                    calibration.reader(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    nodes_to_quantize=selected,
                    calibration_cache_path=calibration.cache,
                )
        except Exception as exc:  # onnxruntime's tools raise anything
            raise IrwuaError(f"onnxruntime could not quantize the model ({mode}): {exc}") from exc
        return onnx.load(output)


QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DynamicQuantizeLinear",
        "MatMulInteger",
        "ConvInteger",
        "QLinearConv",
        "QLinearMatMul",
        "DynamicQuantizeMatMul",
    }
)
"""Ops of a quantized copy that mean something was quantized."""


def is_quantized(proto: onnx.ModelProto) -> bool:
    """Whether ``proto``'s main graph holds a quantization op (onnxruntime's tools skip nodes
    of ops a mode does not support)."""
    return any(node.op_type in QUANTIZED_OPS for node in proto.graph.node)


def _named(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose main-graph nodes carry irwua's names."""
    from irwua.ingest.build import named_nodes

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for name, scope, node in named_nodes(copy.graph):
        if not scope:
            node.name = name
    return copy


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
