"""Side-by-side timing of whole commands, for the irwua benchmarks.

Every benchmark compares irwua against a reference tool *in the same run*:
the commands are run interleaved, each repetition in a fresh process, and
the result is a ratio of medians. Absolute times are printed for context
only; on a shared, noisy machine they are not comparable across runs.
"""

from __future__ import annotations

import compileall
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""Repository root; commands run from here, as ``make bench`` does."""


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero (or timed out)."""


@dataclass
class CommandTiming:
    """Wall-clock samples of one command, plus its output from the last run."""

    name: str
    argv: list[str]
    samples: list[float] = field(default_factory=list)
    last_stdout: str = ""

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(self.samples)


def run_timed(
    argv: Sequence[str],
    *,
    cwd: Path = REPO_ROOT,
    timeout: float = 600.0,
) -> tuple[float, str]:
    """Run ``argv`` once as a fresh process; return (wall seconds, stdout).

    Raises:
        CommandFailed: if the process exits non-zero or exceeds ``timeout``.
    """
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise CommandFailed(f"exit {proc.returncode}: {' '.join(argv)}\n{tail}")
    return elapsed, proc.stdout


def measure(
    commands: Mapping[str, Sequence[str]],
    repeats: int,
    *,
    warmup: int = 1,
    cwd: Path = REPO_ROOT,
    timeout: float = 600.0,
) -> dict[str, CommandTiming]:
    """Time each command ``repeats`` times, interleaved, and keep all samples.

    Rounds alternate the order (A B, B A, A B, ...) so neither command always
    runs right after the other one. ``warmup`` unmeasured rounds come first to
    warm the file cache. irwua's sources are byte-compiled first, as a regular
    (non-editable) pip install does: an editable install leaves that to the first
    import, which cannot cache it where PYTHONDONTWRITEBYTECODE is set.
    """
    for package in ("irwua", "passes", "exporters"):
        compileall.compile_dir(REPO_ROOT / package, quiet=1)
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    if not commands:
        raise ValueError("no commands given")
    timings = {name: CommandTiming(name, list(argv)) for name, argv in commands.items()}
    names = list(timings)
    for round_no in range(warmup + repeats):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            elapsed, stdout = run_timed(timings[name].argv, cwd=cwd, timeout=timeout)
            timings[name].last_stdout = stdout
            if round_no >= warmup:
                timings[name].samples.append(elapsed)
    return timings


def compare(commands: Mapping[str, Sequence[str]], repeats: int) -> dict[str, float]:
    """Run ``commands`` interleaved, ``repeats`` times each; return median seconds by name."""
    return {name: t.median for name, t in measure(commands, repeats).items()}


def machine_info() -> str:
    """One line describing the machine: usable cores, CPU model, load, Python."""
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        ncpu = os.cpu_count() or 0
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"nproc={ncpu}  cpu={model}  loadavg={load}  python={platform.python_version()}"


def print_table(timings: Mapping[str, CommandTiming]) -> None:
    """Print median/min/max wall time of each command."""
    width = max(len(name) for name in timings)
    print(f"{'command':<{width}}  {'median s':>9}  {'min s':>8}  {'max s':>8}  {'n':>3}")
    for name, t in timings.items():
        print(
            f"{name:<{width}}  {t.median:>9.3f}  {min(t.samples):>8.3f}  "
            f"{max(t.samples):>8.3f}  {len(t.samples):>3}"
        )


def print_ratio(medians: Mapping[str, float], numerator: str, denominator: str) -> float:
    """Print and return ``median[numerator] / median[denominator]``.

    A ratio <= 1.0 means ``numerator`` is not slower than ``denominator``.
    """
    ratio = medians[numerator] / medians[denominator]
    verdict = "not slower" if ratio <= 1.0 else "SLOWER"
    print(f"ratio {numerator}/{denominator} = {ratio:.2f}  ({numerator} {verdict})")
    return ratio


def peak_rss(argv: list[str]) -> tuple[float, float, str]:
    """Run ``argv`` as a fresh process; return (peak RSS in MB, wall seconds, stdout)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        error = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    if status != 0:
        raise CommandFailed(f"exit status {status}: {' '.join(argv)}\n{error[-2000:]}")
    return usage.ru_maxrss / 1024, seconds, stdout  # Linux reports kilobytes
