"""Tracking weight usage over training: a real torch training loop on scikit-learn's digits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from browser import needs_chromium, open_page

torch = pytest.importorskip("torch")
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

import irwua  # noqa: E402
from irwua.tracking import Snapshot, Tracker  # noqa: E402

EPOCHS = 4


def _digits() -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _utilization(weight: np.ndarray, inputs: np.ndarray) -> float:
    """exp(entropy) / N of I = |W| x mean|x_j| (torch Linear weights are [out, in])."""
    importance = np.abs(weight.astype(np.float64)) * np.abs(inputs).mean(axis=0)
    p = (importance / importance.sum()).ravel()
    p = p[p > 0]
    return math.exp(-(p * np.log(p)).sum()) / weight.size


@pytest.fixture(scope="module")
def trained():
    """A tracker that followed an MLP through EPOCHS epochs of training (plus epoch 0), the
    model, and the validation data it was recorded on."""
    x, y = _digits()
    x_train, y_train, x_val = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400]), x[1400:]
    model = _mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    tracker = Tracker()
    tracker.record(0, model, x_val)
    for epoch in range(1, EPOCHS + 1):
        model.train()
        for batch in torch.randperm(len(x_train)).split(100):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
        tracker.record(epoch, model, x_val)
    return tracker, model, x_val


def test_one_entry_per_epoch_and_the_numbers_move_as_the_model_trains(trained):
    tracker, model, _ = trained
    assert [entry.epoch for entry in tracker.history] == list(range(EPOCHS + 1))
    for name in ("utilization", "mean_redundancy", "gini", "coverage_80"):
        series = tracker.series(name)
        assert len(series) == EPOCHS + 1
        assert all(0.0 <= value <= 1.0 for value in series)
        assert max(series) - min(series) > 1e-3, f"{name} did not change while training"
    assert tracker.series("params") == [64 * 32 + 32 + 32 * 10 + 10] * (EPOCHS + 1)
    assert model.training, "recording must leave the model in training mode"


def test_tracked_utilization_matches_numpy_on_the_trained_weights(trained):
    tracker, model, x_val = trained
    last = tracker.history[-1]
    assert set(last.layers) == {"0", "2"}
    w0, w2 = model[0].weight.detach().numpy(), model[2].weight.detach().numpy()
    hidden = np.maximum(x_val @ w0.T + model[0].bias.detach().numpy(), 0.0)
    expected = {"0": _utilization(w0, x_val), "2": _utilization(w2, hidden)}
    for layer, value in expected.items():
        assert last.layers[layer]["utilization"] == pytest.approx(value, rel=1e-4)
        assert tracker.series("utilization", layer=layer)[-1] == last.layers[layer]["utilization"]
    # Model-wide utilization is effective weights over scored weights.
    effective = sum(u * w.size for u, w in zip(expected.values(), (w0, w2), strict=True))
    assert last.utilization == pytest.approx(effective / (w0.size + w2.size), rel=1e-4)


def test_no_state_leaks_between_records_or_trackers():
    x, _ = _digits()
    model = _mlp(seed=1)
    first, second = Tracker(), Tracker()
    a = first.record(0, model, x[:200])
    b = first.record(1, model, x[:200])
    c = second.record(5, model, x[:200])
    assert {**a.to_dict(), "epoch": 0} == {**b.to_dict(), "epoch": 0} == {**c.to_dict(), "epoch": 0}
    assert len(first.history) == 2 and len(second.history) == 1


def test_recording_a_finished_analysis_and_bad_records(trained):
    _, model, x_val = trained
    analysis = irwua.analyze(model, x_val, passes=["metrics"])
    own = Tracker()
    entry = own.record(2.5, analysis)
    assert isinstance(entry, Snapshot)
    assert entry.utilization == analysis.document["totals"]["utilization"]
    with pytest.raises(irwua.IrwuaError, match="increasing order"):
        own.record(2.5, analysis)
    with pytest.raises(irwua.IrwuaError, match="must be a number"):
        own.record("3", analysis)
    with pytest.raises(irwua.IrwuaError, match="either a model and its data"):
        own.record(3, analysis, x_val)
    with pytest.raises(irwua.IrwuaError, match="passes=\\['metrics'\\]"):
        own.record(3, irwua.analyze(model, x_val, passes=["flops"]))
    with pytest.raises(irwua.IrwuaError, match="Nothing named"):
        own.series("loss")
    assert len(own.history) == 1


def test_figure_and_saved_files(trained, tmp_path):
    tracker, _, _ = trained
    figure = tracker.figure()
    axes = figure.get_axes()
    assert len(axes) == 3
    assert all(len(line.get_xdata()) == EPOCHS + 1 for ax in axes for line in ax.get_lines())
    np.testing.assert_allclose(axes[0].get_lines()[0].get_ydata(), tracker.series("utilization"))
    written = tracker.save(tmp_path)
    document = json.loads(written["tracking.json"].read_text())
    assert [entry["epoch"] for entry in document["history"]] == list(range(EPOCHS + 1))
    assert document["history"][-1]["layers"]["2"]["utilization"] == pytest.approx(
        tracker.history[-1].layers["2"]["utilization"]
    )
    page = written["tracking.html"].read_text()
    assert page.count("<svg") >= 1 and "http://" not in page.replace("http://www.w3.org", "")


@needs_chromium
def test_tracking_page_in_chromium(browser, trained, tmp_path):
    from selenium.webdriver.common.by import By

    page = trained[0].save(tmp_path)["tracking.html"]
    seen = open_page(browser, page)
    assert seen["console"] == [] and seen["requests"] == [page.resolve().as_uri()]
    assert browser.execute_script("return document.querySelectorAll('#trends svg').length") == 1
    headers = browser.find_elements(By.CSS_SELECTOR, "#epochs thead th")
    utilization = [header.text for header in headers].index("utilization")
    headers[utilization].click()

    def column() -> list[float]:
        return [
            float(row.find_elements(By.TAG_NAME, "td")[utilization].get_attribute("data-sort"))
            for row in browser.find_elements(By.CSS_SELECTOR, "#epochs tbody tr")
        ]

    assert column() == sorted(trained[0].series("utilization"))
