"""Instrumenting a copy of a model so that onnxruntime computes activation statistics itself.

For each captured tensor and feature axis, nodes appended to the graph reduce the tensor over
every other axis, so only per-feature vectors leave the session:

* full captures: sum |x| (ReduceL1), sum x^2 (ReduceSumSquare), sum x (ReduceSum), max |x|, the
  number of non-zero elements, and the tensor's element count (Size);
* output captures (for dead units): max |x| only.

The graph's own outputs are dropped, so onnxruntime skips every op after the last captured tensor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FULL_STATS = ("sum_abs", "sum_sq", "sum", "max_abs", "nonzero", "size")
OUTPUT_STATS = ("max_abs",)


@dataclass(frozen=True)
class Capture:
    """A tensor to reduce, the (non-negative) axis of its features, its rank, whether it needs
    a cast to float32 first, and which statistics (all, or max |x| only)."""

    tensor: str
    axis: int
    rank: int
    cast: bool = False
    full: bool = True

    @property
    def stats(self) -> tuple[str, ...]:
        return FULL_STATS if self.full else OUTPUT_STATS


def output_name(index: int, stat: str) -> str:
    return f"irwua_stat_{index}_{stat}"


def exposed_name(tensor: str) -> str:
    return f"irwua_exposed_{tensor}"


def instrument(
    proto: onnx.ModelProto, captures: Iterable[Capture], opset: int, expose: Iterable[str] = ()
) -> onnx.ModelProto:
    """A copy of ``proto`` whose outputs are the statistics of ``captures`` and, unreduced, the
    (small) tensors ``expose`` under ``exposed_name(tensor)``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    graph = copy.graph
    del graph.output[:]
    builder = _Builder(graph, opset)
    for index, capture in enumerate(captures):
        builder.add(index, capture)
    for tensor in expose:
        builder.expose(tensor)
    return copy


class _Builder:
    """Appends reduction nodes for one capture at a time, respecting the model's opset."""

    def __init__(self, graph: onnx.GraphProto, opset: int) -> None:
        self.graph = graph
        self.opset = opset

    def add(self, index: int, capture: Capture) -> None:
        prefix = f"irwua_stat_{index}"
        axes = [a for a in range(capture.rank) if a != capture.axis]
        x = capture.tensor
        if capture.cast:
            x = f"{prefix}_x"
            self._node("Cast", [capture.tensor], x, to=TensorProto.FLOAT)
        self._node("Abs", [x], f"{prefix}_abs")
        self._reduce("ReduceMax", f"{prefix}_abs", axes, output_name(index, "max_abs"))
        if capture.full:
            self._reduce("ReduceL1", x, axes, output_name(index, "sum_abs"))
            self._reduce("ReduceSumSquare", x, axes, output_name(index, "sum_sq"))
            self._reduce("ReduceSum", x, axes, output_name(index, "sum"))
            zero = self._constant(f"{prefix}_zero", np.zeros((), np.float32))
            self._node("Greater", [f"{prefix}_abs", zero], f"{prefix}_nz")  # float Equal: opset 11+
            self._node("Cast", [f"{prefix}_nz"], f"{prefix}_nz_f", to=TensorProto.FLOAT)
            self._reduce("ReduceSum", f"{prefix}_nz_f", axes, output_name(index, "nonzero"))
            self._node("Size", [x], output_name(index, "size"))
        for stat in capture.stats:
            elem = TensorProto.INT64 if stat == "size" else TensorProto.FLOAT
            self.graph.output.append(
                helper.make_tensor_value_info(output_name(index, stat), elem, None)
            )

    def expose(self, tensor: str) -> None:
        self._node("Identity", [tensor], exposed_name(tensor))
        self.graph.output.add(name=exposed_name(tensor))

    def _node(self, op_type: str, inputs: list[str], output: str, **attrs) -> None:
        self.graph.node.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))

    def _constant(self, name: str, value: np.ndarray) -> str:
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def _reduce(self, op_type: str, x: str, axes: list[int], output: str) -> None:
        """Reduce over ``axes`` without keeping them; axes are an input from opset 18 (ReduceSum:
        13), an attribute before."""
        axes_as_input = self.opset >= 18 or (op_type == "ReduceSum" and self.opset >= 13)
        if axes_as_input:
            name = self._constant(f"{output}_axes", np.asarray(axes, np.int64))
            self._node(op_type, [x, name], output, keepdims=0)
        else:
            self._node(op_type, [x], output, axes=axes, keepdims=0)
