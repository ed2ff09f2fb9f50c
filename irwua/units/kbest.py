"""Exact K best paths, and the total score through each unit, over a DAG of dense connection
matrices.

The DAG's nodes are layers of units; an ``Edge`` from node S to node T holds a matrix
``weights[o, u] >= 0``, the connection from unit u of S to unit o of T (target-major, like a
PyTorch weight). A path runs from a unit
of a *start* (a node that no edge enters) to a unit of any node, and its score is the product of
the connections along it. Both computations visit the nodes in topological order:

* ``k_best``: the K highest-scoring paths ending at every unit, by dynamic programming. Every
  prefix of a K-best path is one of the K best paths to its own end, so the K best to unit o of T
  are the K best of {score(p) * w[u, o]} over the incoming edges, their source units u and the
  K best paths p to u. Only the K sources with the largest best-path-times-connection can
  contribute (any other source is beaten by K paths through those), so a node costs one pass
  over its matrices plus K x K candidates per unit. The K sources per unit are found without a
  full selection: sources are split into groups of ``GROUP``; the K best sources lie in the K
  groups with the largest maxima, so a selection runs over the group maxima and then over those
  K x GROUP candidates. Target units are processed in chunks so that the work stays in cache.
* ``flow``: the sum of the scores of all start-to-end paths through each unit (forward sum times
  backward sum, as in the forward-backward algorithm), where the ends are the nodes no edge leaves.

Scores are plain float64 products, rescaled at every node (the best path to a node is 1) with
the log of the scale kept separately, so deep graphs neither underflow nor lose the ranking.
The source selection compares float32 products; candidates are scored in float64. Paths of score
0 (through a zero connection) are not paths: ``Ranked`` leaves such slots empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter

import numpy as np

GROUP = 16
"""Sources per group in the two-stage source selection."""

CHUNK_ELEMENTS = 1 << 20
"""Matrix elements per chunk of target units (4 MB of float32 scratch)."""


@dataclass(frozen=True)
class Edge:
    """Connections from the units of ``source`` to the units of ``target``:
    ``weights[target_unit, source_unit] >= 0``."""

    source: str
    target: str
    weights: np.ndarray


@dataclass(frozen=True)
class Ranked:
    """The K best paths to each unit of one node, best first.

    ``scores[o, r] * exp(log_scale)`` is the score of the r-th best path to unit o (0: fewer
    paths). That path's last edge is ``edges[edge[o, r]]``, from unit ``unit[o, r]`` of the
    edge's source, where it was the ``rank[o, r]``-th best path (-1 in all three: no path).
    """

    scores: np.ndarray
    log_scale: float
    edge: np.ndarray
    unit: np.ndarray
    rank: np.ndarray

    @staticmethod
    def start(units: int) -> Ranked:
        """A start node: one path of score 1 to each unit."""
        empty = np.full((units, 1), -1, np.int64)
        return Ranked(np.ones((units, 1)), 0.0, empty, empty, empty)


@dataclass(frozen=True)
class Path:
    """One path: ``log_score`` (natural log of its score) and its (node, unit) steps."""

    log_score: float
    units: tuple[tuple[str, int], ...]


def topological(edges: Sequence[Edge]) -> list[str]:
    """Every node of ``edges``, each after all the sources of its incoming edges."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for edge in edges:
        sorter.add(edge.target, edge.source)
    return list(sorter.static_order())


def k_best(edges: Sequence[Edge], k: int) -> dict[str, Ranked]:
    """The K best paths to every unit of every node (see the module docstring)."""
    incoming: dict[str, list[int]] = {}
    for index, edge in enumerate(edges):
        incoming.setdefault(edge.target, []).append(index)
    ranked: dict[str, Ranked] = {}
    for node in topological(edges):
        if node not in incoming:
            ranked[node] = Ranked.start(_units(edges, node))
        else:
            ranked[node] = _rank_node(edges, incoming[node], ranked, k)
    return ranked


def _units(edges: Sequence[Edge], node: str) -> int:
    return max(e.weights.shape[1] for e in edges if e.source == node)


