"""Jupyter display: analyses, comparisons and trackers show their HTML page in a sandboxed frame,
with everything taken from the model escaped."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path

import markupsafe
import numpy as np
import pytest
from browser import needs_chromium, open_page
from builders import model
from onnx import helper

import irwua
from irwua.report.analysis_page import render_html

NASTY = "<script>alert('x')</script> & \"quoted\""
ESCAPED = str(markupsafe.escape(NASTY))  # as the templates escape it
DIGITS = Path(__file__).resolve().parents[1] / "examples"


class _Frames(HTMLParser):
    """The tags of a notebook output, with their attributes (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _frame(output: str) -> dict[str, str | None]:
    """The one iframe of a notebook output; nothing else is markup."""
    parser = _Frames()
    parser.feed(output)
    assert [tag for tag, _ in parser.tags] == ["iframe"], output[:200]
    return parser.tags[0][1]


def _nasty_model(name: str = NASTY):
    """x[N, 4] -> Gemm named ``name`` -> y[N, 3]."""
    weight = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    node = helper.make_node("Gemm", ["x", "w"], ["y"], name=name, transB=1)
    return model([node], [("x", ["N", 4])], [("y", ["N", 3])], {"w": weight})


def test_analysis_displays_as_its_report_in_a_sandboxed_frame():
    data = np.random.default_rng(1).standard_normal((20, 4)).astype(np.float32)
    analysis = irwua.analyze(_nasty_model(), data, passes=["metrics"])
    output = analysis._repr_html_()
    assert output.count("<") == 2  # <iframe ...></iframe>: the page is all inside an attribute
    frame = _frame(output)
    assert frame["sandbox"] == "allow-scripts"  # scripts run, but not in the notebook's origin
    page = frame["srcdoc"]
    assert page == render_html(analysis)  # the page itself, unharmed by the escaping
    assert NASTY not in page and ESCAPED in page  # the name shows as text
    assert "<script>alert" not in output and html.escape(ESCAPED) in output


def test_comparison_and_tracker_display_in_frames_too():
    images = np.load(DIGITS / "digits_images.npy")[:30]
    comparison = irwua.compare(
        [DIGITS / "digits_cnn.onnx", DIGITS / "digits_cnn.onnx"], images, names=[NASTY, "copy"]
    )
    page = _frame(comparison._repr_html_())["srcdoc"]
    assert page.startswith("<!DOCTYPE html>") and "comparison of 2 models" in page
    assert NASTY not in page and ESCAPED in page

    tracker = irwua.Tracker()
    empty = _frame(tracker._repr_html_())["srcdoc"]
    assert "No epoch has been recorded yet" in empty
    data = np.random.default_rng(2).standard_normal((20, 4)).astype(np.float32)
    tracker.record(1, irwua.analyze(_nasty_model(), data, passes=["metrics"]))
    page = _frame(tracker._repr_html_())["srcdoc"]
    assert NASTY not in page and ESCAPED in page and page.count("<svg") == 1


@pytest.mark.parametrize("name", ["$x$", "a $ b", "50% & <b>"])
def test_odd_names_in_charts_stay_text(name):
    """Matplotlib would typeset $...$ as TeX; a name from the model is shown as it is."""
    data = np.random.default_rng(3).standard_normal((20, 4)).astype(np.float32)
    tracker = irwua.Tracker()
    tracker.record(0, irwua.analyze(_nasty_model(name), data, passes=["metrics"]))
    comparison = irwua.compare([_nasty_model(), _nasty_model()], data, names=[name, "other"])
    for page in (
        _frame(tracker._repr_html_())["srcdoc"],
        _frame(comparison._repr_html_())["srcdoc"],
    ):
        svg = page[page.index("<svg") : page.index("</svg>")]
        assert f">{html.escape(name, quote=False)}<" in svg


@needs_chromium
def test_frames_in_a_notebook_page_in_chromium(browser, tmp_path):
    """A host page standing in for a notebook: the frames' pages load without console errors or
    requests, their names show as text, their table sorting works, and the host is untouched."""
    from selenium.webdriver.common.by import By

    data = np.random.default_rng(4).standard_normal((20, 4)).astype(np.float32)
    analysis = irwua.analyze(_nasty_model(), data, passes=["metrics"])
    tracker = irwua.Tracker()
    for epoch in range(3):
        tracker.record(epoch, irwua.analyze(_nasty_model(), data[epoch:], passes=["metrics"]))
    host = tmp_path / "notebook.html"
    outputs = "".join(f"<div class='output'>{d._repr_html_()}</div>" for d in (analysis, tracker))
    host.write_text(f"<!DOCTYPE html><html><body><h1>cells</h1>{outputs}</body></html>")
    seen = open_page(browser, host)
    assert seen["console"] == [] and seen["requests"] == [host.resolve().as_uri()]
    assert browser.execute_script("return document.querySelectorAll('body *').length") == 5
    frames = browser.find_elements(By.TAG_NAME, "iframe")
    browser.switch_to.frame(frames[0])
    names = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#layers td.name")]
    assert names == [NASTY]
    browser.switch_to.default_content()
    browser.switch_to.frame(frames[1])
    header = browser.find_element(By.CSS_SELECTOR, "#epochs thead th")
    header.click()
    header.click()
    epochs = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#epochs tbody td")]
    assert epochs[::7] == ["2", "1", "0"]  # sorted descending by the frame's own script
    browser.switch_to.default_content()
