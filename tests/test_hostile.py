"""Hostile files through the real command, each in a child process: nothing from the file runs
without --trust-code, nothing hangs (< 30 s), memory stays bounded (peak RSS < 1 GiB for a file
under 1 MB), an interrupt leaves no file behind, no output goes over an input, and every failure
is one line with exit status 2."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import jinja2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from builders import mlp, model
from hostile import (
    SIGNALS,
    constant_of_shape_weight,
    external_mlp,
    external_strings,
    interrupt_when_staged,
    invalid_graph,
    irwua,
    loop,
    loop_growing,
    named_layers,
    nonzero_of_declared,
    npz_bomb,
    npz_declaring,
    planted_saved_model,
    refused,
    same_names,
    save,
    succeeded,
    with_external_entry,
)
from onnx import helper

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CNN = EXAMPLES / "digits_cnn.onnx"
IMAGES = EXAMPLES / "digits_images.npy"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (newline aside) and bidirectional overrides."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- hangs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scan_output", [False, True], ids=["carried", "scan-output"])
def test_a_loop_of_a_trillion_steps_is_sized_without_running_it(tmp_path, scan_output):
    """The body keeps its carried shape, so static sizing covers the Loop: nothing runs, and
    every step counts (2 FLOPs of Add per step, and the Relu over the 10^12 scanned slices)."""
    path = save(loop(10**12, scan_output), tmp_path / "loop.onnx")
    run = irwua("analyze", path, "--only", "flops", "--no-html", cwd=tmp_path)
    succeeded(run)  # with a scan output, onnxruntime would abort the process (SIGABRT)
    assert run.err == "", run.err
    document = json.loads((tmp_path / "irwua-report" / "analysis.json").read_text())
    assert document["totals"]["flops"] == (4 * 10**12 if scan_output else 2 * 10**12 + 2)


def test_ctrl_c_stops_a_run_on_the_users_data_at_once(tmp_path):
    """A sized Loop of 10^12 steps before a Gemm: the activations pass runs it in onnxruntime
    to reach the Gemm's input."""
    proto = loop(10**12, scan_output=False, sized=True)
    proto.graph.node[1].op_type = "Gemm"
    proto.graph.node[1].input.append("w")
    proto.graph.node[1].attribute.append(helper.make_attribute("transB", 1))
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.ones((3, 2), np.float32), "w"))
    proto.graph.output[0].type.tensor_type.shape.dim.add().dim_param = "N"
    proto.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 3
    path = save(proto, tmp_path / "loop.onnx")
    np.save(tmp_path / "x.npy", np.ones((1, 2), np.float32))
    args = ("analyze", path, "--data", tmp_path / "x.npy", "--out", tmp_path / "out")
    run = irwua(*args, cwd=tmp_path, interrupt=_after(4.0))
    assert run.code == 130 and run.err == "irwua: interrupted\n", run.err
    assert run.seconds < 10 and not (tmp_path / "out").exists()


def _after(seconds: float):
    import signal
    import time

    start = time.monotonic()
    return signal.SIGINT, lambda: time.monotonic() - start > seconds


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_pipe_or_a_device_is_not_read_as_a_model(tmp_path, kind):
    path = tmp_path / "model.onnx"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    refused(irwua("analyze", path, cwd=tmp_path), "is not a regular file")
    refused(irwua("analyze", CNN, "--data", path, cwd=tmp_path), "not .*regular file|not an .npy")


def test_ten_thousand_nodes_of_one_name_are_named_in_linear_time(tmp_path):
    path = save(same_names(10_000), tmp_path / "names.onnx")
    run = irwua("analyze", path, "--only", "flops", "--no-html", "--out", "out", cwd=tmp_path)
    succeeded(run)
    flops = json.loads((tmp_path / "out" / "analysis.json").read_text())["flops"]
    names = {node["name"] for node in flops["nodes"]}
    assert len(names) == 10_000 and {"r", "r#2", "r#10000"} <= names


# ---- memory ----------------------------------------------------------------------------------


