"""A corpus of ONNX models of the kinds users bring, each with what irwua must report.

Every case builds a small model with onnx.helper laid out the way a real exporter lays it out
(PaddlePaddle's Constant nodes, old IR versions, control flow, quantized ops, ...). The expected
numbers are worked out by hand in each case, per sample: MACs = output elements x reduction length,
FLOPs = 2 x MACs + bias adds + the per-element costs of irwua's table (Relu 1, Sigmoid 3, linear
Resize 2 x 2^r - 1, ReduceMean 1 per input + 1 per output element, Quantize/DequantizeLinear 2).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from builders import mlp, model, value
from onnx import TensorProto, helper, numpy_helper

INT8, UINT8, INT64, BOOL = TensorProto.INT8, TensorProto.UINT8, TensorProto.INT64, TensorProto.BOOL


@dataclass(frozen=True)
class Case:
    """One model: how to build it, what ``analysis.json`` must say, and data to run it on.

    ``totals``: expected totals (a subset of macs, flops, params, weight_bytes); ``layers``: the
    weighted layers' names; ``unsupported``: op -> count; ``data``: sample inputs as
    saved for ``--data`` (None when the model takes no batched data); ``unrunnable``: the reason
    onnxruntime cannot run the model, which irwua must warn with when given data before it
    goes on with magnitude importance (None: the model runs); ``shapes``: --input-shape
    arguments; ``external``: saved with its weights as external data.
    """

    name: str
    build: Callable[[], onnx.ModelProto]
    totals: Mapping[str, int]
    layers: tuple[str, ...]
    unsupported: Mapping[str, int] = field(default_factory=dict)
    data: Callable[[], Any] | None = None
    unrunnable: str | None = None
    shapes: tuple[str, ...] = ()
    external: bool = False


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _normal(*shape: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return _rng(seed).standard_normal(shape).astype(dtype)


def _tensor(array: np.ndarray, name: str) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def constant_nodes() -> onnx.ModelProto:
    """PaddlePaddle style: every weight in a Constant node; x[N,4] -> fc1 (+bias) -> Relu -> fc2."""
    nodes = [
        helper.make_node("Constant", [], ["w1"], value=_tensor(_normal(4, 3), "w1")),
        helper.make_node("Constant", [], ["b1"], value=_tensor(_normal(3, seed=1), "b1")),
        helper.make_node("Constant", [], ["w2"], value=_tensor(_normal(3, 2, seed=2), "w2")),
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="fc1_bias"),
        helper.make_node("Relu", ["hb"], ["a"], name="relu"),
        helper.make_node("MatMul", ["a", "w2"], ["y"], name="fc2"),
    ]
    return model(nodes, [("x", ["N", 4])], [("y", ["N", 2])], opset=11, ir_version=6)


def initializers_as_inputs() -> onnx.ModelProto:
    """IR version 3 (opset 7): every initializer is also listed as a graph input."""
    proto = mlp(4, 8, 3, opset=7, ir_version=3)
    proto.graph.input.extend(
        value(tensor.name, list(tensor.dims)) for tensor in proto.graph.initializer
    )
    return proto


def if_branches() -> onnx.ModelProto:
    """An If whose branches hold their own weights: then x@w_then (6 MACs), else two matmuls
    (15 + 10 MACs) on weights of the outer graph."""
    then_graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w_then"], ["t"], name="then_mm")],
        "then",
        [],
        [value("t", [1, 2])],
        [_tensor(_normal(3, 2), "w_then")],
    )
    else_graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["e1"], name="else_mm1"),
            helper.make_node("MatMul", ["e1", "w2"], ["e"], name="else_mm2"),
        ],
        "else",
        [],
        [value("e", [1, 2])],
    )
    nodes = [
        helper.make_node(
            "If", ["cond"], ["y"], name="branch", then_branch=then_graph, else_branch=else_graph
        )
    ]
    weights = {"w1": _normal(3, 5, seed=1), "w2": _normal(5, 2, seed=2)}
    return model(nodes, [("x", [1, 3]), ("cond", [], BOOL)], [("y", [1, 2])], weights)


def loop_body() -> onnx.ModelProto:
    """A Loop with a constant trip count of 5 whose body applies h <- Relu(h @ W), W [8, 8]."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "W"], ["h_mm"], name="step"),
            helper.make_node("Relu", ["h_mm"], ["h_out"], name="step_relu"),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [value("i", [], INT64), value("cond_in", [], BOOL), value("h_in", [1, 8])],
        [value("cond_out", [], BOOL), value("h_out", [1, 8])],
    )
    nodes = [helper.make_node("Loop", ["trip", "", "x"], ["y"], name="loop", body=body)]
    weights = {"trip": np.array(5, np.int64), "W": _normal(8, 8)}
    return model(nodes, [("x", [1, 8])], [("y", [1, 8])], weights)


