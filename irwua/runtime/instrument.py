"""Instrumenting a model so that onnxruntime computes activation statistics itself.

For each captured tensor x and feature axis, nodes appended to the graph reduce x so that only
small per-feature arrays leave the session: sum |x|, sum x^2, max |x|, the number of non-zero
elements and the element count; sum x too when asked for (``signed``: a BatchNormalization
input, whose mean the importance pass needs). Output captures (for dead units) get max |x| only.

Two ways to reduce, chosen per capture (``Capture.pooled``):

* pooled: a non-negative tensor with its features on axis 1 and spatial axes after them (a ReLU
  output between convolutions, the common case). GlobalAveragePool and GlobalMaxPool reduce the
  positions of each sample, of x, x*x and the non-zero indicator, and the per-sample [N, C] results
  are summed (or maxed) over the samples in numpy (``per_feature``). Every node here runs on the
  blocked (NCHWc) layout onnxruntime keeps convolution outputs in, so x is never converted back to
  NCHW (``docs/measured-choices.md``). The per-sample means are scaled back to sums by the number of
  positions, and the non-zero counts rounded to integers, exact for maps below 2^23 positions.
* reduced: any other tensor. ReduceSum and ReduceMax over every axis but the feature axis, of
  |x|, x*x and the indicator (not ReduceL1 and ReduceSumSquare, which are slower on CPU).

The non-zero indicator is HardSigmoid(HardSigmoid(|x|, alpha=2^126), alpha=2^23): the first
maps every normal |x| to 1 and a subnormal one to at least 2^-149 * 2^126 = 2^-23, which the
second lifts to 1; zero stays 0. HardSigmoid runs vectorized and on the blocked layout, where
Cast to bool and back runs single-threaded and a Mul by a constant forces NCHW.

The instrumented model is a weightless copy (``irwua.runtime.sessions.weightless``): the graph's own
outputs are dropped, so onnxruntime skips every op after the last captured tensor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from irwua.runtime.sessions import weightless


@dataclass(frozen=True)
class Capture:
    """A tensor to reduce: the (non-negative) axis of its features, its rank, whether it needs a
    cast to float32 first, which statistics (all, or max |x| only), whether its values are known
    to be >= 0, whether sum x is wanted besides sum |x|, and its number of positions per sample
    and feature (the product of the axes after the feature axis) when known."""

    tensor: str
    axis: int
    rank: int
    cast: bool = False
    full: bool = True
    nonnegative: bool = False
    signed: bool = False
    positions: int | None = None

    @property
    def stats(self) -> tuple[str, ...]:
        if not self.full:
            return ("max_abs",)
        full = ("sum_abs", "sum_sq", "max_abs", "nonzero", "size")
        return (*full, "sum") if self.signed and not self.nonnegative else full

    @property
    def pooled(self) -> bool:
        """Whether the positions of each sample are pooled in the graph (see the module
        docstring) rather than everything but the features reduced."""
        return self.nonnegative and self.axis == 1 and self.rank > 2 and bool(self.positions)


def output_name(index: int, stat: str) -> str:
    return f"irwua_stat_{index}_{stat}"


def exposed_name(tensor: str) -> str:
    return f"irwua_exposed_{tensor}"


def per_feature(capture: Capture, stat: str, value: np.ndarray) -> np.ndarray:
    """One batch's ``stat`` of ``capture`` (float64), from the session's output ``value``: as it
    is for reduced captures; pooled ones give per-sample means (maxima) over the positions,
    turned here into sums (maxima) over the batch."""
    value = np.asarray(value, np.float64)
    if not capture.pooled:
        return value
    if stat == "size":
        return value * capture.positions
    per_sample = value.reshape(value.shape[0], -1)
    if stat == "max_abs":
        return per_sample.max(axis=0, initial=0.0)
    sums = per_sample * capture.positions
    return (np.rint(sums) if stat == "nonzero" else sums).sum(axis=0)


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
    for tensor in dict.fromkeys(expose):  # two embeddings may read the same ids
        builder.expose(tensor)
    return copy


class _Builder:
    """Appends the statistics nodes of one capture at a time, respecting the model's opset."""

    def __init__(self, graph: onnx.GraphProto, opset: int) -> None:
        self.graph = graph
        self.opset = opset

    def add(self, index: int, capture: Capture) -> None:
        prefix = f"irwua_stat_{index}"
        x = capture.tensor
        if capture.cast:
            x = f"{prefix}_x"
            self._node("Cast", [capture.tensor], x, to=TensorProto.FLOAT)
        magnitude = x
        if not capture.nonnegative:
            magnitude = f"{prefix}_abs"
            self._node("Abs", [x], magnitude)
        reduce = self._pool if capture.pooled else self._reducer(capture)
        reduce("max", magnitude, output_name(index, "max_abs"))
        if capture.full:
            reduce("sum", magnitude, output_name(index, "sum_abs"))
            self._node("Mul", [x, x], f"{prefix}_sq")
            reduce("sum", f"{prefix}_sq", output_name(index, "sum_sq"))
            self._node("HardSigmoid", [magnitude], f"{prefix}_nz1", alpha=2.0**126, beta=0.0)
            self._node("HardSigmoid", [f"{prefix}_nz1"], f"{prefix}_nz", alpha=2.0**23, beta=0.0)
            reduce("sum", f"{prefix}_nz", output_name(index, "nonzero"))
            counted = output_name(index, "sum_abs") if capture.pooled else x
            self._node("Size", [counted], output_name(index, "size"))
            if "sum" in capture.stats:
                reduce("sum", x, output_name(index, "sum"))
        for stat in capture.stats:
            elem = TensorProto.INT64 if stat == "size" else TensorProto.FLOAT
            self.graph.output.append(
                helper.make_tensor_value_info(output_name(index, stat), elem, None)
            )

    def _pool(self, kind: str, x: str, output: str) -> None:
        """Per sample and feature: the mean ("sum") or max of x over the positions."""
        self._node("GlobalAveragePool" if kind == "sum" else "GlobalMaxPool", [x], output)

    def _reducer(self, capture: Capture):
        """Sum or max over every axis but the feature axis, without keeping them; the axes are an
        input from opset 18 (ReduceSum: 13), an attribute before."""
        axes = [a for a in range(capture.rank) if a != capture.axis]

        def reduce(kind: str, x: str, output: str) -> None:
            op_type = "ReduceSum" if kind == "sum" else "ReduceMax"
            if self.opset >= 18 or (op_type == "ReduceSum" and self.opset >= 13):
                name = f"{output}_axes"
                self.graph.initializer.append(
                    numpy_helper.from_array(np.asarray(axes, np.int64), name)
                )
                self._node(op_type, [x, name], output, keepdims=0)
            else:
                self._node(op_type, [x], output, axes=axes, keepdims=0)

        return reduce

    def expose(self, tensor: str) -> None:
        self._node("Identity", [tensor], exposed_name(tensor))
        self.graph.output.add(name=exposed_name(tensor))

    def _node(self, op_type: str, inputs: list[str], output: str, **attrs) -> None:
        self.graph.node.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
