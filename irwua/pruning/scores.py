"""How each weight or unit of a layer scores for pruning, lowest pruned first.

Pure numpy, no onnxruntime and no protobuf. Three criteria score each weight (unstructured and
N:M pruning) or each output unit / channel (structured pruning):

* ``importance``: I_ij = |w_ij| x s_j from the importance pass; a unit's score is the sum over
  its weights (``LayerImportance.per_output``);
* ``magnitude``: |w_ij|; a unit's score is the L1 norm of its weights;
* ``random``: uniform random scores from a seeded generator (the baseline any criterion must
  beat).

How scores of several layers are compared is ``irwua.pruning.allocation``'s business.
"""

from __future__ import annotations

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