def scan_body() -> onnx.ModelProto:
    """A Scan over 6 steps of x_t [3]: s <- s + x_t @ W, W [3, 4]."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["x_t", "W"], ["p"], name="proj"),
            helper.make_node("Add", ["s_in", "p"], ["s_out"], name="accumulate"),
            helper.make_node("Identity", ["s_out"], ["y_t"]),
        ],
        "body",
        [value("s_in", [4]), value("x_t", [3])],
        [value("s_out", [4]), value("y_t", [4])],
    )
    nodes = [
        helper.make_node(
            "Scan", ["s0", "xs"], ["s", "ys"], name="scan", body=body, num_scan_inputs=1
        )
    ]
    return model(
        nodes, [("s0", [4]), ("xs", [6, 3])], [("s", [4]), ("ys", [6, 4])], {"W": _normal(3, 4)}
    )


def opset_block(opset: int) -> onnx.ModelProto:
    """Conv -> Clip -> Upsample/Resize x2 -> Split -> Add -> Slice -> ReduceMean -> Squeeze -> Gemm,
    written as opset ``opset`` writes each op: min/max, scales, split sizes, slice bounds and
    axes as attributes in old opsets, as inputs in newer ones."""
    inits: dict[str, np.ndarray] = {"W": _normal(4, 2, 3, 3), "G": _normal(3, 2, seed=1)}
    inits["gb"] = np.zeros(3, np.float32)
    ints = lambda *v: np.array(v, np.int64)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["c"], ["cl"], min=0.0, max=6.0))
    else:
        inits.update(lo=np.float32(0), hi=np.float32(6))
        nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["cl"]))
    scales = np.array([1, 1, 2, 2], np.float32)
    if opset < 9:
        nodes.append(helper.make_node("Upsample", ["cl"], ["u"], scales=list(scales)))
    elif opset < 11:
        inits["sc"] = scales
        op = "Upsample" if opset < 10 else "Resize"
        nodes.append(helper.make_node(op, ["cl", "sc"], ["u"], mode="linear"))
    else:
        inits.update(roi=np.zeros(0, np.float32), sc=scales)
        nodes.append(helper.make_node("Resize", ["cl", "roi", "sc"], ["u"], mode="linear"))
    if opset < 13:
        nodes.append(helper.make_node("Split", ["u"], ["s1", "s2"], axis=1, split=[2, 2]))
    elif opset < 18:
        inits["sp"] = ints(2, 2)
        nodes.append(helper.make_node("Split", ["u", "sp"], ["s1", "s2"], axis=1))
    else:
        nodes.append(helper.make_node("Split", ["u"], ["s1", "s2"], axis=1, num_outputs=2))
    nodes.append(helper.make_node("Add", ["s1", "s2"], ["a"]))
    if opset < 10:
        nodes.append(helper.make_node("Slice", ["a"], ["sl"], axes=[2], starts=[1], ends=[9]))
    else:
        inits.update(st=ints(1), en=ints(9), sa=ints(2))
        nodes.append(helper.make_node("Slice", ["a", "st", "en", "sa"], ["sl"]))
    if opset < 18:
        nodes.append(helper.make_node("ReduceMean", ["sl"], ["rm"], axes=[2, 3]))
    else:
        inits["ra"] = ints(2, 3)
        nodes.append(helper.make_node("ReduceMean", ["sl", "ra"], ["rm"]))
    if opset < 13:
        nodes.append(helper.make_node("Squeeze", ["rm"], ["sq"], axes=[2, 3]))
    else:
        inits["qa"] = ints(2, 3)
        nodes.append(helper.make_node("Squeeze", ["rm", "qa"], ["sq"]))
    nodes.append(helper.make_node("Gemm", ["sq", "G", "gb"], ["y"], name="fc", transB=1))
    ir = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    return model(nodes, [("x", ["N", 2, 5, 5])], [("y", ["N", 3])], inits, opset, ir)


def fp16_weights() -> onnx.ModelProto:
    """Half precision end to end: x fp16 [N,4] @ W fp16 [4,3]."""
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="fc")]
    fp16 = TensorProto.FLOAT16
    weights = {"W": _normal(4, 3, dtype=np.float16)}
    return model(nodes, [("x", ["N", 4], fp16)], [("y", ["N", 3], fp16)], weights)


def bf16_weights() -> onnx.ModelProto:
    """Weights stored as bfloat16 and cast to float32 before use (mixed-precision exports)."""
    stored = helper.make_tensor("W", TensorProto.BFLOAT16, [4, 3], _normal(4, 3).ravel().tolist())
    nodes = [
        helper.make_node("Cast", ["W"], ["W32"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["x", "W32"], ["y"], name="fc"),
    ]
    proto = model(nodes, [("x", ["N", 4])], [("y", ["N", 3])])
    proto.graph.initializer.append(stored)
    return proto


def _qparams(**values) -> dict[str, np.ndarray]:
    return {name: np.asarray(v) for name, v in values.items()}


def qlinear_conv() -> onnx.ModelProto:
    """QLinearConv: uint8 x [N,3,8,8], int8 w [4,3,3,3] per-channel scale, int32 bias, pad 1."""
    inits = _qparams(
        xs=np.float32(0.1),
        xz=np.uint8(128),
        w=_rng().integers(-20, 20, (4, 3, 3, 3)).astype(np.int8),
        ws=np.array([0.05, 0.1, 0.02, 0.04], np.float32),
        wz=np.zeros(4, np.int8),
        ys=np.float32(0.2),
        yz=np.uint8(128),
        b=np.array([10, -10, 100, 0], np.int32),
    )
    inputs = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"]
    nodes = [helper.make_node("QLinearConv", inputs, ["y"], name="qconv", pads=[1, 1, 1, 1])]
    return model(nodes, [("x", ["N", 3, 8, 8], UINT8)], [("y", ["N", 4, 8, 8], UINT8)], inits, 13)


def qlinear_matmul() -> onnx.ModelProto:
    """QLinearMatMul: uint8 a [N,6] @ int8 w [6,4]."""
    inits = _qparams(
        s=np.float32(0.1),
        z=np.uint8(128),
        w=_rng().integers(-20, 20, (6, 4)).astype(np.int8),
        ws=np.float32(0.05),
        wz=np.int8(0),
        ys=np.float32(0.2),
        yz=np.uint8(128),
    )
    inputs = ["a", "s", "z", "w", "ws", "wz", "ys", "yz"]
    nodes = [helper.make_node("QLinearMatMul", inputs, ["y"], name="qmm")]
    return model(nodes, [("a", ["N", 6], UINT8)], [("y", ["N", 4], UINT8)], inits, 13)


def matmul_integer() -> onnx.ModelProto:
    """MatMulInteger: uint8 a [N,6] @ uint8 w [6,4] with zero points 3 and 128."""
    inits = _qparams(w=_rng().integers(0, 255, (6, 4)).astype(np.uint8), az=np.uint8(3))
    inits["wz"] = np.uint8(128)
    nodes = [helper.make_node("MatMulInteger", ["a", "w", "az", "wz"], ["y"], name="mmi")]
    out = TensorProto.INT32
    return model(nodes, [("a", ["N", 6], UINT8)], [("y", ["N", 4], out)], inits, 13)


def conv_integer() -> onnx.ModelProto:
    """ConvInteger: uint8 x [N,3,8,8] * uint8 w [4,3,3,3], no padding (6x6 outputs)."""
    inits = _qparams(w=_rng().integers(0, 255, (4, 3, 3, 3)).astype(np.uint8), xz=np.uint8(3))
    inits["wz"] = np.uint8(128)
    nodes = [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], name="convi")]
    out = TensorProto.INT32
    return model(nodes, [("x", ["N", 3, 8, 8], UINT8)], [("y", ["N", 4, 6, 6], out)], inits, 13)


def dequantize_conv() -> onnx.ModelProto:
    """QDQ format: x -> QuantizeLinear -> DequantizeLinear -> Conv, whose weight is an int8
    tensor behind a per-channel DequantizeLinear (folded once, not counted per run)."""
    inits = _qparams(
        q=_rng().integers(-100, 100, (4, 3, 3, 3)).astype(np.int8),
        s=np.float32(0.02),
        z=np.int8(0),
        ws=np.array([0.01, 0.02, 0.03, 0.04], np.float32),
        wz=np.zeros(4, np.int8),
    )
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="quantize"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dequantize"),
        helper.make_node("DequantizeLinear", ["q", "ws", "wz"], ["w"], name="weight_dq", axis=0),
        helper.make_node("Conv", ["xd", "w"], ["y"], name="conv"),
    ]
    return model(nodes, [("x", ["N", 3, 8, 8])], [("y", ["N", 4, 6, 6])], inits, 13)


VOCAB = 50


def token_ids() -> onnx.ModelProto:
    """int64 token ids [batch, seq] -> Gather embedding E [50, 8] -> mean over seq -> MatMul."""
    nodes = [
        helper.make_node("Gather", ["E", "ids"], ["e"], name="embedding"),
        helper.make_node("ReduceMean", ["e"], ["m"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["m", "W"], ["y"], name="head"),
    ]
    weights = {"E": _normal(VOCAB, 8), "W": _normal(8, 2, seed=1)}
    return model(nodes, [("ids", ["batch", "seq"], INT64)], [("y", ["batch", 2])], weights, 13)


def bool_mask() -> onnx.ModelProto:
    """A float input and a boolean mask: (x @ W) * mask."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["p"], name="fc"),
        helper.make_node("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["p", "mf"], ["y"], name="apply_mask"),
    ]
    inputs = [("x", ["N", 4]), ("mask", ["N", 3], BOOL)]
    return model(nodes, inputs, [("y", ["N", 3])], {"W": _normal(4, 3)})


