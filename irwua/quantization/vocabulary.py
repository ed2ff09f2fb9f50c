"""The words of quantization: the int8 modes (``irwua.quantization.copies`` says what each does)."""

from __future__ import annotations

MODES = ("dynamic", "static")
