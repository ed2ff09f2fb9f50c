"""Pruning a small character-level transformer language model: held-out perplexity per method.

Wanda's protocol (Sun et al. 2024) in miniature, on the language model of the tests
(``tests/char_lm.py``: 3 pre-LayerNorm blocks, width 128, context 64, 128 byte ids, 0.64 M
parameters, trained for about a minute on the Python standard library's source), seeds 0, 1, 2:
``irwua.prune_model`` calibrated on 128 training windows prunes it unstructured at 30/50/70%
with each criterion (importance, magnitude, random) and each scope/grouping (global/layer,
uniform/layer, uniform/output = Wanda, owl/layer, and owl/output = OWL over Wanda as Yin et al.
2024 run it), and at the 2:4 pattern with importance and magnitude. Every call takes
``Options(norm="l2")``: Wanda's statistic for importance, and for every criterion the scores
OWL reads its layers' outlier shares from (so OWL gives each criterion the same layer ratios).
Each pruned model's perplexity on 512 windows of held-out files (onnxruntime) is averaged over
the seeds, next to the unpruned model's.

About 13 min on two idle cores: three trainings of about a minute and 141 ``prune_model`` calls
of about 3.5 s each (most of it the latency measurement of both models); ``--quick``: seed 0
only, about 4.5 min.

Usage: python bench/pruning_language_model.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import REPO_ROOT, machine_info

sys.path.insert(0, str(REPO_ROOT / "tests"))
from char_lm import exported, perplexity, windows

import irwua

SEEDS = (0, 1, 2)
RATIOS = (0.3, 0.5, 0.7)
CRITERIA = ("importance", "magnitude", "random")
METHODS = (
    ("global", "layer"),
    ("uniform", "layer"),
    ("uniform", "output"),
    ("owl", "layer"),
    ("owl", "output"),
)
PATTERN = "2:4"
CALIBRATION = 128
HELD_OUT = 512


OPTIONS = irwua.Options(norm="l2")


def _perplexity(proto: onnx.ModelProto, ids: np.ndarray, targets: np.ndarray) -> float:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = [
        session.run(["logits"], {"ids": ids[i : i + 128]})[0] for i in range(0, len(ids), 128)
    ]
    return perplexity(np.concatenate(outputs), targets)


def measure_seed(seed: int) -> dict[tuple, float]:
    """Held-out perplexity by (criterion, scope, grouping, ratio), (criterion, PATTERN) and
    ("unpruned",), for the model trained with ``seed``."""
    model = exported(seed)
    calibration, _ = windows("train", CALIBRATION)
    ids, targets = windows("test", HELD_OUT)
    results: dict[tuple, float] = {("unpruned",): _perplexity(model, ids, targets)}
    for criterion in CRITERIA:
        for scope, grouping in METHODS:
            for ratio in RATIOS:
                pruned = irwua.prune_model(
                    model,
                    calibration,
                    ratio,
                    criterion=criterion,
                    scope=scope,
                    grouping=grouping,
                    options=OPTIONS,
                )
                key = (criterion, scope, grouping, ratio)
                results[key] = _perplexity(pruned.proto, ids, targets)
    for criterion in ("importance", "magnitude"):
        pruned = irwua.prune_model(
            model,
            calibration,
            None,
            criterion=criterion,
            pattern=PATTERN,
            options=OPTIONS,
        )
        results[(criterion, PATTERN)] = _perplexity(pruned.proto, ids, targets)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seed 0 only")
    parser.add_argument("--repeats", type=int, help="ignored")
    args = parser.parse_args(argv)
    seeds = SEEDS[:1] if args.quick else SEEDS
    print(machine_info())
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        runs.append(measure_seed(seed))
        print(
            f"seed {seed}: unpruned perplexity {runs[-1][('unpruned',)]:.3f}, "
            f"{time.perf_counter() - start:.0f} s (training, export, pruning, evaluation)",
            flush=True,
        )
    mean = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}

    print(
        f"\nheld-out perplexity, mean over seeds {', '.join(map(str, seeds))} "
        f"({CALIBRATION} calibration windows, {HELD_OUT} held-out windows of 64 bytes)"
    )
    print(f"unpruned: {mean[('unpruned',)]:.3f}")
    print("\nunstructured, share of the scope's weights removed:")
    print(f"{'criterion':<11} {'scope/grouping':<15}" + "".join(f"{r:>9.0%}" for r in RATIOS))
    for criterion in CRITERIA:
        for scope, grouping in METHODS:
            row = "".join(f"{mean[(criterion, scope, grouping, r)]:>9.3f}" for r in RATIOS)
            print(f"{criterion:<11} {scope + '/' + grouping:<15}{row}")
    print(f"\n{PATTERN} (50% of the weights removed, every layer):")
    for criterion in ("importance", "magnitude"):
        print(f"{criterion:<11} {mean[(criterion, PATTERN)]:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
