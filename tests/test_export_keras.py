"""The Keras / TensorFlow front-end: outputs, Keras layer names, parameter counts, saved models."""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
keras = pytest.importorskip("keras")

import irwua  # noqa: E402
from irwua.cli import main  # noqa: E402
from irwua.errors import IrwuaError  # noqa: E402
from irwua.exporters import load  # noqa: E402
from irwua.exporters.detect import detect_framework  # noqa: E402


def _randomized(model):
    """Random weights (positive variances), as a trained model would have."""
    rng = np.random.default_rng(0)
    for variable in model.weights:
        values = rng.normal(scale=0.5, size=variable.shape).astype("float32")
        if "variance" in variable.path:
            values = np.abs(values) + 0.5
        variable.assign(values)
    return model


def sequential_mlp():
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3, name="logits"),
        ]
    )


def functional_cnn():
    """Two branches on a channels-last image, each with a BatchNorm."""
    image = keras.Input((8, 8, 1), name="image")
    a = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(image)
    a = keras.layers.BatchNormalization(name="bn_a")(a)
    a = keras.layers.ReLU()(a)
    b = keras.layers.Conv2D(4, 1, use_bias=False, name="conv_b")(image)
    b = keras.layers.BatchNormalization(name="bn_b")(b)
    merged = keras.layers.Concatenate()([a, b])
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.MaxPooling2D()(merged))
    return keras.Model(image, keras.layers.Dense(3, name="logits")(pooled))


CASES = {"sequential": (sequential_mlp, (6,)), "functional": (functional_cnn, (8, 8, 1))}


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request):
    factory, shape = CASES[request.param]
    model = _randomized(factory())
    data = np.random.default_rng(1).normal(size=(5, *shape)).astype(np.float32)
    weights = [w.numpy().copy() for w in model.weights]
    loaded = load(model, example=data)
    analysis = irwua.analyze(model, data)
    return request.param, model, data, weights, loaded, analysis


def test_onnx_output_matches_keras(exported):
    _, model, data, _, loaded, _ = exported
    session = ort.InferenceSession(loaded.source.proto.SerializeToString())
    (name,) = [i.name for i in session.get_inputs()]
    (output,) = session.run(None, {name: data})  # channels last, as the user's data is
    np.testing.assert_allclose(output, model(data, training=False).numpy(), rtol=1e-4, atol=1e-5)


def test_every_layer_has_its_keras_name(exported):
    _, model, _, _, _, analysis = exported
    names = {layer.name for layer in model.layers}
    found = [layer.framework_name for layer in analysis.graph.layers]
    assert found and all(name in names for name in found), found
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert set(found) >= weighted - {"bn_b"}  # folded into conv_b


def test_parameter_counts(exported):
    """Layers untouched by BatchNorm folding keep Keras' count exactly; a folded or decomposed
    BatchNorm stores at most its scale and shift; the framework's own count is reported."""
    case, model, _, _, _, analysis = exported
    assert analysis.graph.metadata["framework_params"] == model.count_params()
    flops = analysis["flops"]
    by_layer: dict[str, int] = {}
    for layer in analysis.graph.layers:
        by_layer[layer.framework_name] = by_layer.get(layer.framework_name, 0)
        by_layer[layer.framework_name] += flops.layers[layer.name].params
    assert sum(by_layer.values()) == flops.total.params
    keras_layers = {layer.name: layer for layer in model.layers}
    folded = {layer.framework_name for layer in analysis.graph.layers if layer.note}
    for name, params in by_layer.items():
        layer = keras_layers[name]
        if isinstance(layer, keras.layers.BatchNormalization):
            assert params <= 2 * layer.gamma.shape[0]
        elif name in folded:  # the BatchNorm's shift became this conv's bias
            assert params == layer.kernel.numpy().size + layer.filters
        else:
            assert params == layer.count_params(), name
    if case == "sequential":
        assert flops.total.params == model.count_params()


def test_folded_batchnorm_is_noted(exported):
    case, _, _, _, _, analysis = exported
    notes = {layer.framework_name: layer.note for layer in analysis.graph.layers if layer.note}
    if case == "functional":
        assert notes == {"conv_b": "BatchNorm 'bn_b' folded into this layer"}
        assert any("BatchNormalization" in n for n in analysis.graph.metadata["export_notes"])
    else:
        assert notes == {}


