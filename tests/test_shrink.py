"""Structured pruning on hand-built graphs: Concat offsets, a fixed-shape Reshape, a residual
Add; a physically shrunk model computes exactly what the zeroed one computes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from builders import const, model, weight
from onnx import helper

import irwua
from irwua.pruning.cuts import cuts, masked, shrink
from irwua.pruning.edits import with_tensors
from irwua.pruning.shrink_plan import plan
from irwua.units.flow import unit_flow

X = np.random.default_rng(0).standard_normal((16, 3, 6, 6)).astype(np.float32)


def _conv(name, source, out, bias=True):
    inputs = [source, f"{name}_w"] + ([f"{name}_b"] if bias else [])
    return helper.make_node("Conv", inputs, [out], name=name, pads=[1, 1, 1, 1])


def _run(proto: onnx.ModelProto) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": X})[0]


def _graph(proto):
    return irwua.analyze(proto, data=X, passes=["flops"]).graph


def _shrunk_equals_zeroed(proto, removed):
    graph = _graph(proto)
    shrink_plan = plan(graph, unit_flow(graph))
    cut = cuts(graph, shrink_plan, removed)
    zeroed = _run(with_tensors(proto, graph, masked(graph, cut)))
    narrow = shrink(proto, graph, shrink_plan, cut)
    onnx.checker.check_model(narrow, full_check=True)
    # float32 sums in another order: a few ulps of outputs of size ~1 over 90-term dot products.
    np.testing.assert_allclose(_run(narrow), zeroed, rtol=1e-4, atol=1e-5)
    assert np.abs(zeroed - _run(proto)).max() > 1e-3  # the removal changed something
    return shrink_plan, narrow


def test_concat_branches_shrink_with_their_offsets():
    """conv a (4 ch) and conv b (6 ch) -> Concat -> Relu -> conv c -> MaxPool -> Flatten -> fc."""
    nodes = [
        _conv("a", "x", "ya"),
        _conv("b", "x", "yb", bias=False),
        helper.make_node("Concat", ["ya", "yb"], ["cat"], axis=1),
        helper.make_node("Relu", ["cat"], ["r"]),
        _conv("c", "r", "yc"),
        helper.make_node("MaxPool", ["yc"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    weights = [weight("a_w", 4, 3, 3, 3), weight("a_b", 4), weight("b_w", 6, 3, 3, 3)]
    weights += [weight("c_w", 5, 10, 3, 3), weight("c_b", 5), weight("fc_w", 7, 45)]
    weights += [weight("fc_b", 7)]
    proto = model(nodes, [("x", ["N", 3, 6, 6])], [("y", ["N", 7])])
    proto.graph.initializer.extend(weights)
    removed = {"a": np.array([1]), "b": np.array([0, 5]), "c": np.array([2, 3])}
    shrink_plan, narrow = _shrunk_equals_zeroed(proto, removed)
    assert set(shrink_plan.layers) == {"a", "b", "c"}
    stored = {t.name: t for t in narrow.graph.initializer}
    shapes = {
        node.name: tuple(stored[node.input[1]].dims)
        for node in narrow.graph.node
        if node.op_type in ("Conv", "Gemm")
    }
    assert shapes == {"a": (3, 3, 3, 3), "b": (4, 3, 3, 3), "c": (3, 7, 3, 3), "fc": (7, 27)}
    assert "outputs" in shrink_plan.reasons["fc"]


def test_fixed_reshape_is_rewritten_and_residual_add_keeps_widths():
    """conv 1 -> Relu -> conv 2 -> Add(conv 1's activation) -> Reshape([-1, 4*36]) -> fc: the
    residual pins both convs; a Reshape to a fixed [batch, features] is fine for a plain chain."""
    nodes = [
        _conv("c1", "x", "h1"),
        helper.make_node("Relu", ["h1"], ["a1"]),
        _conv("c2", "a1", "h2"),
        helper.make_node("Add", ["h2", "a1"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w"], ["y"], name="fc", transB=1),
    ]
    weights = [weight("c1_w", 4, 3, 3, 3), weight("c1_b", 4), weight("c2_w", 4, 4, 3, 3)]
    weights += [weight("c2_b", 4), weight("fc_w", 5, 144), const("shape", np.array([-1, 144]))]
    proto = model(nodes, [("x", ["N", 3, 6, 6])], [("y", ["N", 5])])
    proto.graph.initializer.extend(weights)
    graph = _graph(proto)
    reasons = plan(graph, unit_flow(graph)).reasons
    assert "residual" in reasons["c1"] and "residual" in reasons["c2"]

    plain = onnx.ModelProto()
    plain.CopyFrom(proto)
    plain.graph.node.remove(plain.graph.node[3])  # no Add: conv 2 feeds the Reshape
    plain.graph.node[3].input[0] = "h2"
    shrink_plan, narrow = _shrunk_equals_zeroed(plain, {"c2": np.array([0, 3])})
    assert shrink_plan.layers["c2"].reshapes
    reshape = next(n for n in narrow.graph.node if n.op_type == "Reshape")
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in narrow.graph.initializer}
    assert stored[reshape.input[1]].tolist() == [0, -1]
