"""Fuzzing: random small ONNX graphs, valid and corrupted, through ingest -> flops -> importance.

Graphs chain Conv, Gemm, MatMul, BatchNormalization, pooling, activations, Add, Concat, Reshape
and Flatten over random shapes; some get a weight of the wrong shape. Corruptions act on the bytes
(truncation, flipped bytes) or on the graph (wrong attributes, dangling inputs, missing tensors,
bad declared shapes and types). Whatever happens, the only exception allowed out of irwua is
``IrwuaError``; every example has a time bound. Examples are derandomized and nothing is stored
between runs, so CI sees the same examples every time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import LIGHT_MODELS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import irwua
from irwua.ingest.inputs import input_specs
from irwua.runtime.sessions import synthetic_inputs

SECONDS_PER_EXAMPLE = 20
FUZZ = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,  # bounded by _time_limit instead: a slow first session is not a failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class _Builder:
    """A graph under construction: nodes, weights, and the current tensor's name and shape."""

    draw: st.DrawFn
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict)
    current: str = "x"
    macs: int = 0
    valid: bool = True

    def weight(self, shape: tuple[int, ...], wrong: bool) -> str:
        """A random weight; ``wrong`` makes one of its dims off by one (an invalid model)."""
        if wrong and shape:
            self.valid = False
            axis = self.draw(st.integers(0, len(shape) - 1))
            shape = tuple(d + 1 if i == axis else d for i, d in enumerate(shape))
        name = f"w{len(self.weights)}"
        seed = self.draw(st.integers(0, 2**16))
        self.weights[name] = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        return name

    def add(self, op_type: str, inputs: list[str], shape: tuple[int, ...], **attrs) -> None:
        output = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        self.tensors[output] = shape
        self.current = output


def _step(b: _Builder) -> None:
    """Append one op that fits the current tensor (rank 4: image-like, rank 2: features)."""
    shape = b.tensors[b.current]
    wrong = b.draw(st.integers(0, 9)) == 0  # one weight in ten does not fit
    small = st.integers(1, 6)
    if len(shape) == 4:
        n, c, h, w = shape
        op = b.draw(st.sampled_from(["Conv", "Relu", "BatchNorm", "MaxPool", "GAP", "Flatten"]))
        if op == "Conv":
            out, k = b.draw(small), b.draw(st.integers(1, min(3, h, w)))
            pad = b.draw(st.integers(0, 1))
            weight = b.weight((out, c, k, k), wrong)
            size = (h + 2 * pad - k + 1, w + 2 * pad - k + 1)
            b.macs += out * size[0] * size[1] * c * k * k
            b.add("Conv", [b.current, weight], (n, out, *size), pads=[pad] * 4)
        elif op == "BatchNorm":
            names = [b.weight((c,), wrong and i == 0) for i in range(4)]
            b.weights[names[3]] = np.abs(b.weights[names[3]]) + 0.1  # a variance
            b.add("BatchNormalization", [b.current, *names], shape)
        elif op == "MaxPool" and h >= 2 and w >= 2:
            b.add(
                "MaxPool", [b.current], (n, c, h // 2, w // 2), kernel_shape=[2, 2], strides=[2, 2]
            )
        elif op == "GAP":
            b.add("GlobalAveragePool", [b.current], (n, c, 1, 1))
        elif op == "Flatten":
            b.add("Flatten", [b.current], (n, c * h * w))
        else:
            b.add("Relu", [b.current], shape)
        return
    n, f = shape
    op = b.draw(st.sampled_from(["Gemm", "MatMul", "Relu", "Sigmoid", "Add", "Concat", "Reshape"]))
    if op == "Gemm":
        out = b.draw(small)
        weight, bias = b.weight((out, f), wrong), b.weight((out,), False)
        b.macs += out * f
        b.add("Gemm", [b.current, weight, bias], (n, out), transB=1)
    elif op == "MatMul":
        out = b.draw(small)
        b.macs += out * f
        b.add("MatMul", [b.current, b.weight((f, out), wrong)], (n, out))
    elif op == "Add":
        b.add("Add", [b.current, b.weight((f,), wrong)], shape)
    elif op == "Concat":
        partner = b.draw(st.sampled_from(sorted(b.tensors)))
        other = b.tensors[partner]
        if len(other) == 2 and other[0] == n:
            b.add("Concat", [b.current, partner], (n, f + other[1]), axis=1)
    elif op == "Reshape":
        target = f"w{len(b.weights)}"
        b.weights[target] = np.array([0, -1], np.int64)
        b.add("Reshape", [b.current, target], shape)
    else:
        b.add(op, [b.current], shape)


@st.composite
def graphs(draw: st.DrawFn) -> tuple[onnx.ModelProto, int | None]:
    """A random small model (an image or feature input and 1 to 6 ops) and its MACs per sample,
    counted while building (None when a weight was given a wrong shape)."""
    image = draw(st.booleans())
    shape = (1, *draw(st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6))))
    shape = shape if image else (1, draw(st.integers(1, 8)))
    builder = _Builder(draw, tensors={"x": shape})
    for _ in range(draw(st.integers(1, 6))):
        _step(builder)
    batch = "N" if draw(st.booleans()) else 1
    output_shape = [batch, *builder.tensors[builder.current][1:]]
    graph = helper.make_graph(
        builder.nodes or [helper.make_node("Identity", ["x"], ["t0"])],
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *shape[1:]])],
        [helper.make_tensor_value_info(builder.current, TensorProto.FLOAT, output_shape)],
        [numpy_helper.from_array(value, name) for name, value in builder.weights.items()],
    )
    opset = draw(st.sampled_from([9, 11, 13, 17]))
    ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version
    )
    return proto, builder.macs if builder.valid else None


