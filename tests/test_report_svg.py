"""Inline SVG: matplotlib figures and dot drawings fit to share one HTML page."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from irwua.report.svg import figure_svg, inline_svg, new_figure, styled

ROOT = Path(__file__).resolve().parent.parent


@styled
def _line_figure(seed: int):
    figure = new_figure(3, 2)
    axes = figure.add_subplot()
    values = np.random.default_rng(seed).random(20)
    axes.plot(values, marker="o")  # markers are <use href="#..."> of a <defs> path
    axes.set_title("costs $5 & <more>")
    return figure


def _ids(svg: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', svg))


def _references(svg: str) -> set[str]:
    return set(re.findall(r'(?:href="#|url\(#)([^")]+)', svg))


def test_figure_svg_is_inline_svg_with_its_own_ids():
    first, second = figure_svg(_line_figure(0)), figure_svg(_line_figure(1))
    for svg in (first, second):
        assert svg.startswith("<svg")
        assert "<?xml" not in svg and "DOCTYPE" not in svg and "<!--" not in svg
        assert "http" not in svg and "xlink:" not in svg
        assert _references(svg) and _references(svg) <= _ids(svg)  # every reference resolves
        ET.fromstring(svg)  # well-formed
    assert not _ids(first) & _ids(second)


def test_figure_text_is_escaped_text_not_mathtext():
    svg = figure_svg(_line_figure(0))
    texts = [t.text for t in ET.fromstring(svg).iter("text")]
    assert "costs $5 & <more>" in texts


def test_same_figure_gives_the_same_svg():
    assert figure_svg(_line_figure(3)) == figure_svg(_line_figure(3))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_dot_output_inlines_with_distinct_ids():
    svgs = []
    for name in ("a", "b"):
        source = f"digraph {{ {name}1 -> {name}2; subgraph cluster_0 {{ {name}3 }} }}"
        done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True)
        svgs.append(inline_svg(done.stdout.decode()))
    for svg in svgs:
        assert svg.startswith("<svg") and "http" not in svg and "<!--" not in svg
        ET.fromstring(svg)
    assert _ids(svgs[0]) and not _ids(svgs[0]) & _ids(svgs[1])


def test_inline_svg_refuses_other_text():
    with pytest.raises(ValueError):
        inline_svg("<html></html>")


def test_matplotlib_is_imported_only_for_a_report_and_never_pyplot(tmp_path):
    """Analyses without a report never load matplotlib; a report loads it but not pyplot."""
    script = f"""
import sys
import irwua
analysis = irwua.analyze({str(ROOT / "examples" / "digits_cnn.onnx")!r}, passes=["metrics"])
analysis.summary()
assert "matplotlib" not in sys.modules, "matplotlib imported without a report"
analysis.save({str(tmp_path)!r})
assert "matplotlib" in sys.modules
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