def test_a_constant_of_shape_weight_is_a_view_and_scoring_it_is_budgeted(tmp_path):
    """A 159-byte file whose MatMul weight is a ConstantOfShape: counted and scored without
    being materialised (|w| of a constant is a constant), up to what the report's charts and
    the pathways, which do materialise it, fit in the memory limit."""
    path = save(constant_of_shape_weight(20_000), tmp_path / "cos.onnx")
    assert path.stat().st_size < 300
    run = irwua("analyze", path, "--only", "flops", "--no-html", cwd=tmp_path)
    succeeded(run)
    assert "params 400 M" in run.out
    run = irwua("analyze", path, "--out", "out", cwd=tmp_path)
    message = (
        r"Scoring the weights of 1 layer \(400,000,000 in the largest\) would need 3\.0 GiB, "
        r"more than the memory limit of 768\.0 MiB; raise it with --max-memory"
    )
    refused(run, message)
    path = save(constant_of_shape_weight(8_000), tmp_path / "cos.onnx")
    run = irwua("analyze", path, "--out", "out", "--passes", "metrics,pathways", cwd=tmp_path)
    succeeded(run)
    metrics = json.loads((tmp_path / "out" / "analysis.json").read_text())["layers"][0]["metrics"]
    assert metrics["weights"] == 64_000_000 and metrics["utilization"] == pytest.approx(1.0)


def test_a_light_zoo_model_is_analyzed_in_bounds(light_model, tmp_path):
    """onnx's light VGG-19: 9 KB describing 143 M weights, all ConstantOfShape."""
    path = light_model("vgg19")
    run = irwua("analyze", path, "--max-memory", "1G", "--out", "out", cwd=tmp_path)
    succeeded(run)
    totals = json.loads((tmp_path / "out" / "analysis.json").read_text())["totals"]
    assert totals["params"] == 143_667_240  # VGG-19's published count


def test_synthetic_inputs_larger_than_the_budget_are_not_made(tmp_path):
    path = save(nonzero_of_declared(20_000), tmp_path / "nonzero.onnx")
    run = irwua("analyze", path, "--only", "flops", "--no-html", cwd=tmp_path)
    succeeded(run)
    assert "stay unsized" in run.err and "Running the model on synthetic inputs would" in run.err


def test_the_shape_reading_run_is_killed_at_the_memory_limit(tmp_path):
    """An input declared 4000 x 4000 fits the budget; NonZero's output (int64, 2 x 16 M) and the
    exposed copies grow the child past 768 MiB... unless the run ends first: either way the
    parent stays small and the run ends within the bounds."""
    path = save(nonzero_of_declared(6_000), tmp_path / "nonzero.onnx")
    run = irwua("analyze", path, "--only", "flops", "--no-html", cwd=tmp_path)
    succeeded(run)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            npz_bomb,
            r"Unpacking the arrays of '.*' would need 512\.0 MiB, more than the memory "
            r"limit of 256\.0 MiB",
        ),
        (lambda: npz_declaring(10**10), r"Unpacking the arrays of '.*' would need 74\.5 GiB"),
    ],
    ids=["zip-bomb", "lying-header"],
)
def test_npz_members_are_sized_before_they_are_unpacked(tmp_path, content, message):
    (tmp_path / "x.npz").write_bytes(content())
    assert (tmp_path / "x.npz").stat().st_size < 2**20
    args = ("analyze", CNN, "--data", tmp_path / "x.npz", "--max-memory", "256M")
    refused(irwua(*args, cwd=tmp_path), message)


def test_a_bad_memory_limit_is_one_sentence(tmp_path):
    refused(
        irwua("analyze", CNN, "--max-memory", "lots", cwd=tmp_path), "--max-memory takes a size"
    )


# ---- what is printed -------------------------------------------------------------------------

EVIL = "\x1b[2J\x1b[31mEVIL\x07\r\x00\u202e\nirwua 9.9 - forged line"