def _corrupt_graph(proto: onnx.ModelProto, draw: st.DrawFn) -> onnx.ModelProto:
    """One structural corruption of a copy of ``proto``."""
    bad = onnx.ModelProto()
    bad.CopyFrom(proto)
    graph = bad.graph
    kinds = "dangling attribute no-initializer input-dims elem-type op-type no-output opset"
    kind = draw(st.sampled_from(kinds.split()))
    node = graph.node[draw(st.integers(0, len(graph.node) - 1))]
    if kind == "dangling" and node.input:
        node.input[draw(st.integers(0, len(node.input) - 1))] = "nowhere"
    elif kind == "attribute":
        node.attribute.append(
            draw(
                st.sampled_from(
                    [
                        helper.make_attribute("group", 7),
                        helper.make_attribute("kernel_shape", [9, 9]),
                        helper.make_attribute("axis", 5),
                        helper.make_attribute("transB", 3),
                        helper.make_attribute("pads", [-2, 1]),
                        helper.make_attribute("strides", [0, 0]),
                    ]
                )
            )
        )
    elif kind == "no-initializer" and graph.initializer:
        del graph.initializer[draw(st.integers(0, len(graph.initializer) - 1))]
    elif kind == "input-dims":
        dim = graph.input[0].type.tensor_type.shape.dim
        dim[draw(st.integers(0, len(dim) - 1))].dim_value = draw(st.sampled_from([0, 1, 1000]))
    elif kind == "elem-type":
        graph.input[0].type.tensor_type.elem_type = draw(
            st.sampled_from([0, TensorProto.STRING, TensorProto.COMPLEX64, TensorProto.INT8])
        )
    elif kind == "op-type":
        node.op_type = draw(st.sampled_from(["Conv", "Gemm", "NoSuchOp", "If", "Loop"]))
    elif kind == "no-output":
        del graph.output[:]
    else:
        bad.opset_import[0].version = draw(st.sampled_from([1, 3, 99]))
    return bad


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A random model's bytes, truncated, with flipped bytes, or structurally corrupted."""
    proto, _ = draw(graphs())
    kind = draw(st.sampled_from(["truncate", "flip", "graph", "graph"]))
    if kind == "graph":
        return _corrupt_graph(proto, draw).SerializeToString()
    data = bytearray(proto.SerializeToString())
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@contextmanager
def _time_limit(seconds: int):
    """Fail an example that runs longer than ``seconds`` (a hang) instead of blocking the suite."""

    def expire(_signum, _frame):
        raise TimeoutError(f"example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _analyze_all_the_way(model, macs: int | None = None) -> None:
    """ingest -> flops, then importance on synthetic data; only IrwuaError may escape, and for a
    valid model (``macs`` known) nothing may fail and the MACs must match."""
    with _time_limit(SECONDS_PER_EXAMPLE):
        try:
            analysis = irwua.analyze(model, passes=["flops"])
            assert macs is None or analysis["flops"].total.macs == macs
            proto = analysis.graph.source.proto
            bound = {
                name: tuple(shape)
                for name, shape in analysis.graph.metadata["input_shapes"].items()
            }
            feeds = synthetic_inputs(input_specs(proto), bound)
            data = {name: np.concatenate([value, value]) for name, value in feeds.items()}
            result = irwua.analyze(model, data=data, passes=["importance"])
            for layer in result["importance"].layers.values():
                assert np.all(np.isfinite(layer.weight))
        except irwua.IrwuaError as exc:
            assert macs is None, f"a valid model was refused: {exc}"
            assert "\n" not in str(exc).strip(), str(exc)


@pytest.mark.filterwarnings("ignore")
@FUZZ
@given(graphs())
def test_valid_and_mismatched_graphs(graph):
    proto, macs = graph
    _analyze_all_the_way(proto, macs)


@pytest.mark.filterwarnings("ignore")
@FUZZ
@given(corrupted())
def test_corrupted_models(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "model.onnx"
    path.write_bytes(data)
    _analyze_all_the_way(path)


LIGHT_ZOO = sorted(LIGHT_MODELS.glob("light_*.onnx"))
FLIPS_PER_MODEL = 24


def _byte_flips(path: Path, count: int, seed: int) -> list[bytes]:
    """``count`` copies of the file, each with 1 to 8 of its bytes replaced by random ones."""
    rng = np.random.default_rng(seed)
    original = np.frombuffer(path.read_bytes(), np.uint8)
    mutants = []
    for _ in range(count):
        mutant = original.copy()
        where = rng.integers(0, len(mutant), rng.integers(1, 9))
        mutant[where] = rng.integers(0, 256, len(where))
        mutants.append(mutant.tobytes())
    return mutants


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("zoo_model", LIGHT_ZOO, ids=lambda path: path.stem)
def test_byte_flipped_zoo_models_are_analyzed_or_refused(zoo_model, tmp_path, monkeypatch):
    """Real architectures from onnx's wheel (9 models x 24 = 216 mutants) with flipped bytes:
    ``irwua analyze --only flops`` succeeds or says what is wrong (exit 2), never an internal
    error, a signal or a hang."""
    monkeypatch.setenv("IRWUA_RUN_SECONDS", "2")
    monkeypatch.setenv("IRWUA_MAX_MEMORY", "1G")
    path = tmp_path / zoo_model.name
    outcomes = []
    for index, mutant in enumerate(
        _byte_flips(zoo_model, FLIPS_PER_MODEL, seed=zoo_model.stat().st_size)
    ):
        path.write_bytes(mutant)
        with _time_limit(SECONDS_PER_EXAMPLE):
            try:
                irwua.analyze(path, passes=["flops"])
                outcomes.append("analyzed")
            except irwua.IrwuaError as exc:
                assert "\n" not in str(exc).strip(), str(exc)
                outcomes.append("refused")
        if index == 0:  # one mutant per model through the real command: exit 0 or 2
            argv = [sys.executable, "-m", "irwua", "analyze", str(path), "--only", "flops"]
            argv += ["--no-html", "--out", str(tmp_path / "out")]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            assert done.returncode == (0 if outcomes[0] == "analyzed" else 2), done.stderr
    assert len(outcomes) == FLIPS_PER_MODEL
