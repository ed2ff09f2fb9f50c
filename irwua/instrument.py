"""Instrumenting a model so that onnxruntime computes activation statistics itself.

For each captured tensor x and feature axis, nodes appended to the graph reduce x over every
other axis, so only per-feature vectors leave the session:

* full captures: sum |x|, sum x^2, max |x|, the number of non-zero elements and the element
  count (Size); sum x too when asked for (``signed``: a BatchNormalization input, whose mean
  the importance pass needs);
* output captures (for dead units): max |x| only.

The statistics are built from the ops onnxruntime runs fastest (vectorized and multi-threaded),
each reading x once: ReduceSum and ReduceMax over |x|, x*x and the non-zero indicator - not
ReduceL1 and ReduceSumSquare, several times slower on CPU. The indicator is
HardSigmoid(|x| * 2^100, alpha=2^60): exactly 1 for any non-zero |x| (even the smallest
subnormal, 2^-149, reaches 2^11 before the clip at 1) and 0 for zero, where Cast to bool and
back runs single-threaded. When x is known to be non-negative (the output of a ReLU...), |x| is
x itself and the Abs is skipped; if only its max is wanted, a GlobalMaxPool first reduces the
spatial axes, reading the blocked layout onnxruntime keeps convolution outputs in without
converting it back.

The instrumented model is a weightless copy (``irwua.runtime.weightless``): the graph's own
outputs are dropped, so onnxruntime skips every op after the last captured tensor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from irwua.runtime import weightless


@dataclass(frozen=True)
class Capture:
    """A tensor to reduce, the (non-negative) axis of its features, its rank, whether it needs
    a cast to float32 first, which statistics (all, or max |x| only), whether the values are
    known to be >= 0 and whether sum x is wanted besides sum |x|."""

    tensor: str
    axis: int
    rank: int
    cast: bool = False
    full: bool = True
    nonnegative: bool = False
    signed: bool = False

    @property
    def stats(self) -> tuple[str, ...]:
        if not self.full:
            return ("max_abs",)
        full = ("sum_abs", "sum_sq", "max_abs", "nonzero", "size")
        return (*full, "sum") if self.signed else full


def output_name(index: int, stat: str) -> str:
    return f"irwua_stat_{index}_{stat}"


def exposed_name(tensor: str) -> str:
    return f"irwua_exposed_{tensor}"


def instrument(
    proto: onnx.ModelProto, captures: Iterable[Capture], opset: int, expose: Iterable[str] = ()
) -> onnx.ModelProto:
    """A weightless copy of ``proto`` whose outputs are the statistics of ``captures`` and,
    unreduced, the (small) tensors ``expose`` under ``exposed_name(tensor)``."""
    copy = weightless(proto)
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
        self._scale_name: str | None = None

    def add(self, index: int, capture: Capture) -> None:
        prefix = f"irwua_stat_{index}"
        axes = [a for a in range(capture.rank) if a != capture.axis]
        x = capture.tensor
        if capture.cast:
            x = f"{prefix}_x"
            self._node("Cast", [capture.tensor], x, to=TensorProto.FLOAT)
        magnitude = x
        if not capture.nonnegative:
            magnitude = f"{prefix}_abs"
            self._node("Abs", [x], magnitude)
        if capture.nonnegative and not capture.full and capture.axis == 1 and capture.rank > 2:
            # GlobalMaxPool reads onnxruntime's blocked conv layout as it is (no reordering).
            self._node("GlobalMaxPool", [x], f"{prefix}_pooled")
            magnitude = f"{prefix}_pooled"
        self._reduce("ReduceMax", magnitude, axes, output_name(index, "max_abs"))
        if capture.full:
            self._reduce("ReduceSum", magnitude, axes, output_name(index, "sum_abs"))
            self._node("Mul", [x, x], f"{prefix}_sq")
            self._reduce("ReduceSum", f"{prefix}_sq", axes, output_name(index, "sum_sq"))
            self._node("Mul", [magnitude, self._scale()], f"{prefix}_scaled")
            self._node("HardSigmoid", [f"{prefix}_scaled"], f"{prefix}_nz", alpha=2.0**60, beta=0.0)
            self._reduce("ReduceSum", f"{prefix}_nz", axes, output_name(index, "nonzero"))
            self._node("Size", [x], output_name(index, "size"))
            if capture.signed:
                self._reduce("ReduceSum", x, axes, output_name(index, "sum"))
        for stat in capture.stats:
            elem = TensorProto.INT64 if stat == "size" else TensorProto.FLOAT
            self.graph.output.append(
                helper.make_tensor_value_info(output_name(index, stat), elem, None)
            )

    def _scale(self) -> str:
        """The constant 2^100 (one initializer shared by every capture)."""
        if self._scale_name is None:
            self._scale_name = "irwua_stat_scale"
            value = np.asarray(2.0**100, np.float32)
            self.graph.initializer.append(numpy_helper.from_array(value, self._scale_name))
        return self._scale_name

    def expose(self, tensor: str) -> None:
        self._node("Identity", [tensor], exposed_name(tensor))
        self.graph.output.add(name=exposed_name(tensor))

    def _node(self, op_type: str, inputs: list[str], output: str, **attrs) -> None:
        self.graph.node.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))

    def _reduce(self, op_type: str, x: str, axes: list[int], output: str) -> None:
        """Reduce over ``axes`` without keeping them; axes are an input from opset 18 (ReduceSum:
        13), an attribute before."""
        axes_as_input = self.opset >= 18 or (op_type == "ReduceSum" and self.opset >= 13)
        if axes_as_input:
            name = f"{output}_axes"
            self.graph.initializer.append(numpy_helper.from_array(np.asarray(axes, np.int64), name))
            self._node(op_type, [x, name], output, keepdims=0)
        else:
            self._node(op_type, [x], output, axes=axes, keepdims=0)
