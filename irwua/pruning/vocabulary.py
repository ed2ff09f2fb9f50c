"""The words of pruning, each with one meaning wherever irwua uses it.

* **criterion**: how weights (or units) are scored, lowest pruned first: ``importance`` (the
  importance pass's |w| x input statistic), ``magnitude`` (|w|) or ``random`` (seeded; the
  baseline every criterion must beat).
* **scope**: how a ratio is spread over the prunable layers (``irwua.pruning.allocation``):
  ``global`` (all layers ranked together), ``uniform`` (every layer pruned at the ratio),
  ``owl`` (layers with more outlier weights pruned less, Yin et al. 2024; unstructured only) or
  ``layer`` (one layer pruned at the ratio, the others left intact: the sensitivity analysis).
  The pruning pass sweeps ``SWEEP_SCOPES``; ``irwua prune`` writes one model, so it takes
  ``MODEL_SCOPES``.
* **granularity**: what is removed: ``unstructured`` (single weights, zeroed), ``structured``
  (whole output units or channels, with the consumer inputs they feed) or an N:M pattern such as
  ``2:4`` (semi-structured: the N lowest of every M consecutive inputs of each output, zeroed;
  the ratio is N/M).
* **grouping** (unstructured only): which weights compete for a layer's share: ``layer`` (all
  of the layer's weights) or ``output`` (each output unit's weights, pruned to the same ratio:
  Wanda's comparison group).
* **multiple** (structured only): a layer whose width is a multiple of it keeps a width that is
  one too (8 suits onnxruntime's blocked convolution kernels: ``docs/measured-choices.md``).
* **reconstruct**: after pruning, the kept weights of each layer are updated to keep its outputs
  on the data (``irwua.pruning.reconstruction``).
* **ratio**: the share of the scope's weights removed, in [0, 1). A structured cut removes the
  unit's own weights and its consumers' inputs, and both count; in the ``layer`` scope the
  ratio is the share of the layer's units (its own weights).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CRITERIA = ("importance", "magnitude", "random")
SCOPES = ("global", "uniform", "owl", "layer")
SWEEP_SCOPES = SCOPES
DEFAULT_SWEEP_SCOPES = ("global", "layer")
MODEL_SCOPES = ("global", "uniform", "owl")
GRANULARITIES = ("unstructured", "structured")
GROUPINGS = ("layer", "output")
DEFAULT_RATIOS = tuple(round(0.1 * step, 1) for step in range(10))
"""0, 0.1, ..., 0.9: the ratios the pruning pass sweeps unless told otherwise."""

_PATTERN = re.compile(r"(\d+):(\d+)")


def n_m(granularity: str) -> tuple[int, int] | None:
    """(N, M) of an N:M granularity such as "2:4" (0 < N < M), None for the other words."""
    match = _PATTERN.fullmatch(granularity)
    if match is None:
        return None
    n, m = int(match[1]), int(match[2])
    return (n, m) if 0 < n < m else None


def is_granularity(word: str) -> bool:
    return word in GRANULARITIES or n_m(word) is not None


@dataclass(frozen=True)
class Method:
    """One way of pruning: a criterion, a scope, a granularity, (unstructured) a grouping,
    whether the kept weights are then reconstructed (``irwua.pruning.reconstruction``) and
    (structured) the multiple a kept width is rounded up to."""

    criterion: str
    scope: str
    granularity: str
    grouping: str = "layer"
    reconstruct: bool = False
    multiple: int = 1

    @property
    def structured(self) -> bool:
        return self.granularity == "structured"

    @property
    def pattern(self) -> tuple[int, int] | None:
        """(N, M) for an N:M granularity."""
        return n_m(self.granularity)

    def describe(self) -> str:
        """The method in words, as the report and the terminal name it."""
        words = [self.criterion, self.granularity, self.scope]
        if self.grouping != "layer":
            words.append(f"per {self.grouping}")
        if self.reconstruct:
            words.append("reconstructed")
        if self.multiple > 1:
            words.append(f"widths x{self.multiple}")
        return ", ".join(words)
