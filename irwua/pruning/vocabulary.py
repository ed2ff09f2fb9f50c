"""The words of pruning, each with one meaning wherever irwua uses it.

* **criterion**: how weights (or units) are scored, lowest pruned first: ``importance`` (the
  importance pass's |w| x input statistic), ``magnitude`` (|w|) or ``random`` (seeded; the
  baseline every criterion must beat).
* **scope**: how a ratio is spread over the prunable layers: ``global`` (all layers ranked
  together, one threshold on each score's share of its layer's total), ``uniform`` (every layer
  pruned at the ratio) or ``layer`` (one layer pruned at the ratio, the others left intact: the
  sensitivity analysis). The pruning pass sweeps ``SWEEP_SCOPES``; ``irwua prune`` writes one
  model, so it takes ``MODEL_SCOPES``.
* **granularity**: what is removed: ``unstructured`` (single weights, zeroed) or ``structured``
  (whole output units or channels, with the consumer inputs they feed).
* **ratio**: the share of the scope's weights (structured: units) removed, in [0, 1).
"""

from __future__ import annotations

CRITERIA = ("importance", "magnitude", "random")
SCOPES = ("global", "uniform", "layer")
SWEEP_SCOPES = ("global", "layer")
MODEL_SCOPES = ("global", "uniform")
GRANULARITIES = ("unstructured", "structured")
DEFAULT_RATIOS = tuple(round(0.1 * step, 1) for step in range(10))
"""0, 0.1, ..., 0.9: the ratios the pruning pass sweeps unless told otherwise."""
