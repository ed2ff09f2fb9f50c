"""Per-op cost formulas (passes/op_costs.py), checked against hand arithmetic.

Every test builds a one- or few-node ONNX model, writes the expected MACs/FLOPs out by hand, and
checks them twice:

* at the formula level: ``formula_for(op_type)`` applied to the shapes onnxruntime actually produces
  when it runs the model (independent of irwua's own shape inference), and
* end to end: ``irwua.analyze(...)["flops"]``, whose counts are per sample (divided by the leading
  dim of the first input).

Where possible the hand count is also cross-checked against torch (output shapes of the equivalent
torch layer, weight numels) or numpy.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from builders import RNG, const, value, weight
from onnx import helper, numpy_helper

import irwua
from irwua.ingest.tensors import attributes
from irwua.passes.op_costs import Cost, OpShapes, formula_for

OPSET = 17


# --------------------------------------------------------------------------------------- helpers


def make(nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    # IR 8 so that the installed onnxruntime can load the model too.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    return model


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def random_feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    feeds = {}
    for vi in model.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = RNG.standard_normal(shape).astype(np.float32)
    return feeds


def formula_cost(
    model: onnx.ModelProto, feeds: dict[str, np.ndarray], node: str
) -> tuple[Cost, dict[str, np.ndarray]]:
    """The op_costs formula of ``node`` applied to the shapes onnxruntime produces."""
    outputs = run_ort(model, feeds)
    shapes = {name: tuple(array.shape) for name, array in {**feeds, **outputs}.items()}
    shapes.update({init.name: tuple(init.dims) for init in model.graph.initializer})
    proto = next(n for n in model.graph.node if n.name == node)
    op = OpShapes(
        ins=[shapes[name] if name else None for name in proto.input],
        outs=[shapes[name] if name else None for name in proto.output],
        attrs=attributes(proto),
    )
    return formula_for(proto.op_type)(op), outputs


def analyze_flops(model: onnx.ModelProto, batch: int = 1, **kwargs):
    """irwua's flops result; asserts nothing was left uncounted and the batch is as expected."""
    result = irwua.analyze(model, passes=["flops"], **kwargs)["flops"]
    assert dict(result.unsupported) == {}
    assert dict(result.unresolved) == {}
    assert result.batch == batch
    return result


def check(model, feeds, node: str, macs: int, flops: int, batch: int = 1):
    """Assert the hand count (whole batch) at formula level and per sample end to end."""
    cost, outputs = formula_cost(model, feeds, node)
    assert cost == Cost(macs, flops)
    assert macs % batch == 0 and flops % batch == 0
    counts = analyze_flops(model, batch).nodes[node]
    assert (counts.macs, counts.flops) == (macs // batch, flops // batch)
    return outputs


# ------------------------------------------------------------------------------------------ Conv

CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}


def conv_case(spatial, c_in, c_out, kernel=3, stride=1, pad=0, dilation=1, group=1, bias=True):
    return {
        "spatial": spatial,
        "c_in": c_in,
        "c_out": c_out,
        "kernel": kernel,
        "stride": stride,
        "pad": pad,
        "dilation": dilation,
        "group": group,
        "bias": bias,
    }