def test_nothing_from_the_model_reaches_the_terminal_raw(tmp_path):
    proto = named_layers([EVIL, "fc"])
    proto.graph.name = EVIL
    proto.doc_string = EVIL
    custom = helper.make_node(EVIL, ["t2"], ["t3"], name=EVIL + "op", domain="evil.\x1b[2J")
    proto.graph.node.append(custom)
    proto.graph.output[0].name = "t3"
    proto.opset_import.append(helper.make_opsetid("evil.\x1b[2J", 1))
    path = save(proto, tmp_path / "evil.onnx")
    np.save(tmp_path / "x.npy", np.ones((4, 4), np.float32))
    run = irwua("analyze", path, "--data", tmp_path / "x.npy", "--no-html", cwd=tmp_path)
    assert run.code in (0, 2), run.err
    printed = run.out + run.err
    assert not CONTROL.search(printed), repr(printed)
    assert "\\x1b[2J" in printed
    assert not any(line.startswith("irwua 9.9") for line in printed.splitlines())


def test_a_planted_template_cache_is_never_read(tmp_path):
    """Jinja's bytecode cache is read with pickle: a cache folder others can write is ignored,
    and the one irwua makes is private (mode 0700)."""
    marker = tmp_path / "planted-code-ran"
    folder = tmp_path / "cache" / "irwua" / "bytecode"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    environment = jinja2.Environment(loader=jinja2.PackageLoader("irwua.report", "templates"))
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."  # pickle: os.system
    for name in environment.list_templates():
        _, filename, _ = environment.loader.get_source(environment, name)
        key = jinja2.FileSystemBytecodeCache().get_cache_key(name, filename)
        (folder / f"__jinja2_{key}.cache").write_bytes(b"j2" + payload)
    succeeded(irwua("analyze", CNN, "--only", "flops", "--out", "out", cwd=tmp_path))
    assert not marker.exists()
    shutil.rmtree(folder)
    succeeded(irwua("analyze", CNN, "--only", "flops", "--out", "out", cwd=tmp_path))
    assert folder.stat().st_mode & 0o777 == 0o700 and any(folder.iterdir())


def test_importance_npz_keys_never_come_from_layer_names(tmp_path):
    names = ["file", "allow_pickle", "a\x00b", "../../evil", "x" * 70_000]
    path = save(named_layers(names), tmp_path / "named.onnx")
    run = irwua("analyze", path, "--no-html", "--save-importance", "--out", "out", cwd=tmp_path)
    succeeded(run)
    saved = np.load(tmp_path / "out" / "importance.npz")
    assert sorted(saved.files) == sorted(["layer_names", *(f"layer_{i}" for i in range(5))])
    assert saved["layer_names"].tolist() == names
    assert [saved[f"layer_{i}"].shape for i in range(5)] == [(4, 4)] * 5
    units = np.load(tmp_path / "out" / "importance_units.npz")
    keys = [f"layer_{i}_{side}" for i in range(5) for side in ("in", "out")]
    assert sorted(units.files) == sorted(["layer_names", *keys])
    assert units["layer_names"].tolist() == names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".irwua-files",
        "analysis.json",
        "importance.npz",
        "importance_units.npz",
    ]


# ---- what is written -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_an_interrupt_while_writing_leaves_no_file(tmp_path, sig):
    out = tmp_path / "out"
    run = irwua(
        "analyze",
        CNN,
        "--data",
        IMAGES,
        "--out",
        out,
        cwd=tmp_path,
        env={"IRWUA_TEST_PAUSE_BEFORE_RENAME": "20"},
        interrupt=interrupt_when_staged(out, sig),
    )
    assert run.code == 128 + sig and run.err.endswith("irwua: interrupted\n"), run.err
    assert list(out.iterdir()) == []


def test_a_run_owns_the_irwua_files_of_its_report_folder(tmp_path):
    out = tmp_path / "out"
    succeeded(irwua("analyze", CNN, "--data", IMAGES, "--out", out, cwd=tmp_path))
    (out / "notes.txt").write_text("mine")
    succeeded(
        irwua(
            "analyze", save(mlp(), tmp_path / "mlp.onnx"), "--no-html", "--out", out, cwd=tmp_path
        )
    )
    assert sorted(p.name for p in out.iterdir()) == [
        ".irwua-files",
        "analysis.json",
        "importance_units.npz",
        "notes.txt",
    ]
    assert json.loads((out / "analysis.json").read_text())["model"]["path"].endswith("mlp.onnx")


