"""Real Keras architectures (``keras.applications`` with ``weights=None`` at small input sizes, and
the recurrent layers) through tf2onnx.

The references are Keras' own: its layer names, ``count_params()`` and kernels, and per-layer
MAC formulas nobody here wrote into irwua (a convolution's output positions x its kernel's size;
a recurrent layer's gates x units x (inputs + units) per step).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

import irwua

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("tf2onnx")

APPLICATIONS = {
    "MobileNetV2": lambda: keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10
    ),
    "EfficientNetB0": lambda: keras.applications.EfficientNetB0(
        input_shape=(32, 32, 3), weights=None, classes=10
    ),
    "DenseNet121": lambda: keras.applications.DenseNet121(
        input_shape=(32, 32, 3), weights=None, classes=10
    ),
}
_KERNELED = ("Conv2D", "DepthwiseConv2D", "Dense")


@pytest.fixture(scope="module", params=sorted(APPLICATIONS))
def application(request):
    model = APPLICATIONS[request.param]()
    data = np.random.default_rng(0).uniform(0, 255, size=(4, 32, 32, 3)).astype(np.float32)
    return model, data, irwua.analyze(model, data, passes=["flops"])


def _keras_layers(model):
    return {layer.name: layer for layer in model._flatten_layers(include_self=False)}


def test_every_weighted_layer_carries_its_keras_name(application):
    """Each conv and dense layer is found under its own name, once (no block takes another's
    name when an untrained model's BatchNorms hold identical vectors)."""
    model, _, analysis = application
    keras_layers = _keras_layers(model)
    found = [layer.framework_name for layer in analysis.graph.layers]
    assert all(name in keras_layers for name in found)
    kerneled = {n for n, layer in keras_layers.items() if type(layer).__name__ in _KERNELED}
    convs = [
        layer.framework_name
        for layer in analysis.graph.layers
        if layer.kind in ("conv", "matmul", "gemm")
    ]
    assert sorted(convs) == sorted(kerneled)
    repeated = {
        layer.name.partition("#")[0] for layer in analysis.graph.layers if "#" in layer.name
    }
    assert {type(keras_layers[name]).__name__ for name in repeated} <= {
        "BatchNormalization",  # a scale and a shift
        "Normalization",
    }


def test_kernels_keep_keras_counts_and_macs_follow_the_formula(application):
    """Every kernel is stored whole; MACs of each conv/dense layer = output positions x kernel
    size (Keras' shapes), and the BatchNorm note states what Keras counts for them."""
    model, _, analysis = application
    keras_layers = _keras_layers(model)
    flops = analysis["flops"]
    for layer in analysis.graph.layers:
        if layer.kind not in ("conv", "matmul", "gemm"):
            continue
        source = keras_layers[layer.framework_name]
        kernel = source.weights[0].numpy().size
        positions = math.prod(source.output.shape[1:-1])
        assert flops.layers[layer.name].macs == positions * kernel, layer.name
        bias = flops.layers[layer.name].params - kernel
        assert bias in (0, source.output.shape[-1]), layer.name
    norms = [n for n in keras_layers.values() if type(n).__name__ == "BatchNormalization"]
    (note,) = [n for n in analysis.graph.metadata["export_notes"] if "BatchNormalization" in n]
    assert f"{sum(n.count_params() for n in norms):,} numbers Keras counts" in note
    assert analysis.graph.metadata["framework_params"] == model.count_params()


def test_names_are_stable_across_exports_and_training_steps(application):
    model, data, analysis = application
    for variable in model.trainable_weights[:5]:  # a training step changes weights
        variable.assign(variable.numpy() + 0.01)
    again = irwua.analyze(model, data, passes=["flops"])
    assert [layer.name for layer in again.graph.layers] == [
        layer.name for layer in analysis.graph.layers
    ]


def test_normalization_statistics_are_constants_and_data_flows():
    """A Normalization layer adapted on real data (the digits) is part of the model, not two
    extra inputs: the model takes the images alone, and the usage passes run on them."""
    images = load_digits().data.astype(np.float32)
    norm = keras.layers.Normalization(name="scale_pixels")
    norm.adapt(images)
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(norm(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(hidden))
    analysis = irwua.analyze(model, images[:200], passes=["flops", "metrics"])
    assert len(analysis.graph.inputs) == 1
    names = {layer.framework_name for layer in analysis.graph.layers}
    assert names == {"scale_pixels", "hidden", "logits"}
    assert any("'scale_pixels'" in n for n in analysis.graph.metadata["export_notes"])
    assert analysis["metrics"].totals["utilization"] is not None


STEPS, FEATURES, UNITS = 10, 6, 16
RECURRENT = {  # Keras layer, its gates and whether ONNX stores a second bias Keras lacks
    "LSTM": (lambda: keras.layers.LSTM(UNITS, name="rnn"), 4, True),
    "GRU": (lambda: keras.layers.GRU(UNITS, name="rnn"), 3, False),
    "GRU_reset_before": (lambda: keras.layers.GRU(UNITS, reset_after=False, name="rnn"), 3, False),
    "SimpleRNN": (lambda: keras.layers.SimpleRNN(UNITS, name="rnn"), 1, False),
}


def _randomized(model):
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(rng.normal(scale=0.3, size=variable.shape).astype("float32"))
    return model


@pytest.mark.parametrize("case", sorted(RECURRENT))
def test_recurrent_layers_count_every_step(case):
    """The Loop tf2onnx writes for a GRU or SimpleRNN holds a layer per kernel, counted once
    per step; an LSTM becomes ONNX's LSTM, whose extra bias is noted; every recurrent layer
    carries the Keras layer's name, the same on every export."""
    factory, gates, second_bias = RECURRENT[case]
    inputs = keras.Input((STEPS, FEATURES))
    model = _randomized(keras.Model(inputs, keras.layers.Dense(3, name="head")(factory()(inputs))))
    data = np.random.default_rng(1).normal(size=(8, STEPS, FEATURES)).astype(np.float32)
    analysis = irwua.analyze(model, data, passes=["flops", "metrics"])
    flops = analysis["flops"]
    extra = gates * UNITS if second_bias else 0
    assert flops.total.params == model.count_params() + extra
    if second_bias:
        assert any("'rnn' 64" in note for note in analysis.graph.metadata["export_notes"])
    assert flops.total.macs == STEPS * gates * UNITS * (FEATURES + UNITS) + UNITS * 3
    assert {layer.framework_name for layer in analysis.graph.layers} == {"rnn", "head"}
    again = irwua.analyze(model, data, passes=["flops"])
    assert [layer.name for layer in again.graph.layers] == [
        layer.name for layer in analysis.graph.layers
    ]


@pytest.mark.parametrize("case", ["LSTM", "GRU"])
def test_bidirectional_layers_count_both_directions(case):
    """A Bidirectional GRU becomes two Loops, the backward one after a ReverseSequence (sized by
    its own shape rule), a Bidirectional LSTM one bidirectional ONNX LSTM: both directions'
    weights and steps are counted."""
    factory, gates, second_bias = RECURRENT[case]
    inputs = keras.Input((STEPS, FEATURES))
    both = keras.layers.Bidirectional(factory(), name="both")(inputs)
    model = _randomized(keras.Model(inputs, keras.layers.Dense(3, name="head")(both)))
    data = np.random.default_rng(1).normal(size=(8, STEPS, FEATURES)).astype(np.float32)
    analysis = irwua.analyze(model, data, passes=["flops"])
    flops = analysis["flops"]
    names = {layer.framework_name for layer in analysis.graph.layers}
    # one bidirectional ONNX LSTM is the Bidirectional layer; a GRU's two Loops its directions
    assert names == (
        {"both", "head"} if case == "LSTM" else {"forward_rnn", "backward_rnn", "head"}
    )
    extra = 2 * gates * UNITS if second_bias else 0
    assert flops.total.params == model.count_params() + extra
    assert not flops.unresolved
    assert flops.total.macs == 2 * STEPS * gates * UNITS * (FEATURES + UNITS) + 2 * UNITS * 3
