"""The layer graph: irwua's intermediate representation.

Plain Python and numpy: the only protobuf a ``LayerGraph`` keeps is the parsed model it was built
from (``source``), for the passes that run copies of it. It holds every op of the model as a
``Node`` (topologically ordered, subgraph ops flattened with a ``scope``), a concrete shape and
dtype for every tensor, the constant tensors, and the weighted ``Layer``s (Conv, Gemm, MatMul with
a constant operand, recurrent cells, embeddings, normalizations, elementwise ops with a learned
tensor). Layers connect to each other through the parameter-free ops between them.

The per-op records (``TensorInfo``, ``Node``, ``Layer``) are immutable NamedTuples
(``docs/measured-choices.md`` says why not dataclasses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from irwua.ir.source import ModelSource


@dataclass
class ConstantTable:
    """Constant tensors by value name, with the stored tensor each one comes from."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> np.ndarray | None:
        return self.values.get(name)

    def add(self, name: str, value: np.ndarray, origin: str | None = None) -> None:
        self.values[name] = value
        self.origins[name] = origin or name


class TensorInfo(NamedTuple):
    """A tensor's concrete shape (None when unknown) and numpy dtype."""

    name: str
    shape: tuple[int, ...] | None
    dtype: np.dtype

    @property
    def size(self) -> int | None:
        return None if self.shape is None else math.prod(self.shape)

    @property
    def nbytes(self) -> int | None:
        size = self.size
        return None if size is None else size * self.dtype.itemsize


class Node(NamedTuple):
    """One ONNX op. ``scope`` is '' in the main graph, else the scope of the owning subgraph;
    ``branches`` are the scopes of the subgraphs a control-flow op owns (If, Loop, Scan), and
    ``branch_inputs`` and ``branch_outputs`` the input and output names of each."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any]
    scope: str = ""
    branches: tuple[str, ...] = ()
    branch_outputs: tuple[tuple[str, ...], ...] = ()
    branch_inputs: tuple[tuple[str, ...], ...] = ()

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


class Layer(NamedTuple):
    """A node that holds learned tensors.

    ``kind`` is one of: conv, conv_transpose, gemm, matmul, einsum, recurrent, embedding, norm,
    elementwise, broadcast (a learned tensor repeated into the data, with no ``data_input``).
    ``weight`` is the main learned tensor exactly as stored in the ONNX graph
    (Gemm: [out, in] when transB=1, else [in, out]; MatMul: [in, out];
    Conv: [out, in/groups, k...]).
    ``tensors`` maps a role ('weight', 'bias', 'R', 'mean', ...) to the constant's value name.
    ``nodes`` are the op names that make up the layer (a MatMul and the Add of its bias).
    ``data_input`` is the activation the layer reads.
    ``weight_left``: the weight is the left operand of a Gemm/MatMul (A of A @ x, stored
    [out, in]) instead of the usual right one.
    """

    name: str
    kind: str
    op_type: str
    node: str
    nodes: tuple[str, ...]
    tensors: Mapping[str, str]
    data_input: str | None
    output: str
    scope: str = ""
    framework_name: str | None = None
    note: str | None = None
    weight_left: bool = False


@dataclass
class LayerGraph:
    """Everything the passes need to know about a model, with shapes made concrete."""

    nodes: list[Node]
    layers: list[Layer]
    tensors: dict[str, TensorInfo]
    constants: ConstantTable
    inputs: list[str]
    outputs: list[str]
    opset: int
    metadata: dict[str, Any] = field(default_factory=dict)
    source: ModelSource | None = None
    """The parsed model, for passes that run it (on copies) in onnxruntime."""

    @cached_property
    def node_by_name(self) -> dict[str, Node]:
        return {node.name: node for node in self.nodes}

    @cached_property
    def layer_by_name(self) -> dict[str, Layer]:
        return {layer.name: layer for layer in self.layers}

    @cached_property
    def producer(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs if out}

    @cached_property
    def consumers(self) -> dict[str, list[Node]]:
        table: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    table.setdefault(name, []).append(node)
        return table

    @cached_property
    def layer_of_node(self) -> dict[str, Layer]:
        return {node: layer for layer in self.layers for node in layer.nodes}

    def shape(self, name: str) -> tuple[int, ...] | None:
        info = self.tensors.get(name)
        return info.shape if info else None

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def array(self, layer: Layer, role: str = "weight") -> np.ndarray | None:
        """The value of one of a layer's learned tensors, or None if it has no such role."""
        name = layer.tensors.get(role)
        return None if name is None else self.constants.values[name]