def test_no_output_goes_over_an_input(tmp_path):
    model_path = tmp_path / "m.onnx"
    shutil.copy(CNN, model_path)
    before = _digest(model_path)
    prune = ("prune", model_path, "--data", IMAGES, "--ratio", "0.3")
    refused(irwua(*prune, "-o", model_path, cwd=tmp_path), "would overwrite .*m.onnx")
    refused(irwua(*prune, "-o", IMAGES, cwd=tmp_path), "would overwrite .*digits_images.npy")
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(CNN, folder / "analysis.json")
    args = ("analyze", folder / "analysis.json", "--framework", "onnx", "--out", folder)
    refused(irwua(*args, cwd=tmp_path), "would overwrite .*analysis.json")
    external = external_mlp(tmp_path / "ext")
    weights = tmp_path / "ext" / "weights.bin"
    kept = _digest(weights)
    np.save(tmp_path / "x.npy", np.ones((8, 4), np.float32))
    run = irwua("prune", external, "--data", "x.npy", "--ratio", "0.5", "-o", weights, cwd=tmp_path)
    refused(run, "would overwrite .*weights.bin")
    assert _digest(model_path) == before and _digest(weights) == kept
    assert _digest(folder / "analysis.json") == _digest(CNN)


def test_a_pruned_external_data_model_loads_from_anywhere(tmp_path):
    external = external_mlp(tmp_path / "model")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((16, 4), np.float32))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    run = irwua(
        "prune",
        external,
        "--data",
        tmp_path / "x.npy",
        "--ratio",
        "0.5",
        "-o",
        tmp_path / "out" / "pruned.onnx",
        cwd=tmp_path / "elsewhere",
    )
    succeeded(run)
    shutil.rmtree(tmp_path / "model")  # the original and its weights.bin are gone
    pruned = onnx.load(tmp_path / "out" / "pruned.onnx")
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in pruned.graph.initializer)
    session = ort.InferenceSession(pruned.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.ones((2, 4), np.float32)})[0].shape == (2, 3)


# ---- invalid files: exit 2, never 3 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("offset", "-8", "invalid external-data reference"),
        ("offset", "eight", "invalid external-data reference"),
        ("location", "weights.bin\x00.png", "invalid external-data reference"),
    ],
)
def test_invalid_external_data_references(tmp_path, key, value, message):
    path = with_external_entry(tmp_path / "m", key, value)
    refused(irwua("analyze", path, cwd=tmp_path), message)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("cycle", "topologically sorted, however input 'b' of node: name: first"),
        ("dangling", "input 'nobody' of node: name: orphan"),
        ("produced twice", "'b' has been used as output names multiple times"),
        ("empty op type", "op_type.*required to be non-empty.*Name: blank"),
    ],
)
def test_graphs_the_onnx_checker_refuses_are_refused(tmp_path, kind, message):
    path = save(invalid_graph(kind), tmp_path / "bad.onnx")
    refused(irwua("analyze", path, "--only", "flops", cwd=tmp_path), message)


def test_strings_that_are_not_utf8_and_opsets_from_the_future(tmp_path):
    data = mlp().SerializeToString().replace(b"fc1", b"\xff\xfe1")
    (tmp_path / "utf8.onnx").write_bytes(data)
    refused(irwua("analyze", tmp_path / "utf8.onnx", cwd=tmp_path), "NodeProto.name is not UTF-8")
    future = mlp()
    future.opset_import[0].version = 10**9
    path = save(future, tmp_path / "future.onnx")
    refused(irwua("analyze", path, cwd=tmp_path), "asks for ONNX opset 1000000000")


@pytest.mark.parametrize("dims", [[-4, 4], [2**62, 2**62]], ids=["negative", "overflowing"])
def test_absurd_dims_are_refused_or_counted_never_a_crash(tmp_path, dims):
    proto = model([helper.make_node("Relu", ["x"], ["y"])], [("x", dims)], [("y", dims)])
    run = irwua("analyze", save(proto, tmp_path / "dims.onnx"), "--no-html", cwd=tmp_path)
    assert run.code in (0, 2) and "Traceback" not in run.err, run.err
    weight = mlp()
    weight.graph.initializer[0].dims[0] = -3
    path = save(weight, tmp_path / "negative-weight.onnx")
    refused(irwua("analyze", path, cwd=tmp_path), "Negative dimension value|negative dimension")