CONV_CASES = [
    # out 6x6 = 8 - 3 + 1; each output element is a dot product over c_in x 3 x 3.
    pytest.param(conv_case((8, 8), 4, 8), 8 * 6 * 6 * 4 * 3 * 3, 8 * 6 * 6, id="plain"),
    pytest.param(
        conv_case((8, 8), 4, 8, bias=False), 8 * 6 * 6 * 4 * 3 * 3, 8 * 6 * 6, id="no-bias"
    ),
    # pad 1: out 8x8 = 8 + 2 - 3 + 1
    pytest.param(conv_case((8, 8), 4, 8, pad=1), 8 * 8 * 8 * 4 * 3 * 3, 8 * 8 * 8, id="padded"),
    # stride 2, pad 1: out 4x4 = (8 + 2 - 3) // 2 + 1
    pytest.param(
        conv_case((8, 8), 4, 8, stride=2, pad=1), 8 * 4 * 4 * 4 * 3 * 3, 8 * 4 * 4, id="stride2"
    ),
    # dilation 2: effective kernel 5, out 4x4 = 8 - 5 + 1; still 3x3 taps per output
    pytest.param(
        conv_case((8, 8), 4, 8, dilation=2), 8 * 4 * 4 * 4 * 3 * 3, 8 * 4 * 4, id="dilation2"
    ),
    # group 2: each output sees c_in / 2 = 2 channels
    pytest.param(
        conv_case((8, 8), 4, 8, pad=1, group=2), 8 * 8 * 8 * (4 // 2) * 3 * 3, 8 * 8 * 8, id="g2"
    ),
    # depthwise (group = c_in = 4, channel multiplier 2): one input channel per output
    pytest.param(
        conv_case((8, 8), 4, 8, pad=1, group=4), 8 * 8 * 8 * 1 * 3 * 3, 8 * 8 * 8, id="depthwise"
    ),
    # 1-D: out length 8 = 10 - 3 + 1
    pytest.param(conv_case((10,), 3, 5), 5 * 8 * 3 * 3, 5 * 8, id="conv1d"),
    # 3-D, pad 1: out 4x6x6, 3x3x3 taps over 2 channels
    pytest.param(
        conv_case((4, 6, 6), 2, 3, pad=1),
        3 * 4 * 6 * 6 * 2 * 3 * 3 * 3,
        3 * 4 * 6 * 6,
        id="conv3d",
    ),
]


@pytest.mark.parametrize(("case", "hand_macs", "out_elements"), CONV_CASES)
def test_conv(case, hand_macs, out_elements):
    rank = len(case["spatial"])
    torch.manual_seed(0)
    layer = CONV[rank](
        case["c_in"],
        case["c_out"],
        case["kernel"],
        stride=case["stride"],
        padding=case["pad"],
        dilation=case["dilation"],
        groups=case["group"],
        bias=case["bias"],
    )
    x = torch.randn(1, case["c_in"], *case["spatial"])
    with torch.no_grad():
        reference = layer(x)
    # Independent count from torch: every output element is one dot product with a filter.
    assert reference.numel() == out_elements
    assert reference.numel() * layer.weight[0].numel() == hand_macs

    initializers = [const("W", layer.weight.detach().numpy())]
    inputs = ["x", "W"]
    if case["bias"]:
        initializers.append(const("B", layer.bias.detach().numpy()))
        inputs.append("B")
    node = helper.make_node(
        "Conv",
        inputs,
        ["y"],
        name="conv",
        kernel_shape=[case["kernel"]] * rank,
        strides=[case["stride"]] * rank,
        pads=[case["pad"]] * (2 * rank),
        dilations=[case["dilation"]] * rank,
        group=case["group"],
    )
    model = make([node], [value("x", list(x.shape))], [value("y", None)], initializers)
    hand_flops = 2 * hand_macs + (out_elements if case["bias"] else 0)
    outputs = check(model, {"x": x.numpy()}, "conv", hand_macs, hand_flops)
    # The ONNX node computes exactly what the torch layer computes.
    np.testing.assert_allclose(outputs["y"], reference.numpy(), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------- ConvTranspose

CONV_TRANSPOSE_CASES = [
    # in 4x5x5, stride 2, pad 1, output_padding 1: out 10x10 = (5 - 1) * 2 - 2 + 3 + 1.
    # Every input element is multiplied into (c_out / group) x 3 x 3 outputs.
    pytest.param(1, 4 * 5 * 5 * 6 * 3 * 3, 6 * 10 * 10, id="stride2"),
    pytest.param(2, 4 * 5 * 5 * (6 // 2) * 3 * 3, 6 * 10 * 10, id="stride2-group2"),
]


@pytest.mark.parametrize(("group", "hand_macs", "out_elements"), CONV_TRANSPOSE_CASES)
def test_conv_transpose(group, hand_macs, out_elements):
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=group)
    x = torch.randn(1, 4, 5, 5)
    with torch.no_grad():
        reference = layer(x)
    assert reference.numel() == out_elements
    # torch weight is [c_in, c_out / group, k, k]: one input element feeds weight[0].numel() MACs.
    assert x.numel() * layer.weight[0].numel() == hand_macs
    node = helper.make_node(
        "ConvTranspose",
        ["x", "W", "B"],
        ["y"],
        name="deconv",
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        output_padding=[1, 1],
        group=group,
    )
    model = make(
        [node],
        [value("x", [1, 4, 5, 5])],
        [value("y", None)],
        [const("W", layer.weight.detach().numpy()), const("B", layer.bias.detach().numpy())],
    )
    outputs = check(model, {"x": x.numpy()}, "deconv", hand_macs, 2 * hand_macs + out_elements)
    np.testing.assert_allclose(outputs["y"], reference.numpy(), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------ Gemm

M, K, N = 3, 4, 5
GEMM_CASES = [
    # (transA, transB, with C, alpha, beta, hand FLOPs: 2 x MACs + bias add + alpha/beta scaling)
    pytest.param(0, 0, False, 1.0, 1.0, 2 * M * N * K, id="plain"),
    pytest.param(1, 0, True, 1.0, 1.0, 2 * M * N * K + M * N, id="transA-C"),
    pytest.param(0, 1, True, 1.0, 1.0, 2 * M * N * K + M * N, id="transB-C"),
    pytest.param(1, 1, False, 2.0, 1.0, 2 * M * N * K + M * N, id="transAB-alpha"),
    # alpha * AB: M*N multiplies; beta * C: M*N multiplies; + C: M*N adds
    pytest.param(0, 1, True, 0.5, 2.0, 2 * M * N * K + 3 * M * N, id="transB-C-alpha-beta"),
    pytest.param(1, 1, True, 1.0, 0.5, 2 * M * N * K + 2 * M * N, id="transAB-C-beta"),
    # beta without C changes nothing
    pytest.param(0, 0, False, 1.0, 3.0, 2 * M * N * K, id="beta-without-C"),
]


@pytest.mark.parametrize(
    ("trans_a", "trans_b", "with_c", "alpha", "beta", "hand_flops"), GEMM_CASES
)
def test_gemm(trans_a, trans_b, with_c, alpha, beta, hand_flops):
    hand_macs = M * N * K  # 3 x 5 outputs, each a dot product of length 4
    a = RNG.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    b = RNG.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    c = RNG.standard_normal(N).astype(np.float32)
    inputs = ["a", "b", "c"] if with_c else ["a", "b"]
    initializers = [const("b", b)] + ([const("c", c)] if with_c else [])
    node = helper.make_node(
        "Gemm", inputs, ["y"], name="gemm", transA=trans_a, transB=trans_b, alpha=alpha, beta=beta
    )
    model = make([node], [value("a", list(a.shape))], [value("y", None)], initializers)
    cost, outputs = formula_cost(model, {"a": a}, "gemm")
    assert cost == Cost(hand_macs, hand_flops)
    expected = alpha * (a.T if trans_a else a) @ (b.T if trans_b else b)
    if with_c:
        expected = expected + beta * c
    np.testing.assert_allclose(outputs["y"], expected, rtol=1e-4, atol=1e-4)
    assert outputs["y"].size * K == hand_macs  # numpy/ort reference: outputs x reduction length
    if not trans_a:
        # End to end: a is [M, K], so the batch is M and counts are per row.
        counts = analyze_flops(model, batch=M).nodes["gemm"]
        assert (counts.macs, counts.flops) == (hand_macs // M, hand_flops // M)


# ---------------------------------------------------------------------------------------- MatMul


def test_matmul_2d_with_weight():
    model = make(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
        [value("x", [1, 8])],
        [value("y", None)],
        [weight("W", 8, 5)],
    )
    outputs = check(model, random_feeds(model), "mm", 1 * 5 * 8, 2 * 1 * 5 * 8)
    assert outputs["y"].shape == (1, 5)


def test_matmul_batched_3d_two_activations():
    # [2, 3, 8] @ [2, 8, 5] -> [2, 3, 5]; both operands are activations (no layer, still MACs).
    model = make(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="bmm")],
        [value("a", [2, 3, 8]), value("b", [2, 8, 5])],
        [value("y", None)],
    )
    feeds = random_feeds(model)
    hand_macs = 2 * 3 * 5 * 8
    outputs = check(model, feeds, "bmm", hand_macs, 2 * hand_macs, batch=2)
    assert outputs["y"].size * feeds["a"].shape[-1] == hand_macs


def test_matmul_broadcast_3d_by_2d():
    # [2, 3, 8] @ [8, 5] (weight broadcast over the batch) -> [2, 3, 5]
    model = make(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
        [value("x", [2, 3, 8])],
        [value("y", None)],
        [weight("W", 8, 5)],
    )
    check(model, random_feeds(model), "mm", 2 * 3 * 5 * 8, 2 * 2 * 3 * 5 * 8, batch=2)


def test_matmul_4d_attention():
    # scores = q @ k^T: [1, 2, 4, 8] @ [1, 2, 8, 4] -> [1, 2, 4, 4]; 2 heads, 4 tokens, head dim 8
    # context = softmax(scores) @ v: [1, 2, 4, 4] @ [1, 2, 4, 8] -> [1, 2, 4, 8]
    nodes = [
        helper.make_node("MatMul", ["q", "kt"], ["scores"], name="qk"),
        helper.make_node("Softmax", ["scores"], ["probs"], name="softmax", axis=-1),
        helper.make_node("MatMul", ["probs", "v"], ["context"], name="pv"),
    ]
    model = make(
        nodes,
        [value("q", [1, 2, 4, 8]), value("kt", [1, 2, 8, 4]), value("v", [1, 2, 4, 8])],
        [value("context", None)],
    )
    qk_macs = 1 * 2 * 4 * 4 * 8
    pv_macs = 1 * 2 * 4 * 8 * 4
    softmax_flops = 5 * (1 * 2 * 4 * 4)
    feeds = random_feeds(model)
    outputs = run_ort(model, feeds)
    reference = np.matmul(feeds["q"], feeds["kt"])
    assert reference.size * 8 == qk_macs
    assert outputs["context"].size * 4 == pv_macs
    result = analyze_flops(model)
    assert result.nodes["qk"].macs == qk_macs
    assert result.nodes["pv"].macs == pv_macs
    assert result.nodes["softmax"].flops == softmax_flops
    assert result.total.macs == qk_macs + pv_macs
    assert result.total.flops == 2 * (qk_macs + pv_macs) + softmax_flops
    assert result.layers == {}  # attention matmuls hold no weights


def test_matmul_1d_right_operand():
    # [3, 8] @ [8] -> [3]: three dot products of length 8
    model = make(
        [helper.make_node("MatMul", ["x", "v"], ["y"], name="mv")],
        [value("x", [3, 8]), value("v", [8])],
        [value("y", None)],
    )
    outputs = check(model, random_feeds(model), "mv", 3 * 8, 2 * 3 * 8, batch=3)
    assert outputs["y"].shape == (3,)


def test_matmul_1d_left_operand():
    # [8] @ [8, 5] -> [5]: five dot products of length 8; a 1-D first input means batch 1
    model = make(
        [helper.make_node("MatMul", ["v", "W"], ["y"], name="vm")],
        [value("v", [8])],
        [value("y", None)],
        [weight("W", 8, 5)],
    )
    outputs = check(model, random_feeds(model), "vm", 5 * 8, 2 * 5 * 8)
    assert outputs["y"].shape == (5,)


# ---------------------------------------------------------------------------------------- Einsum


def test_einsum_batched_contraction():
    # "bij,jk->bik" with b=2, i=3, j=4, k=5: every (b, i, k) output sums over j.
    model = make(
        [helper.make_node("Einsum", ["x", "W"], ["y"], name="einsum", equation="bij,jk->bik")],
        [value("x", [2, 3, 4])],
        [value("y", None)],
        [weight("W", 4, 5)],
    )
    feeds = random_feeds(model)
    hand_macs = 2 * 3 * 4 * 5
    outputs = check(model, feeds, "einsum", hand_macs, 2 * hand_macs, batch=2)
    w = numpy_helper.to_array(model.graph.initializer[0])
    reference = np.einsum("bij,jk->bik", feeds["x"], w)
    np.testing.assert_allclose(outputs["y"], reference, rtol=1e-4, atol=1e-4)
    assert reference.size * 4 == hand_macs


def test_einsum_with_ellipsis():
    # "...ij,...jk->...ik": [2, 3, 4, 5] @ [1, 3, 5, 6] broadcasts to [2, 3, 4, 6], j = 5
    model = make(
        [
            helper.make_node(
                "Einsum", ["a", "b"], ["y"], name="einsum", equation="...ij,...jk->...ik"
            )
        ],
        [value("a", [2, 3, 4, 5]), value("b", [1, 3, 5, 6])],
        [value("y", None)],
    )
    hand_macs = 2 * 3 * 4 * 6 * 5
    outputs = check(model, random_feeds(model), "einsum", hand_macs, 2 * hand_macs, batch=2)
    assert outputs["y"].size * 5 == hand_macs


# --------------------------------------------------------------------------------------- Pooling


def test_maxpool_kernel_and_stride():
    # [1, 2, 9, 9], kernel 3, stride 2: out 4x4 = (9 - 3) // 2 + 1; 9 compares per output
    model = make(
        [
            helper.make_node(
                "MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2]
            )
        ],
        [value("x", [1, 2, 9, 9])],
        [value("y", None)],
    )
    feeds = random_feeds(model)
    outputs = check(model, feeds, "pool", 0, 2 * 4 * 4 * 3 * 3)
    reference = torch.nn.MaxPool2d(3, stride=2)(torch.from_numpy(feeds["x"]))
    np.testing.assert_allclose(outputs["y"], reference.numpy())


def test_averagepool_kernel_stride_pad():
    # [1, 2, 8, 8], kernel 3, stride 2, pad 1: out 4x4 = (8 + 2 - 3) // 2 + 1
    node = helper.make_node(
        "AveragePool",
        ["x"],
        ["y"],
        name="pool",
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
    )
    model = make([node], [value("x", [1, 2, 8, 8])], [value("y", None)])
    feeds = random_feeds(model)
    outputs = check(model, feeds, "pool", 0, 2 * 4 * 4 * 3 * 3)
    reference = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)(
        torch.from_numpy(feeds["x"])
    )
    np.testing.assert_allclose(outputs["y"], reference.numpy(), rtol=1e-5, atol=1e-6)


def test_global_average_pool():
    # one add per input element (3 * 5 * 5) plus one divide per output element (3)
    model = make(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"], name="gap")],
        [value("x", [1, 3, 5, 5])],
        [value("y", None)],
    )
    outputs = check(model, random_feeds(model), "gap", 0, 3 * 5 * 5 + 3)
    assert outputs["y"].shape == (1, 3, 1, 1)


# ---------------------------------------------------------------------------------- Elementwise


@pytest.mark.parametrize(
    ("op_type", "attrs", "per_element"),
    [
        ("Relu", {}, 1),
        ("Tanh", {}, 1),
        ("Sigmoid", {}, 3),
        ("HardSwish", {}, 4),
        ("Softmax", {"axis": -1}, 5),
        ("LogSoftmax", {"axis": -1}, 5),
    ],
)
def test_elementwise_cost_per_output_element(op_type, attrs, per_element):
    model = make(
        [helper.make_node(op_type, ["x"], ["y"], name="op", **attrs)],
        [value("x", [1, 2, 5])],
        [value("y", None)],
    )
    outputs = check(model, random_feeds(model), "op", 0, per_element * 1 * 2 * 5)
    assert outputs["y"].size == 10


def test_broadcast_add_counts_output_elements():
    # [1, 3, 4] + [4] -> [1, 3, 4]: one add per output element (the constant has one element
    # per column, so the Add is an elementwise "layer" but its cost is still per output element)
    model = make(
        [helper.make_node("Add", ["x", "c"], ["y"], name="add")],
        [value("x", [1, 3, 4])],
        [value("y", None)],
        [weight("c", 4)],
    )
    check(model, random_feeds(model), "add", 0, 1 * 3 * 4)


def test_data_movement_ops_cost_zero():
    # [1, 2, 6] -> Reshape [1, 3, 4] -> Transpose [1, 4, 3] -> Concat(axis 1) [1, 8, 3]
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
        helper.make_node("Transpose", ["r"], ["t"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("Concat", ["t", "t"], ["y"], name="concat", axis=1),
    ]
    model = make(
        nodes,
        [value("x", [1, 2, 6])],
        [value("y", None)],
        [const("shape", np.array([1, 3, 4], np.int64))],
    )
    feeds = random_feeds(model)
    r = feeds["x"].reshape(1, 3, 4)
    t = r.transpose(0, 2, 1)
    y = np.concatenate([t, t], axis=1)
    np.testing.assert_array_equal(run_ort(model, feeds)["y"], y)
    shapes = {"x": (1, 2, 6), "shape": (3,), "r": r.shape, "t": t.shape, "y": y.shape}
    for proto in model.graph.node:
        op = OpShapes(
            ins=[shapes[name] for name in proto.input],
            outs=[shapes[name] for name in proto.output],
            attrs=attributes(proto),
        )
        assert formula_for(proto.op_type)(op) == Cost(0, 0)
    result = analyze_flops(model)
    for name in ("reshape", "transpose", "concat"):
        counts = result.nodes[name]
        assert (counts.macs, counts.flops) == (0, 0)
        assert counts.activation_bytes > 0  # counted ops, not skipped ones
    assert (result.total.macs, result.total.flops) == (0, 0)
    # Their outputs are still activations: 12 + 12 + 24 float32 values.
    assert result.total.activation_bytes == (12 + 12 + 24) * 4


# ------------------------------------------------------------------------------------- Recurrent


def test_lstm_bidirectional_formula():
    seq, batch, inputs, hidden, directions = 3, 2, 4, 5, 2
    gates = 4
    node = helper.make_node(
        "LSTM",
        ["x", "W", "R", "B"],
        ["y"],
        name="lstm",
        hidden_size=hidden,
        direction="bidirectional",
    )
    model = make(
        [node],
        [value("x", [seq, batch, inputs])],
        [value("y", None)],
        [
            weight("W", directions, gates * hidden, inputs),
            weight("R", directions, gates * hidden, hidden),
            weight("B", directions, 2 * gates * hidden),
        ],
    )
    hand_macs = gates * hidden * (inputs + hidden) * seq * batch * directions
    assert hand_macs == 4 * 5 * (4 + 5) * 3 * 2 * 2 == 2160
    # Independent count from torch: per step and sample, one MAC per element of the input and
    # recurrent weight matrices of every direction.
    lstm = torch.nn.LSTM(inputs, hidden, bidirectional=True)
    per_step = sum(p.numel() for n, p in lstm.named_parameters() if n.startswith("weight"))
    assert per_step * seq * batch == hand_macs
    steps = seq * batch * directions
    # 2 x MACs + Wb and Rb bias adds (2 per gate unit) + 15 gate/cell ops per hidden unit
    hand_flops = 2 * hand_macs + steps * 2 * gates * hidden + steps * hidden * 15
    cost, outputs = formula_cost(model, random_feeds(model), "lstm")
    assert outputs["y"].shape == (seq, directions, batch, hidden)
    assert cost == Cost(hand_macs, hand_flops)


def test_gru_without_bias_formula():
    seq, batch, inputs, hidden = 3, 2, 4, 5
    gates = 3
    model = make(
        [helper.make_node("GRU", ["x", "W", "R"], ["y"], name="gru", hidden_size=hidden)],
        [value("x", [seq, batch, inputs])],
        [value("y", None)],
        [weight("W", 1, gates * hidden, inputs), weight("R", 1, gates * hidden, hidden)],
    )
    hand_macs = gates * hidden * (inputs + hidden) * seq * batch * 1
    assert hand_macs == 3 * 5 * 9 * 3 * 2 == 810
    gru = torch.nn.GRU(inputs, hidden)
    per_step = sum(p.numel() for n, p in gru.named_parameters() if n.startswith("weight"))
    assert per_step * seq * batch == hand_macs
    hand_flops = 2 * hand_macs + seq * batch * hidden * 12  # no bias input: no bias adds
    cost, outputs = formula_cost(model, random_feeds(model), "gru")
    assert outputs["y"].shape == (seq, 1, batch, hidden)
    assert cost == Cost(hand_macs, hand_flops)


def test_lstm_batch_first_end_to_end():
    # layout=1: X is [batch, seq, input], so the leading dim is the batch and per-sample counts
    # are the whole-batch counts / 2. (onnxruntime's CPU LSTM does not run layout=1, so this
    # one relies on irwua's static shape inference only.)
    batch, seq, inputs, hidden, directions = 2, 3, 4, 5, 2
    node = helper.make_node(
        "LSTM",
        ["x", "W", "R", "B"],
        ["y"],
        name="lstm",
        hidden_size=hidden,
        direction="bidirectional",
        layout=1,
    )
    model = make(
        [node],
        [value("x", [batch, seq, inputs])],
        [value("y", None)],
        [
            weight("W", directions, 4 * hidden, inputs),
            weight("R", directions, 4 * hidden, hidden),
            weight("B", directions, 8 * hidden),
        ],
    )
    steps = seq * batch * directions
    hand_macs = 4 * hidden * (inputs + hidden) * steps
    hand_flops = 2 * hand_macs + steps * 2 * 4 * hidden + steps * hidden * 15
    result = analyze_flops(model, batch=2)
    counts = result.layers["lstm"]
    assert (counts.macs, counts.flops) == (hand_macs // 2, hand_flops // 2)
    # W + R + B of both directions
    assert counts.params == 2 * 20 * 4 + 2 * 20 * 5 + 2 * 40
