"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import onnx
import pytest
from browser import start_browser

LIGHT_MODELS = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.fixture
def light_model() -> Callable[[str], Path]:
    """``light_model("resnet50")``: the path of onnx's bundled ``light_resnet50.onnx``.

    These "light" models keep the real architecture but build their weights with ConstantOfShape
    nodes instead of storing them, so they are a few KB each.
    """

    def path(name: str) -> Path:
        model = LIGHT_MODELS / f"light_{name}.onnx"
        if not model.is_file():
            pytest.skip(f"onnx {onnx.__version__} does not ship {model.name}")
        return model

    return path


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Chromium (selenium WebDriver) shared by every browser test."""
    yield from start_browser()
