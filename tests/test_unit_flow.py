"""Unit links checked against onnxruntime: shifting one output unit of a layer changes exactly
the consumer's input features its link names."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from builders import model
from onnx import helper, numpy_helper

import irwua
from irwua.ir.graph import LayerGraph
from irwua.runtime.sessions import run_with_outputs
from irwua.units.flow import UnitFlow, UnitLink, unit_flow

RNG = np.random.default_rng(0)


def _conv(name, data, out, cin, cout, weights, k=1):
    weights[f"{name}_w"] = RNG.standard_normal((cout, cin, k, k)).astype(np.float32)
    weights[f"{name}_b"] = RNG.standard_normal(cout).astype(np.float32)
    return helper.make_node("Conv", [data, f"{name}_w", f"{name}_b"], [out], name=name)


def _gemm(name, data, out, n_in, n_out, weights):
    weights[f"{name}_w"] = RNG.standard_normal((n_out, n_in)).astype(np.float32)
    weights[f"{name}_b"] = RNG.standard_normal(n_out).astype(np.float32)
    return helper.make_node("Gemm", [data, f"{name}_w", f"{name}_b"], [out], name=name, transB=1)


def _flow(nodes, weights, x_shape, y="y") -> tuple[onnx.ModelProto, LayerGraph, UnitFlow]:
    proto = model(nodes, [("x", x_shape)], [(y, None)], weights)
    graph = irwua.analyze(proto, passes=[]).graph
    return proto, graph, unit_flow(graph)


def _link(flow: UnitFlow, source: str, target: str) -> UnitLink:
    (link,) = [link for link in flow.incoming(target) if link.source == source]
    return link


def _changed_features(proto, graph: LayerGraph, link: UnitLink, unit: int) -> set[int]:
    """The consumer's input features that move when the source's bias of ``unit`` moves."""
    source, target = graph.layer_by_name[link.source], graph.layer_by_name[link.target]
    tensor = target.data_input
    axis = 1 if target.kind in ("conv", "gemm") else -1
    shifted = onnx.ModelProto()
    shifted.CopyFrom(proto)
    for init in shifted.graph.initializer:
        if init.name == source.tensors["bias"]:
            bias = numpy_helper.to_array(init).copy()
            bias[unit] += 50.0
            init.CopyFrom(numpy_helper.from_array(bias, init.name))
    feeds = {"x": RNG.standard_normal(graph.shape("x")).astype(np.float32)}
    before = run_with_outputs(proto, feeds, [tensor])[tensor]
    after = run_with_outputs(shifted, feeds, [tensor])[tensor]
    moved = np.moveaxis(np.abs(after - before) > 1e-3, axis, 0)
    return set(np.flatnonzero(moved.reshape(moved.shape[0], -1).any(axis=1)).tolist())


def _check_against_runtime(proto, graph, flow):
    """Every unit link between layers names exactly the features onnxruntime sees move."""
    checked = 0
    for link in flow.links:
        if link.mode != "unit" or link.source not in graph.layer_by_name:
            continue
        for unit in range(link.source_units):
            assert _changed_features(proto, graph, link, unit) == set(link.features_of(unit))
            checked += 1
    assert checked


def test_flatten_maps_a_channel_to_its_block_of_features():
    weights: dict[str, np.ndarray] = {}
    nodes = [
        _conv("conv", "x", "c", 2, 3, weights),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("Flatten", ["p"], ["f"]),
        _gemm("fc", "f", "y", 12, 4, weights),
    ]
    proto, graph, flow = _flow(nodes, weights, [2, 2, 3, 3])
    link = _link(flow, "conv", "fc")
    np.testing.assert_array_equal(link.features_of(1), [4, 5, 6, 7])
    assert link.mode == "unit" and not link.shared and link.source_units == 3
    assert _link(flow, "x", "conv").mode == "unit"
    assert flow.layers == ("conv", "fc") and flow.in_features["fc"] == 12
    _check_against_runtime(proto, graph, flow)


def test_channels_last_flatten_reads_channel_j_mod_c():
    """tf2onnx's layout: Conv in NCHW, transposed back to NHWC before Flatten."""
    weights: dict[str, np.ndarray] = {"shape": np.array([2, 27], np.int64)}
    nodes = [
        _conv("conv", "x", "c", 2, 3, weights),
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t", "shape"], ["f"]),
        _gemm("fc", "f", "y", 27, 4, weights),
    ]
    proto, graph, flow = _flow(nodes, weights, [2, 2, 3, 3])
    np.testing.assert_array_equal(_link(flow, "conv", "fc").units, np.arange(27) % 3)
    _check_against_runtime(proto, graph, flow)


