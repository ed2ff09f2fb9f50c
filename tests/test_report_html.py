"""The HTML report's content: sections by pass, the layer table's data, provenance, escaping,
self-containment and size; and the terminal report."""

from __future__ import annotations

import base64
import hashlib
import re

import numpy as np
import onnx
import pytest
from markupsafe import escape
from report_models import DIGITS_CNN, DIGITS_IMAGES, digits_full, hostile_mlp, light_resnet50

import irwua
from irwua.report import sections
from irwua.report.analysis_page import render_html, render_report
from irwua.report.sections.layers import layer_table

SIZE_LIMIT = 10 * 2**20
SECTIONS = re.compile(r'<section id="(\w+)"')


@pytest.fixture(scope="module")
def digits() -> irwua.Analysis:
    return irwua.analyze(DIGITS_CNN, data=np.load(DIGITS_IMAGES), passes=["flops", "metrics"])


@pytest.fixture(scope="module")
def page(digits) -> str:
    return render_html(digits)


def test_sections_follow_the_passes_that_ran(page):
    flops_only = irwua.analyze(DIGITS_CNN, passes=["flops"])
    assert SECTIONS.findall(render_html(flops_only)) == [
        "verdict",
        "summary",
        "flops",
        "layers",
        "details",
        "diagrams",
        "provenance",
    ]
    assert SECTIONS.findall(page) == [
        "verdict",
        "summary",
        "flops",
        "metrics",
        "layers",
        "details",
        "diagrams",
        "provenance",
    ]
    assert "Importance is |w| x mean|x| (l1), measured on 450 samples." in page
    assert '<th scope="col">utilization</th>' not in render_html(flops_only)
    assert '<th scope="col">utilization</th>' in page


def test_layer_table_sorts_by_the_documents_numbers(digits, page):
    document = digits.document
    table = layer_table(digits.document, sections.SECTIONS)
    column = table["columns"].index("FLOPs")
    assert [row[column]["sort"] for row in table["rows"]] == [
        layer["flops"] for layer in document["layers"]
    ]
    column = table["columns"].index("utilization")
    assert [row[column]["sort"] for row in table["rows"]] == [
        layer["metrics"]["utilization"] for layer in document["layers"]
    ]
    first = document["layers"][0]
    assert f'<td data-sort="{first["flops"]}">' in page


def test_provenance(digits, page):
    provenance = page.split('id="provenance"')[1]
    assert hashlib.sha256(DIGITS_CNN.read_bytes()).hexdigest() in provenance
    assert "image 1x1x8x8" in provenance and "450 samples of 1x8x8" in provenance
    assert f"numpy {np.__version__}" in provenance and f"onnx {onnx.__version__}" in provenance
    for entry in digits.document["passes"]:
        assert f"{entry['name']} {entry['seconds']:.3f} s" in provenance


def test_page_is_self_contained_and_runs_only_its_own_script(page):
    assert not re.search(r"https?://", page)
    assert not re.search(r'\b(?:src|href)="(?!#)', page)  # nothing loads, links stay in the page
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1 and page.count("<script") == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in policy and f"script-src 'sha256-{digest}'" in policy


def test_hostile_names_are_escaped():
    analysis = irwua.analyze(hostile_mlp(), passes=["flops", "metrics"])
    page = render_html(analysis)
    assert page.count("<script") == 1 and "<img" not in page
    escaped = "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror="
    assert page.count(escaped) >= 6  # title, heading, table, details, diagram, charts


def test_full_report_shows_pruning_pathways_and_recommendations():
    analysis = digits_full()
    page = render_html(analysis)
    assert SECTIONS.findall(page) == [
        "verdict",
        "summary",
        "flops",
        "metrics",
        "layers",
        "details",
        "diagrams",
        "pathways",
        "pruning",
        "recommendations",
        "provenance",
    ]
    document = analysis.document
    for item in document["recommendations"]["items"]:
        assert str(escape(item["text"])) in page
    assert page.count('<div class="diagram" id="diagram-') == 3  # layers, neurons, pathways
    text = analysis.summary()
    assert f"recommendations ({len(document['recommendations']['items'])}):" in text
    assert document["recommendations"]["items"][0]["text"] in text


def test_pruning_that_did_not_run_says_why():
    analysis = irwua.analyze(DIGITS_CNN, passes=["flops", "pruning"])
    pruning = analysis.document["pruning"]
    page = render_html(analysis)
    assert str(escape(pruning["note"])) in page.split('id="pruning"')[1]


def test_reports_stay_under_ten_megabytes():
    files = render_report(light_resnet50())
    assert len(files["report.html"].encode()) < SIZE_LIMIT
    assert len(render_html(digits_full()).encode()) < SIZE_LIMIT


def test_terminal_report(digits, capsys):
    digits.print_report()
    out = capsys.readouterr().out
    assert "weight usage (importance l1 on 450 samples)" in out
    assert "top layers by FLOPs:" in out
    assert re.search(r"^    3 +Conv ", out, re.MULTILINE), out
    assert "recommendations" not in out


def _sweep(criterion: str, granularity: str, agreements: list[float]) -> dict:
    points = [
        {"ratio": ratio, "agreement": value}
        for ratio, value in zip((0.0, 0.5, 0.7), agreements, strict=True)
    ]
    return {
        "scope": "global",
        "layer": None,
        "criterion": criterion,
        "granularity": granularity,
        "points": points,
    }


def test_the_pruning_section_says_where_a_simpler_criterion_wins():
    """A reversal is named with its ratios and numbers and explained once; a lead within the
    margin or a sweep in the expected order says nothing."""
    from markupsafe import escape

    from irwua.report.sections.pruning import readings

    sweeps = [
        _sweep("importance", "structured", [1.0, 0.9, 0.587]),
        _sweep("magnitude", "structured", [1.0, 0.905, 0.6]),  # within 1 point at 50%
        _sweep("random", "structured", [1.0, 0.8, 0.769]),
        _sweep("importance", "unstructured", [1.0, 0.99, 0.95]),
        _sweep("random", "unstructured", [1.0, 0.5, 0.2]),
    ]
    texts = readings(sweeps)
    assert texts[0].startswith(
        "Structured, global: random keeps more agreement than importance at 70% (76.9% vs "
        "58.7%) of the weights removed."
    )
    assert texts[1].startswith(
        "Structured, global: random keeps more agreement than magnitude at 70%"
    )
    assert texts[2].startswith(
        "Structured, global: magnitude keeps more agreement than importance at 70% (60.0% vs "
        "58.7%) of the weights removed."
    )
    assert sum("The unit scores do not predict" in text for text in texts) == 1
    assert len(texts) == 3 and not any(t.startswith("Unstructured") for t in texts)
    assert readings([_sweep("importance", "structured", [1, 1, 1])]) == []
    page = render_html(digits_full())
    shown = readings(digits_full().document["pruning"]["sweeps"])
    assert all(str(escape(text)) in page for text in shown)