def test_model_is_left_unchanged(exported):
    _, model, _, weights, _, _ = exported
    for before, variable in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, variable.numpy())


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(5, activation="relu", name="hidden")
        self.out = keras.layers.Dense(2, name="out")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def test_subclassed_model_and_tf_tensors():
    model = Subclassed()
    data = tf.random.normal((4, 3), seed=0)
    model(data)  # build
    _randomized(model)
    analysis = irwua.analyze(model, data)
    assert [layer.framework_name for layer in analysis.graph.layers] == ["hidden", "out"]
    assert analysis["flops"].total.params == model.count_params()


def test_keras_file_and_savedmodel_directory(tmp_path):
    model = _randomized(sequential_mlp())
    data = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32)
    expected = model(data, training=False).numpy()
    model.save(tmp_path / "mlp.keras")
    model.export(tmp_path / "saved", verbose=False)
    with pytest.raises(IrwuaError, match="is a TensorFlow SavedModel, whose loading runs"):
        load(str(tmp_path / "saved"), example=data)
    for path in (tmp_path / "mlp.keras", tmp_path / "saved"):
        assert detect_framework(str(path)) == "tensorflow"
        loaded = load(str(path), example=data, trust_code=True)
        session = ort.InferenceSession(loaded.source.proto.SerializeToString())
        (name,) = [i.name for i in session.get_inputs()]
        (output,) = session.run(None, {name: data})
        np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-5)
        assert loaded.framework_params == model.count_params()
        analysis = irwua.analyze(str(path), data, trust_code=True)
        assert [layer.framework_name for layer in analysis.graph.layers] == ["hidden", "logits"]
        assert analysis["flops"].total.params == model.count_params()


def test_cli_analyzes_a_keras_file_with_npz_data(tmp_path, capsys):
    model = _randomized(functional_cnn())
    model.save(tmp_path / "cnn.keras")
    data = np.random.default_rng(3).normal(size=(4, 8, 8, 1)).astype(np.float32)
    np.savez(tmp_path / "x.npz", image=data)
    out = tmp_path / "report"
    command = ["analyze", str(tmp_path / "cnn.keras"), "--data", str(tmp_path / "x.npz")]
    assert main([*command, "--out", str(out), "--quiet"]) == 0, capsys.readouterr()
    document = json.loads((out / "analysis.json").read_text())
    assert document["model"]["framework"] == "tensorflow"
    assert document["model"]["framework_params"] == model.count_params()
    names = {layer["name"] for layer in document["layers"]}
    assert {"conv_a", "conv_b", "logits"} <= names


class Affine(tf.Module):
    def __init__(self) -> None:
        super().__init__(name="affine")
        with self.name_scope:
            self.w = tf.Variable(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, name="w")
            self.b = tf.Variable(np.ones(4, np.float32), name="b")

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    def __call__(self, x):
        return tf.nn.relu(x @ self.w + self.b)


def test_tf_module():
    module = Affine()
    data = np.random.default_rng(4).normal(size=(3, 3)).astype(np.float32)
    loaded = load(module, example=data)
    assert loaded.framework == "tensorflow" and loaded.framework_params == 16
    session = ort.InferenceSession(loaded.source.proto.SerializeToString())
    (name,) = [i.name for i in session.get_inputs()]
    (output,) = session.run(None, {name: data})
    np.testing.assert_allclose(output, module(data).numpy(), rtol=1e-5, atol=1e-6)
    analysis = irwua.analyze(module, data)
    assert analysis["flops"].total.params == 16
    assert {layer.framework_name for layer in analysis.graph.layers} == {"affine"}


def test_untrained_zero_biases_are_kept():
    """Keras initializes biases to zero; the graph keeps them, so an untrained model has the
    same layers and parameters as after a training step."""
    model = sequential_mlp()
    data = np.ones((2, 6), np.float32)
    analysis = irwua.analyze(model, data)
    assert analysis.graph.metadata["export_notes"] == []
    assert analysis["flops"].total.params == model.count_params()
