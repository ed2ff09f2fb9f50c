"""Hostile model and data files, each a few hundred bytes to a few hundred KB, and a way to run
the real ``irwua`` command on them in a child process while measuring its wall time and peak
resident memory (``os.wait4``: the child and every process it waited for)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
from builders import mlp, model
from onnx import TensorProto, helper, numpy_helper

SECONDS = 30
"""Wall time every hostile run must end within."""

PEAK_BYTES = 2**30
"""Peak resident memory a hostile run of a file under 1 MB may reach."""

ENV = {"IRWUA_RUN_SECONDS": "4", "IRWUA_MAX_MEMORY": "768M"}
"""The limits hostile runs get: a shape-reading run may take 4 s and irwua may use 768 MiB for
what a file declares."""


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_bytes: int

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


_LAUNCHER = """
import os, signal, sys
child = os.fork()
if child == 0:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job starts with it ignored
    os.execv(sys.argv[2], sys.argv[2:])
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda number, _frame: os.kill(child, number))
_, status, usage = os.wait4(child, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss * 1024}")
"""
"""Runs irwua as its own child and reports its exit code and peak RSS: a process forked from
the test process would count the test's own memory (a fork's resident pages) as irwua's."""


def irwua(*args, cwd: Path, env: dict[str, str] | None = None, interrupt=None) -> Run:
    """``irwua ARGS`` in a child process, killed after 2 x ``SECONDS``. ``interrupt`` is
    (signal, ready): the signal is sent once ``ready()`` is true."""
    environment = {**os.environ, **ENV, "XDG_CACHE_HOME": str(cwd / "cache"), **(env or {})}
    report = cwd / ".irwua-run"
    argv = [sys.executable, "-c", _LAUNCHER, report, sys.executable, "-m", "irwua", *args]
    start = time.monotonic()
    child = subprocess.Popen(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sent = interrupt is None
    while child.poll() is None:
        if not sent and interrupt[1]():
            child.send_signal(interrupt[0])
            sent = True
        if time.monotonic() - start > 2 * SECONDS:
            child.kill()
            child.wait()
            raise AssertionError(f"irwua {' '.join(map(str, args))} did not end")
        time.sleep(0.02)
    seconds = time.monotonic() - start
    out, err = child.communicate()
    code, peak = map(int, report.read_text().split())
    report.unlink()
    return Run(code, out.decode(), err.decode(), seconds, peak)


def refused(run: Run, message: str) -> None:
    """Exit 2, one line naming ``message``, nothing on stdout, within the bounds."""
    import re

    assert run.code == 2, (run.code, run.err[-2000:])
    assert len(run.lines) == 1 and run.lines[0].startswith("irwua: error: "), run.err
    assert re.search(message, run.err), run.err
    assert run.out == "" and "Traceback" not in run.err
    bounded(run)


def succeeded(run: Run) -> None:
    assert run.code == 0, (run.code, run.err[-2000:])
    assert "Traceback" not in run.err
    bounded(run)


def bounded(run: Run) -> None:
    assert run.seconds < SECONDS, run.seconds
    assert run.peak_bytes < PEAK_BYTES, run.peak_bytes


def interrupt_when_staged(folder: Path, sig: int):
    """(sig, ready): ready once a staged (hidden, temporary) output file is in ``folder``."""
    return sig, lambda: folder.is_dir() and any(p.name.startswith(".") for p in folder.iterdir())


SIGNALS = (signal.SIGINT, signal.SIGTERM)


# ---- models ----------------------------------------------------------------------------------


def save(proto: onnx.ModelProto, path: Path) -> Path:
    onnx.save(proto, path)
    assert path.stat().st_size < 2**20
    return path


def loop(trip_count: int, scan_output: bool, sized: bool = False) -> onnx.ModelProto:
    """A Loop of ``trip_count`` iterations (each adds 1 to the carried tensor, so none can be
    skipped) whose outputs static inference cannot size, unless ``sized`` declares the carried
    tensor's shape."""
    carried = helper.make_tensor_value_info
    shape = ["N", 2] if sized else None
    body_outputs = [carried("c_out", TensorProto.BOOL, []), carried("y", TensorProto.FLOAT, shape)]
    if scan_output:
        body_outputs.append(carried("s", TensorProto.FLOAT, None))
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c"], ["c_out"]),
            helper.make_node("Add", ["x", "one"], ["y"]),
            helper.make_node("Identity", ["x"], ["s"]),
        ],
        "body",
        [
            carried("i", TensorProto.INT64, []),
            carried("c", TensorProto.BOOL, []),
            carried("x", TensorProto.FLOAT, shape),
        ],
        body_outputs,
        [numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    outputs = ["out", "scan"] if scan_output else ["out"]
    nodes = [
        helper.make_node("Loop", ["M", "cond", "inp"], outputs, body=body, name="loop"),
        helper.make_node("Relu", [outputs[-1]], ["z"], name="relu"),
    ]
    weights = {"M": np.array(trip_count, np.int64), "cond": np.array(True)}
    return model(nodes, [("inp", ["N", 2])], [("z", None)], weights)


def constant_of_shape_weight(side: int) -> onnx.ModelProto:
    """A MatMul whose side x side weight is a ConstantOfShape of a 2-element shape tensor."""
    fill = numpy_helper.from_array(np.array([0.5], np.float32))
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["w"], value=fill),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
    ]
    shape = {"shape": np.array([side, side], np.int64)}
    return model(nodes, [("x", [1, side])], [("y", [1, side])], shape)


