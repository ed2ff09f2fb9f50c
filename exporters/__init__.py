"""Front-ends: whatever model the user holds becomes an ONNX ``ModelSource`` plus a map back to
the framework's own layer names.

``load(model)`` accepts an ONNX path or ``onnx.ModelProto``, a torch module (``torch_export``), a
Keras model or tf.Module (``keras_export``), or the path of a saved model of either framework.
``detect`` picks the front-end from the object's type or the path without importing any framework,
and a framework package is imported only when the model needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from irwua.ingest import ModelSource, load_model


class LoadedModel(NamedTuple):
    """An ONNX model ready for ingest, and what the front-end knows about its layers.

    ``layer_names`` maps an ONNX node name to the framework's name for that layer
    (``features.3``, ``dense_1``); ``layer_notes`` maps an ONNX node name to a remark such as a
    BatchNorm folded into it; ``notes`` are remarks about the export as a whole.
    ``framework_params`` is the framework's own parameter count (torch's
    ``sum(p.numel() for p in model.parameters())``, Keras' ``count_params()``), which can differ
    from what the exported graph stores (see the notes).
    """

    source: ModelSource
    framework: str = "onnx"
    layer_names: Mapping[str, str] = MappingProxyType({})
    layer_notes: Mapping[str, str] = MappingProxyType({})
    notes: tuple[str, ...] = ()
    framework_params: int | None = None


def load(
    model: Any, framework: str | None = None, example: Any = None, trust_pickle: bool = False
) -> LoadedModel:
    """Turn ``model`` into ONNX; ``example`` is sample input, to trace framework models.

    ``framework`` ("torch", "tensorflow", "onnx") overrides detection; ``trust_pickle`` allows
    loading saved PyTorch files, which go through pickle and can run code.
    """
    from irwua.exporters.detect import detect_framework

    kind = detect_framework(model, framework)
    if kind == "torch":
        from irwua.exporters.torch_export import load_torch

        return load_torch(model, example, trust_pickle)
    if kind == "tensorflow":
        from irwua.exporters.keras_export import load_tensorflow

        return load_tensorflow(model, example, trust_pickle)
    return LoadedModel(load_model(model))