WORDS = ["cat", "dog", "fish"]


def string_input() -> onnx.ModelProto:
    """Words (strings) -> ai.onnx.ml LabelEncoder -> ids -> Gather embedding E [4, 3]."""
    nodes = [
        helper.make_node(
            "LabelEncoder",
            ["words"],
            ["ids"],
            domain="ai.onnx.ml",
            keys_strings=WORDS,
            values_int64s=[1, 2, 3],
            default_int64=0,
        ),
        helper.make_node("Gather", ["E", "ids"], ["emb"], name="embedding"),
    ]
    graph = helper.make_graph(
        nodes,
        "words",
        [value("words", ["N", 2], TensorProto.STRING)],
        [value("emb", ["N", 2, 3])],
        [_tensor(_normal(4, 3), "E")],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def several_inputs_and_outputs() -> onnx.ModelProto:
    """a [N,4] @ W1 + b [N,5] @ W2, then two outputs: Relu and Sigmoid of the sum."""
    nodes = [
        helper.make_node("MatMul", ["a", "W1"], ["pa"], name="fa"),
        helper.make_node("MatMul", ["b", "W2"], ["pb"], name="fb"),
        helper.make_node("Add", ["pa", "pb"], ["s"], name="sum"),
        helper.make_node("Relu", ["s"], ["r"], name="relu"),
        helper.make_node("Sigmoid", ["s"], ["g"], name="gate"),
    ]
    weights = {"W1": _normal(4, 3), "W2": _normal(5, 3, seed=1)}
    inputs = [("a", ["N", 4]), ("b", ["N", 5])]
    return model(nodes, inputs, [("r", ["N", 3]), ("g", ["N", 3])], weights)


def dynamic_dims() -> onnx.ModelProto:
    """x [batch, seq, 16] @ W [16, 4]: 'seq' must come from --input-shape or the data."""
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="proj")]
    shape = ["batch", "seq"]
    return model(nodes, [("x", [*shape, 16])], [("y", [*shape, 4])], {"W": _normal(16, 4)})


