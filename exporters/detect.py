"""Which framework a model belongs to, decided without importing any framework.

Live objects are recognised by the modules of the classes in their MRO (``torch.*``, ``keras.*``,
``tensorflow.*``), so asking about an ONNX file never imports torch or TensorFlow. Paths are
recognised by their suffix, and a directory by the ``saved_model.pb`` of a SavedModel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irwua.errors import IrwuaError

FRAMEWORKS = ("torch", "tensorflow", "onnx")

_SUFFIXES = {
    ".onnx": "onnx",
    ".pt": "torch",
    ".pth": "torch",
    ".pt2": "torch",
    ".keras": "tensorflow",
    ".h5": "tensorflow",
}
_MODULE_PREFIXES = {
    "torch": "torch",
    "keras": "tensorflow",
    "tf_keras": "tensorflow",
    "tensorflow": "tensorflow",
    "onnx": "onnx",
}


def detect_framework(model: Any, framework: str | None = None) -> str:
    """``framework`` when given (checked), else the framework ``model`` comes from."""
    if framework is not None:
        if framework not in FRAMEWORKS:
            raise IrwuaError(
                f"Unknown framework '{framework}'; choose one of: {', '.join(FRAMEWORKS)}."
            )
        return framework
    if isinstance(model, (str, os.PathLike)):
        return _framework_of_path(Path(model))
    for cls in type(model).__mro__:
        found = _MODULE_PREFIXES.get(cls.__module__.partition(".")[0])
        if found:
            return found
    raise IrwuaError(
        f"irwua cannot analyze a {type(model).__name__}: pass a torch.nn.Module, a Keras model, "
        "a tf.Module, an onnx.ModelProto or the path of a saved model."
    )


def _framework_of_path(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "tensorflow"
        raise IrwuaError(
            f"'{path}' is a directory but not a TensorFlow SavedModel (it has no saved_model.pb)."
        )
    # Unknown suffixes are tried as ONNX, whose loader explains what is wrong with the file.
    return _SUFFIXES.get(path.suffix.lower(), "onnx")
