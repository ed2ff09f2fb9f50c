"""How a pruning ratio is spread over layers: the order in which elements of several layers go,
and OWL's per-layer ratios.

Pure numpy. Scores are one array per layer (per weight, or per output unit), low scores pruned
first; every function here preserves the order of the scores within a layer.

* Unstructured, ``global``: each weight is ranked by its share of its layer's total score (the
  p of the metrics pass), one threshold across layers. This is scale-invariant (raw |w| x mean|x|
  grows with a layer's input scale, raw |w| shrinks with its fan-in) and prunes large layers,
  whose weights each hold a small share, more than small ones (``docs/measured-choices.md``).
* Structured, ``global``: a unit's removal costs its layer the unit's share of the layer's total,
  and a chain of layers keeps the product of the shares its layers keep; the order minimises
  -sum(log kept share) per weight removed. A unit goes when the log of its layer's kept share
  falls least per weight it takes out, so a layer that has already lost much of its score
  becomes dear, and its last unit is never removed. Ranking plain shares (the unstructured rule)
  emptied the widest layer first, whose units each hold a small share, and lost to random
  pruning (``docs/measured-choices.md`` has both).
* ``uniform``: every layer loses the same share of its elements.
* ``owl`` (Yin et al. 2024, "Outlier Weighed Layerwise sparsity"): a weight is an outlier when
  its score exceeds ``OWL_OUTLIER`` times its layer's mean score; layers with a larger share of
  outliers get a lower ratio, the ratios spanning at most 2 x ``OWL_RANGE`` and averaging (per
  weight) to the ratio asked for. The constants are the paper's values.
* Random scores (the baseline) are ranked as they are: every element is equally likely to go.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

OWL_OUTLIER = 5.0
OWL_RANGE = 0.08


def weight_keys(scores: Mapping[str, np.ndarray], shares: bool) -> np.ndarray:
    """Global unstructured keys, concatenated over the layers' flattened weights: each score's
    share of its layer's total (``shares``), else the raw scores."""
    keys = []
    for values in scores.values():
        values = np.asarray(values, np.float64).ravel()
        total = values.sum()
        if shares and len(scores) > 1:
            values = values / total if total > 0 else np.zeros_like(values)
        keys.append(values)
    return np.concatenate(keys) if keys else np.zeros(0)


def unit_keys(
    scores: Mapping[str, np.ndarray], costs: Mapping[str, float], scope: str, shares: bool
) -> np.ndarray:
    """Structured keys, concatenated over the layers' units: for ``global`` (with ``shares``)
    the fall of log(kept share) per weight removed, for ``uniform`` the share of the layer's
    units gone with that unit; raw scores for unranked ``global`` (random). Each layer's best
    unit gets an infinite key: no layer is emptied."""
    keys = []
    for name, values in scores.items():
        values = np.asarray(values, np.float64).ravel()
        order = np.argsort(values, kind="stable")
        key = np.empty(values.size)
        if scope == "uniform":
            key[order] = np.arange(1, values.size + 1) / values.size
        elif shares:
            total = values.sum()
            share = values[order] / total if total > 0 else np.full(values.size, 1 / values.size)
            kept = np.maximum(1.0 - np.cumsum(share), 0.0)
            before = np.concatenate([[1.0], kept[:-1]])
            with np.errstate(divide="ignore"):
                key[order] = (np.log(before) - np.log(kept)) / costs[name]
        else:
            key = values.copy()
        if values.size:
            key[order[-1]] = np.inf
        keys.append(key)
    return np.concatenate(keys) if keys else np.zeros(0)


def outlier_shares(scores: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per layer, the share of its weights whose score exceeds ``OWL_OUTLIER`` times the layer's
    mean score (OWL's layerwise outlier distribution)."""
    shares = {}
    for name, values in scores.items():
        values = np.asarray(values, np.float32)
        mean = float(values.mean(dtype=np.float64)) if values.size else 0.0
        shares[name] = float(np.mean(values > OWL_OUTLIER * mean)) if mean > 0 else 0.0
    return shares


def owl_ratios(
    outliers: Mapping[str, float], ratio: float, sizes: Mapping[str, int]
) -> dict[str, float]:
    """OWL's ratio per layer for an overall ``ratio``, from the layers' ``outlier_shares`` and
    weight counts ``sizes`` (see the module docstring)."""
    low, high = min(outliers.values()), max(outliers.values())
    if high <= low:
        return dict.fromkeys(outliers, ratio)
    spread = {
        name: (value - low) / (high - low) * 2 * OWL_RANGE for name, value in outliers.items()
    }
    mean = sum(spread[name] * sizes[name] for name in outliers) / sum(sizes.values())
    return {name: float(np.clip(ratio - (spread[name] - mean), 0.0, 0.99)) for name in outliers}