def custom_domain() -> onnx.ModelProto:
    """An op of a custom domain (com.acme) between two Gemms; the exporter declared its
    output's type and shape, as exporters do for custom ops."""
    weights = {"w1": _normal(8, 4), "b1": _normal(8, seed=1), "w2": _normal(3, 8, seed=2)}
    weights["b2"] = _normal(3, seed=3)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("FancyAct", ["h"], ["a"], name="fancy", domain="com.acme"),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], name="fc2", transB=1),
    ]
    proto = model(nodes, [("x", ["N", 4])], [("y", ["N", 3])], weights)
    proto.graph.value_info.append(value("a", ["N", 8]))
    proto.opset_import.append(helper.make_opsetid("com.acme", 1))
    return proto


def write_external_model(folder: Path, width: int, layers: int) -> Path:
    """``layers`` MatMuls x[N, width] @ W[width, width] whose float32 weights live in one
    external-data file, written block by block (the writer never holds a whole weight)."""
    nodes, tensors, offset, current = [], [], 0, "x"
    with open(folder / "weights.bin", "wb") as file:
        for layer in range(layers):
            rng = _rng(layer)
            for start in range(0, width, 1024):
                rows = min(1024, width - start)
                file.write(rng.standard_normal((rows, width), dtype=np.float32).tobytes())
            tensor = onnx.TensorProto(name=f"w{layer}", data_type=TensorProto.FLOAT)
            tensor.dims.extend([width, width])
            tensor.data_location = TensorProto.EXTERNAL
            length = width * width * 4
            for key, text in (("location", "weights.bin"), ("offset", offset), ("length", length)):
                tensor.external_data.add(key=key, value=str(text))
            offset += length
            tensors.append(tensor)
            nodes.append(helper.make_node("MatMul", [current, f"w{layer}"], [f"h{layer}"]))
            nodes[-1].name, current = f"fc{layer}", f"h{layer}"
    graph = helper.make_graph(
        nodes, "external", [value("x", ["N", width])], [value(current, ["N", width])], tensors
    )
    path = folder / "model.onnx"
    opsets = [helper.make_opsetid("", 17)]
    onnx.save_model(helper.make_model(graph, opset_imports=opsets, ir_version=8), path)
    return path


