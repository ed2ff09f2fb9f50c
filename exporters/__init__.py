"""Front-ends: whatever model the user holds becomes an ONNX ``ModelSource`` plus a map back to
the framework's own layer names.

``load(model)`` accepts an ONNX path or ``onnx.ModelProto``, a torch module (``torch.export``), a
Keras model or tf.Module (``keras.export``), or the path of a saved model of either framework.
``detect`` picks the front-end from the object's type or the path without importing any framework,
and a framework package is imported only when the model needs it.
"""

from __future__ import annotations

from typing import Any

from irwua.exporters.carried import carried_names
from irwua.exporters.loaded import LoadedModel
from irwua.ingest.model_file import load_model

__all__ = ["LoadedModel", "load"]


def load(
    model: Any, framework: str | None = None, example: Any = None, trust_code: bool = False
) -> LoadedModel:
    """Turn ``model`` into ONNX; ``example`` is sample input, to trace framework models.

    ``framework`` ("torch", "tensorflow", "onnx") overrides detection; ``trust_code`` allows
    loading saved PyTorch files, which go through pickle and can run code.
    """
    from irwua.exporters.detect import detect_framework

    kind = detect_framework(model, framework)
    if kind == "torch":
        from irwua.exporters.torch.export import load_torch

        return load_torch(model, example, trust_code)
    if kind == "tensorflow":
        from irwua.exporters.keras.export import load_tensorflow

        return load_tensorflow(model, example, trust_code)
    source = load_model(model)
    return LoadedModel(source, layer_names=carried_names(source.proto.graph))
