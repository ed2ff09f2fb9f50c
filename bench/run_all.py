"""Run every benchmark script in bench/ (all ``*.py`` but this file and common.py).

Each script runs in its own process with the same interpreter; extra
arguments (e.g. ``--repeats 3``) are passed to every script. Exits non-zero
if any benchmark failed. ``make bench`` calls this.

Usage: python bench/run_all.py [ARGS...]
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

BENCH_DIR = pathlib.Path(__file__).resolve().parent
NOT_BENCHMARKS = {"run_all.py", "common.py", "__init__.py", "__main__.py"}


def benchmark_scripts() -> list[pathlib.Path]:
    """The benchmark scripts, in name order."""
    return sorted(
        p
        for p in BENCH_DIR.glob("*.py")
        if p.name not in NOT_BENCHMARKS and not p.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    """Run each benchmark; return 1 if any failed."""
    extra = sys.argv[1:] if argv is None else argv
    failed: list[str] = []
    for script in benchmark_scripts():
        proc = subprocess.run([sys.executable, str(script), *extra], check=False)
        if proc.returncode != 0:
            failed.append(script.name)
            print(f"!! {script.name} failed (exit {proc.returncode})", file=sys.stderr)
        print()
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
