"""Comparing models on the same data: an MLP trained on scikit-learn's digits, its pruned copy and
the bundled digits CNN, checked against torch and a plain onnxruntime session."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from browser import needs_chromium, open_page
from builders import mlp as tiny_mlp
from builders import model as onnx_model
from onnx import helper, numpy_helper

import irwua
from irwua.cli import main

torch = pytest.importorskip("torch")
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CNN = EXAMPLES / "digits_cnn.onnx"


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """Images N x 1 x 8 x 8 in [0, 1] (the CNN's input) and their labels."""
    digits = load_digits()
    return (digits.images[:, None] / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _pruned(module: nn.Module, ratio: float) -> nn.Module:
    """A copy with the smallest ``ratio`` of every Linear layer's weights set to zero."""
    copied = copy.deepcopy(module)
    with torch.no_grad():
        for layer in copied.modules():
            if isinstance(layer, nn.Linear):
                threshold = layer.weight.abs().flatten().quantile(ratio)
                layer.weight[layer.weight.abs() <= threshold] = 0.0
    return copied


@pytest.fixture(scope="module")
def models():
    """A trained MLP, its pruned copy, and held-out images with labels."""
    x, y = _digits()
    x_train, y_train = torch.from_numpy(x[:1300]), torch.from_numpy(y[:1300])
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    for _ in range(15):
        for batch in torch.randperm(len(x_train)).split(100):
            optimizer.zero_grad()
            nn.functional.cross_entropy(mlp(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
    mlp.eval()
    return mlp, _pruned(mlp, 0.7), x[1300:], y[1300:]


@pytest.fixture(scope="module")
def comparison(models):
    mlp, pruned, x, y = models
    return irwua.compare([mlp, pruned, CNN], x, labels=y)


def _torch_outputs(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_fidelity_against_the_baseline_matches_torch_and_onnxruntime(comparison, models):
    mlp, pruned, x, y = models
    assert [m.name for m in comparison.models] == [
        "Sequential (1)",
        "Sequential (2)",
        "digits_cnn.onnx",
    ]
    reference = _torch_outputs(mlp, x)
    session = ort.InferenceSession(str(CNN), providers=["CPUExecutionProvider"])
    expected = {
        "Sequential (1)": reference,
        "Sequential (2)": _torch_outputs(pruned, x),
        "digits_cnn.onnx": session.run(None, {"image": x})[0],
    }
    base = comparison.baseline.fidelity
    assert (base.relative_error, base.agreement) == (0.0, 1.0)  # exact, not approximately
    assert comparison.samples == len(x) == base.samples
    for compared in comparison.models:
        outputs = expected[compared.name]
        error = np.linalg.norm(outputs - reference) / np.linalg.norm(reference)
        agreement = np.mean(outputs.argmax(1) == reference.argmax(1))
        fidelity = compared.fidelity
        assert fidelity.relative_error == pytest.approx(error, rel=1e-4, abs=1e-6)
        assert fidelity.agreement == pytest.approx(agreement, abs=1.5 / len(x))
        assert fidelity.accuracy == pytest.approx(np.mean(outputs.argmax(1) == y), abs=1.5 / len(x))
    accuracy = {m.name: m.fidelity.accuracy for m in comparison.models}
    assert accuracy["Sequential (1)"] > 0.85 and accuracy["digits_cnn.onnx"] > 0.9
    assert 0 < comparison.models[1].fidelity.relative_error < 1


def test_costs_and_weight_usage_side_by_side(comparison, models):
    mlp, _, _, _ = models
    base, pruned, cnn = (m.analysis.document["totals"] for m in comparison.models)
    assert base["params"] == sum(p.numel() for p in mlp.parameters()) == pruned["params"]
    assert base["macs"] == 64 * 32 + 32 * 10 == pruned["macs"]
    assert cnn["macs"] > 100 * base["macs"]
    # Zeroed weights carry no importance, so the pruned copy uses fewer effective weights.
    assert pruned["effective_params"] < 0.5 * base["effective_params"]
    assert pruned["utilization"] < base["utilization"]
    keys = [column.key for column in comparison.columns]
    assert keys[:5] == ["params", "nonzero_params", "file_bytes", "latency_ms", "macs"]
    assert "accuracy" in keys


def test_non_zero_parameters_file_size_and_interleaved_latency(comparison, models):
    mlp, pruned_module, _, _ = models
    base, pruned, cnn = comparison.models
    assert base.nonzero_params == sum(int(p.count_nonzero()) for p in mlp.parameters())
    assert pruned.nonzero_params == sum(int(p.count_nonzero()) for p in pruned_module.parameters())
    assert pruned.nonzero_params < 0.5 * base.nonzero_params
    assert cnn.file_bytes == CNN.stat().st_size
    runs = {model.latency.runs for model in comparison.models}
    assert len(runs) == 1 and runs.pop() >= 5  # every model timed in the same rounds
    for model in comparison.models:
        assert model.latency.low_ms <= model.latency.median_ms <= model.latency.high_ms
    assert comparison.to_dict()["models"][1]["costs"]["latency"]["runs"] == pruned.latency.runs
    summary = comparison.summary()
    assert "non-zero parameters" in summary and "file size" in summary and " ms " in summary


def test_json_summary_and_saved_files(comparison, tmp_path):
    document = comparison.to_dict()
    assert document["baseline"] == "Sequential (1)" and document["labels"] is True
    assert document["models"][0]["fidelity"]["relative_error"] == 0.0
    assert document["models"][2]["model"]["sha256"] is not None
    assert document["models"][0]["model"]["framework"] == "torch"
    lines = comparison.summary().splitlines()
    assert all(m.name in lines[1] for m in comparison.models)
    assert any(line.strip().startswith("accuracy on the labels") for line in lines)
    written = comparison.save(tmp_path / "out")
    assert json.loads(written["compare.json"].read_text()) == json.loads(comparison.to_json())
    page = written["compare.html"].read_text()
    assert page.count("<svg") == 1 and "digits_cnn.onnx" in page


def test_names_from_the_model_are_escaped_in_html_and_svg(models, tmp_path):
    _, _, x, _ = models
    names = ['<script>alert("x")</script>', 'a & "b" $c$']
    comparison = irwua.compare(
        [CNN, CNN], x, names=names, options=irwua.Options(max_samples=40, progress=False)
    )
    page = comparison.save(tmp_path)["compare.html"].read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "&lt;script&gt;" in svg and "a &amp; " in svg
    assert page.count("<script") == 1  # the page's own table-sorting script only


def test_without_labels_and_with_max_samples(models):
    _, _, x, _ = models
    comparison = irwua.compare([CNN, str(CNN)], x, options=irwua.Options(max_samples=40))
    assert comparison.samples == 40 and comparison.labels is False
    assert "accuracy" not in [column.key for column in comparison.columns]
    assert "accuracy" not in comparison.summary()
    assert [m.name for m in comparison.models] == ["digits_cnn.onnx (1)", "digits_cnn.onnx (2)"]
    assert comparison.models[1].fidelity.relative_error == 0.0


def _three_class_head() -> onnx.ModelProto:
    """Takes the digits images like the CNN but gives 3 outputs instead of 10."""
    weight = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w"], ["logits"], name="head", transB=1),
    ]
    return onnx_model(nodes, [("image", ["N", 1, 8, 8])], [("logits", ["N", 3])], {"w": weight})


@pytest.mark.parametrize(
    ("models", "kwargs", "message"),
    [
        ([CNN], {}, "at least two models, got 1"),
        ([CNN, CNN], {"names": ["a"]}, "1 names were given for 2 models"),
        ([CNN, CNN], {"names": ["a", "a"]}, "unique and non-empty"),
        ([CNN, tiny_mlp()], {"names": ["cnn", "tiny"]}, "Model 'tiny': Input 'x' expects rank 2"),
        ([CNN, _three_class_head()], {}, "Model 'test': Outputs of shape \\[40, 3\\]"),
        ([CNN, CNN], {"labels": np.zeros(3, np.int64)}, "40 samples but 3 labels"),
    ],
)
def test_bad_input_is_one_clear_sentence(models, kwargs, message):
    x, _ = _digits()
    with pytest.raises(irwua.IrwuaError, match=message):
        irwua.compare(models, x[:40], **kwargs)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The CNN and a copy with its smaller half of every weight matrix zeroed, as .onnx files,
    digits images and labels as .npy, and a tiny model that does not take images."""
    folder = tmp_path_factory.mktemp("compare")
    proto = onnx.load(CNN)
    for index, tensor in enumerate(proto.graph.initializer):
        array = numpy_helper.to_array(tensor).copy()
        if array.ndim >= 2:
            array[np.abs(array) < np.median(np.abs(array))] = 0.0
            proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, tensor.name))
    onnx.save(proto, folder / "pruned.onnx")
    onnx.save(tiny_mlp(), folder / "tiny.onnx")
    x, y = _digits()
    np.save(folder / "x.npy", x[:200])
    np.save(folder / "y.npy", y[:200])
    return {name: folder / name for name in ("pruned.onnx", "tiny.onnx", "x.npy", "y.npy")}


def test_cli_compares_and_writes_both_files(files, tmp_path, capsys):
    out = tmp_path / "report"
    argv = [str(CNN), str(files["pruned.onnx"]), "--data", str(files["x.npy"])]
    argv += ["--labels", str(files["y.npy"]), "--names", "cnn,half", "--out", str(out)]
    assert main(["compare", *argv]) == 0
    printed = capsys.readouterr().out
    assert "baseline: cnn" in printed and f"report: {out / 'compare.html'}" in printed
    document = json.loads((out / "compare.json").read_text())
    cnn, half = (m["fidelity"] for m in document["models"])
    assert cnn["relative_error"] == 0.0 and cnn["agreement"] == 1.0 and cnn["samples"] == 200
    assert half["relative_error"] > 0 and half["accuracy"] is not None
    assert (out / "compare.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([str(CNN)], "at least two models, got 1"),
        ([str(CNN), "@tiny.onnx"], "Model 'tiny.onnx': Input 'x' expects rank 2"),
        ([str(CNN), "missing.onnx"], "Model 'missing.onnx': Model file '.*missing.onnx' does not"),
        (
            [str(CNN), str(CNN), "--labels", "@x.npy"],
            "The one-hot labels have 8 columns but the model.s output has 10 classes",
        ),
        ([str(CNN), str(CNN), "--names", "a,b,c"], "3 names were given for 2 models"),
    ],
)
def test_cli_bad_input_exits_2_without_traceback_or_files(files, tmp_path, capsys, argv, message):
    argv = [str(files[arg[1:]]) if arg.startswith("@") else arg for arg in argv]
    out = tmp_path / "report"
    assert main(["compare", *argv, "--data", str(files["x.npy"]), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("irwua: error: ") and error.count("\n") == 1
    assert re.search(message, error), error
    assert not out.exists()


@needs_chromium
def test_compare_page_in_chromium(browser, comparison, tmp_path):
    from selenium.webdriver.common.by import By

    page = comparison.save(tmp_path)["compare.html"]
    seen = open_page(browser, page)
    assert seen["console"] == [] and seen["requests"] == [page.resolve().as_uri()]
    headers = browser.find_elements(By.CSS_SELECTOR, "#side-by-side th.name")
    assert [header.text for header in headers] == [
        "Sequential (1) (baseline)",
        "Sequential (2)",
        "digits_cnn.onnx",
    ]
    assert browser.execute_script("return document.querySelectorAll('#charts svg').length") == 1
    bars = browser.execute_script(
        "return document.querySelector('#charts svg').getBoundingClientRect().height"
    )
    assert bars > 300  # laid out at its size, not collapsed


def test_a_comparison_without_data_is_refused():
    with pytest.raises(irwua.IrwuaError, match="A comparison needs data"):
        irwua.compare([CNN, CNN], None)
