"""Building the layer graph from a parsed ONNX model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import onnx

from irwua.ingest.constants import collect_constants
from irwua.ingest.inputs import Shape, batch_size, bind_inputs, model_inputs
from irwua.ingest.layers import find_layers
from irwua.ingest.model_file import opset_version
from irwua.ingest.shapes import infer_tensors
from irwua.ingest.tensors import attributes, initializers, subgraphs
from irwua.ir.graph import ConstantTable, Layer, LayerGraph, Node, TensorInfo
from irwua.ir.source import ModelSource


def build_graph(
    source: ModelSource,
    input_shapes: Mapping[str, Shape] | None = None,
    layer_names: Mapping[str, str] | None = None,
    layer_notes: Mapping[str, str] | None = None,
) -> LayerGraph:
    """Parse ``source`` into a ``LayerGraph`` with concrete shapes for the given input shapes.

    ``layer_names`` (ONNX node name -> framework name) renames layers to the names users know;
    ``layer_notes`` attaches a front-end's remark (a BatchNorm folded into a conv) to a layer.
    """
    proto = source.proto
    opset = opset_version(proto)
    bound = bind_inputs(proto, input_shapes or {})
    # Constants first: reading them checks every external-data location before onnxruntime
    # (which shape inference may run) is given the model.
    nodes, constants = nodes_and_constants(source, opset)
    tensors: dict[str, TensorInfo] = infer_tensors(source, bound, nodes, constants, opset)
    layers = find_layers(nodes, constants, source.learned)
    layers = _named(layers, layer_names or {}, layer_notes or {})
    metadata = {
        "path": str(source.path) if source.path else None,
        "sha256": source.sha256,
        "opset": opset,
        "ir_version": int(proto.ir_version),
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "graph_name": proto.graph.name,
        "doc_string": proto.doc_string,
        "metadata_props": {p.key: p.value for p in proto.metadata_props},
        "input_shapes": {name: list(shape) for name, shape in bound.items()},
        "batch": batch_size(proto, bound),
    }
    return LayerGraph(
        nodes=nodes,
        layers=layers,
        tensors=tensors,
        constants=constants,
        inputs=[vi.name for vi in model_inputs(proto)],
        outputs=[vi.name for vi in proto.graph.output],
        opset=opset,
        metadata=metadata,
        source=source,
    )


def nodes_and_constants(source: ModelSource, opset: int) -> tuple[list[Node], ConstantTable]:
    """Every op of the model (subgraph ops flattened, topologically ordered) and its constant
    tensors: what shape inference and the layer graph are built from."""
    nodes = _flatten(source.proto.graph, source.base_dir)
    constants = collect_constants(initializers(source.proto.graph), nodes, opset, source.base_dir)
    return nodes, constants


def _flatten(graph: onnx.GraphProto, base_dir: Path | None) -> list[Node]:
    """All nodes in topological order, subgraph nodes right after the node that owns them."""
    nodes: list[Node] = []
    for name, scope, proto in named_nodes(graph):
        branches = [(f"{name}.{attr}", sub) for attr, sub in subgraphs(proto)]
        nodes.append(
            Node(
                name=name,
                op_type=proto.op_type,
                domain="" if proto.domain == "ai.onnx" else proto.domain,
                inputs=tuple(proto.input),
                outputs=tuple(proto.output),
                attrs=attributes(proto, base_dir),
                scope=scope,
                branches=tuple(branch for branch, _ in branches),
                branch_outputs=tuple(tuple(o.name for o in sub.output) for _, sub in branches),
                branch_inputs=tuple(tuple(i.name for i in sub.input) for _, sub in branches),
            )
        )
    return nodes


def named_nodes(
    graph: onnx.GraphProto, scope: str = "", used: dict[str, int] | None = None
) -> Iterator[tuple[str, str, onnx.NodeProto]]:
    """``(name, scope, node)`` for every node, subgraph nodes right after the node that owns
    them: the names irwua gives nodes (a front-end keys its layer names by them).

    A subgraph's scope is its owner's name and attribute (``loop.body``), and a subgraph node's
    name starts with its scope. Names are unique: a repeated name gets the first free ``#k``
    suffix; ``used`` counts the suffixes tried per name, so de-duplicating n nodes of one name is
    linear in n."""
    used = {} if used is None else used
    for index, proto in enumerate(graph.node):
        name = proto.name or f"{proto.op_type}_{index}"
        if scope:
            name = f"{scope}/{name}"
        name = _unique(name, used)
        yield name, scope, proto
        for attr, sub in subgraphs(proto):
            yield from named_nodes(sub, f"{name}.{attr}", used)


def _unique(name: str, used: dict[str, int]) -> str:
    """``name``, or ``name#k`` for the smallest k >= 2 not taken yet; records what it returns."""
    unique = name
    while unique in used:
        used[name] += 1
        unique = f"{name}#{used[name]}"
    used[unique] = 1
    return unique


def _named(layers: list[Layer], names: Mapping[str, str], notes: Mapping[str, str]) -> list[Layer]:
    """Layers carrying the framework's names (unique: a module called twice gets '#2')."""
    used: dict[str, int] = {}
    renamed = []
    for layer in layers:
        framework = names.get(layer.node)
        name = framework or layer.name
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = f"{name}#{used[name]}"
        note = "; ".join(filter(None, (layer.note, notes.get(layer.node)))) or None
        renamed.append(layer._replace(name=name, framework_name=framework, note=note))
    return renamed
