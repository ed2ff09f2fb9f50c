"""Importance on a ResNet-18: irwua vs plain onnxruntime vs torch forward hooks, whole process.

Model: ResNet-18 (ImageNet stem, 1000 classes, 11.7M parameters) written with torch.nn, randomly
initialised with a fixed seed, exported once to ONNX (opset 17, eval mode so BatchNorm folds,
dynamic batch axis). Data: 4096 synthetic samples of 3x64x64 float32 in a .npy read with
``mmap_mode="r"``, batches of 64. Everything is cached in ``bench/.cache/`` (about 2.3 GB, most of
it the 40960-sample file of the memory test).

Commands, each a fresh process (``bench/_importance_worker.py MODE ...``), interleaved:

* ``plain-ort``: onnxruntime inference over the data, outputs discarded (the floor: the forward
  passes irwua cannot avoid);
* ``irwua``: ``irwua.analyze(model, data, passes=["metrics"])``: activation capture in the
  graph, importance, metrics (and the FLOPs pass metrics requires);
* ``torch-hooks``: the predecessor tools' approach: forward hooks on every Conv2d/Linear keep
  each batch's input as a numpy array, then numpy computes mean |x| per input channel and
  |W| * mean |x|.

Targets: irwua/plain-ort <= 1.3 and irwua/torch-hooks < 1. The benchmark also checks that irwua
and torch-hooks agree on the sum of all importances (BatchNorm folding changes |W| by
1/sqrt(1 + eps) only, since the random BN has mean 0 and variance 1).

Memory: peak RSS of the ``irwua`` command on 4096 and on 40960 samples (the same model, both
files memory-mapped), each child measured alone (``ru_maxrss`` from ``wait4``), with the peaks of
anonymous and file-backed RSS sampled from ``/proc/PID/status`` to tell heap growth from touched
pages of the memory-mapped file. Target: growth < 10%.

Usage: python bench/importance_resnet18.py [--repeats N] [--quick]
  --quick: one timed round, no warm-up round, memory test on 4096 vs 12288 samples (3x).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import (
    REPO_ROOT,
    CommandFailed,
    machine_info,
    measure,
    print_ratio,
    print_table,
    run_timed,
)

BENCH_DIR = pathlib.Path(__file__).resolve().parent
WORKER = BENCH_DIR / "_importance_worker.py"
CACHE = BENCH_DIR / ".cache" / "resnet18_64"
MODEL = CACHE / "resnet18.onnx"
STATE = CACHE / "resnet18.pt"
SMALL = 4096
LARGE = 40960
TIMEOUT = 1800.0
TARGET_VS_ORT = 1.3
TARGET_VS_HOOKS = 1.0
TARGET_GROWTH = 0.10


def irwua_revision() -> str:
    """The checked-out commit of irwua, with "+changes" when the work tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "irwua", "passes"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (commit or "unknown") + ("+changes" if dirty else "")


def data_path(samples: int) -> pathlib.Path:
    return CACHE / f"data_{samples}.npy"


def worker(mode: str, *args: object) -> list[str]:
    return [sys.executable, str(WORKER), mode, *map(str, args)]


def commands() -> dict[str, list[str]]:
    """The timed commands, keyed by the names shown in the table."""
    data = data_path(SMALL)
    return {
        "plain-ort": worker("plain-ort", MODEL, data),
        "irwua": worker("irwua", MODEL, data),
        "torch-hooks": worker("torch-hooks", STATE, data),
    }


# --- memory ------------------------------------------------------------------------------------


@dataclass
class MemoryRun:
    """One child's peak RSS (ru_maxrss) and sampled peaks of its anonymous and file RSS, in KiB."""

    maxrss_kib: int
    seconds: float
    stdout: str
    sampled: dict[str, int] = field(default_factory=dict)

    def mib(self, key: str) -> str:
        value = self.maxrss_kib if key == "maxrss" else self.sampled.get(key)
        return "n/a" if value is None else f"{value / 1024:.0f}"


def _poll_status(pid: int, peaks: dict[str, int], done: threading.Event) -> None:
    keys = ("RssAnon", "RssFile", "VmRSS")
    path = f"/proc/{pid}/status"
    while not done.is_set():
        try:
            with open(path) as status:
                for line in status:
                    key, _, rest = line.partition(":")
                    if key in keys:
                        peaks[key] = max(peaks.get(key, 0), int(rest.split()[0]))
        except (OSError, ValueError, IndexError):
            pass
        done.wait(0.01)


