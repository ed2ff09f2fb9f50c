"""The flops pass (passes/flops.py) end to end through ``irwua.analyze``.

Node, layer and total counts on tiny hand-built graphs, with every expected number written out by
hand: unsupported ops, parameters (bias, tied weights, MatMul + bias Add layers), batch handling,
control flow (If, Loop) and the JSON document.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from builders import RNG, const, value, weight
from onnx import TensorProto, helper

import irwua

OPSET = 17


def make(nodes, inputs, outputs, initializers=(), value_info=(), domains=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "test", inputs, outputs, list(initializers), value_info=list(value_info)
    )
    opsets = [helper.make_opsetid("", OPSET)] + [helper.make_opsetid(d, 1) for d in domains]
    # IR 8 so that the installed onnxruntime can load the model too.
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def flops(model: onnx.ModelProto, **kwargs):
    return irwua.analyze(model, passes=["flops"], **kwargs)["flops"]


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


# ---------------------------------------------------------------------------------- unsupported


def test_unsupported_ops_are_listed_with_counts_and_the_rest_still_counted():
    # x[1,4] -> MatMul(W[4,6]) -> Relu -> my.domain::Foo (twice) and an unknown default-domain op
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="fc"),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("Foo", ["a"], ["f1"], name="foo1", domain="my.domain"),
        helper.make_node("Foo", ["a"], ["f2"], name="foo2", domain="my.domain"),
        helper.make_node("NotAnOnnxOp", ["a"], ["n"], name="unknown"),
    ]
    model = make(
        nodes,
        [value("x", [1, 4])],
        [value("f1", None), value("f2", None), value("n", None)],
        [weight("W", 4, 6)],
        domains=["my.domain"],
    )
    result = flops(model)
    assert dict(result.unsupported) == {"my.domain::Foo": 2, "NotAnOnnxOp": 1}
    assert dict(result.unresolved) == {}
    # What has a formula is still counted: 4 x 6 MACs, then one op per Relu output element.
    assert result.nodes["fc"].macs == 1 * 6 * 4
    assert result.nodes["relu"].flops == 6
    assert result.total.macs == 24
    assert result.total.flops == 2 * 24 + 6
    assert result.total.params == 4 * 6
    # The JSON section says so too: an unsupported op never disappears as a silent zero.
    section = irwua.analyze(model, passes=["flops"]).to_dict()["flops"]
    assert section["unsupported"] == {"my.domain::Foo": 2, "NotAnOnnxOp": 1}


def test_op_after_an_unsupported_op_is_unresolved_not_zero():
    # Foo's output shape is unknown to ONNX and onnxruntime, so the Relu after it cannot be sized.
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu1"),
        helper.make_node("Foo", ["a"], ["b"], name="foo", domain="my.domain"),
        helper.make_node("Relu", ["b"], ["c"], name="relu2"),
    ]
    model = make(nodes, [value("x", [1, 4])], [value("c", None)], domains=["my.domain"])
    result = flops(model)
    assert dict(result.unsupported) == {"my.domain::Foo": 1}
    assert dict(result.unresolved) == {"Relu": 1}
    assert result.nodes["relu1"].flops == 4
    assert result.total.flops == 4


def test_declared_value_info_sizes_ops_after_a_custom_op():
    nodes = [
        helper.make_node("Foo", ["x"], ["b"], name="foo", domain="my.domain"),
        helper.make_node("Relu", ["b"], ["c"], name="relu"),
    ]
    model = make(
        nodes,
        [value("x", [1, 4])],
        [value("c", None)],
        value_info=[value("b", [1, 4])],
        domains=["my.domain"],
    )
    result = flops(model)
    assert dict(result.unresolved) == {}
    assert result.nodes["relu"].flops == 4


# ----------------------------------------------------------------------------------------- params


def test_conv_with_bias_counts_weight_and_bias():
    # Conv 3 -> 8 channels, 3x3, pad 1 on [1, 3, 6, 6]: out [1, 8, 6, 6]
    node = helper.make_node(
        "Conv", ["x", "W", "B"], ["y"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]
    )
    model = make(
        [node],
        [value("x", [1, 3, 6, 6])],
        [value("y", None)],
        [weight("W", 8, 3, 3, 3), weight("B", 8)],
    )
    result = flops(model)
    params = 8 * 3 * 3 * 3 + 8
    macs = 8 * 6 * 6 * 3 * 3 * 3
    layer = result.layers["conv"]
    assert layer.params == params == 224
    assert layer.weight_bytes == 4 * params
    assert layer.macs == macs
    assert layer.flops == 2 * macs + 8 * 6 * 6
    assert layer.activation_bytes == 4 * 8 * 6 * 6
    assert result.total == layer
    document = irwua.analyze(model, passes=["flops"]).to_dict()
    assert document["totals"]["params"] == params
    assert document["totals"]["macs"] == macs
    assert document["totals"]["flops"] == 2 * macs + 8 * 6 * 6
    [entry] = document["layers"]
    assert (entry["name"], entry["op_type"]) == ("conv", "Conv")
    assert (entry["params"], entry["macs"], entry["flops"]) == (params, macs, 2 * macs + 288)


def test_tied_weight_counts_once_in_total_but_in_each_layer():
    # x[1,8] -> MatMul(W) -> MatMul(W) with the same 8x8 initializer
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="first"),
        helper.make_node("MatMul", ["h", "W"], ["y"], name="second"),
    ]
    model = make(nodes, [value("x", [1, 8])], [value("y", None)], [weight("W", 8, 8)])
    analysis = irwua.analyze(model, passes=["flops"])
    result = analysis["flops"]
    assert result.layers["first"].params == 8 * 8
    assert result.layers["second"].params == 8 * 8
    assert result.total.params == 8 * 8
    assert result.total.weight_bytes == 8 * 8 * 4
    assert result.total.macs == 2 * (1 * 8 * 8)
    document = analysis.to_dict()
    assert document["totals"]["params"] == 64
    assert [(e["name"], e["params"], e["macs"]) for e in document["layers"]] == [
        ("first", 64, 64),
        ("second", 64, 64),
    ]


def test_tied_weight_through_a_transpose_counts_once():
    # Tied embedding: Gather(E[10,6]) for the input and MatMul(., Transpose(E)) for the output.
    nodes = [
        helper.make_node("Gather", ["E", "ids"], ["e"], name="embed"),
        helper.make_node("Transpose", ["E"], ["Et"], name="transpose", perm=[1, 0]),
        helper.make_node("MatMul", ["e", "Et"], ["logits"], name="head"),
    ]
    model = make(
        nodes,
        [value("ids", [1, 3], TensorProto.INT64)],
        [value("logits", None)],
        [weight("E", 10, 6)],
    )
    result = flops(model)
    assert result.layers["embed"].params == 10 * 6
    assert result.layers["head"].params == 10 * 6
    assert result.total.params == 10 * 6
    assert result.total.macs == 1 * 3 * 10 * 6  # [1,3,6] @ [6,10]


def test_matmul_with_bias_add_is_one_layer():
    # x[1,8] @ W[8,5] + b[5]: torch's Linear export (MatMul then Add)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="fc"),
        helper.make_node("Add", ["h", "b"], ["y"], name="fc_bias"),
    ]
    model = make(
        nodes, [value("x", [1, 8])], [value("y", None)], [weight("W", 8, 5), weight("b", 5)]
    )
    analysis = irwua.analyze(model, passes=["flops"])
    result = analysis["flops"]
    assert list(result.layers) == ["fc"]
    layer = result.layers["fc"]
    macs = 1 * 5 * 8
    assert layer.params == 8 * 5 + 5
    assert layer.macs == macs
    assert layer.flops == 2 * macs + 5  # the Add: one per output element
    assert result.nodes["fc_bias"].flops == 5
    assert result.total.params == 45
    assert result.total.flops == 2 * macs + 5
    [entry] = analysis.to_dict()["layers"]
    assert (entry["name"], entry["op_type"], entry["params"], entry["flops"]) == (
        "fc",
        "MatMul",
        45,
        85,
    )


def test_gemm_linear_layer_per_sample():
    # torch.nn.Linear(4, 5) export: Gemm(x[3,4], W[5,4], b[5], transB=1) on a batch of 3 rows
    node = helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="linear", transB=1)
    model = make(
        [node], [value("x", [3, 4])], [value("y", None)], [weight("W", 5, 4), weight("b", 5)]
    )
    result = flops(model)
    assert result.batch == 3
    layer = result.layers["linear"]
    assert layer.macs == 5 * 4  # per row
    assert layer.flops == 2 * 5 * 4 + 5
    assert layer.params == 5 * 4 + 5


def test_unnamed_nodes_get_op_type_and_index():
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"]),
        helper.make_node("Relu", ["h"], ["y"]),
    ]
    model = make(nodes, [value("x", [1, 4])], [value("y", None)], [weight("W", 4, 4)])
    result = flops(model)
    assert list(result.nodes) == ["MatMul_0", "Relu_1"]
    assert list(result.layers) == ["MatMul_0"]
    assert result.nodes["MatMul_0"].macs == 16
    assert result.nodes["Relu_1"].flops == 4


# ------------------------------------------------------------------------------------------ batch


def _conv_net(batch_dim) -> onnx.ModelProto:
    # Conv(3 -> 4, 3x3, pad 1) + bias -> Relu -> GlobalAveragePool -> Flatten -> Gemm(4 -> 2)
    nodes = [
        helper.make_node(
            "Conv", ["x", "W", "B"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "Wfc", "Bfc"], ["y"], name="fc", transB=1),
    ]
    rng = np.random.default_rng(1)
    inits = [
        const(name, rng.standard_normal(shape).astype(np.float32))
        for name, shape in [("W", (4, 3, 3, 3)), ("B", (4,)), ("Wfc", (2, 4)), ("Bfc", (2,))]
    ]
    return make(nodes, [value("x", [batch_dim, 3, 5, 5])], [value("y", None)], inits)


CONV_NET_MACS = 4 * 5 * 5 * 3 * 3 * 3 + 2 * 4  # conv + fc
CONV_NET_FLOPS = (
    2 * 4 * 5 * 5 * 3 * 3 * 3
    + 4 * 5 * 5  # conv + bias
    + 4 * 5 * 5  # relu
    + 4 * 5 * 5
    + 4  # global average pool: sum per input, divide per output
    + 2 * 2 * 4
    + 2  # fc + bias
)
CONV_NET_PARAMS = 4 * 3 * 3 * 3 + 4 + 2 * 4 + 2


@pytest.mark.parametrize("batch", [1, 4])
def test_batch_gives_per_sample_counts(batch):
    model = _conv_net("N")
    x = RNG.standard_normal((batch, 3, 5, 5)).astype(np.float32)
    assert run_ort(model, {"x": x})["y"].shape == (batch, 2)
    result = flops(model, input_shapes={"x": (batch, 3, 5, 5)})
    assert result.batch == batch
    assert result.total.macs == CONV_NET_MACS
    assert result.total.flops == CONV_NET_FLOPS
    assert result.total.params == CONV_NET_PARAMS
    assert result.total.weight_bytes == 4 * CONV_NET_PARAMS
    # per-sample activations: c, r (4x5x5 each), g, f (4 each), y (2), float32
    assert result.total.activation_bytes == 4 * (100 + 100 + 4 + 4 + 2)


def test_batch_4_equals_batch_1_everywhere():
    one = flops(_conv_net("N"))  # symbolic batch defaults to 1
    four = flops(_conv_net("N"), input_shapes={"x": (4, 3, 5, 5)})
    assert (one.batch, four.batch) == (1, 4)
    assert one.total == four.total
    assert dict(one.nodes) == dict(four.nodes)
    assert dict(one.layers) == dict(four.layers)


def test_fixed_batch_in_the_model_is_divided_out():
    assert flops(_conv_net(2)).total == flops(_conv_net(1)).total


def test_sequence_first_lstm_is_divided_by_the_axis_named_batch():
    """torch exports LSTM sequence-first; the axis whose symbolic name says 'batch' is the batch."""
    seq, batch, inputs, hidden = 3, 2, 4, 5
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm", hidden_size=hidden)
    model = make(
        [node],
        [value("x", ["seq", "batch", inputs])],
        [value("y", None)],
        [weight("W", 1, 4 * hidden, inputs), weight("R", 1, 4 * hidden, hidden)],
    )
    whole_batch = 4 * hidden * (inputs + hidden) * seq * batch  # 1080
    result = flops(model, input_shapes={"x": (seq, batch, inputs)})
    assert result.batch == batch
    assert result.total.macs == whole_batch // batch  # 540 per sequence


# ----------------------------------------------------------------------------------- control flow


def _branch(name: str, data: str, weight_name: str, initializers=()) -> onnx.GraphProto:
    """A branch graph: one MatMul of an outer-scope activation with ``weight_name``."""
    return helper.make_graph(
        [helper.make_node("MatMul", [data, weight_name], [f"y_{name}"], name=f"mm_{name}")],
        name,
        [],
        [value(f"y_{name}", [1, 4])],
        list(initializers),
    )


def _if_model(shared_weight: bool = False) -> onnx.ModelProto:
    """If(cond: bool scalar graph input).

    Default: then = x[1,8] @ Wa[8,4], else = y[1,64] @ Wb[64,4], each weight stored in its branch.
    shared_weight: both branches compute x[1,8] @ W[8,4] with one main-graph initializer W.
    """
    cond = value("cond", [], TensorProto.BOOL)
    if shared_weight:
        then_branch, else_branch = _branch("then", "x", "W"), _branch("else", "x", "W")
        inputs, initializers = [value("x", [1, 8]), cond], [weight("W", 8, 4)]
    else:
        then_branch = _branch("then", "x", "Wa", [weight("Wa", 8, 4)])
        else_branch = _branch("else", "y", "Wb", [weight("Wb", 64, 4)])
        inputs, initializers = [value("x", [1, 8]), value("y", [1, 64]), cond], []
    node = helper.make_node(
        "If", ["cond"], ["out"], name="if", then_branch=then_branch, else_branch=else_branch
    )
    return make([node], inputs, [value("out", [1, 4])], initializers)


def test_if_counts_the_more_expensive_branch():
    model = _if_model()
    # The model really runs both ways (onnxruntime), and the bool scalar input needs no
    # input_shapes: its declared shape [] is used.
    feeds = {
        "x": RNG.standard_normal((1, 8)).astype(np.float32),
        "y": RNG.standard_normal((1, 64)).astype(np.float32),
    }
    for flag in (True, False):
        out = run_ort(model, {**feeds, "cond": np.array(flag)})["out"]
        assert out.shape == (1, 4)
    result = flops(model)
    assert dict(result.unsupported) == {} and dict(result.unresolved) == {}
    then_macs = 1 * 4 * 8  # [1,8] @ [8,4]
    else_macs = 1 * 4 * 64  # [1,64] @ [64,4]
    assert result.nodes["if.then_branch/mm_then"].macs == then_macs
    assert result.nodes["if.else_branch/mm_else"].macs == else_macs
    assert result.total.macs == else_macs  # not then_macs + else_macs
    assert result.total.flops == 2 * else_macs
    # Both branches are layers with their own weights.
    assert result.layers["if.then_branch/mm_then"].params == 8 * 4
    assert result.layers["if.else_branch/mm_else"].params == 64 * 4


def test_if_with_input_shapes_for_the_scalar_condition():
    result = flops(_if_model(), input_shapes={"x": (1, 8), "cond": ()})
    assert result.total.macs == 1 * 4 * 64


def test_if_total_params_count_the_weights_of_both_branches():
    result = flops(_if_model())
    assert result.total.params == 8 * 4 + 64 * 4


def test_if_branches_sharing_an_outer_weight_count_it_once():
    model = _if_model(shared_weight=True)
    result = flops(model)
    assert result.total.macs == 1 * 4 * 8
    assert result.total.params == 8 * 4


def test_loop_with_constant_trip_count_counts_the_body_per_iteration():
    # for 3 iterations: h = h @ W (W[8,8]); the weight is stored once
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
            helper.make_node("MatMul", ["h_in", "W"], ["h_out"], name="mm"),
        ],
        "body",
        [
            value("i", [], TensorProto.INT64),
            value("cond_in", [], TensorProto.BOOL),
            value("h_in", [1, 8]),
        ],
        [value("cond_out", [], TensorProto.BOOL), value("h_out", [1, 8])],
    )
    node = helper.make_node("Loop", ["trip", "", "x"], ["y"], name="loop", body=body)
    model = make(
        [node],
        [value("x", [1, 8])],
        [value("y", [1, 8])],
        [weight("W", 8, 8), const("trip", np.array(3, np.int64))],
    )
    x = RNG.standard_normal((1, 8)).astype(np.float32)
    assert run_ort(model, {"x": x})["y"].shape == (1, 8)
    result = flops(model)
    assert result.nodes["loop.body/mm"].macs == 1 * 8 * 8
    assert result.total.macs == 3 * (1 * 8 * 8)
    assert result.total.flops == 3 * 2 * 64
    assert result.total.params == 8 * 8
    assert result.notes == ()