def nonzero_of_declared(side: int) -> onnx.ModelProto:
    """NonZero (a data-dependent shape) of an input declared side x side."""
    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"]),
        helper.make_node("Cast", ["nz"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Relu", ["f"], ["y"]),
    ]
    return model(nodes, [("x", [side, side])], [("y", None)])


def same_names(count: int) -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name="r") for i in range(count)]
    return model(nodes, [("t0", [1, 4])], [(f"t{count}", [1, 4])])


def named_layers(names: list[str]) -> onnx.ModelProto:
    """A chain of 4 x 4 Gemm layers with the given node names."""
    nodes, weights = [], {}
    for index, name in enumerate(names):
        weights[f"w{index}"] = np.eye(4, dtype=np.float32) * (index + 1)
        nodes.append(
            helper.make_node("Gemm", [f"t{index}", f"w{index}"], [f"t{index + 1}"], name=name)
        )
    return model(nodes, [("t0", ["N", 4])], [(f"t{len(names)}", ["N", 4])], weights)


def external_mlp(folder: Path) -> Path:
    """The MLP with its weights in ``folder/weights.bin``."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        mlp(),
        folder / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return folder / "m.onnx"


def with_external_entry(folder: Path, key: str, value: str) -> Path:
    """The external MLP with one external-data entry of its first tensor replaced."""
    path = external_mlp(folder)
    proto = onnx.load(path, load_external_data=False)
    entries = proto.graph.initializer[0].external_data
    for entry in entries:
        if entry.key == key:
            entry.value = value
            break
    else:
        entries.add(key=key, value=value)
    onnx.save(proto, folder / "bad.onnx")
    return folder / "bad.onnx"


def npz_declaring(elements: int) -> bytes:
    """An .npz whose one member's header declares ``elements`` float64 but holds 8 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (elements,)}
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as npz:
        npz.writestr("x.npy", header.getvalue() + b"\0" * 8)
    return archive.getvalue()


