"""What the layer graph draws: boxes and the edges between them.

* A **layer box** is a weighted layer, with the normalization and per-channel scale/shift layers
  that only feed it or only read it folded in (Conv + BatchNorm, or a DenseNet's BatchNorm, Mul,
  Add before its Conv: one box, its label listing the folded ops) and the activation that follows
  it named ("+ Relu").
* A **merge box** is a parameter-free op where two or more data paths meet: a residual Add or
  Sum, a Concat, a Mul gate, a MatMul of two activations (attention). Without them a skip
  connection would become long edges from one layer to many later ones.
* Inputs and outputs of the graph are boxes too.

An edge joins two boxes when data flows from one to the other through parameter-free ops only.
The sources of every tensor are worked out once, iteratively (a chain of ten thousand ops needs
no recursion), so building the boxes of a 500-layer model takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from irwua.ir.graph import Layer, LayerGraph, Node
from irwua.ops import Category, category_of

FOLDABLE = frozenset({"norm", "elementwise"})
"""Layer kinds folded into the layer they sit next to (they scale or shift its channels)."""

MERGES = {
    "Add": "+",
    "Sum": "+",
    "Concat": "concat",
    "Mul": "x",
    "Sub": "-",
    "Max": "max",
    "Min": "min",
    "Mean": "mean",
    "MatMul": "matmul",
    "Einsum": "einsum",
}
"""Parameter-free ops that are drawn as merge points when two data paths meet in them, with
their symbol."""


@dataclass
class Box:
    """One box of the drawing: ``layers`` (the host first, then what was folded into it) or a
    merge op's node, or a graph input or output (``terminal``)."""

    id: str
    layers: list[Layer] = field(default_factory=list)
    """The host first, then what was folded into it."""
    exit: Layer | None = None
    """The member whose output leaves the box (the latest in graph order): its output shape is
    the box's."""
    merge: Node | None = None
    terminal: tuple[str, str] | None = None
    """("input" or "output", the tensor name)."""
    activation: str | None = None

    @property
    def host(self) -> Layer | None:
        return self.layers[0] if self.layers else None


@dataclass
class LayerBoxes:
    """The boxes in drawing order and the edges between them (by box id, each edge once)."""

    boxes: dict[str, Box]
    edges: list[tuple[str, str]]

    @property
    def merges(self) -> list[Box]:
        return [box for box in self.boxes.values() if box.merge is not None]

    @cached_property
    def feeding(self) -> dict[str, list[str]]:
        """The boxes with an edge into each box, in drawing order."""
        table: dict[str, list[str]] = {}
        for tail, head in self.edges:
            table.setdefault(head, []).append(tail)
        order = {box_id: index for index, box_id in enumerate(self.boxes)}
        return {head: sorted(tails, key=order.__getitem__) for head, tails in table.items()}


def layer_boxes(graph: LayerGraph) -> LayerBoxes:
    """The boxes and edges of ``graph``'s layer drawing."""
    return _Builder(graph).build()


class _Builder:
    def __init__(self, graph: LayerGraph) -> None:
        self.graph = graph
        self.layer_ids = {layer.name: f"L{index}" for index, layer in enumerate(graph.layers)}
        self.merge_ids: dict[str, str] = {}
        self.sources: dict[str, frozenset[str]] = {}
        for index, name in enumerate(graph.inputs):
            self.sources[name] = frozenset({f"I{index}"})

    def build(self) -> LayerBoxes:
        graph = self.graph
        inputs = {layer.name: self._layer_inputs(layer) for layer in graph.layers}
        for index, name in enumerate(graph.outputs):
            inputs[f"O{index}"] = self.of(name)
        merge_inputs: dict[str, frozenset[str]] = {}
        while len(merge_inputs) < len(self.merge_ids):  # a merge's inputs may hold merges
            for name, node_id in list(self.merge_ids.items()):
                if node_id not in merge_inputs:
                    merge_inputs[node_id] = self._merge_sources(graph.node_by_name[name])
        edges: dict[tuple[str, str], None] = {}
        for layer in graph.layers:
            for source in sorted(inputs[layer.name]):
                edges[source, self.layer_ids[layer.name]] = None
        for node_id, sources in merge_inputs.items():
            for source in sorted(sources):
                edges[source, node_id] = None
        for index, _ in enumerate(graph.outputs):
            for source in sorted(inputs[f"O{index}"]):
                edges[source, f"O{index}"] = None
        boxes = self._boxes()
        return _folded(boxes, list(edges), graph)

    def _layer_inputs(self, layer: Layer) -> frozenset[str]:
        if not layer.data_input:
            return frozenset()
        return self.of(layer.data_input) - {self.layer_ids[layer.name]}

    def _merge_sources(self, node: Node) -> frozenset[str]:
        sources = frozenset().union(*(self.of(name) for name in self._data_inputs(node)))
        return sources - {self.merge_ids[node.name]}

    def _boxes(self) -> dict[str, Box]:
        graph = self.graph
        boxes = {f"I{i}": Box(f"I{i}", terminal=("input", n)) for i, n in enumerate(graph.inputs)}
        for layer in graph.layers:
            box_id = self.layer_ids[layer.name]
            boxes[box_id] = Box(box_id, [layer], activation=_activation(layer.output, graph))
        for name, box_id in self.merge_ids.items():
            boxes[box_id] = Box(box_id, merge=graph.node_by_name[name])
        for index, name in enumerate(graph.outputs):
            boxes[f"O{index}"] = Box(f"O{index}", terminal=("output", name))
        return boxes

    def of(self, tensor: str) -> frozenset[str]:
        """The boxes whose data reaches ``tensor`` through parameter-free ops only."""
        stack = [tensor]
        visiting: set[str] = set()
        while stack:
            name = stack[-1]
            if name in self.sources:
                stack.pop()
                continue
            pending = self._dependencies(name)
            missing = [dep for dep in pending if dep not in self.sources and dep not in visiting]
            if missing:
                visiting.add(name)
                stack.extend(missing)
                continue
            self.sources[name] = self._resolve(name, pending)
            stack.pop()
        return self.sources[tensor]

    def _dependencies(self, tensor: str) -> list[str]:
        """The tensors whose sources make ``tensor``'s (none for a layer's or a constant)."""
        node = self.graph.producer.get(tensor)
        if node is None or tensor in self.graph.constants:
            return []
        if self.graph.layer_of_node.get(node.name) is not None:
            return []
        return self._data_inputs(node)

    def _resolve(self, tensor: str, inputs: list[str]) -> frozenset[str]:
        graph = self.graph
        node = graph.producer.get(tensor)
        if node is None or tensor in graph.constants:
            return frozenset()
        owner = graph.layer_of_node.get(node.name)
        if owner is not None:
            return frozenset({self.layer_ids[owner.name]})
        parts = [self.sources.get(name, frozenset()) for name in inputs]
        merge = node.op_type in MERGES and not node.domain and not node.scope
        if merge and sum(1 for part in parts if part) >= 2 and len(frozenset().union(*parts)) > 1:
            box_id = self.merge_ids.setdefault(node.name, f"M{len(self.merge_ids)}")
            return frozenset({box_id})  # two data paths meet here
        return frozenset().union(*parts)

    def _data_inputs(self, node: Node) -> list[str]:
        """The node's non-constant inputs, each once (``Add(x, x)`` merges nothing)."""
        names = (name for name in node.inputs if name and name not in self.graph.constants)
        return list(dict.fromkeys(names))