@functools.cache
def runtime_max_opset() -> int:
    """The newest default-domain opset the installed onnxruntime loads."""
    import onnxruntime as ort

    for opset in range(onnx.defs.onnx_opset_version(), 6, -1):
        relu = model(
            [helper.make_node("Relu", ["x"], ["y"])], [("x", [1])], [("y", [1])], (), opset
        )
        relu.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
        try:
            ort.InferenceSession(relu.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime's own error types: not loadable, try an older opset
            continue
        return opset
    return 6


def _opset_case(opset: int) -> Case:
    # conv 4x5x5 outputs x 18 = 1800 MACs, Gemm 3 x 2 = 6. FLOPs: conv 3600, Clip 100, resize
    # (linear on 2 axes: 7 per output, 400 outputs; nearest before opset 9: 0), Add 200, ReduceMean
    # 160 + 2, Gemm 12 + 3 bias adds.
    resize = 2800 if opset >= 9 else 0
    too_new = opset > runtime_max_opset()
    return Case(
        f"opset_{opset}",
        functools.partial(opset_block, opset),
        {"macs": 1806, "flops": 3600 + 100 + resize + 200 + 162 + 15, "params": 72 + 6 + 3},
        ("conv", "fc"),
        data=lambda: _normal(5, 2, 5, 5, seed=9),
        unrunnable="onnxruntime cannot load the model" if too_new else None,
    )


CASES: tuple[Case, ...] = (
    Case(
        "constant_nodes",
        constant_nodes,
        {"macs": 12 + 6, "flops": 24 + 3 + 3 + 12, "params": 12 + 3 + 6, "weight_bytes": 84},
        ("fc1", "fc2"),
        data=lambda: _normal(16, 4, seed=9),
    ),
    Case(
        "initializers_as_inputs",
        initializers_as_inputs,
        {"macs": 32 + 24, "flops": 64 + 8 + 8 + 48 + 3, "params": 32 + 8 + 24 + 3},
        ("fc1", "fc2"),
        data=lambda: _normal(16, 4, seed=9),
    ),
    Case(
        "if_branches",
        if_branches,
        {"macs": 25, "flops": 50, "params": 6 + 15 + 10},
        (
            "branch.then_branch/then_mm",
            "branch.else_branch/else_mm1",
            "branch.else_branch/else_mm2",
        ),
    ),
    Case(
        "loop_body",
        loop_body,
        {"macs": 5 * 64, "flops": 5 * (128 + 8), "params": 64},
        ("loop.body/step",),
        data=lambda: _normal(4, 8, seed=9),  # fixed batch 1: four runs
    ),
    Case(
        "scan_body",
        scan_body,
        {"macs": 6 * 12, "flops": 6 * (24 + 4), "params": 12},
        ("scan.body/proj",),
    ),
    Case(
        "external_data",
        lambda: mlp(64, 256, 10),  # saved with external data by its case
        {
            "macs": 64 * 256 + 256 * 10,
            "flops": 2 * (64 * 256 + 256 * 10) + 256 + 256 + 10,
            "params": 64 * 256 + 256 + 256 * 10 + 10,
            "weight_bytes": 4 * (64 * 256 + 256 + 256 * 10 + 10),
        },
        ("fc1", "fc2"),
        data=lambda: _normal(32, 64, seed=9),
        external=True,
    ),
    *(_opset_case(opset) for opset in range(7, onnx.defs.onnx_opset_version() + 1)),
    Case(
        "fp16_weights",
        fp16_weights,
        {"macs": 12, "flops": 24, "params": 12, "weight_bytes": 24},
        ("fc",),
        data=lambda: _normal(8, 4, seed=9, dtype=np.float16),
    ),
    Case(
        "bf16_weights",
        bf16_weights,
        {"macs": 12, "flops": 24, "params": 12, "weight_bytes": 24},
        ("fc",),
        data=lambda: _normal(8, 4, seed=9),
    ),
    Case(
        "qlinear_conv",
        qlinear_conv,
        {"macs": 256 * 27, "flops": 2 * 256 * 27 + 256, "params": 112, "weight_bytes": 108 + 16},
        ("qconv",),
        data=lambda: _rng(9).integers(0, 256, (4, 3, 8, 8)).astype(np.uint8),
    ),
    Case(
        "qlinear_matmul",
        qlinear_matmul,
        {"macs": 24, "flops": 48, "params": 24, "weight_bytes": 24},
        ("qmm",),
        data=lambda: _rng(9).integers(0, 256, (4, 6)).astype(np.uint8),
    ),
    Case(
        "matmul_integer",
        matmul_integer,
        {"macs": 24, "flops": 48, "params": 24, "weight_bytes": 24},
        ("mmi",),
        data=lambda: _rng(9).integers(0, 256, (4, 6)).astype(np.uint8),
    ),
    Case(
        "conv_integer",
        conv_integer,
        {"macs": 144 * 27, "flops": 2 * 144 * 27, "params": 108, "weight_bytes": 108},
        ("convi",),
        data=lambda: _rng(9).integers(0, 256, (4, 3, 8, 8)).astype(np.uint8),
    ),
    Case(
        "dequantize_conv",
        dequantize_conv,
        # conv 144 outputs x 27; Quantize and Dequantize of x: 2 FLOPs x 192 elements each.
        {"macs": 144 * 27, "flops": 2 * 144 * 27 + 2 * 2 * 192, "params": 108, "weight_bytes": 108},
        ("conv",),
        data=lambda: _normal(4, 3, 8, 8, seed=9),
    ),
    Case(
        "token_ids",
        token_ids,
        # ReduceMean: 7 x 8 inputs + 8 outputs; head 8 x 2.
        {"macs": 16, "flops": 56 + 8 + 32, "params": VOCAB * 8 + 16},
        ("embedding", "head"),
        data=lambda: _rng(9).integers(0, VOCAB, (6, 7)),
        shapes=("ids=1x7",),
    ),
    Case(
        "bool_mask",
        bool_mask,
        {"macs": 12, "flops": 24 + 3, "params": 12},
        ("fc",),
        data=lambda: {"x": _normal(6, 4, seed=9), "mask": _rng(9).random((6, 3)) > 0.5},
    ),
    Case(
        "string_input",
        string_input,
        {"macs": 0, "flops": 0, "params": 12},
        ("embedding",),
        unsupported={"ai.onnx.ml::LabelEncoder": 1},
        data=lambda: np.array([["cat", "dog"], ["fish", "bird"], ["cat", "cat"]]),
    ),
    Case(
        "several_inputs_and_outputs",
        several_inputs_and_outputs,
        {"macs": 12 + 15, "flops": 54 + 3 + 3 + 9, "params": 27},
        ("fa", "fb"),
        data=lambda: {"a": _normal(6, 4, seed=9), "b": _normal(6, 5, seed=8)},
    ),
    Case(
        "dynamic_dims",
        dynamic_dims,
        {"macs": 10 * 16 * 4, "flops": 2 * 10 * 16 * 4, "params": 64},
        ("proj",),
        data=lambda: _normal(3, 7, 16, seed=9),
        shapes=("x=2x10x16",),
    ),
    Case(
        "custom_domain",
        custom_domain,
        {"macs": 32 + 24, "flops": 64 + 8 + 48 + 3, "params": 67},
        ("fc1", "fc2"),
        unsupported={"com.acme::FancyAct": 1},
        data=lambda: _normal(6, 4, seed=9),
        unrunnable=r"onnxruntime cannot load the model: .*com\.acme:FancyAct",
    ),
)
"""Every case, by name in ``CASE_BY_NAME``."""

CASE_BY_NAME: Mapping[str, Case] = {case.name: case for case in CASES}