def npz_bomb() -> bytes:
    """A 0.5 MB .npz that unpacks to 512 MiB of zeros (deflated run-length: built in < 1 s)."""
    archive = io.BytesIO()
    run_length = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    with (
        mock.patch.object(zipfile, "_get_compressor", lambda *_args, **_kwargs: run_length),
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as npz,
        npz.open("x.npy", "w", force_zip64=True) as member,
    ):
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<f8", "fortran_order": False, "shape": (2**26,)}
        )
        block = bytes(2**24)
        for _ in range(2**29 // len(block)):
            member.write(block)
    return archive.getvalue()


def invalid_graph(kind: str) -> onnx.ModelProto:
    """Graphs ONNX's checker refuses."""
    relu = helper.make_node
    nodes = {
        "cycle": [
            relu("Relu", ["b"], ["a"], name="first"),
            relu("Relu", ["a"], ["b"], name="second"),
        ],
        "dangling": [relu("Relu", ["nobody"], ["b"], name="orphan")],
        "produced twice": [
            relu("Relu", ["x"], ["b"], name="one"),
            relu("Relu", ["x"], ["b"], name="two"),
        ],
        "empty op type": [relu("", ["x"], ["b"], name="blank")],
    }[kind]
    nodes.append(relu("Relu", ["b"], ["y"], name="last"))
    return model(nodes, [("x", [1, 4])], [("y", [1, 4])])


def planted_saved_model(folder: Path, marker: Path) -> Path:
    """A SavedModel of a plain tf.Module (a 4 x 3 MatMul) holding a resource whose restore op
    writes ``marker``: loading the SavedModel runs it."""
    import tensorflow as tf

    class Planted(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="planted")

        def _initialize(self):
            tf.io.write_file(str(marker), "code from the SavedModel ran")

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.ones((4, 3)))
            self.planted = Planted()

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            return tf.matmul(x, self.w)

    module = Module()
    tf.saved_model.save(module, str(folder), signatures=module.__call__)
    marker.unlink(missing_ok=True)  # saving traced the initializer once
    return folder


def loop_growing(steps: int) -> onnx.ModelProto:
    """A Loop before a Gemm whose scan output stacks a 4 MB tensor per step: a run on the data
    grows by 4 MB x ``steps``."""
    value = helper.make_tensor_value_info
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c"], ["c_out"]),
            helper.make_node("Identity", ["x"], ["y"]),
            helper.make_node("Identity", ["big"], ["scan"]),
        ],
        "body",
        [
            value("i", TensorProto.INT64, []),
            value("c", TensorProto.BOOL, []),
            value("x", TensorProto.FLOAT, ["N", 4]),
        ],
        [
            value("c_out", TensorProto.BOOL, []),
            value("y", TensorProto.FLOAT, ["N", 4]),
            value("scan", TensorProto.FLOAT, None),
        ],
    )
    one = numpy_helper.from_array(np.array([1.0], np.float32))
    nodes = [
        helper.make_node("ConstantOfShape", ["size"], ["big"], value=one),
        helper.make_node("Loop", ["M", "cond", "x"], ["looped", "stacked"], body=body),
        helper.make_node("Gemm", ["looped", "w"], ["y"], name="fc", transB=1),
    ]
    weights = {
        "M": np.array(steps, np.int64),
        "cond": np.array(True),
        "size": np.array([10**6], np.int64),
        "w": np.ones((3, 4), np.float32),
    }
    return model(nodes, [("x", ["N", 4])], [("y", ["N", 3]), ("stacked", None)], weights)


def external_strings(folder: Path) -> Path:
    """A STRING tensor stored as external data (numpy would map its bytes as object
    pointers), cast to float and added to the input of a Gemm."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.bin").write_bytes(os.urandom(48))
    strings = TensorProto(name="S", data_type=TensorProto.STRING, dims=[4])
    strings.data_location = TensorProto.EXTERNAL
    strings.external_data.add(key="location", value="w.bin")
    nodes = [
        helper.make_node("Cast", ["S"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "f"], ["a"]),
        helper.make_node("Gemm", ["a", "w"], ["y"], transB=1),
    ]
    proto = model(nodes, [("x", [1, 4])], [("y", [1, 3])], {"w": np.ones((3, 4), np.float32)})
    proto.graph.initializer.append(strings)
    return save(proto, folder / "strings.onnx")
