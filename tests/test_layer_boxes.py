"""What the layer graph draws, on small hand-built graphs: normalizations and per-channel scales
fold into the convolution next to them (before or after it), a residual Add is a merge point
fed by both paths, an op that reads the same tensor twice merges nothing."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import irwua
from irwua.report import diagrams
from irwua.report.layer_boxes import layer_boxes

C = 4


def _model(nodes: list[onnx.NodeProto], output: str, channels: int = C) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    stored = {}
    for node in nodes:
        for name in node.input:
            if name.startswith("w_"):
                stored[name] = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32)
            elif name.startswith(("s_", "m_", "v_", "b_", "k_")):
                shape = (1, channels, 1, 1) if name.startswith("k_") else (channels,)
                stored[name] = np.abs(rng.standard_normal(shape)).astype(np.float32) + 0.5
    graph = helper.make_graph(
        nodes,
        "boxes",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 8, 8])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in stored.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _conv(name: str, x: str, y: str) -> onnx.NodeProto:
    return helper.make_node("Conv", [x, f"w_{name}"], [y], name=name, pads=[1, 1, 1, 1])


def _bn(name: str, x: str, y: str) -> onnx.NodeProto:
    inputs = [x, f"s_{name}", f"b_{name}", f"m_{name}", f"v_{name}"]
    return helper.make_node("BatchNormalization", inputs, [y], name=name)


def test_a_normalization_and_a_scale_fold_into_the_convolution_they_follow_or_precede():
    nodes = [
        _conv("conv1", "x", "c1"),
        _bn("bn1", "c1", "n1"),
        helper.make_node("Mul", ["n1", "k_scale"], ["s1"], name="scale"),
        helper.make_node("Relu", ["s1"], ["r1"], name="relu"),
        _bn("bn2", "r1", "n2"),  # pre-normalization of the next convolution
        _conv("conv2", "n2", "y"),
    ]
    analysis = irwua.analyze(_model(nodes, "y"), passes=["flops"])
    drawn = layer_boxes(analysis.graph)
    layered = [box for box in drawn.boxes.values() if box.layers]
    assert [[layer.name for layer in box.layers] for box in layered] == [
        ["conv1", "bn1", "scale"],
        ["conv2", "bn2"],
    ]
    assert [box.exit.name for box in layered] == ["scale", "conv2"]
    assert layered[0].activation == "Relu"
    source = diagrams.layer_graph(analysis).source
    assert "+ BatchNormalization, Mul, Relu" in source and "Conv  1x4x8x8" in source
    assert drawn.edges == [
        ("I0", layered[0].id),
        (layered[0].id, layered[1].id),
        (layered[1].id, "O0"),
    ]


def test_a_residual_add_is_a_merge_fed_by_both_paths_and_a_doubled_input_is_not():
    nodes = [
        _conv("conv1", "x", "c1"),
        _conv("conv2", "c1", "c2"),
        helper.make_node("Add", ["c2", "x"], ["sum"], name="residual"),
        helper.make_node("Add", ["sum", "sum"], ["twice"], name="doubled"),
        _conv("conv3", "twice", "y"),
    ]
    drawn = layer_boxes(irwua.analyze(_model(nodes, "y"), passes=["flops"]).graph)
    (merge,) = drawn.merges
    assert merge.merge.name == "residual"
    conv2 = next(box.id for box in drawn.boxes.values() if box.host and box.host.name == "conv2")
    conv3 = next(box.id for box in drawn.boxes.values() if box.host and box.host.name == "conv3")
    assert sorted(drawn.feeding[merge.id]) == sorted(["I0", conv2])
    assert drawn.feeding[conv3] == [merge.id]