def test_huge_flops_and_an_infinite_training_factor(tmp_path):
    side = 2**20
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    weight = {"w": np.ones((side, 4), np.float32)}
    proto = model(nodes, [("x", [2**40, side])], [("y", [2**40, 4])], weight)
    (tmp_path / "huge.onnx").write_bytes(proto.SerializeToString())
    succeeded(irwua("analyze", tmp_path / "huge.onnx", "--only", "flops", cwd=tmp_path))
    refused(irwua("analyze", CNN, "--train-factor", "inf", cwd=tmp_path), "positive finite number")


@pytest.mark.parametrize("label", [10**18, -5])
def test_labels_outside_the_models_classes_are_refused(tmp_path, label):
    labels = np.zeros(len(np.load(IMAGES)), np.int64)
    labels[7] = label
    np.save(tmp_path / "labels.npy", labels)
    args = ("analyze", CNN, "--data", IMAGES, "--labels", "labels.npy", "--passes", "pruning")
    refused(
        irwua(*args, cwd=tmp_path),
        f"Label {label} is not a class of the model, whose output has 10 classes",
    )


# ---- code in the file ------------------------------------------------------------------------


def test_a_saved_models_restore_ops_run_only_with_trust_code(tmp_path):
    pytest.importorskip("tf2onnx")
    marker = tmp_path / "marker"
    folder = planted_saved_model(tmp_path / "saved", marker)
    args = ("analyze", folder, "--only", "flops", "--out", "out")
    refused(
        irwua(*args, cwd=tmp_path), "is a TensorFlow SavedModel, whose loading runs .* --trust-code"
    )
    assert not marker.exists()
    run = irwua(*args, "--trust-pickle", cwd=tmp_path)  # the flag's former name still works
    assert run.code == 0 and "params 12" in run.out, run.err
    assert marker.exists()  # what the flag allows: the file's own code


# ---- found by an outside round -----------------------------------------------------------------


def test_a_run_on_the_data_stops_at_the_memory_limit(tmp_path):
    path = save(loop_growing(10**6), tmp_path / "growing.onnx")
    np.save(tmp_path / "x.npy", np.ones((4, 4), np.float32))
    run = irwua("analyze", path, "--data", "x.npy", "--out", "out", cwd=tmp_path)
    refused(run, "onnxruntime's run of the model needed more than the memory limit of 768.0 MiB")


def test_external_data_of_a_string_tensor_is_never_mapped(tmp_path):
    path = external_strings(tmp_path / "model")
    message = "Tensor 'S' of element type STRING is stored as external data"
    refused(irwua("analyze", path, cwd=tmp_path), message)
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    prune = ("prune", path, "--data", "x.npy", "--ratio", "0.5", "-o", "p.onnx")
    refused(irwua(*prune, cwd=tmp_path), message)


def test_a_negative_dim_in_an_npy_header_and_bad_arguments_are_one_line(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10, -4)}
    )
    (tmp_path / "bad.npy").write_bytes(header.getvalue() + bytes(160))
    refused(irwua("analyze", CNN, "--data", "bad.npy", cwd=tmp_path), "not a readable array")
    refused(
        irwua("analyze", CNN, "--data", IMAGES, "--labels", "bad.npy", cwd=tmp_path),
        "not a readable array",
    )
    run = irwua("prune", CNN, "--ratio", "0.5", "-o", "p.onnx", cwd=tmp_path)
    refused(run, r"the following arguments are required: --data \(see 'irwua prune --help'\)")
    refused(irwua("bogus", cwd=tmp_path), "invalid choice: 'bogus'")


def test_a_model_onnxruntime_cannot_load_is_one_line_under_prune(tmp_path):
    proto = mlp()
    proto.graph.node[1].op_type, proto.graph.node[1].domain = "Foo", "com.evil"
    proto.opset_import.append(helper.make_opsetid("com.evil", 1))
    path = save(proto, tmp_path / "custom.onnx")
    np.save(tmp_path / "x.npy", np.ones((4, 4), np.float32))
    run = irwua("prune", path, "--data", "x.npy", "--ratio", "0.5", "-o", "p.onnx", cwd=tmp_path)
    refused(run, "onnxruntime cannot load the model: .*com.evil:Foo")
