"""What a front-end hands to ingest: the ONNX model and what it knows about the layers."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from irwua.ir.source import ModelSource


class LoadedModel(NamedTuple):
    """An ONNX model ready for ingest, and what the front-end knows about its layers.

    ``layer_names`` maps an ONNX node name to the framework's name for that layer
    (``features.3``, ``dense_1``); ``layer_notes`` maps an ONNX node name to a remark such as a
    BatchNorm folded into it; ``notes`` are remarks about the export as a whole.
    ``framework_params`` is the framework's own parameter count (torch's
    ``sum(p.numel() for p in model.parameters())``, Keras' ``count_params()``), which can differ
    from what the exported graph stores (see the notes). ``exporter`` names the converter that
    wrote the ONNX model ("torch.export", "torchscript", "tf2onnx"; None for an ONNX file).
    """

    source: ModelSource
    framework: str = "onnx"
    layer_names: Mapping[str, str] = MappingProxyType({})
    layer_notes: Mapping[str, str] = MappingProxyType({})
    notes: tuple[str, ...] = ()
    framework_params: int | None = None
    exporter: str | None = None
    call_options: tuple[str, ...] = ()
    """Keys of a data dict that were options of the model's call (``use_cache``), not inputs."""