def _activation(tensor: str, graph: LayerGraph) -> str | None:
    """The activation op that alone reads ``tensor``, if any."""
    readers = graph.consumers.get(tensor, [])
    if (
        len(readers) == 1
        and category_of(readers[0].op_type, readers[0].domain) is Category.ACTIVATION
    ):
        return readers[0].op_type
    return None


def _folded(boxes: dict[str, Box], edges: list[tuple[str, str]], graph: LayerGraph) -> LayerBoxes:
    """Fold each normalization or scale/shift layer into the box it alone feeds or alone reads:
    upstream first (Conv -> BatchNorm), unless an activation ended that box (Conv -> BatchNorm
    -> Relu | BatchNorm -> Conv: the second BatchNorm belongs to the next Conv), else
    downstream."""
    into: dict[str, str] = {}

    def root(box_id: str) -> str:
        while box_id in into:
            box_id = into[box_id]
        return box_id

    outgoing: dict[str, set[str]] = {}
    incoming: dict[str, set[str]] = {}
    for tail, head in edges:
        outgoing.setdefault(tail, set()).add(head)
        incoming.setdefault(head, set()).add(tail)
    groups = {box_id: [box_id] for box_id in boxes}
    # each group's members, by its root

    def only(table: dict[str, set[str]], neighbour: str, mine: str) -> bool:
        """Whether every edge of ``neighbour``'s group in ``table`` (outgoing or incoming)
        leads to the group ``mine`` or stays inside its own."""
        return all(
            root(other) in (mine, neighbour)
            for member in groups[neighbour]
            for other in table.get(member, ())
        )

    for box_id, box in list(boxes.items()):
        if box.host is None or box.host.kind not in FOLDABLE:
            continue
        mine = root(box_id)
        ups = {root(b) for b in incoming.get(box_id, ())} - {mine}
        downs = {root(b) for b in outgoing.get(box_id, ())} - {mine}
        ended = len(ups) == 1 and any(boxes[m].activation for m in groups[next(iter(ups))])
        candidates = [
            next(iter(side))
            for side, table in ((set() if ended else ups, outgoing), (downs, incoming))
            if len(side) == 1 and only(table, next(iter(side)), mine)
        ]
        target = next((c for c in candidates if boxes[c].host is not None), None)
        if target is not None:
            into[mine] = target
            groups[target].extend(groups.pop(mine))
    merged: dict[str, Box] = {}
    for box_id, box in boxes.items():
        target = root(box_id)
        if target == box_id:
            merged[box_id] = box
    for box_id, box in boxes.items():
        target = root(box_id)
        if target != box_id:
            host = merged[target]
            host.layers.extend(box.layers)
            host.activation = host.activation or box.activation
    position = {layer.name: index for index, layer in enumerate(graph.layers)}
    for box in merged.values():
        if box.layers:
            box.exit = max(box.layers, key=lambda layer: position[layer.name])
            box.layers.sort(key=lambda layer: (layer.kind in FOLDABLE, position[layer.name]))
    kept = dict.fromkeys(
        (root(tail), root(head)) for tail, head in edges if root(tail) != root(head)
    )
    return LayerBoxes(merged, list(kept))
