"""Keras' own names for the nodes of a model converted by tf2onnx.

tf2onnx names a weight after the op that read its variable (``functional_1/dense_1/Cast/
ReadVariableOp:0``) and a node after the TensorFlow op it came from. TensorFlow makes name scopes
unique per graph, so ``dense_1`` in a graph may be the layer ``dense``; the real owner is found
from the traced function instead: each captured variable handle is a Keras layer's variable, and
the op that reads it gives both the weight's name and the scope of that layer. Names outside any
known scope (``Conv__22``) are left to the weights they read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import onnx

from irwua.exporters.names import name_nodes
from irwua.ingest.build import named_nodes
from irwua.ingest.tensors import attributes


class KerasNames:
    """Layer names by weight name and by name scope, for naming converted nodes."""

    def __init__(
        self,
        reads: dict[str, str],
        scopes: dict[tuple[str, ...], str],
        norms: set[str],
        renamed: bool = False,
        by_value: frozenset[str] = frozenset(),
        wrappers: Mapping[str, str] | None = None,
    ) -> None:
        """``renamed``: scopes may appear in the graph made unique (``dense`` as ``dense_1``);
        ``by_value``: layers whose tensors the function captured as values, not variables;
        ``wrappers``: the Bidirectional layer around each of its direction layers."""
        self.reads = reads
        self.scopes = scopes
        self.norms = norms
        self.renamed = renamed
        self.by_value = by_value
        self.wrappers = dict(wrappers or {})

    @classmethod
    def for_keras(cls, model: Any, concrete: Any) -> KerasNames:
        """From a Keras model and the concrete function traced from its call.

        The innermost layer owns a variable, except that a recurrent layer owns its cell's. A
        layer owns its variables and the tensors it holds as attributes (a ``Normalization``
        layer's mean and variance, which the function captures by value)."""
        owners: dict[int, str] = {}
        norms: set[str] = set()
        layers = list(model._flatten_layers(include_self=True, recursive=True))
        cells = {id(layer.cell) for layer in layers if hasattr(layer, "cell")}
        wrappers = {
            inner.name: layer.name
            for layer in layers
            for inner in (
                getattr(layer, "forward_layer", None),
                getattr(layer, "backward_layer", None),
            )
            if inner is not None
        }
        for layer in layers:
            if id(layer) in cells:
                continue  # an RNN layer's cell: its weights are the RNN layer's
            if is_batchnorm(layer):
                norms.add(layer.name)
            for variable in layer.weights:  # the innermost layer comes last and wins
                owners[id(_handle(variable))] = layer.name
            for value in vars(layer).values():
                if type(value).__name__ == "EagerTensor":
                    owners[id(value)] = layer.name
        return cls._from_reads(concrete, owners, norms, wrappers)

    @classmethod
    def for_module(cls, module: Any, concrete: Any) -> KerasNames:
        """From a tf.Module and its traced ``__call__``: a variable is owned by its name scope
        (``affine/w:0`` -> ``affine``), else by the module."""
        owners = {
            id(variable.handle): variable.name.rpartition("/")[0] or module.name
            for variable in module.variables
        }
        return cls._from_reads(concrete, owners, set())

    @classmethod
    def _from_reads(
        cls,
        concrete: Any,
        owners: dict[int, str],
        norms: set[str],
        wrappers: Mapping[str, str] | None = None,
    ) -> KerasNames:
        """Owners by the ops reading the captured variables (or by the tensors captured by
        value), and the scopes those ops are in."""
        reads: dict[str, str] = {}
        scopes: dict[tuple[str, ...], str] = {}

        def own(tensor: str, op_name: str, layer: str) -> None:
            reads[tensor] = layer
            scope = _layer_scope(op_name, layer.rpartition("/")[2])
            if scope:
                scopes[scope] = layer

        handles: dict[str, str] = {}
        by_value: set[str] = set()
        for external, internal in concrete.graph.captures:
            layer = owners.get(id(external))
            if layer is None:
                continue
            own(internal.name, internal.op.name, layer)  # a variable is frozen in its place
            if internal.dtype.name == "resource":
                handles[internal.name] = layer
            else:
                by_value.add(layer)
        for op in concrete.graph.get_operations():
            if op.type == "ReadVariableOp" and op.inputs[0].name in handles:
                own(op.outputs[0].name, op.name, handles[op.inputs[0].name])
        return cls(reads, scopes, norms, by_value=frozenset(by_value), wrappers=wrappers)

    @classmethod
    def for_variables(cls, variables: Iterable[Any]) -> KerasNames:
        """From the variables of a SavedModel or tf.Module: ``model/dense/kernel:0`` -> ``dense``,
        found in graph names under the scope ``model/dense`` or a renamed ``model_1/dense_1``."""
        scopes: dict[tuple[str, ...], str] = {}
        for variable in variables:
            parts = tuple(variable.name.split(":")[0].split("/")[:-1])
            if parts and variable.dtype.is_floating:
                scopes[parts] = parts[-1]
        return cls({}, scopes, set(), renamed=True)

    def owner(self, name: str) -> str | None:
        """The layer owning a weight or node name: by the op that read it, else by the longest
        scope found in the name (exact matches preferred)."""
        if name in self.reads:
            return self.reads[name]
        parts = name.split(":")[0].split("/")
        best: tuple[int, int, str | None] = (0, 0, None)
        for scope, layer in self.scopes.items():
            for start in range(len(parts) - len(scope) + 1):
                exact = self._matches(parts[start : start + len(scope)], scope)
                if exact is not None and (len(scope), exact) > best[:2]:
                    best = (len(scope), exact, layer)
        return best[2]

    def _matches(self, parts: list[str], scope: tuple[str, ...]) -> int | None:
        """How many parts equal the scope's exactly, or None when the scope is not there."""
        exact = 0
        for part, expected in zip(parts, scope, strict=True):
            if part == expected:
                exact += 1
            elif not (
                self.renamed
                and _RENAMED.fullmatch(part[len(expected) :])
                and part.startswith(expected)
            ):
                return None
        return exact

    def name_nodes(self, graph: onnx.GraphProto) -> tuple[dict[str, str], dict[str, str]]:
        """Names for the graph's nodes and those of its subgraphs (a recurrent layer's Loop
        body), keyed by the names irwua gives them."""
        named = [(name, node) for name, _, node in named_nodes(graph)]
        sizes = {t.name: math.prod(t.dims) for t in graph.initializer}
        sources = {name: [i for i in node.input if i in sizes] for name, node in named}
        producers = {output: node for _, node in named for output in node.output}
        return name_nodes(
            named,
            sources,
            sizes,
            lambda tensor: [owner] if (owner := self.owner(tensor)) else [],
            lambda node: self._scope_owner(node, producers),
            self.norms,
        )

    def _scope_owner(
        self, node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]
    ) -> str | None:
        """The layer a node was converted from: by its name, or, for a recurrent op that
        tf2onnx's rewriter made (``LSTM__33``, weights renamed too), by the op that computes its
        input sequence (the layer's own transpose to time-major)."""
        owner = self.owner(node.name)
        if owner is None and node.op_type in _RECURRENT and node.input:
            producer = producers.get(node.input[0])
            while producer is not None and "/" not in producer.name and producer.input:
                producer = producers.get(producer.input[0])
            owner = self.owner(producer.name) if producer is not None else None
        if owner in self.wrappers and attributes(node).get("direction") == "bidirectional":
            return self.wrappers[owner]  # one op for both directions: the Bidirectional layer's
        return owner


_RENAMED = re.compile(r"(_\d+)+")
_RECURRENT = ("LSTM", "GRU", "RNN")


def is_batchnorm(layer: Any) -> bool:
    """Whether a Keras layer is a BatchNormalization (or a subclass named after it)."""
    return "BatchNormalization" in type(layer).__name__


def _handle(variable: Any) -> Any:
    """The resource handle of a Keras 3 variable (``.value`` is its tf.Variable) or tf.Variable."""
    inner = getattr(variable, "value", None)
    return inner.handle if hasattr(inner, "handle") else variable.handle


def _layer_scope(op_name: str, layer: str) -> tuple[str, ...] | None:
    """The name scope of ``layer`` in an op's name: up to the last part that is the layer's name,
    possibly made unique by TensorFlow (``dense`` -> ``dense_1``)."""
    parts = op_name.split("/")
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        if part.startswith(layer) and (part == layer or _RENAMED.fullmatch(part[len(layer) :])):
            return tuple(parts[: index + 1])
    return None
