"""Peak memory of the FLOPs pass on a model with 1 GB of external-data weights.

The model (4 MatMul layers of 8192 x 8192 float32, one external-data file, generated into a
temporary directory block by block) is analysed by ``python -m irwua analyze MODEL --passes
flops``, the whole process, and its peak resident memory (``ru_maxrss`` from ``os.wait4``) is
compared with the weights' size. Side by side, in the same run:

* ``irwua (tiny)``: the same command on the same graph with 64 x 64 weights, i.e. what the
  interpreter, the imports and the report cost without any weights;
* ``onnx.load``: ``onnx.load(MODEL)``, which reads the external data into the protobuf, i.e. what
  a tool that does not memory-map the weights pays.

Targets: irwua's peak RSS well below the weights' size (< 25% at 1 GB), and the weights adding
almost nothing to it (growth over ``irwua (tiny)`` < 5% of the weights). ``--quick``: 256 MB of
weights, where only the growth target is meaningful (the interpreter alone is ~100 MB).

Usage: python bench/external_data_memory.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

from common import CommandFailed, machine_info, peak_rss
from corpus import write_external_model

LAYERS = 4
TARGET_PEAK = 0.25
"""irwua's peak RSS must stay below this fraction of the weights' size (1 GB run)."""
TARGET_GROWTH = 0.05
"""The weights may add at most this fraction of their size to the peak RSS."""

ONNX_LOAD_CODE = """\
import sys
import onnx
model = onnx.load(sys.argv[1])
print(sum(len(t.raw_data) for t in model.graph.initializer))
"""


def commands(big: pathlib.Path, tiny: pathlib.Path, out: pathlib.Path) -> dict[str, list[str]]:
    irwua = [sys.executable, "-m", "irwua", "analyze"]
    return {
        "irwua": [*irwua, str(big), "--only", "flops", "--out", str(out / "big"), "--quiet"],
        "irwua (tiny)": [*irwua, str(tiny), "--only", "flops", "--out", str(out / "tiny")],
        "onnx.load": [sys.executable, "-c", ONNX_LOAD_CODE, str(big)],
    }


def _verdict(met: bool, skipped: bool = False) -> str:
    return "not judged with --quick" if skipped else "met" if met else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MB of weights instead of 1 GB")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the three commands")
    args = parser.parse_args()
    width = 4096 if args.quick else 8192
    weights_mb = LAYERS * width * width * 4 / 2**20
    print("== external_data_memory: irwua analyze --only flops, external-data weights ==")
    print(f"model: {LAYERS} MatMul layers of {width}x{width} float32, {weights_mb:.0f} MB")
    print(f"machine: {machine_info()}")
    with tempfile.TemporaryDirectory(prefix="irwua-bench-") as folder:
        root = pathlib.Path(folder)
        for name, size in (("big", width), ("tiny", 64)):
            (root / name).mkdir()
            write_external_model(root / name, size, LAYERS)
        runs = commands(root / "big" / "model.onnx", root / "tiny" / "model.onnx", root / "out")
        peaks: dict[str, list[float]] = {name: [] for name in runs}
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        try:
            for _ in range(args.repeats):
                for name, argv in runs.items():
                    peak, wall, _ = peak_rss(argv)
                    peaks[name].append(peak)
                    seconds[name].append(wall)
        except CommandFailed as exc:
            print(f"benchmark command failed: {exc}", file=sys.stderr)
            return 1
        document = json.loads((root / "out" / "big" / "analysis.json").read_text())
    print(f"{'command':<14}  {'peak RSS MB':>11}  {'seconds':>8}")
    median = {name: statistics.median(values) for name, values in peaks.items()}
    for name in runs:
        print(f"{name:<14}  {median[name]:>11.1f}  {statistics.median(seconds[name]):>8.2f}")
    ratio = median["irwua"] / weights_mb
    growth = (median["irwua"] - median["irwua (tiny)"]) / weights_mb
    print(
        f"irwua peak RSS / weights = {ratio:.3f} (target < {TARGET_PEAK:g} at 1 GB: "
        f"{_verdict(ratio < TARGET_PEAK, args.quick)}); growth over tiny weights = {growth:.1%} "
        f"of the weights (target < {TARGET_GROWTH:.0%}: {_verdict(growth < TARGET_GROWTH)}); "
        f"onnx.load / irwua = {median['onnx.load'] / median['irwua']:.1f}"
    )
    macs_ok = document["totals"]["macs"] == LAYERS * width * width
    if not macs_ok:
        print(f"wrong MACs: {document['totals']['macs']}", file=sys.stderr)
    return 0 if macs_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
