"""Bad input and hostile models through the CLI: one sentence, exit code 2, no traceback, and
nothing written; external data that leaves the model's directory and pickled files are refused;
everything a model says about itself is escaped in the report, which links to nothing remote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from builders import external_copy, mlp, model
from corpus import CASE_BY_NAME
from onnx import TensorProto, helper, numpy_helper

from irwua.cli import main


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(mlp(), path)
    return path


def _refused(args: list[str], out, capsys, message: str) -> str:
    """Run ``irwua analyze``; it must exit 2 with one line naming ``message``, writing nothing."""
    code = main(["analyze", *map(str, args), "--out", str(out)])
    captured = capsys.readouterr()
    error = captured.err
    assert code == 2, error
    assert error.startswith("irwua: error: ") and error.count("\n") == 1, error
    assert re.search(message, error), error
    assert "Traceback" not in error and captured.out == ""
    assert not out.exists() or not any(out.iterdir())  # no file, no temporary file either
    return error


def _bytes(kind: str) -> bytes | None:
    return {
        "missing": None,
        "empty": b"",
        "truncated": mlp().SerializeToString()[:-9],
        "text": b"name,value\nalpha,1\n",
        "random": np.random.default_rng(0).bytes(512),
        "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
        "zip": b"PK\x03\x04" + b"\0" * 64,
        "no-graph": onnx.ModelProto(ir_version=8).SerializeToString(),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", r"Model file '.*model\.onnx' does not exist\."),
        ("empty", r"Model file '.*' is empty\."),
        ("truncated", r"is not a valid ONNX model \(the file is truncated or not ONNX"),
        ("text", "not .*ONNX"),
        ("random", "not .*ONNX"),
        ("png", "not .*ONNX"),
        ("zip", "not .*ONNX"),
        ("no-graph", "is not an ONNX model: it has no graph with nodes"),
    ],
)
def test_model_files_that_are_not_models(tmp_path, capsys, kind, message):
    path = tmp_path / "model.onnx"
    content = _bytes(kind)
    if content is not None:
        path.write_bytes(content)
    _refused([path], tmp_path / "out", capsys, message)


def test_a_directory_is_not_a_model(tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    _refused([tmp_path / "folder"], tmp_path / "out", capsys, "not a TensorFlow SavedModel")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((3, 5), np.float32), r"Input 'x' expects \?x4 but the data has shape 3x5"),
        (np.zeros((3, 4, 2), np.float32), r"expects rank 2 \(\?x4, .*\) but the data has shape"),
        (np.zeros(4, np.float32), r"expects rank 2 .* but the data has shape 4\b"),
        (np.array([["a"] * 4] * 3), r"Input 'x' expects float32 values but the data is str"),
        (np.zeros((3, 4), np.complex64), "expects float32 values but the data is complex64"),
        (np.zeros((0, 4), np.float32), r"The data is empty: it has 0 samples\."),
        (np.full((3, 4), np.nan, np.float32), r"No sample .* the 3 samples hold NaN or infinite"),
    ],
)
def test_data_that_does_not_fit_names_expected_and_given(
    model_file, tmp_path, capsys, data, message
):
    np.save(tmp_path / "data.npy", data)
    args = [model_file, "--data", tmp_path / "data.npy", "--only", "importance"]
    _refused(args, tmp_path / "out", capsys, message)


def test_token_ids_outside_the_table_and_float_ids_are_refused(tmp_path, capsys):
    path = tmp_path / "model.onnx"
    onnx.save(CASE_BY_NAME["token_ids"].build(), path)
    ids = np.zeros((4, 7), np.int64)
    ids[2, 3] = 50
    np.save(tmp_path / "ids.npy", ids)
    message = r"Input 'ids' holds the id 50, but it indexes 'E', which has 50 rows \(ids 0 to 49\)"
    _refused([path, "--data", tmp_path / "ids.npy"], tmp_path / "out", capsys, message)
    np.save(tmp_path / "ids.npy", ids.astype(np.float64))
    message = "Input 'ids' expects int64 values but the data is float64"
    _refused([path, "--data", tmp_path / "ids.npy"], tmp_path / "out", capsys, message)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.npy", None, r"Data file '.*absent\.npy' does not exist"),
        ("data.csv", b"1,2,3,4\n", r"is not an \.npy or \.npz file"),
        ("data.npy", b"\x93NUMPY garbage", "is not a readable array file"),
        ("data.npz", b"PK\x03\x04 broken", "is not a readable array file"),
    ],
)
def test_data_files_that_cannot_be_read(model_file, tmp_path, capsys, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    _refused([model_file, "--data", tmp_path / name], tmp_path / "out", capsys, message)


def test_nonfinite_data_is_warned_about_counted_and_left_out(model_file, tmp_path, capsys):
    data = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    data[1, 0], data[4, 2], data[4, 3] = np.nan, np.inf, -np.inf
    np.save(tmp_path / "data.npy", data)
    out = tmp_path / "out"
    args = ["analyze", str(model_file), "--data", str(tmp_path / "data.npy"), "--out", str(out)]
    assert main([*args, "--passes", "metrics", "--quiet"]) == 0
    error = capsys.readouterr().err
    assert error == (
        "irwua: warning: The data holds 3 NaN or infinite values; 2 samples are left out "
        "because of them.\n"
    )
    document = json.loads((out / "analysis.json").read_text())
    assert document["activations"]["nonfinite_inputs"] == 3
    assert document["totals"]["samples"] == 8
    assert all(np.isfinite(layer["importance"]) for layer in document["layers"])


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_nonfinite_weight_stops_importance_with_its_layer_named(tmp_path, capsys, value):
    proto = mlp()
    weight = numpy_helper.to_array(proto.graph.initializer[0]).copy()
    weight[2, 1] = value
    proto.graph.initializer[0].CopyFrom(numpy_helper.from_array(weight, "w1"))
    onnx.save(proto, tmp_path / "broken.onnx")
    np.save(tmp_path / "data.npy", np.ones((6, 4), np.float32))
    args = [tmp_path / "broken.onnx", "--data", tmp_path / "data.npy", "--only", "importance"]
    _refused(args, tmp_path / "out", capsys, r"importance of layer 'fc1' is not finite")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--passes", "flops,warp"], r"Unknown pass 'warp'; the passes are: .*flops"),
        (["--passes", " , "], "--passes names no pass"),
        (["--batch-size", "0"], "--batch-size must be a positive whole number, got 0"),
        (["--input-shape", "x=1xfour"], "is not of the form NAME=DIMS"),
        (["--input-shape", "image=1x4"], "The model has no input named 'image'; its inputs are: x"),
        (["--input-shape", "x=1x5"], r"Input 'x' needs 4 at axis 1 \(batchx4\)"),
    ],
)
def test_bad_options(model_file, tmp_path, capsys, options, message):
    _refused([model_file, *options], tmp_path / "out", capsys, message)


def test_an_unwritable_output_directory_leaves_nothing_behind(model_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _refused([model_file], blocker / "sub", capsys, r"Cannot write to '.*file/sub'")
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)  # renaming onto a directory fails
    assert main(["analyze", str(model_file), "--out", str(out), "--quiet"]) == 2
    assert "Cannot write to" in capsys.readouterr().err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files
    if (out / "analysis.json").exists():  # renamed before the failure: complete, not half-written
        json.loads((out / "analysis.json").read_text())


def test_onnxruntime_failures_are_one_line_in_a_real_process(tmp_path):
    """onnxruntime logs from C++ straight to the process's stderr: that must stay quiet too."""
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")]
    stats = {"s": np.ones(3, np.float32)}  # 3 scales for 2 channels: opset 9 does not check
    stats.update(b=np.zeros(2, np.float32), m=np.zeros(2, np.float32), v=np.ones(2, np.float32))
    shape = ["N", 2, 4, 4]
    onnx.save(model(nodes, [("x", shape)], [("y", shape)], stats, 9, 4), tmp_path / "bn.onnx")
    np.save(tmp_path / "x.npy", np.ones((4, 2, 4, 4), np.float32))
    argv = [sys.executable, "-m", "irwua", "analyze", str(tmp_path / "bn.onnx")]
    argv += ["--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "out")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "irwua: error: onnxruntime could not run the model: BatchNormalization node 'bn': "
        "Invalid input scale: 0th dimension != 2.\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("escape", ["parent", "absolute", "symlink", "dotdot-inside"])
def test_external_data_leaving_the_model_directory_is_refused(tmp_path, capsys, escape):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(4096))
    location = {
        "parent": "../secret.bin",
        "absolute": str(secret),
        "symlink": "link.bin",
        "dotdot-inside": "sub/../../secret.bin",
    }[escape]
    path = external_copy(tmp_path, location)
    if escape == "symlink":
        (path.parent / "link.bin").symlink_to(secret)
    _refused([path], tmp_path / "out", capsys, "outside the model's directory; irwua refuses")


