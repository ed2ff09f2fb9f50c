"""Which elements one pruning method removes from some layers, at any ratio.

A ``Selection`` scores the layers' weights (or units) once by the method's criterion
(``irwua.pruning.scores``); ``pruned(ratio)`` says how many elements each layer loses (the
scope, ``irwua.pruning.allocation``) and which (the lowest scores of the layer, or of each
output unit with the ``output`` grouping, or the N lowest of every M inputs). The elements
pruned at a ratio include those pruned at every smaller ratio.

Structured ratios count the weights a cut removes, consumers' inputs included
(``irwua.pruning.vocabulary``): the number of units is searched (bisection over the scope's
order) until the cut removes at least the ratio of the scope's weights, widths rounded to the
method's ``multiple``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from irwua.ir.geometry import geometry
from irwua.ir.graph import LayerGraph
from irwua.pruning.allocation import outlier_shares, owl_ratios, unit_keys, weight_keys
from irwua.pruning.cuts import cuts, removed_weights
from irwua.pruning.scores import LayerImportance, unit_scores, weight_scores
from irwua.pruning.shrink_plan import ShrinkPlan
from irwua.pruning.vocabulary import Method


class Selection:
    """The elements ``method`` prunes from the layers ``names`` (see the module docstring).

    ``importance`` is the importance pass's result per layer; ``shrink_plan`` is needed for
    structured methods. ``dense``: layers an N:M pattern does not fit, left intact, and why.
    """

    def __init__(
        self,
        graph: LayerGraph,
        names: Sequence[str],
        method: Method,
        importance: Mapping[str, LayerImportance],
        seed: int = 0,
        shrink_plan: ShrinkPlan | None = None,
    ) -> None:
        self.graph, self.method, self.plan = graph, method, shrink_plan
        rng = np.random.default_rng(seed)
        score = unit_scores if method.structured else weight_scores
        layers = [graph.layer_by_name[name] for name in names]
        self.dense = _pattern_misfits(graph, names, method.pattern)
        self.scores = {
            layer.name: score(layer, graph, method.criterion, importance.get(layer.name), rng)
            for layer in layers
            if layer.name not in self.dense
        }
        self.sizes = {name: int(values.size) for name, values in self.scores.items()}
        rows = method.grouping == "output" and not method.structured
        self._ranks = {
            name: _ranks(graph, name, values, rows) for name, values in self.scores.items()
        }
        self._order: np.ndarray | None = None
        if method.scope == "owl":
            self._outliers = outlier_shares(
                {
                    name: _importance_or(importance.get(name), self.scores[name])
                    for name in self.scores
                }
            )
        if method.scope == "global" or (method.structured and method.scope == "uniform"):
            self._order, self._layer_of = self._merged_order(method)  # the other scopes count

    def _merged_order(self, method: Method) -> tuple[np.ndarray, np.ndarray]:
        shares = method.criterion != "random"
        if method.structured:
            costs = {name: self._unit_cost(name) for name in self.scores}
            keys = unit_keys(self.scores, costs, method.scope, shares)
        else:
            keys = weight_keys(self.scores, shares)
        layer_of = np.repeat(np.arange(len(self.scores)), list(self.sizes.values()))
        order = np.argsort(keys, kind="stable")
        finite = int(np.isfinite(keys).sum())
        return order[:finite], layer_of

    def pruned(self, ratio: float) -> dict[str, np.ndarray]:
        """Per layer, a boolean array shaped like its scores: True where pruned at ``ratio``."""
        if self.method.pattern is not None:
            n, m = self.method.pattern
            return {
                name: _n_m(self.graph, name, values, n, m) for name, values in self.scores.items()
            }
        counts = self.counts(ratio)
        masks = {}
        for name, ranks in self._ranks.items():
            count = counts[name]
            if ranks.ndim == 2:  # per output unit: each row loses its share of the count
                count = round(count / ranks.shape[0])
                masks[name] = _unflatten(self.graph, name, ranks < count, self.scores[name].shape)
            else:
                masks[name] = (ranks < count).reshape(self.scores[name].shape)
        return masks

    def units(self, ratio: float) -> dict[str, np.ndarray]:
        """Structured: the unit indices each layer loses at ``ratio``."""
        return {name: np.flatnonzero(flags) for name, flags in self.pruned(ratio).items()}

    def counts(self, ratio: float) -> dict[str, int]:
        """How many elements each layer loses at ``ratio``."""
        method, sizes = self.method, self.sizes
        if method.structured and method.scope == "layer":
            counts = {name: min(round(ratio * size), size - 1) for name, size in sizes.items()}
            return self._widths_kept_whole(counts)
        if method.structured:
            return self._widths_kept_whole(self._prefix_counts(self._structured_prefix(ratio)))
        if method.scope == "global":
            return self._prefix_counts(round(ratio * sum(sizes.values())))
        if method.scope == "owl":
            ratios = owl_ratios(self._outliers, ratio, sizes)
            return {name: round(ratios[name] * size) for name, size in sizes.items()}
        return {name: round(ratio * size) for name, size in sizes.items()}

    def _prefix_counts(self, count: int) -> dict[str, int]:
        assert self._order is not None
        taken = np.bincount(self._layer_of[self._order[:count]], minlength=len(self.sizes))
        return {name: int(n) for name, n in zip(self.sizes, taken, strict=True)}

    def _widths_kept_whole(self, counts: dict[str, int]) -> dict[str, int]:
        """Structured counts with each layer's kept width rounded up to a multiple of the
        method's ``multiple`` when its width is one (onnxruntime's fast convolution kernels
        work on blocks of 8 channels: a VGG-style CNN narrowed to 32/64 channels ran 3.1x
        faster, to 31/63 only 1.07x; ``docs/measured-choices.md``)."""
        multiple = self.method.multiple
        rounded = {}
        for name, count in counts.items():
            size = self.sizes[name]
            if multiple > 1 and size % multiple == 0 and count:
                kept = -(-(size - count) // multiple) * multiple
                count = size - min(max(kept, multiple), size)
            rounded[name] = count
        return rounded

    def _structured_prefix(self, ratio: float) -> int:
        """The fewest units of the scope's order whose cut removes ``ratio`` of its weights."""
        assert self._order is not None
        target = ratio * self.scope_weights()
        low, high = 0, int(self._order.size)
        while low < high:
            middle = (low + high) // 2
            if self._removed(self._widths_kept_whole(self._prefix_counts(middle))) < target:
                low = middle + 1
            else:
                high = middle
        return low

    def _removed(self, counts: Mapping[str, int]) -> int:
        units = {name: np.flatnonzero(self._ranks[name] < count) for name, count in counts.items()}
        return removed_weights(self.graph, cuts(self.graph, self._shrink_plan(), units))

    def _unit_cost(self, name: str) -> int:
        """The weights one unit of ``name`` takes out: its own and its consumers' inputs."""
        cut = cuts(self.graph, self._shrink_plan(), {name: np.array([0])})
        return max(removed_weights(self.graph, cut), 1)

    def scope_weights(self) -> int:
        """The weights the method can remove from: the layers', and (structured) their
        consumers'."""
        names = set(self.scores)
        if self.method.structured:
            plan = self._shrink_plan()
            names |= {link.target for name in self.scores for link in plan.layers[name].links}
        graph = self.graph
        return sum(int(graph.array(graph.layer_by_name[name]).size) for name in names)

    def _shrink_plan(self) -> ShrinkPlan:
        if self.plan is None:
            raise ValueError("structured selection needs the model's shrink plan")
        return self.plan


