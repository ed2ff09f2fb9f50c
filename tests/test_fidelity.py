"""Fidelity of a model's outputs against a reference's, on a real onnxruntime session."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from irwua.data.dataset import make_dataset
from irwua.data.labels import check_labels
from irwua.errors import IrwuaError
from irwua.ingest.inputs import input_specs
from irwua.runtime.fidelity import accuracy, measure, predict
from tests.builders import mlp


def test_predict_streams_batches_and_matches_numpy():
    proto = mlp(in_features=4, hidden=8, out=3)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((10, 4)).astype(np.float32)
    outputs = predict(session, make_dataset(x, input_specs(proto)), batch_size=3)
    weights = {t.name: np.frombuffer(t.raw_data, np.float32) for t in proto.graph.initializer}
    w1, w2 = weights["w1"].reshape(8, 4), weights["w2"].reshape(3, 8)
    expected = np.maximum(x @ w1.T + weights["b1"], 0) @ w2.T + weights["b2"]
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)


def test_measure_against_hand_values():
    reference = np.array([[1.0, 0.0], [0.0, 2.0]])
    outputs = np.array([[1.0, 0.0], [3.0, 2.0]])  # second sample flips its arg-max
    fidelity = measure(outputs, reference, labels=np.array([0, 0]))
    assert fidelity.relative_error == pytest.approx(3.0 / np.sqrt(5.0))
    assert fidelity.agreement == 0.5
    assert fidelity.accuracy == 1.0
    assert measure(reference, reference).relative_error == 0.0


def test_single_output_has_no_agreement_and_zero_reference_gives_absolute_error():
    fidelity = measure(np.array([[0.5], [0.0]]), np.zeros((2, 1)))
    assert fidelity.agreement is None
    assert fidelity.relative_error == 0.5


def test_one_hot_labels_and_bad_labels():
    outputs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(outputs, np.array([[0, 1], [1, 0], [1, 0]])) == pytest.approx(2 / 3)
    assert check_labels(np.array([1.0, 0.0, 2.0]), 3).dtype == np.int64
    with pytest.raises(IrwuaError, match="3 samples but 2"):
        check_labels([0, 1], 3)
    with pytest.raises(IrwuaError, match="class ids"):
        check_labels([0.5, 1.0, 2.0], 3)
    with pytest.raises(IrwuaError, match="do not fit"):
        accuracy(outputs, np.zeros((3, 4)))
