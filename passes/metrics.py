"""The ``metrics`` pass: how evenly each layer spreads its importance over its weights.

With I the importance of a layer's N weights and p = I / sum(I):

=====================  ==========================================================================
metric                 definition
=====================  ==========================================================================
entropy                H = -sum p ln p  (0 ln 0 = 0)
normalized_entropy     H / ln N  (1 for N = 1)
effective_weights      exp(H): the number of equally important weights with the same entropy
utilization            exp(H) / N
redundancy             1 - H / ln N  (0 for N = 1)
gini                   Gini coefficient of I: 0 when all equal, -> 1 when one weight holds all
coverage_50/80/90      smallest fraction of weights that holds 50/80/90% of the importance
low_contribution       fraction of weights with p below ``low_share`` x the uniform share 1/N
sparsity               fraction of weights exactly 0
near_zero              fraction of weights with |w| <= ``near_zero`` x the layer's max |w|
dead_units             output units never non-zero on the data (after a following ReLU etc.);
                       None without data
=====================  ==========================================================================

A layer whose importance is all zero (every weight or input unused) has entropy 0, 0 effective
weights, utilization 0, redundancy 1, Gini 0, coverage 0 and low_contribution 1: defined values,
never NaN. Global: scored_weights, effective_params = sum of the layers' effective weights,
utilization = effective_params / scored_weights, compression_potential = 1 - utilization (both
None when there is no weight to score: a model of ONNX-ML ops keeps its coefficients in
attributes),
mean_redundancy = the mean over layers. A weight tensor read by several layers (tied embeddings)
counts once, with the largest of its layers' effective weights.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from irwua.ir.constant_views import compact, is_constant
from irwua.ir.graph import Layer
from irwua.options import MetricsOptions
from irwua.passes.activations import ActivationsResult
from irwua.passes.importance import ImportanceResult
from irwua.pipeline import PassContext, PassResult, register_pass

COVERAGE_LEVELS = (50, 80, 90)


@dataclass(frozen=True)
class MetricsResult(PassResult):
    layers: Mapping[str, Mapping[str, float | int | None]]
    totals: Mapping[str, float | int]

    def totals_json(self) -> dict[str, Any]:
        return dict(self.totals)

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        metrics = self.layers.get(layer_name)
        return {"metrics": dict(metrics)} if metrics is not None else {}


@register_pass(
    "metrics",
    "entropy, utilization, redundancy, Gini, coverage, sparsity per layer",
    requires=("activations", "importance", "flops"),
    options=MetricsOptions,
)
def run_metrics(context: PassContext) -> MetricsResult:
    importance: ImportanceResult = context.results["importance"]
    activations: ActivationsResult = context.results["activations"]
    options = context.options

    def layer_metrics(layer: Layer) -> tuple[str, Mapping[str, Any]]:
        metrics = importance_metrics(importance.layers[layer.name].weight, options.low_share)
        metrics.update(weight_sparsity(context.graph.array(layer), options.near_zero))
        output_max = activations.output_max.get(layer.name)
        metrics["dead_units"] = None if output_max is None else int(np.sum(output_max == 0))
        return layer.name, MappingProxyType(metrics)

    # numpy sorts and sums without holding the GIL: two layers at a time (each holds a sorted
    # copy of its importance, so more threads would mean more memory).
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        layers = dict(pool.map(layer_metrics, context.graph.layers))
    origins = context.graph.constants.origins
    stored = {layer.name: origins[layer.tensors["weight"]] for layer in context.graph.layers}
    totals = global_metrics(layers, stored)
    return MetricsResult(MappingProxyType(layers), MappingProxyType(totals))


BLOCK = 1 << 16
"""Values per block when walking a layer's sorted importance: the temporaries stay this small, so
a layer costs one sorted copy of its importance however many weights it has."""

_RANKS = np.arange(BLOCK, dtype=np.float64)


def importance_metrics(importance: np.ndarray, low_share: float = 0.1) -> dict[str, Any]:
    """The importance-distribution metrics of one layer (see the module table)."""
    flat = np.asarray(importance).reshape(-1)  # a view where numpy can (a constant's zero strides)
    n = flat.size
    total = float(flat.sum(dtype=np.float64))
    if n == 0 or total <= 0.0 or not math.isfinite(total):
        return _unused(n)
    shares = [1.0 - level / 100.0 + 1e-12 for level in COVERAGE_LEVELS]
    constant = is_constant(flat)
    if constant:
        walk = _constant_walk(n, total, shares)
        ordered = flat[:1]
    else:
        # One ascending sort, in the stored dtype (float32 sorts twice as fast as float64).
        ordered = np.sort(flat)
        walk = _walk(ordered, total, shares)
    # H = -sum p ln p = ln T - sum I ln I / T.
    log_n = math.log(n)
    entropy = min(max(math.log(total) - walk.weighted_log / total, 0.0), log_n)
    effective = math.exp(entropy)
    metrics: dict[str, Any] = {
        "weights": n,
        "entropy": entropy,
        "normalized_entropy": entropy / log_n if n > 1 else 1.0,
        "effective_weights": effective,
        "utilization": effective / n,
        "redundancy": 1.0 - entropy / log_n if n > 1 else 0.0,
        # Gini = 1 - (2 sum_j L_j - 1) / n, the Lorenz-curve form of the mean absolute difference.
        "gini": float((n + 1) / n - 2.0 * walk.lorenz_sum / n) if n > 1 else 0.0,
    }
    for level, left_out in zip(COVERAGE_LEVELS, walk.below, strict=True):
        # The top k hold 1 - L_(n-k): k = n minus the most weights that hold < 1 - level.
        metrics[f"coverage_{level}"] = (n - left_out) / n
    low = int(np.searchsorted(ordered, ordered.dtype.type(low_share * total / n)))
    metrics["low_contribution"] = (low * n if constant else low) / n
    return metrics


@dataclass(frozen=True)
class _Walk:
    """Sums over a layer's sorted importance: sum I ln I (0 ln 0 = 0), the sum of the Lorenz
    curve L_j (the share held by the j + 1 least important weights) and, per share asked for,
    how many L_j fall below it."""

    weighted_log: float
    lorenz_sum: float
    below: tuple[int, ...]


def _walk(ordered: np.ndarray, total: float, shares: list[float]) -> _Walk:
    """One pass over ``ordered`` (ascending) in blocks of ``BLOCK``, sums in float64.

    sum_j L_j = sum_i s_i (n - i) / T for the sorted s (0-based i); the running sums L_j of a
    block are its float64 cumulative sum plus everything before it.
    """
    n = ordered.size
    weighted_log = weighted_rank = before = 0.0
    below = [0] * len(shares)
    for start in range(0, n, BLOCK):
        block = ordered[start : start + BLOCK]
        positive = block[block > 0]
        weighted_log += float((positive * np.log(positive)).sum(dtype=np.float64))
        wide = block.astype(np.float64)
        weighted_rank += start * float(wide.sum()) + float((_RANKS[: wide.size] * wide).sum())
        running = before + np.cumsum(wide)
        for index, share in enumerate(shares):
            below[index] += int(np.searchsorted(running, share * total))
        before = float(running[-1])
    lorenz_sum = (n * before - weighted_rank) / total
    return _Walk(weighted_log, lorenz_sum, tuple(below))


def _constant_walk(n: int, total: float, shares: list[float]) -> _Walk:
    """``_walk`` of n equal values c = total / n, in closed form: sum I ln I = total ln c, the
    Lorenz curve L_j = (j + 1) / n sums to (n + 1) / 2, and L_j < share for the first
    ceil(share n) - 1 of them."""
    value = total / n
    below = tuple(min(n, max(0, math.ceil(share * n) - 1)) for share in shares)
    return _Walk(total * math.log(value), (n + 1) / 2, below)


def _unused(n: int) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "weights": n,
        "entropy": 0.0,
        "normalized_entropy": 0.0,
        "effective_weights": 0.0,
        "utilization": 0.0,
        "redundancy": 1.0,
        "gini": 0.0,
    }
    metrics.update({f"coverage_{level}": 0.0 for level in COVERAGE_LEVELS})
    metrics["low_contribution"] = 1.0
    return metrics


def weight_sparsity(weights: np.ndarray, near_zero: float = 1e-3) -> dict[str, float]:
    """Exact and relative near-zero fractions of a weight tensor."""
    # In the stored dtype (no float64 copy), over the stored values only (a constant's one).
    magnitude = np.abs(compact(np.asarray(weights))).ravel()
    if magnitude.size == 0:
        return {"sparsity": 0.0, "near_zero": 0.0}
    largest = float(magnitude.max())
    return {
        "sparsity": float(np.mean(magnitude == 0)),
        "near_zero": float(np.mean(magnitude <= near_zero * largest)) if largest > 0 else 1.0,
    }


def global_metrics(
    layers: Mapping[str, Mapping[str, Any]], stored: Mapping[str, str] | None = None
) -> dict[str, float | int]:
    """Model-wide metrics from the per-layer ones. ``stored`` names the stored weight tensor of
    each layer: one that several layers read (tied embeddings) counts its weights once, with the
    largest of those layers' effective weights."""
    tensors: dict[str, tuple[int, float]] = {}
    for name, m in layers.items():
        key = (stored or {}).get(name, name)
        weights, effective = tensors.get(key, (0, 0.0))
        tensors[key] = (max(weights, m["weights"]), max(effective, m["effective_weights"]))
    params = int(sum(weights for weights, _ in tensors.values()))
    effective = float(sum(value for _, value in tensors.values()))
    utilization = effective / params if params else None
    redundancies = [m["redundancy"] for m in layers.values()]
    return {
        "scored_weights": params,
        "effective_params": effective,
        "utilization": utilization,
        "compression_potential": None if utilization is None else 1.0 - utilization,
        "mean_redundancy": float(np.mean(redundancies)) if redundancies else 0.0,
    }
