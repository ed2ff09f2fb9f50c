"""Which weights or units to prune: scores by criterion, and the order in which they go.

Pure numpy, no onnxruntime and no protobuf. Three criteria score each weight (unstructured
pruning) or each output unit / channel (structured pruning):

* ``importance``: I_ij = |w_ij| x s_j from the importance pass; a unit's score is the sum over
  its weights (``LayerImportance.per_output``);
* ``magnitude``: |w_ij|; a unit's score is the L1 norm of its weights;
* ``random``: uniform random scores from a seeded generator (the baseline any criterion must
  beat).

A ``Ranking`` orders the elements of one or more layers from least to most valuable; pruning at a
ratio r removes the first round(r x n) of them, so the pruned set at a ratio contains the pruned
set at every smaller ratio.

Across layers (global scope) each score is divided by its layer's total: a weight is ranked by
its share of its layer's importance (the p of the metrics pass), and one threshold prunes the
weights holding the smallest shares. This is scale-invariant (raw |w| x mean|x| grows with a
layer's input scale, raw |w| shrinks with its fan-in), and it prunes large layers, whose weights
each hold a small share, more than small ones (``docs/measured-choices.md`` has the accuracies
that chose it). Random scores are comparable across layers as they are: global random
pruning removes every weight with the same probability, the usual baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from irwua.ir.geometry import is_unit_layer, unit_counts, unit_totals
from irwua.ir.graph import Layer, LayerGraph


class LayerImportance(Protocol):
    """What ranking reads of a layer's importance (the importance pass's ``LayerImportance``):
    per weight, shaped like the weight, and summed per output unit."""

    weight: np.ndarray
    per_output: np.ndarray


def prunable_layers(graph: LayerGraph) -> list[Layer]:
    """Layers of the main graph whose floating-point weight matrix can be pruned: the unit
    layers (``features.UNIT_KINDS``). Biases, normalizations, embeddings and recurrent cells are
    left alone (as in Han et al. 2015, which prunes weights)."""
    return [
        layer
        for layer in graph.layers
        if is_unit_layer(layer, graph) and graph.array(layer).dtype.kind == "f"
    ]


def weight_scores(
    layer: Layer,
    graph: LayerGraph,
    criterion: str,
    importance: LayerImportance | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """One score per weight, shaped like the weight (low scores are pruned first)."""
    weight = np.asarray(graph.array(layer))
    if criterion == "random":
        return rng.random(weight.shape, np.float32)
    if criterion == "importance" and importance is not None:
        return np.asarray(importance.weight, np.float32)
    return np.abs(weight).astype(np.float32)


def unit_scores(
    layer: Layer,
    graph: LayerGraph,
    criterion: str,
    importance: LayerImportance | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """One score per output unit (low scores are pruned first): the importance pass's
    ``per_output`` for the importance criterion, the L1 norm of the unit's weights else."""
    if criterion == "random":
        return rng.random(unit_counts(layer, graph)[1], np.float32)
    if criterion == "importance" and importance is not None:
        return np.asarray(importance.per_output, np.float32)
    scores = weight_scores(layer, graph, criterion, importance, rng)
    return unit_totals(layer, graph, scores, "out").astype(np.float32)


@dataclass(frozen=True)
class Ranking:
    """Elements (weights or units) of some layers, ordered from first to last pruned.

    ``order`` indexes the concatenation of the layers' flattened elements. With ``keep_one``
    every layer keeps at least one element (a layer without units would cut the network).
    """

    layers: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    order: np.ndarray
    keep_one: bool = False

    @property
    def size(self) -> int:
        return int(self.order.size)

    def count(self, ratio: float) -> int:
        """How many elements a ratio prunes."""
        count = round(ratio * self.size)
        return min(count, self.size - len(self.layers)) if self.keep_one else count

    def pruned(self, ratio: float) -> dict[str, np.ndarray]:
        """Per layer, a boolean array shaped like its elements: True where pruned at ``ratio``."""
        flags = np.zeros(self.size, bool)
        flags[self.order[: self.count(ratio)]] = True
        masks: dict[str, np.ndarray] = {}
        start = 0
        for name, shape in zip(self.layers, self.shapes, strict=True):
            stop = start + int(np.prod(shape, dtype=np.int64))
            masks[name] = flags[start:stop].reshape(shape)
            start = stop
        return masks


def rank(scores: Mapping[str, np.ndarray], keep_one: bool = False, shares: bool = True) -> Ranking:
    """The pruning order of the elements of ``scores`` (one array per layer), lowest first.

    With several layers and ``shares``, each score is divided by its layer's total (see the
    module docstring). With ``keep_one``, each layer's best element goes last.
    """
    names = tuple(scores)
    normalized = []
    for name in names:
        values = np.asarray(scores[name], np.float64).ravel()
        total = values.sum()
        if len(names) > 1 and shares:
            values = values / total if total > 0 else np.zeros_like(values)
        if keep_one and values.size:
            values = values.copy()
            values[int(values.argmax())] = np.inf
        normalized.append(values)
    flat = np.concatenate(normalized) if normalized else np.zeros(0)
    return Ranking(
        layers=names,
        shapes=tuple(np.shape(scores[name]) for name in names),
        order=np.argsort(flat, kind="stable"),
        keep_one=keep_one,
    )


def ranking(
    graph: LayerGraph,
    names: Sequence[str],
    criterion: str,
    importance: Mapping[str, LayerImportance],
    structured: bool,
    seed: int = 0,
) -> Ranking:
    """The pruning order of the weights (or, ``structured``, the output units) of the layers
    ``names`` taken together; ``importance`` is the importance pass's result per layer."""
    rng = np.random.default_rng(seed)
    score = unit_scores if structured else weight_scores
    scores = {
        name: score(graph.layer_by_name[name], graph, criterion, importance.get(name), rng)
        for name in names
    }
    return rank(scores, keep_one=structured, shares=criterion != "random")