def test_external_data_of_a_constant_attribute_is_checked_too(tmp_path, capsys):
    tensor = helper.make_tensor("c", TensorProto.FLOAT, [4], vals=[0.0] * 4)
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/hostname")
    nodes = [
        helper.make_node("Constant", [], ["c"], value=tensor),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    path = tmp_path / "const.onnx"
    onnx.save(helper.make_model(graph, ir_version=8), path)
    _refused([path], tmp_path / "out", capsys, "outside the model's directory")


def test_nothing_is_unpickled_without_trust_code(model_file, tmp_path, capsys):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    np.save(tmp_path / "objects.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    args = [model_file, "--data", tmp_path / "objects.npy"]
    _refused(args, tmp_path / "out", capsys, "holds Python objects, which only pickle can load")
    np.savez(tmp_path / "objects.npz", x=np.array([Payload()], dtype=object))
    args = [model_file, "--data", tmp_path / "objects.npz"]
    _refused(args, tmp_path / "out", capsys, "holds Python objects")
    import pickle

    (tmp_path / "model.pt").write_bytes(pickle.dumps(Payload()))
    _refused([tmp_path / "model.pt"], tmp_path / "out", capsys, "pass --trust-code")
    assert not marker.exists()


HOSTILE = "<script>alert(\"owned\")</script> & 'quotes'"


def test_everything_from_the_model_is_escaped_and_nothing_remote_is_linked(tmp_path, capsys):
    proto = mlp()
    proto.graph.node[0].name = HOSTILE
    proto.graph.name = HOSTILE
    proto.doc_string = HOSTILE
    proto.producer_name = '<img src=x onerror="alert(1)">'
    helper.set_model_props(proto, {HOSTILE: HOSTILE, "homepage": "https://example.com/model"})
    path = tmp_path / "hostile.onnx"
    onnx.save(proto, path)
    data = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    np.save(tmp_path / "data.npy", data)
    out = tmp_path / "out"
    args = ["analyze", str(path), "--data", str(tmp_path / "data.npy"), "--out", str(out)]
    assert main([*args, "--quiet"]) == 0, capsys.readouterr().err
    html = (out / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html  # the layer name is shown, as text
    namespaces = re.sub(r"""xmlns(:\w+)?=["'][^"']*["']""", "", html)  # SVG's, not requests
    assert set(re.findall(r"https?://[^\s\"'<>]*", namespaces)) <= {"https://example.com/model"}
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", html)
    document = json.loads((out / "analysis.json").read_text())
    assert document["layers"][0]["name"] == HOSTILE  # JSON keeps the name as it is
