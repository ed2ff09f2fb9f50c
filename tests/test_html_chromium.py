"""The HTML report in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium): no console errors, no network request, a screenshot that is not blank, sortable
tables, hostile names shown as text, big models render.

Chromium runs with a proxy that goes nowhere, so a request to any URL would fail and show up in
the console and in the performance log besides being listed there.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from browser import needs_chromium, open_page
from report_models import HOSTILE, deep_mlp, digits_full, hostile_mlp, light_resnet50

import irwua

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory) -> Path:
    return digits_full().save(tmp_path_factory.mktemp("digits"))["report.html"]


def test_report_loads_clean_and_offline(browser, digits_report):
    seen = open_page(browser, digits_report)
    assert seen["console"] == []  # no error, no warning, no CSP violation
    assert seen["requests"] == [digits_report.resolve().as_uri()]
    assert browser.execute_script("return document.querySelectorAll('svg').length") >= 8


def test_screenshot_is_not_blank(browser, digits_report):
    from PIL import Image

    open_page(browser, digits_report)
    browser.execute_script("document.getElementById('metrics').scrollIntoView()")
    image = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    pixels = np.asarray(image).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    ink = np.mean(pixels.min(axis=1) < 200)
    assert len(colours) > 50 and ink > 0.02


def _column(browser, table: str, index: int) -> list:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'), r => "
        "r.cells[arguments[1]]).map(c => c.getAttribute('data-sort') ?? c.textContent)",
        table,
        index,
    )


def test_layer_table_sorts_on_click(browser, digits_report):
    from selenium.webdriver.common.by import By

    open_page(browser, digits_report)
    headers = browser.find_elements(By.CSS_SELECTOR, "#layers thead th")
    titles = [header.text for header in headers]
    flops = titles.index("FLOPs")
    original = [float(v) for v in _column(browser, "#layers", flops)]
    headers[flops].click()
    ascending = [float(v) for v in _column(browser, "#layers", flops)]
    assert ascending == sorted(original)
    assert headers[flops].get_attribute("aria-sort") == "ascending"
    headers[flops].click()
    assert [float(v) for v in _column(browser, "#layers", flops)] == sorted(original, reverse=True)
    headers[0].click()  # names sort as text
    names = _column(browser, "#layers", 0)
    assert names == sorted(names, key=str.lower)
    assert headers[flops].get_attribute("aria-sort") is None


def test_hostile_names_show_as_text(browser, tmp_path):
    data = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    analysis = irwua.analyze(hostile_mlp(), data=data, passes=["flops", "metrics"])
    report = analysis.save(tmp_path)["report.html"]
    seen = open_page(browser, report)
    assert seen["console"] == [] and len(seen["requests"]) == 1
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('script, img').length") == 1
    assert browser.title == "irwua report: in-memory model"
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('#layers tbody td.name'), c => c.textContent)"
    )
    assert cells == [HOSTILE + "fc1", HOSTILE + "fc2"]
    svg_texts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#diagrams svg text'), t => t.textContent)"
    )
    assert HOSTILE + "fc1" in svg_texts and HOSTILE + "input" in svg_texts
    chart_texts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#metrics svg text'), t => t.textContent)"
    )
    assert "...> & 'q' \\n {b} $x$fc2" in chart_texts  # names cut from the left in charts
    assert not [text for text in chart_texts if "mathdefault" in text]


def test_big_models_render(browser, tmp_path):
    """The light ResNet-50 and a 300-layer chain: under 10 MB, loaded and laid out in seconds."""
    deep = irwua.analyze(deep_mlp(layers=300), passes=["flops", "metrics"])
    for name, analysis in (("resnet50", light_resnet50()), ("deep", deep)):
        report = analysis.save(tmp_path / name)["report.html"]
        assert report.stat().st_size < 10 * 2**20
        seen = open_page(browser, report)
        assert seen["console"] == [] and len(seen["requests"]) == 1
        seconds = browser.execute_script(
            "const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd / 1000"
        )
        assert 0 < seconds < 20
        rows = browser.execute_script("return document.querySelectorAll('#layers tbody tr').length")
        assert rows == len(analysis.graph.layers)


def test_the_verdict_is_on_the_first_screen_and_names_the_top_recommendation(
    browser, digits_report
):
    open_page(browser, digits_report)
    browser.set_window_size(1400, 900)
    verdict = browser.execute_script(
        "const r = document.getElementById('verdict').getBoundingClientRect();"
        "return [r.top + window.scrollY, r.bottom + window.scrollY, "
        "document.getElementById('verdict').innerText]"
    )
    top, bottom, text = verdict
    assert top < 300 and bottom < 900
    headline = next(
        item["text"]
        for item in digits_full().document["recommendations"]["items"]
        if item["text"].startswith("Pruning the whole model")
    )
    assert text.splitlines()[1] == headline
    assert "Each sample costs" in text


def test_every_nav_link_leaves_its_heading_below_the_nav(browser, digits_report):
    from selenium.webdriver.common.by import By

    open_page(browser, digits_report)
    browser.set_window_size(1400, 900)
    links = browser.find_elements(By.CSS_SELECTOR, "nav a")
    assert len(links) >= 8
    for link in links:
        link.click()
        nav_bottom, heading_top = browser.execute_script(
            "const heading = document.querySelector(arguments[0] + ' h2');"
            "return [document.querySelector('nav').getBoundingClientRect().bottom, "
            "heading.getBoundingClientRect().top]",
            link.get_attribute("hash"),
        )
        at_end = browser.execute_script(
            "return window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"
        )
        assert heading_top >= nav_bottom or at_end, link.text


@pytest.mark.parametrize("model", ["resnet50", "densenet121"])
def test_layer_graphs_of_big_models_show_every_merge_and_fit_on_load(browser, tmp_path, model):
    """Every residual Sum / dense Concat is a merge point of the layer graph, normalizations are
    folded into their convolutions, the drawing fits its frame on load and zooms on a click;
    the whole report is written in well under 10 s."""
    import time

    from selenium.webdriver.common.by import By

    path = Path(onnx.__file__).parent / "backend/test/data/light" / f"light_{model}.onnx"
    start = time.perf_counter()
    analysis = irwua.analyze(path)
    report = analysis.save(tmp_path)["report.html"]
    seconds = time.perf_counter() - start
    assert seconds < 10
    merging = [n for n in analysis.graph.nodes if n.op_type in ("Sum", "Concat")]
    convs = sum(1 for layer in analysis.graph.layers if layer.op_type == "Conv")
    open_page(browser, report)
    browser.set_window_size(1400, 900)
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('#diagram-layer_graph g.node title'),"
        " t => t.textContent)"
    )
    assert sum(t.startswith("M") for t in titles) == len(merging)
    assert sum(t.startswith("L") for t in titles) <= convs + 2  # BatchNorms folded in
    frame, drawing = browser.execute_script(
        "const f = document.getElementById('diagram-layer_graph');"
        "const r = f.getBoundingClientRect(), s = f.querySelector('svg').getBoundingClientRect();"
        "return [[r.width, f.clientHeight, window.innerHeight], [s.width, s.height]]"
    )
    assert drawing[0] <= frame[0] and drawing[1] <= 0.8 * frame[2] + 1
    before = drawing[0]
    browser.find_element(By.CSS_SELECTOR, "[aria-label='zoom Layer graph'] [data-zoom=in]").click()
    after = browser.execute_script(
        "return document.querySelector('#diagram-layer_graph svg').getBoundingClientRect().width"
    )
    assert after == pytest.approx(before * 1.25, rel=0.02)
