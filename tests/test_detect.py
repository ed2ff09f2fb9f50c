"""Choosing the front-end without importing a framework the model does not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import mlp

from irwua.errors import IrwuaError
from irwua.exporters.detect import detect_framework

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_cnn.onnx"


def _instance_of(module: str):
    """An object whose class claims to live in ``module`` (no framework is imported)."""
    cls = type("Model", (), {})
    cls.__module__ = module
    sub = type("UserModel", (cls,), {})
    sub.__module__ = "__main__"
    return sub()


@pytest.mark.parametrize(
    ("module", "framework"),
    [
        ("torch.nn.modules.module", "torch"),
        ("torch.export.exported_program", "torch"),
        ("keras.src.models.model", "tensorflow"),
        ("tf_keras.src.engine.training", "tensorflow"),
        ("tensorflow.python.module.module", "tensorflow"),
    ],
)
def test_objects_by_the_modules_in_their_mro(module, framework):
    assert detect_framework(_instance_of(module)) == framework


def test_model_proto_is_onnx():
    assert detect_framework(mlp()) == "onnx"


@pytest.mark.parametrize(
    ("name", "framework"),
    [
        ("m.onnx", "onnx"),
        ("m.pt", "torch"),
        ("m.pth", "torch"),
        ("m.pt2", "torch"),
        ("m.keras", "tensorflow"),
        ("m.h5", "tensorflow"),
        ("m.bin", "onnx"),  # unknown suffixes get the ONNX loader's explanation
    ],
)
def test_paths_by_suffix(tmp_path, name, framework):
    assert detect_framework(str(tmp_path / name)) == framework


def test_savedmodel_directory(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert detect_framework(tmp_path) == "tensorflow"


def test_other_directories_are_refused(tmp_path):
    with pytest.raises(IrwuaError, match="not a TensorFlow SavedModel"):
        detect_framework(tmp_path)


def test_framework_overrides_detection():
    assert detect_framework("model.onnx", "torch") == "torch"
    with pytest.raises(IrwuaError, match="Unknown framework 'jax'"):
        detect_framework("model.onnx", "jax")


def test_unknown_objects_get_one_sentence():
    with pytest.raises(IrwuaError, match="cannot analyze a int"):
        detect_framework(3)


def test_analyzing_onnx_imports_no_framework():
    code = (
        "import sys, irwua\n"
        f"irwua.analyze({str(EXAMPLE)!r})\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'tf2onnx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
