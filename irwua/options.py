"""Settings of an analysis: ``Options``, what the passes read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irwua.errors import IrwuaError
from irwua.pruning.vocabulary import CRITERIA, DEFAULT_RATIOS, GRANULARITIES, SWEEP_SCOPES

NORMS = ("l1", "l2", "magnitude")
"""Importance criteria: |w| x mean|x|, |w| x rms(x) (Wanda), |w|."""


@dataclass(frozen=True)
class Options:
    """Settings that passes read.

    ``train_samples``, ``epochs``, ``train_factor``: the training FLOPs estimate.
    ``batch_size``, ``max_samples``: how data streams through onnxruntime.
    ``norm``: importance criterion, "l1" (|w| mean|x|), "l2" (|w| rms(x), Wanda) or "magnitude".
    ``low_share``: a weight is low-contribution below this fraction of the uniform share 1/N.
    ``near_zero``: a weight is near zero below this fraction of its layer's largest |w|.
    ``progress``: show a progress bar on long runs (on a terminal).
    ``top_k``: pathways listed overall and per output unit.
    ``prune_ratios``, ``prune_criteria``, ``prune_scopes``, ``prune_granularity``,
    ``prune_seed``: the pruning sweeps (see ``irwua.passes.pruning``; criteria None: importance,
    magnitude and random globally, importance per layer). ``tolerance``: the agreement loss a
    recommendation accepts (0.01: 1% of predictions may change).
    """

    train_samples: int | None = None
    epochs: int = 1
    train_factor: float = 3.0
    batch_size: int = 64
    max_samples: int | None = None
    norm: str = "l1"
    low_share: float = 0.1
    near_zero: float = 1e-3
    progress: bool = True
    top_k: int = 10
    prune_ratios: tuple[float, ...] = DEFAULT_RATIOS
    prune_criteria: tuple[str, ...] | None = None
    prune_scopes: tuple[str, ...] = SWEEP_SCOPES
    prune_granularity: tuple[str, ...] = GRANULARITIES
    prune_seed: int = 0
    tolerance: float = 0.01

    def __post_init__(self) -> None:
        for name in ("train_samples", "epochs", "batch_size", "max_samples", "top_k"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise IrwuaError(f"{name} must be a positive whole number, got {value!r}.")
        for name in ("train_factor", "low_share", "near_zero"):
            if not getattr(self, name) > 0:
                raise IrwuaError(f"{name} must be positive, got {getattr(self, name)!r}.")
        if self.norm not in NORMS:
            raise IrwuaError(
                f"Unknown importance norm {self.norm!r}; use one of: {', '.join(NORMS)}."
            )
        self._check_pruning()

    def _check_pruning(self) -> None:
        """Pruning settings as sorted tuples of known values."""
        given = self.prune_ratios
        try:
            ratios = tuple(sorted({float(r) for r in ((given,) if np.isscalar(given) else given)}))
        except (TypeError, ValueError):
            ratios = ()
        if not ratios or not all(0.0 <= r < 1.0 for r in ratios):
            raise IrwuaError(f"Pruning ratios must be numbers in [0, 1), got {given!r}.")
        object.__setattr__(self, "prune_ratios", ratios)
        for name, known in (
            ("prune_criteria", CRITERIA),
            ("prune_scopes", SWEEP_SCOPES),
            ("prune_granularity", GRANULARITIES),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            value = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
            if not value or not set(value) <= set(known):
                raise IrwuaError(f"{name} must name some of: {', '.join(known)}; got {value}.")
            object.__setattr__(self, name, value)
        if not isinstance(self.prune_seed, int) or self.prune_seed < 0:
            raise IrwuaError(f"prune_seed must be a whole number >= 0, got {self.prune_seed!r}.")
        if not 0.0 < self.tolerance < 1.0:
            raise IrwuaError(f"tolerance must be in (0, 1), got {self.tolerance!r}.")