def test_concat_offsets_and_a_residual_add_merges_its_branches():
    weights: dict[str, np.ndarray] = {}
    nodes = [
        _conv("a", "x", "ya", 2, 3, weights),
        helper.make_node("Relu", ["ya"], ["ra"]),
        _conv("c", "x", "yc", 2, 3, weights, k=3),
        helper.make_node("Add", ["yc", "ra"], ["res"]),
        _conv("b", "x", "yb", 2, 2, weights),
        helper.make_node("Concat", ["res", "yb"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["f"]),
        _gemm("fc", "f", "y", 5, 4, weights),
    ]
    weights["c_w"] = weights["c_w"][:, :, :1, :1].copy()  # 1x1, so the output keeps its size
    proto, graph, flow = _flow(nodes, weights, [2, 2, 4, 4])
    into_fc = {link.source: link for link in flow.incoming("fc")}
    assert set(into_fc) == {"a", "b", "c"}
    np.testing.assert_array_equal(into_fc["b"].features, [3, 4])
    np.testing.assert_array_equal(into_fc["b"].units, [0, 1])
    np.testing.assert_array_equal(into_fc["a"].features, [0, 1, 2])
    assert into_fc["a"].shared and into_fc["c"].shared and not into_fc["b"].shared
    _check_against_runtime(proto, graph, flow)


def test_batchnorm_and_split_keep_units_and_are_named():
    weights: dict[str, np.ndarray] = {
        "scale": RNG.uniform(0.5, 2, 4).astype(np.float32),
        "shift": RNG.standard_normal(4).astype(np.float32),
        "mean": RNG.standard_normal(4).astype(np.float32),
        "var": RNG.uniform(0.5, 2, 4).astype(np.float32),
    }
    nodes = [
        _conv("conv", "x", "c", 2, 4, weights),
        helper.make_node(
            "BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], name="bn"
        ),
        helper.make_node("Split", ["n"], ["s0", "s1"], axis=1, num_outputs=2),
        _conv("head", "s1", "y", 2, 3, weights),
    ]
    proto = model(nodes, [("x", [2, 2, 3, 3])], [("y", None), ("s0", None)], weights, opset=18)
    graph = irwua.analyze(proto, passes=[]).graph
    flow = unit_flow(graph)
    link = _link(flow, "conv", "head")
    np.testing.assert_array_equal(link.units, [2, 3])
    assert link.via == ("bn",)
    assert flow.layers == ("conv", "head")  # the BatchNorm is no pathway node
    _check_against_runtime(proto, graph, flow)


def test_an_op_that_picks_units_gives_a_layer_link_with_a_note():
    weights: dict[str, np.ndarray] = {
        "starts": np.array([1], np.int64),
        "ends": np.array([3], np.int64),
        "axes": np.array([1], np.int64),
    }
    nodes = [
        _conv("conv", "x", "c", 2, 4, weights),
        helper.make_node("Slice", ["c", "starts", "ends", "axes"], ["s"], name="pick"),
        _conv("head", "s", "y", 2, 3, weights),
    ]
    _, _, flow = _flow(nodes, weights, [1, 2, 3, 3])
    link = _link(flow, "conv", "head")
    assert link.mode == "layer" and link.features.size == 0
    assert link.note == "units are not followed through Slice 'pick'"
    assert flow.uncovered("head").all()
    assert link.note in flow.notes


def test_aggregate_sums_the_features_of_each_unit():
    values = RNG.random((3, 10)).astype(np.float32)
    blocks = UnitLink("s", "t", "unit", 4, np.arange(2, 10), np.arange(8) // 2)
    shuffled = UnitLink("s", "t", "unit", 4, np.arange(8), np.array([3, 0, 1, 3, 2, 0, 1, 2]))
    for link in (blocks, shuffled):
        expected = np.zeros((3, 4), np.float32)
        for feature, unit in zip(link.features, link.units, strict=True):
            expected[:, unit] += values[:, feature]
        np.testing.assert_allclose(link.aggregate(values, axis=1), expected, rtol=1e-6)
        np.testing.assert_allclose(link.aggregate(values.T, axis=0), expected.T, rtol=1e-6)


torch = pytest.importorskip("torch")


class _Block(torch.nn.Module):
    """conv-BN-ReLU, a residual basic block, then x.view(N, -1) and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU()
        )
        self.branch = torch.nn.Sequential(
            torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1)
        )
        self.head = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        a = self.stem(x)
        b = torch.relu(self.branch(a) + a)
        b = torch.nn.functional.max_pool2d(b, 2)
        return self.head(b.view(b.size(0), -1))


def test_torch_residual_block_with_view_flatten():
    torch.manual_seed(0)
    graph = irwua.analyze(_Block(), np.zeros((2, 1, 8, 8), np.float32), passes=[]).graph
    flow = unit_flow(graph)
    assert flow.layers == ("stem.0", "branch.0", "branch.2", "head")
    into_head = {link.source: link for link in flow.incoming("head")}
    assert set(into_head) == {"branch.2", "stem.0"}  # the branch and the skip
    skip = into_head["stem.0"]
    assert skip.shared and skip.via == ("stem.1",)  # through the BatchNorm
    np.testing.assert_array_equal(skip.features_of(2), np.arange(32, 48))
    assert [link.source for link in flow.incoming("branch.0")] == ["stem.0"]
    assert not flow.notes  # the Shape -> Gather -> Concat chain of view() is no data path
