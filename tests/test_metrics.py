"""Metrics on hand-computed tiny layers; degenerate layers give defined values, never NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irwua.passes.metrics import global_metrics, importance_metrics, weight_sparsity


def test_uniform_importance():
    m = importance_metrics(np.full(4, 2.5))
    assert m["entropy"] == pytest.approx(math.log(4))
    assert m["normalized_entropy"] == pytest.approx(1.0)
    assert m["effective_weights"] == pytest.approx(4.0)
    assert m["utilization"] == pytest.approx(1.0)
    assert m["redundancy"] == pytest.approx(0.0)
    assert m["gini"] == pytest.approx(0.0)
    assert (m["coverage_50"], m["coverage_80"], m["coverage_90"]) == (0.5, 1.0, 1.0)
    assert m["low_contribution"] == 0.0


def test_hand_computed_skewed_layer():
    importance = np.array([[6.0, 2.0], [1.0, 1.0]])  # p = 0.6, 0.2, 0.1, 0.1
    m = importance_metrics(importance, low_share=0.5)
    entropy = -(0.6 * math.log(0.6) + 0.2 * math.log(0.2) + 2 * 0.1 * math.log(0.1))
    assert m["entropy"] == pytest.approx(entropy)
    assert m["normalized_entropy"] == pytest.approx(entropy / math.log(4))
    assert m["effective_weights"] == pytest.approx(math.exp(entropy))
    assert m["utilization"] == pytest.approx(math.exp(entropy) / 4)
    assert m["redundancy"] == pytest.approx(1 - entropy / math.log(4))
    # Gini by the mean absolute difference: sum |xi - xj| / (2 n^2 mean)
    values = importance.ravel()
    gini = np.abs(values[:, None] - values[None, :]).sum() / (2 * 16 * values.mean())
    assert m["gini"] == pytest.approx(gini)
    assert m["coverage_50"] == 0.25  # 0.6 alone
    assert m["coverage_80"] == 0.5  # 0.6 + 0.2
    assert m["coverage_90"] == 0.75  # + 0.1
    assert m["low_contribution"] == 0.5  # 0.1 < 0.5 * 0.25


def test_one_weight_holds_everything():
    m = importance_metrics(np.array([0.0, 0.0, 0.0, 3.0]))
    assert m["entropy"] == 0.0 and m["effective_weights"] == 1.0
    assert m["utilization"] == 0.25 and m["redundancy"] == 1.0
    assert m["gini"] == pytest.approx(0.75)  # (n-1)/n for a single holder
    assert m["coverage_90"] == 0.25 and m["low_contribution"] == 0.75


@pytest.mark.parametrize("importance", [np.zeros((3, 2)), np.array([5.0]), np.zeros(1)])
def test_degenerate_layers_are_defined(importance):
    m = importance_metrics(importance)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in m.values())
    if importance.size == 1 and importance.sum() > 0:
        assert m["normalized_entropy"] == 1.0 and m["redundancy"] == 0.0 and m["utilization"] == 1
    if importance.sum() == 0:
        assert m["utilization"] == 0.0 and m["redundancy"] == 1.0 and m["effective_weights"] == 0


def test_scale_invariance():
    rng = np.random.default_rng(0)
    importance = rng.random((16, 8))
    assert importance_metrics(importance) == pytest.approx(importance_metrics(importance * 1e-6))


def test_sparsity_is_relative_to_the_largest_weight():
    weights = np.array([0.0, 0.0, 1e-4, 0.5, -1.0])
    assert weight_sparsity(weights, near_zero=1e-3) == {"sparsity": 0.4, "near_zero": 0.6}
    assert weight_sparsity(weights * 1e-6, near_zero=1e-3) == {"sparsity": 0.4, "near_zero": 0.6}
    assert weight_sparsity(np.zeros(3)) == {"sparsity": 1.0, "near_zero": 1.0}


def test_global_metrics():
    layers = {
        "a": importance_metrics(np.ones(4)),
        "b": importance_metrics(np.array([1.0, 0.0])),
    }
    g = global_metrics(layers)
    assert g["scored_weights"] == 6
    assert g["effective_params"] == pytest.approx(4 + 1)
    assert g["utilization"] == pytest.approx(5 / 6)
    assert g["compression_potential"] == pytest.approx(1 / 6)
    assert g["mean_redundancy"] == pytest.approx((0 + 1) / 2)


def test_layers_larger_than_a_block_match_numpy_and_hold_one_sorted_copy():
    """Layers are walked in blocks of ``BLOCK`` sorted values: the metrics equal the textbook
    formulas on the whole array, and the temporaries stay near one copy of the importance."""
    import tracemalloc

    from irwua.passes.metrics import BLOCK

    rng = np.random.default_rng(3)
    size = 40 * BLOCK + 123  # 10 MB, so that the block temporaries (~2 MB) are small beside it
    importance = rng.pareto(1.5, size) * (rng.random(size) < 0.7)
    importance = importance.astype(np.float32)
    tracemalloc.start()
    m = importance_metrics(importance)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.3 * importance.nbytes
    x = np.sort(importance.astype(np.float64))
    n, total = x.size, x.sum()
    ranks = np.arange(1, n + 1)
    assert m["gini"] == pytest.approx(np.sum((2 * ranks - n - 1) * x) / (n * total), rel=1e-9)
    top = np.cumsum(x[::-1]) / total  # share held by the k most important
    for level in (50, 80, 90):
        k = int(np.argmax(top >= level / 100 - 1e-12)) + 1
        assert m[f"coverage_{level}"] == pytest.approx(k / n, abs=1.5 / n)
    p = x[x > 0] / total
    assert m["entropy"] == pytest.approx(-np.sum(p * np.log(p)), rel=1e-6)
    assert m["low_contribution"] == np.mean(importance < 0.1 * total / n)


def test_constant_weights_stay_views_and_score_as_their_stored_copies(light_model, tmp_path):
    """onnx's light SqueezeNet builds every weight with ConstantOfShape: irwua keeps them as
    zero-stride views. The same model with each weight stored as an initializer (materialised
    by numpy) must give the same importance and metrics."""
    import onnx

    import irwua

    path = light_model("squeezenet")
    views = irwua.analyze(path, passes=["metrics"])
    proto = onnx.load(path)
    values = views.graph.constants.values
    kept = []
    for node in proto.graph.node:
        if node.op_type == "ConstantOfShape" and node.output[0] in values:
            stored = np.ascontiguousarray(values[node.output[0]])
            proto.graph.initializer.append(onnx.numpy_helper.from_array(stored, node.output[0]))
        else:
            kept.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(kept)
    onnx.save(proto, tmp_path / "stored.onnx")
    stored = irwua.analyze(tmp_path / "stored.onnx", passes=["metrics"])
    layers = views.graph.layers
    assert len(layers) == 26 and [layer.name for layer in stored.graph.layers] == [
        layer.name for layer in layers
    ]
    assert all(not any(views.graph.array(layer).strides) for layer in layers)
    for layer in layers:
        as_view = views["importance"].layers[layer.name].weight
        assert not any(as_view.strides)  # |w| of a constant is a constant
        np.testing.assert_array_equal(as_view, stored["importance"].layers[layer.name].weight)
        metrics, reference = (
            {key: value for key, value in result["metrics"].layers[layer.name].items() if value}
            for result in (views, stored)
        )
        assert metrics == pytest.approx(reference, rel=1e-12) and len(metrics) >= 8


@pytest.mark.parametrize("n", [2, 7, 1000, 3 * 65_537])
@pytest.mark.parametrize("low_share", [0.1, 1.5])
def test_a_constant_view_has_the_metrics_of_its_materialised_copy(n, low_share):
    value = np.float32(np.random.default_rng(n).uniform(0.01, 10))
    view = np.broadcast_to(value, (n,))
    metrics = importance_metrics(view, low_share)
    reference = importance_metrics(np.full(n, value), low_share)
    assert metrics.keys() == reference.keys()
    for key, expected in reference.items():
        # The walk takes logarithms in float32 (rel. error ~1e-7); the closed form does not.
        assert metrics[key] == pytest.approx(expected, rel=1e-6, abs=1e-6), key
