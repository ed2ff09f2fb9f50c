"""The pathways K-best dynamic program at 10 layers of 4,096 units (the issue's target: < 1 s).

Ten dense random connection matrices 4096 x 4096 (float32, seed 0) chain an input of 4,096
units through 10 layers of 4,096 units; K = 10. Timed in this process, interleaved, median of
the repeats (wall and CPU seconds):

* ``dp``: ``irwua.units.kbest.k_best`` as the pass runs it (grouped two-stage source selection over
  chunks of target units);
* ``dp-plain``: the same DP with the plain selection of the K best sources (one
  ``np.argpartition`` over every source of every target unit): the reference;
* ``flow`` (neuron importance: forward-backward sums) and ``top`` (the K best paths overall,
  rebuilt from the back-pointers) for context.

Both DPs must give the same scores; on a reduced size (4 layers of 6 units) the DP must also equal
brute-force enumeration of all 1,296 paths per output unit. Result: the ratio dp/dp-plain and
whether dp's median wall time meets the target.

Usage: python bench/pathways_dp.py [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import math
import pathlib
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import machine_info

from irwua.units import kbest

LAYERS, UNITS, K = 10, 4096, 10
TARGET_SECONDS = 1.0
ENDS = [(f"l{LAYERS}", None)]


def chain(layers: int, units: int, seed: int = 0) -> list[kbest.Edge]:
    """input -> l1 -> ... -> l<layers>, dense random connections."""
    rng = np.random.default_rng(seed)
    names = ["input", *(f"l{i}" for i in range(1, layers + 1))]
    return [
        kbest.Edge(source, target, rng.random((units, units), dtype=np.float32))
        for source, target in itertools.pairwise(names)
    ]


def plain_top_sources(weights: np.ndarray, best: np.ndarray, k: int) -> np.ndarray:
    """The reference selection: argpartition over all sources of each target unit."""
    n_target, n_source = weights.shape
    if n_source <= k:
        return np.broadcast_to(np.arange(n_source), (n_target, n_source))
    product = weights * np.asarray(best, np.float32)
    return np.argpartition(product, n_source - k, axis=1)[:, n_source - k :]


def timed(run: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def plain_dp(edges: list[kbest.Edge], k: int) -> dict[str, kbest.Ranked]:
    grouped = kbest.top_sources
    kbest.top_sources = plain_top_sources
    try:
        return kbest.k_best(edges, k)
    finally:
        kbest.top_sources = grouped


def check_brute_force() -> None:
    """The DP equals enumeration on 4 layers of 6 units (small groups force the grouped path)."""
    edges = chain(4, 6, seed=1)
    saved = kbest.GROUP
    kbest.GROUP = 2
    try:
        ranked = kbest.k_best(edges, 5)
    finally:
        kbest.GROUP = saved
    for unit in range(6):
        scores = []
        for route in itertools.product(range(6), repeat=4):  # input, l1, l2, l3 units
            units = (*route, unit)
            scores.append(
                math.prod(
                    float(edge.weights[v, u])
                    for edge, (u, v) in zip(edges, itertools.pairwise(units), strict=True)
                )
            )
        expected = sorted(scores, reverse=True)[:5]
        entry = ranked["l4"]
        got = entry.scores[unit] * math.exp(entry.log_scale)
        if not np.allclose(got, expected, rtol=1e-6):
            raise SystemExit(f"DP differs from brute force at unit {unit}: {got} vs {expected}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each")
    parser.add_argument("--quick", action="store_true", help="2 timed runs of each")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    print(f"== pathways_dp: K-best DP, {LAYERS} layers x {UNITS} units, K={K} ==")
    print(f"machine: {machine_info()}")
    check_brute_force()
    print("exact: equals brute force on 4 layers x 6 units")
    edges = chain(LAYERS, UNITS)
    runs: dict[str, Callable[[], object]] = {
        "dp": lambda: kbest.k_best(edges, K),
        "dp-plain": lambda: plain_dp(edges, K),
        "flow": lambda: kbest.flow(edges),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in (*runs, "top")}
    results: dict[str, object] = {}
    for round_no in range(repeats + 1):  # the first round warms up
        for name in list(runs) if round_no % 2 == 0 else list(runs)[::-1]:
            wall, cpu, results[name] = timed(runs[name])
            if round_no:
                samples[name].append((wall, cpu))
        wall, cpu, _ = timed(lambda: kbest.best_paths(edges, results["dp"], ENDS, K))
        if round_no:
            samples["top"].append((wall, cpu))
    mine, plain = results["dp"][f"l{LAYERS}"], results["dp-plain"][f"l{LAYERS}"]
    if not np.allclose(
        mine.scores * math.exp(mine.log_scale), plain.scores * math.exp(plain.log_scale), rtol=1e-6
    ):
        print("dp and dp-plain disagree", file=sys.stderr)
        return 1
    print(f"{'step':<9}  {'median wall s':>13}  {'median cpu s':>12}  {'n':>3}")
    walls, cpus = {}, {}
    for name, values in samples.items():
        walls[name] = statistics.median(w for w, _ in values)
        cpus[name] = statistics.median(c for _, c in values)
        print(f"{name:<9}  {walls[name]:>13.3f}  {cpus[name]:>12.3f}  {len(values):>3}")
    ratio = walls["dp"] / walls["dp-plain"]
    print(f"ratio dp/dp-plain = {ratio:.2f}  (dp {'faster' if ratio < 1 else 'NOT faster'})")
    for clock, medians in (("wall", walls), ("cpu", cpus)):
        met = "met" if medians["dp"] < TARGET_SECONDS else "NOT met"
        print(f"target dp < {TARGET_SECONDS:.0f} s ({clock}): {met} ({medians['dp']:.3f} s)")
    print("(on a loaded machine wall time exceeds CPU time: see the loadavg above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
