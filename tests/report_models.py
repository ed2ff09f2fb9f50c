"""Models for the report tests (and bench/report_generation.py): hostile names, a deep chain."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
from builders import mlp, model
from onnx import helper

import irwua

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIGITS_CNN = EXAMPLES / "digits_cnn.onnx"
"""A CNN trained on scikit-learn's digits (examples/train_digits_cnn.py), with its data."""
DIGITS_IMAGES = EXAMPLES / "digits_images.npy"
DIGITS_LABELS = EXAMPLES / "digits_labels.npy"

HOSTILE = (
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> & 'q' \\n {b} $x$"
)
"""A name that is markup, quotes, an ampersand, a DOT escape, braces and mathtext at once."""


def hostile_mlp() -> onnx.ModelProto:
    """The builders' 4-8-3 MLP with every node, the input and the output named ``HOSTILE``+..."""
    proto = mlp()
    renames = {"x": HOSTILE + "input", "y": HOSTILE + "output"}
    for node in proto.graph.node:
        node.name = HOSTILE + node.name
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in (*proto.graph.input, *proto.graph.output):
        value.name = renames[value.name]
    return proto


def deep_mlp(layers: int = 300, width: int = 16, seed: int = 0) -> onnx.ModelProto:
    """``layers`` Gemm+Relu blocks of ``width`` units, nodes named like a torch export
    ('/block3/layer31/Gemm': ten layers per block), so the layer graph has module clusters."""
    rng = np.random.default_rng(seed)
    nodes, weights, previous = [], {}, "x"
    for index in range(layers):
        scope = f"/block{index // 10}/layer{index}"
        weights[f"w{index}"] = rng.standard_normal((width, width)).astype(np.float32) / 4
        weights[f"b{index}"] = rng.standard_normal(width).astype(np.float32) / 4
        nodes.append(
            helper.make_node(
                "Gemm",
                [previous, f"w{index}", f"b{index}"],
                [f"h{index}"],
                name=f"{scope}/Gemm",
                transB=1,
            )
        )
        nodes.append(helper.make_node("Relu", [f"h{index}"], [f"a{index}"], name=f"{scope}/Relu"))
        previous = f"a{index}"
    return model(nodes, [("x", ["batch", width])], [(previous, ["batch", width])], weights)


@functools.cache
def digits_full() -> irwua.Analysis:
    """The trained digits CNN with every pass that shows in the report, on its data and labels
    (computed once per test session: pruning runs the model ~100 times)."""
    return irwua.analyze(
        DIGITS_CNN,
        data=np.load(DIGITS_IMAGES),
        labels=np.load(DIGITS_LABELS),
        passes=["flops", "metrics", "pathways", "pruning", "recommendations"],
    )


@functools.cache
def light_resnet50() -> irwua.Analysis:
    """FLOPs and weight usage of the light ResNet-50 in the onnx wheel (constant weights)."""
    path = (
        Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / "light_resnet50.onnx"
    )
    return irwua.analyze(path, passes=["flops", "metrics"])
