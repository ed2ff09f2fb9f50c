"""scikit-learn models converted by skl2onnx, trained on the digits bundled with scikit-learn.

A converted classifier outputs class ids first and probabilities second (a tensor, or a ZipMap's
list of dicts); the references are scikit-learn's own: ``score()`` for accuracy and the sizes of
``coefs_`` and ``intercepts_`` for parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import irwua

to_onnx = pytest.importorskip("skl2onnx").to_onnx

TRAIN = 1400


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_digits(return_X_y=True)
    return (images / 16).astype(np.float32), labels


@pytest.fixture(scope="module")
def mlp(digits) -> MLPClassifier:
    images, labels = digits
    return MLPClassifier((32,), max_iter=300, random_state=0).fit(images[:TRAIN], labels[:TRAIN])


@pytest.mark.parametrize("zipmap", [False, True], ids=["probabilities", "zipmap"])
def test_a_converted_mlp_is_measured_as_scikit_learn_measures_it(digits, mlp, zipmap):
    images, labels = digits
    options = None if zipmap else {id(mlp): {"zipmap": False}}
    model = to_onnx(mlp, images[:1], options=options, target_opset=17)
    assert model.graph.output[0].type.tensor_type.elem_type == 7  # int64 class ids come first
    analysis = irwua.analyze(
        model, images[TRAIN:], labels=labels[TRAIN:], passes=["metrics", "pruning"]
    )
    coefficients = sum(c.size for c in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)
    assert analysis["flops"].total.params == coefficients
    pruning = analysis.to_dict()["pruning"]
    truth = mlp.score(images[TRAIN:], labels[TRAIN:])
    assert pruning["baseline"]["accuracy"] == pytest.approx(truth)
    start = pruning["sweeps"][0]["points"][0]
    assert start["ratio"] == 0.0
    assert start["accuracy"] == pytest.approx(truth)
    assert start["agreement"] == 1.0
    assert start["relative_error"] == 0.0
    # Light pruning of an MLP that is 53 % used keeps most answers: the measured output is the
    # probabilities (or the ids), not an arg-max across samples of the ids.
    light = next(p for p in pruning["sweeps"][0]["points"] if p["ratio"] == pytest.approx(0.3))
    assert light["accuracy"] > 0.8


def test_a_model_of_onnx_ml_ops_says_the_usage_numbers_do_not_apply(digits):
    images, labels = digits
    classifier = LogisticRegression(max_iter=500).fit(images[:TRAIN], labels[:TRAIN])
    model = to_onnx(classifier, images[:1], options={"zipmap": False}, target_opset=17)
    analysis = irwua.analyze(model, images[TRAIN:], passes=["metrics"])
    totals = analysis.to_dict()["totals"]
    assert totals["params"] == 0
    assert totals["utilization"] is None
    assert totals["compression_potential"] is None
    summary = analysis.summary()
    assert "do not apply" in summary
    assert "ai.onnx.ml::LinearClassifier" in summary
