"""Quantization: how far int8 moves the outputs, whole and one layer at a time, per mode, and
which layers to keep in float."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from irwua.report.formatting import human_bytes, percent
from irwua.report.sections.section import Document, Report, Section


class Quantization(Section):
    key = "quantization"
    title = "Quantization"

    def view(self, report: Report) -> dict[str, Any] | None:
        section = report.analysis.document.get("quantization")
        if section is None:
            return None
        if not section.get("ran"):
            return {"note": section.get("note") or "The quantization pass did not run."}
        modes = section.get("modes", [])
        by_mode = {m["mode"]: {entry["layer"]: entry for entry in m["layers"]} for m in modes}
        layers = list(dict.fromkeys(name for entries in by_mode.values() for name in entries))
        return {
            "samples": section.get("samples"),
            "tolerance": percent(section.get("tolerance"), 0),
            "modes": [m["mode"] for m in modes],
            "whole": [_whole_row(m, section) for m in modes],
            "layers": [
                {"layer": name, "cells": [_cell(by_mode[m["mode"]].get(name)) for m in modes]}
                for name in layers
            ],
        }

    def text(self, document: Document) -> list[str]:
        section = document.get("quantization")
        if section is None:
            return []
        if not section.get("ran"):
            return [f"  quantization: not measured ({section.get('note')})"]
        lines = [f"  quantization to int8 (top-1 agreement on {section['samples']} samples):"]
        for mode in section.get("modes", []):
            row = _whole_row(mode, section)
            lines.append(f"    {row['mode']:<8} {row['agreement']:>7}  {row['size']}{row['keep']}")
        return lines


def _whole_row(mode: Mapping[str, Any], section: Mapping[str, Any]) -> dict[str, str]:
    whole = mode.get("whole")
    keep = mode.get("keep_float") or []
    mixed = mode.get("mixed")
    kept = ""
    if keep:
        names = ", ".join(f"'{name}'" for name in keep)
        after = f" ({_fidelity(mixed)} with them in float)" if mixed else ""
        kept = f"; keep in float: {names}{after}"
    return {
        "mode": mode["mode"],
        "agreement": _fidelity(whole) if whole else "not quantized",
        "size": f"{human_bytes(section.get('float_bytes'))} -> {human_bytes(mode.get('bytes'))}",
        "keep": kept,
    }


def _fidelity(fidelity: Mapping[str, Any]) -> str:
    if fidelity.get("agreement") is not None:
        return percent(fidelity["agreement"])
    return f"error {fidelity['relative_error']:.3g}"


def _cell(layer: Mapping[str, Any] | None) -> str:
    if layer is None or not layer.get("quantized"):
        return "not quantized"
    return _fidelity(layer)


SECTION = Quantization()
