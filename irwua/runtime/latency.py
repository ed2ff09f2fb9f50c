"""Latency of models compared side by side: onnxruntime runs of each on the same batch,
interleaved (one run of each model per round, the order alternating), so that a slow moment of
a shared machine falls on every model alike. Each model gets the median and the interquartile
range of its runs."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from irwua.errors import IrwuaError, root_reason

ROUNDS = (5, 30)
"""The fewest and the most rounds; within them, as many as fit in ``BUDGET_SECONDS``."""

BUDGET_SECONDS = 3.0
"""About how long the timed runs may take in all."""


class Latency(NamedTuple):
    """Milliseconds per run: the median and the 25th and 75th percentiles of ``runs`` runs."""

    median_ms: float
    low_ms: float
    high_ms: float
    runs: int


def interleaved_latency(
    sessions: Sequence[Any], batches: Sequence[Mapping[str, np.ndarray]]
) -> list[Latency]:
    """The latency of each session on its batch (the same samples for every session, fed by
    its own input names; their first output), after one warm-up run each, from interleaved
    rounds. A run that fails raises ``IrwuaError``."""
    feeds = [dict(batch) for batch in batches]
    outputs = [[session.get_outputs()[0].name] for session in sessions]
    warmup = [
        _timed(session, names, feed)
        for session, names, feed in zip(sessions, outputs, feeds, strict=True)
    ]
    per_round = max(sum(warmup), 1e-6)
    rounds = int(min(max(BUDGET_SECONDS / per_round, ROUNDS[0]), ROUNDS[1]))
    times: list[list[float]] = [[] for _ in sessions]
    for index in range(rounds):
        order = range(len(sessions)) if index % 2 == 0 else reversed(range(len(sessions)))
        for which in order:
            times[which].append(_timed(sessions[which], outputs[which], feeds[which]))
    return [_summary(runs) for runs in times]


def _timed(session: Any, names: list[str], feeds: dict[str, np.ndarray]) -> float:
    """Seconds of one run, called directly: ``irwua.runtime.sessions.run``'s watch over memory
    and signals would add its own time to every run (the model already ran on the same batch
    through it, so it fits)."""
    start = time.perf_counter()
    try:
        session.run(names, feeds)
    except Exception as exc:  # onnxruntime raises its own types
        raise IrwuaError(f"onnxruntime could not run the model: {root_reason(exc)}.") from exc
    return time.perf_counter() - start


def _summary(seconds: list[float]) -> Latency:
    low, median, high = np.percentile(np.asarray(seconds) * 1000.0, [25, 50, 75])
    return Latency(float(median), float(low), float(high), len(seconds))