def run_with_memory(argv: list[str]) -> MemoryRun:
    """Run ``argv`` as a fresh process; its own ru_maxrss (wait4) and sampled RSS peaks."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        peaks: dict[str, int] = {}
        done = threading.Event()
        poller = threading.Thread(target=_poll_status, args=(proc.pid, peaks, done), daemon=True)
        poller.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            tail = "\n".join(err.read().strip().splitlines()[-15:])
            raise CommandFailed(f"exit {proc.returncode}: {' '.join(argv)}\n{tail}")
        # Linux reports ru_maxrss in KiB, macOS in bytes.
        maxrss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
        return MemoryRun(maxrss, elapsed, out.read(), peaks)


def memory_test(large: int, context: bool) -> dict[str, MemoryRun]:
    """Peak RSS of irwua on SMALL and ``large`` samples (and, for context, the others on SMALL)."""
    runs = {
        f"irwua {SMALL}": worker("irwua", MODEL, data_path(SMALL)),
        f"irwua {large}": worker("irwua", MODEL, data_path(LARGE), large),
    }
    if context:
        runs[f"plain-ort {SMALL}"] = worker("plain-ort", MODEL, data_path(SMALL))
        runs[f"torch-hooks {SMALL}"] = worker("torch-hooks", STATE, data_path(SMALL))
    results = {}
    for name, argv in runs.items():
        results[name] = run_with_memory(argv)
    return results


def print_memory(results: dict[str, MemoryRun], large: int) -> float:
    width = max(len(name) for name in results)
    print(
        f"{'command':<{width}}  {'peak RSS MiB':>12}  {'anon MiB*':>9}  {'file MiB*':>9}  "
        f"{'seconds':>8}"
    )
    for name, run in results.items():
        print(
            f"{name:<{width}}  {run.mib('maxrss'):>12}  {run.mib('RssAnon'):>9}  "
            f"{run.mib('RssFile'):>9}  {run.seconds:>8.1f}"
        )
    print("  * peaks sampled every 10 ms from /proc/PID/status (short spikes can be missed)")
    small, big = results[f"irwua {SMALL}"], results[f"irwua {large}"]
    growth = big.maxrss_kib / small.maxrss_kib - 1.0
    verdict = "meets" if growth < TARGET_GROWTH else "MISSES"
    print(
        f"irwua peak RSS growth {SMALL} -> {large} samples: {growth:+.1%}  "
        f"({verdict} target < {TARGET_GROWTH:.0%})"
    )
    anon_small, anon_big = small.sampled.get("RssAnon"), big.sampled.get("RssAnon")
    file_small, file_big = small.sampled.get("RssFile"), big.sampled.get("RssFile")
    if anon_small and anon_big and file_small and file_big:
        print(
            f"  of which anonymous (heap): {anon_small / 1024:.0f} -> {anon_big / 1024:.0f} MiB "
            f"({anon_big / anon_small - 1:+.1%}); file-backed (mmap'ed data pages touched, "
            f"reclaimable): {file_small / 1024:.0f} -> {file_big / 1024:.0f} MiB"
        )
    return growth


# --- main --------------------------------------------------------------------------------------


def check_outputs(stdout: dict[str, str]) -> bool:
    """Same number of samples everywhere; irwua and torch-hooks agree on the importance sum."""
    parsed = {name: out.split() for name, out in stdout.items()}
    samples = {name: int(fields[0]) for name, fields in parsed.items()}
    ok = all(n == SMALL for n in samples.values())
    layers_irwua, total_irwua = int(parsed["irwua"][1]), float(parsed["irwua"][2])
    layers_hooks, total_hooks = int(parsed["torch-hooks"][1]), float(parsed["torch-hooks"][2])
    rel = abs(total_irwua - total_hooks) / max(abs(total_hooks), 1e-30)
    ok = ok and layers_irwua == layers_hooks and rel < 1e-4
    print(
        f"check: samples {samples}; weighted layers irwua={layers_irwua} "
        f"torch-hooks={layers_hooks}; sum of importances irwua={total_irwua:.6g} "
        f"torch-hooks={total_hooks:.6g} (rel. diff {rel:.1e})  {'OK' if ok else 'MISMATCH'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per command")
    parser.add_argument(
        "--quick", action="store_true", help="1 round, no warm-up, memory test at 3x not 10x"
    )
    args = parser.parse_args(argv)
    repeats, warmup = (1, 0) if args.quick else (args.repeats, 1)
    large = 3 * SMALL if args.quick else LARGE

    print("== importance_resnet18: irwua metrics vs plain onnxruntime vs torch forward hooks ==")
    print(
        f"model: ResNet-18 (11.7M params, 1000 classes), input 3x64x64, {SMALL} samples, batch 64"
    )
    print(f"machine: {machine_info()}")
    print(f"irwua: {irwua_revision()}")
    begin = time.perf_counter()
    try:
        seconds, _ = run_timed(worker("prepare", CACHE), timeout=TIMEOUT)
        if seconds > 5:
            print(f"prepared model and data in {CACHE} ({seconds:.0f} s)")
        timings = measure(commands(), repeats, warmup=warmup, timeout=TIMEOUT)
    except CommandFailed as exc:
        print(f"benchmark command failed: {exc}", file=sys.stderr)
        return 1
    outputs_ok = check_outputs({name: t.last_stdout for name, t in timings.items()})
    print_table(timings)
    medians = {name: t.median for name, t in timings.items()}
    vs_ort = print_ratio(medians, "irwua", "plain-ort")
    vs_hooks = print_ratio(medians, "irwua", "torch-hooks")
    print(
        f"targets: irwua/plain-ort <= {TARGET_VS_ORT} "
        f"({'met' if vs_ort <= TARGET_VS_ORT else 'MISSED'}), irwua/torch-hooks < "
        f"{TARGET_VS_HOOKS:g} ({'met' if vs_hooks < TARGET_VS_HOOKS else 'MISSED'})"
    )

    print(f"-- memory: irwua on {SMALL} vs {large} samples (memory-mapped .npy) --")
    try:
        results = memory_test(large, context=not args.quick)
    except CommandFailed as exc:
        print(f"benchmark command failed: {exc}", file=sys.stderr)
        return 1
    print_memory(results, large)
    print(f"machine (end): {machine_info()}")
    print(f"irwua (end): {irwua_revision()}")
    print(f"total {time.perf_counter() - begin:.0f} s")
    return 0 if outputs_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
