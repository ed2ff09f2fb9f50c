"""The quantization pass and ``irwua quantize`` (issue 17, item 6): int8 copies made by
onnxruntime's own tools, whole and one layer at a time, measured on the bundled digits CNN and
its held-out images; outputs checked against copies made with onnxruntime's API directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

import irwua
from irwua import Options
from irwua.cli import main
from irwua.quantizer import quantize_model

DEMO = Path(irwua.__file__).parent / "demo"
MODEL = DEMO / "digits_cnn.onnx"


@pytest.fixture(scope="module")
def digits():
    return np.load(DEMO / "digits_images.npy"), np.load(DEMO / "digits_labels.npy")


@pytest.fixture(scope="module")
def measured(digits):
    x, y = digits
    return irwua.analyze(MODEL, x, labels=y, passes=["quantization"])


def _run(path_or_proto, x):
    model = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_the_whole_static_copy_is_onnxruntimes_own(measured, digits, tmp_path):
    """The pass's static copy against one made with onnxruntime's API by hand (same settings,
    calibrated on the same samples): same agreement and relative error, measured in numpy."""
    x, _ = digits
    result = measured["quantization"]
    static = result.modes["static"]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": x[i : i + 32]} for i in range(0, len(x), 32)])

        def get_next(self):
            return next(self.batches, None)

    out = tmp_path / "by_hand.onnx"
    quantize_static(
        str(MODEL),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    reference, by_hand = _run(str(MODEL), x), _run(str(out), x)
    error = np.linalg.norm(by_hand - reference) / np.linalg.norm(reference)
    assert static.whole.relative_error == pytest.approx(error, rel=1e-3)
    assert static.whole.agreement == np.mean(by_hand.argmax(1) == reference.argmax(1))
    assert static.whole.agreement >= 0.99
    assert static.bytes < 0.35 * result.float_bytes  # int8 weights: about a quarter


def test_every_layer_is_measured_alone_in_both_modes(measured):
    result = measured["quantization"]
    assert set(result.modes) == {"dynamic", "static"}
    for mode in result.modes.values():
        assert list(mode.layers) == ["0", "3", "6", "9", "12"]
        # each copy quantized that layer only: the outputs moved, less than the whole copy's
        for name, fidelity in mode.layers.items():
            assert fidelity is not None, (mode.mode, name)
            assert fidelity.relative_error > 0
        assert max(f.relative_error for f in mode.layers.values()) < 2 * mode.whole.relative_error
        assert mode.keep_float == ()
    section = json.loads(measured.to_json())["quantization"]
    assert section["ran"] and section["samples"] == 450
    assert {m["mode"] for m in section["modes"]} == {"dynamic", "static"}


def test_a_tight_tolerance_keeps_the_layers_that_move_predictions_in_float(digits):
    """With a tolerance of 0.1% of the predictions, the layers whose dynamic quantization alone
    flips a prediction stay in float, and the whole model is measured again without them."""
    x, y = digits
    options = Options(quant_modes=("dynamic",), tolerance=0.001)
    analysis = irwua.analyze(MODEL, x, labels=y, passes=["quantization"], options=options)
    mode = analysis["quantization"].modes["dynamic"]
    flips = [name for name, f in mode.layers.items() if f.agreement < 0.999]
    assert mode.keep_float == tuple(flips) and flips
    assert mode.mixed is not None and mode.mixed.relative_error < mode.whole.relative_error


def test_quantize_command_writes_a_smaller_model_and_measures_it(digits, tmp_path, capsys):
    out = tmp_path / "digits.int8.onnx"
    args = ["quantize", str(MODEL), "--data", str(DEMO / "digits_images.npy")]
    assert main([*args, "--labels", str(DEMO / "digits_labels.npy"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "quantized to int8 (static)" in printed and "accuracy 99.1% ->" in printed
    assert "latency (batch 64)" in printed and f"quantized model: {out}" in printed
    onnx.checker.check_model(onnx.load(out), full_check=True)
    x, _ = digits
    reference, outputs = _run(str(MODEL), x), _run(str(out), x)
    assert np.mean(outputs.argmax(1) == reference.argmax(1)) >= 0.99
    assert out.stat().st_size < 0.35 * MODEL.stat().st_size
    kept = quantize_model(str(MODEL), x, mode="dynamic", keep_float=["9"])
    assert kept.keep_float == ("9",) and "'9' stays in float" in kept.summary()
    stored = {t.name: t.data_type for t in kept.proto.graph.initializer}
    # onnxruntime's dynamic tool turns every Gemm into MatMul + Add; this one stays float
    (matmul,) = [n for n in kept.proto.graph.node if n.name == "/9/Gemm_MatMul"]
    assert matmul.op_type == "MatMul" and stored[matmul.input[1]] == onnx.TensorProto.FLOAT
    assert any(n.op_type == "ConvInteger" for n in kept.proto.graph.node)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mode", "fp8"], "--mode must be one of dynamic, static, not 'fp8'"),
        (["--keep-float", "fc"], "'fc' is not one of the weighted layers: '0', '3'"),
        (["--keep-float", "0,3,6,9,12"], "Every weighted layer is kept in float"),
        (["--tolerance", "2"], "--tolerance must be in (0, 1)"),
    ],
)
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "q.onnx"
    args = ["quantize", str(MODEL), "--data", str(DEMO / "digits_images.npy"), *extra]
    assert main([*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irwua: error:") and message in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_the_report_says_how_int8_fares(measured):
    from irwua.report.analysis_page import render_html

    page = render_html(measured)
    assert 'id="quantization"' in page and "One layer at a time" in page
    assert "int8 (static) keeps 100.0% top-1 agreement" in page
    assert "quantization to int8" in measured.summary()


def test_every_linear_of_a_torch_exported_bert_is_quantized():
    """torch's exporter feeds Linear weights to MatMul through a Transpose, which onnxruntime's
    tools do not quantize; the copies fold them into initializers first, so each of the 14
    linear layers of a 2-layer BERT (random weights, transformers' BertConfig) is quantized
    alone, and the whole int8 file is smaller."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=200, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=64, num_labels=3,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(config).eval()
    ids = np.random.default_rng(0).integers(0, 200, (32, 16)).astype(np.int64)
    options = Options(quant_modes=("dynamic",))
    analysis = irwua.analyze(model, {"input_ids": ids}, passes=["quantization"], options=options)
    result = analysis["quantization"]
    mode = result.modes["dynamic"]
    assert len(mode.layers) == 14 and all(f is not None for f in mode.layers.values())
    assert mode.whole.relative_error < 0.05
    assert mode.bytes < 0.75 * result.float_bytes