def _rank_node(
    edges: Sequence[Edge], indices: list[int], ranked: Mapping[str, Ranked], k: int
) -> Ranked:
    """Merge the candidates of every incoming edge and keep the K best per target unit."""
    live = [i for i in indices if math.isfinite(ranked[edges[i].source].log_scale)]
    n_target = edges[indices[0]].weights.shape[0]
    if not live:
        return _empty(n_target, k)
    log_base = max(ranked[edges[i].source].log_scale for i in live)
    targets = np.arange(n_target)[:, None]
    scores, parts = [], []
    for i in live:
        source, weights = ranked[edges[i].source], edges[i].weights
        paths = source.scores[: weights.shape[1]]  # a start may be wider for another edge
        chosen = top_sources(weights, paths[:, 0], k)  # [n_target, k']
        connection = weights[targets, chosen].astype(np.float64)
        connection *= math.exp(source.log_scale - log_base)
        product = paths[chosen] * connection[..., None]  # [n_target, k', depth]
        scores.append(product.reshape(n_target, -1))
        parts.append((i, chosen, paths.shape[1]))
    merged = np.concatenate(scores, axis=1) if len(scores) > 1 else scores[0]
    width = merged.shape[1]
    keep = min(k, width)
    order = np.argpartition(merged, width - keep, axis=1)[:, width - keep :]
    best = np.take_along_axis(merged, order, 1)
    resort = np.argsort(-best, axis=1, kind="stable")
    order = np.take_along_axis(order, resort, 1)
    best = np.take_along_axis(best, resort, 1)
    top = float(best[:, 0].max())
    if top <= 0:
        return _empty(n_target, k)
    edge, unit, rank = (np.full(order.shape, -1, np.int64) for _ in range(3))
    offset = 0
    for i, chosen, depth in parts:  # a candidate's column: offset + source slot * depth + rank
        local = order - offset
        mine = (local >= 0) & (local < chosen.shape[1] * depth) & (best > 0)
        slot = np.where(mine, local // depth, 0)
        edge[mine] = i
        unit[mine] = np.take_along_axis(chosen, slot, 1)[mine]
        rank[mine] = (local % depth)[mine]
        offset += chosen.shape[1] * depth
    return Ranked(np.where(best > 0, best / top, 0.0), log_base + math.log(top), edge, unit, rank)


def _empty(units: int, k: int) -> Ranked:
    none = np.full((units, k), -1, np.int64)
    return Ranked(np.zeros((units, k)), -math.inf, none, none, none)


def top_sources(weights: np.ndarray, best: np.ndarray, k: int) -> np.ndarray:
    """For each target unit o, the (up to) K source units u with the largest
    ``best[u] * weights[o, u]``, in no particular order: an array [targets, min(k, sources)].

    Group j holds the sources j, j + G, j + 2G, ... (G groups of ``GROUP``), so that the group
    maxima are a fast reduction over rows of G contiguous values.
    """
    n_target, n_source = weights.shape
    if n_source <= k:
        return np.broadcast_to(np.arange(n_source), (n_target, n_source))
    scale = np.asarray(best, np.float32)
    groups = -(-n_source // GROUP)
    if groups <= k:
        product = np.asarray(weights, np.float32) * scale
        return np.argpartition(product, n_source - k, axis=1)[:, n_source - k :]
    padded = groups * GROUP
    height = max(1, min(n_target, CHUNK_ELEMENTS // padded))
    scratch = np.full((height, padded), -1.0, np.float32)  # padding never wins: products >= 0
    chosen = np.empty((n_target, k), np.int64)
    members = np.arange(GROUP) * groups
    for start in range(0, n_target, height):
        stop = min(start + height, n_target)
        block = scratch[: stop - start]
        np.multiply(weights[start:stop], scale, out=block[:, :n_source])
        group_max = block.reshape(stop - start, GROUP, groups).max(axis=1)
        top_groups = np.argpartition(group_max, groups - k, axis=1)[:, groups - k :]
        columns = (top_groups[:, :, None] + members).reshape(stop - start, k * GROUP)
        values = np.take_along_axis(block, columns, 1)
        best_columns = np.argpartition(values, k * GROUP - k, axis=1)[:, k * GROUP - k :]
        chosen[start:stop] = np.take_along_axis(columns, best_columns, 1)
    return chosen


def path(
    edges: Sequence[Edge], ranked: Mapping[str, Ranked], node: str, unit: int, rank: int
) -> Path | None:
    """The ``rank``-th best path to ``unit`` of ``node`` (None if there is none)."""
    entry = ranked[node]
    score = entry.scores[unit, rank] if rank < entry.scores.shape[1] else 0.0
    if score <= 0:
        return None
    log_score = math.log(score) + entry.log_scale
    steps = [(node, unit)]
    while True:
        entry = ranked[node]
        edge_id = int(entry.edge[unit, rank])
        if edge_id < 0:
            break
        node, unit, rank = (
            edges[edge_id].source,
            int(entry.unit[unit, rank]),
            int(entry.rank[unit, rank]),
        )
        steps.append((node, unit))
    return Path(log_score, tuple(reversed(steps)))


def _targets(edges: Sequence[Edge]) -> set[str]:
    return {edge.target for edge in edges}


def best_paths(
    edges: Sequence[Edge],
    ranked: Mapping[str, Ranked],
    ends: Sequence[tuple[str, int | None]],
    k: int,
) -> list[Path]:
    """The K best paths ending at any of ``ends``: (node, unit) pairs, unit None for every unit
    of the node."""
    candidates = []
    for node, unit in ends:
        entry = ranked[node]
        rows = np.arange(entry.scores.shape[0]) if unit is None else np.array([unit])
        with np.errstate(divide="ignore"):
            logs = np.log(entry.scores[rows]) + entry.log_scale
        for row, column in zip(*np.nonzero(np.isfinite(logs)), strict=True):
            candidates.append((float(logs[row, column]), node, int(rows[row]), int(column)))
    candidates.sort(key=lambda c: -c[0])
    found = (path(edges, ranked, node, unit, rank) for _, node, unit, rank in candidates[:k])
    return [p for p in found if p is not None]


def flow(edges: Sequence[Edge]) -> dict[str, np.ndarray]:
    """Per target node, the share of the total score of all start-to-end paths that passes
    through each of its units (sums to 1 per node; zeros when no path has a positive score)."""
    order = topological(edges)
    targets = _targets(edges)
    forward = _propagate(edges, order, backward=False)
    backward = _propagate(edges, order[::-1], backward=True)
    shares = {}
    for node in order:
        if node not in targets:
            continue
        through = forward[node][0] * backward[node][0]
        total = through.sum()
        shares[node] = through / total if total > 0 else np.zeros_like(through)
    return shares


def _propagate(
    edges: Sequence[Edge], order: Sequence[str], backward: bool
) -> dict[str, tuple[np.ndarray, float]]:
    """Sums of path scores into (forward) or out of (backward) every node, as (vector scaled to
    max 1, log of the scale); starts (forward) or ends (backward) hold ones."""
    into: dict[str, list[Edge]] = {}
    for edge in edges:
        into.setdefault(edge.source if backward else edge.target, []).append(edge)
    sums: dict[str, tuple[np.ndarray, float]] = {}
    for node in order:
        if node not in into:
            size = next(
                e.weights.shape[1 if e.source == node else 0]
                for e in edges
                if node in (e.source, e.target)
            )
            sums[node] = (np.ones(size, np.float32), 0.0)
            continue
        parts = [(edge, sums[edge.target if backward else edge.source]) for edge in into[node]]
        live = [p for p in parts if math.isfinite(p[1][1])]
        size = parts[0][0].weights.shape[1 if backward else 0]
        if not live:
            sums[node] = (np.zeros(size, np.float32), -math.inf)
            continue
        base = max(log for _, (_, log) in live)
        total = np.zeros(size, np.float64)
        for edge, (vector, log) in live:
            weights = np.asarray(edge.weights, np.float32)
            product = vector @ weights if backward else weights @ vector
            total += product * math.exp(log - base)
        top = total.max()
        if top > 0:
            sums[node] = ((total / top).astype(np.float32), base + math.log(top))
        else:
            sums[node] = (np.zeros(size, np.float32), -math.inf)
    return sums