def _importance_or(importance: LayerImportance | None, scores: np.ndarray) -> np.ndarray:
    """The importance pass's scores of a layer's weights (OWL reads outliers there), else the
    method's own."""
    return scores if importance is None else np.asarray(importance.weight)


def _ranks(graph: LayerGraph, name: str, scores: np.ndarray, rows: bool) -> np.ndarray:
    """Each element's rank among the layer's elements (flat), or with ``rows`` among its output
    unit's weights (2-D: one row per output unit)."""
    values = _by_rows(graph, name, scores) if rows else scores.ravel()
    dtype = np.int32 if values.size < 2**31 else np.int64
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty(values.shape, dtype)
    positions = np.broadcast_to(np.arange(values.shape[-1], dtype=dtype), values.shape)
    np.put_along_axis(ranks, order, positions, axis=-1)
    return ranks


def _by_rows(graph: LayerGraph, name: str, values: np.ndarray) -> np.ndarray:
    """The layer's per-weight ``values`` with one row per output unit."""
    axis = geometry(graph.layer_by_name[name], graph).out_axis
    return np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)


def _unflatten(
    graph: LayerGraph, name: str, rows: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Undo ``_by_rows``."""
    axis = geometry(graph.layer_by_name[name], graph).out_axis
    moved = [shape[axis], *(size for index, size in enumerate(shape) if index != axis)]
    return np.moveaxis(rows.reshape(moved), 0, axis)


def _n_m(graph: LayerGraph, name: str, scores: np.ndarray, n: int, m: int) -> np.ndarray:
    """True for the ``n`` lowest scores of every ``m`` consecutive inputs of each output (along
    the weight's input axis: a convolution's input channels, at each kernel position)."""
    axis = geometry(graph.layer_by_name[name], graph).in_axis
    moved = np.moveaxis(scores, axis, -1)
    groups = moved.reshape(-1, m)
    order = np.argsort(groups, axis=1, kind="stable")
    flags = np.zeros(groups.shape, bool)
    np.put_along_axis(flags, order[:, :n], True, axis=1)
    return np.moveaxis(flags.reshape(moved.shape), -1, axis)


def _pattern_misfits(
    graph: LayerGraph, names: Sequence[str], pattern: tuple[int, int] | None
) -> dict[str, str]:
    """Layers whose input width is not a multiple of the pattern's M, and why."""
    if pattern is None:
        return {}
    misfits = {}
    for name in names:
        layer = graph.layer_by_name[name]
        axis = geometry(layer, graph).in_axis
        width = None if axis is None else graph.array(layer).shape[axis]
        if width is None or width % pattern[1]:
            misfits[name] = f"its input width {width} is not a multiple of {pattern[1]}"
    return misfits
