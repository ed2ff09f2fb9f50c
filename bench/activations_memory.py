"""Peak memory of the activations pass on a model with 512 MB of weights, external and inline.

The model (8 MatMul layers of 4096 x 4096 float32, generated into a temporary directory with
``tests/corpus.write_external_model``) is stored twice: with its weights in an external-data
file, and with them inline in the protobuf. On each, three whole processes, side by side, each
measured by its own peak RSS (``ru_maxrss`` from ``os.wait4``):

* ``irwua activations``: ``irwua.analyze(MODEL, data, passes=["activations"])`` over 256
  samples (a memory-mapped .npy), batches of 64: the weightless instrumented session;
* ``irwua flops``: ``irwua.analyze(MODEL, passes=["flops"])``: loading the model and building
  the layer graph, what irwua holds before the activations pass runs;
* ``onnxruntime``: ``InferenceSession(MODEL)`` and inference over the same data: what running
  the model costs anyway.

Target: the activations pass's own share (``irwua activations`` - ``irwua flops``) well under 2x
the weights on the external-data model (onnxruntime packs the MatMul weights into a copy of its
own; the pass copies nothing); reported for the inline model too, where onnxruntime also copies
each array it is handed. ``--quick``: 4 layers (256 MB).

Usage: python bench/activations_memory.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

from common import CommandFailed, machine_info
from corpus import write_external_model
from importance_resnet18 import run_with_memory

WIDTH = 4096
SAMPLES, BATCH = 256, 64
TARGET_PASS_SHARE = 2.0

ACTIVATIONS = """\
import sys
import numpy as np
import irwua
data = np.load(sys.argv[2], mmap_mode="r")
result = irwua.analyze(sys.argv[1], data=data, passes=["activations"],
                       options=irwua.Options(batch_size=int(sys.argv[3])))["activations"]
print(result.samples, len(result.inputs))
"""

FLOPS = """\
import sys
import irwua
print(irwua.analyze(sys.argv[1], passes=["flops"])["flops"].totals_json()["macs"])
"""

ONNXRUNTIME = """\
import sys
import numpy as np
import onnxruntime as ort
data = np.load(sys.argv[2], mmap_mode="r")
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
batch = int(sys.argv[3])
for start in range(0, len(data), batch):
    session.run(None, {"x": data[start : start + batch]})
print(len(data))
"""


INLINE = """\
import sys
import onnx
onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2])
"""


def write_models(folder: pathlib.Path, layers: int) -> dict[str, pathlib.Path]:
    """The external-data model, the same model with its weights inline, and the data. The
    inline copy is written by a child process: a child's peak RSS starts at its parent's."""
    external = write_external_model(folder, WIDTH, layers)
    inline = folder / "inline.onnx"
    subprocess.run([sys.executable, "-c", INLINE, str(external), str(inline)], check=True)
    data = folder / "data.npy"
    rng = np.random.default_rng(0)
    np.save(data, rng.standard_normal((SAMPLES, WIDTH), dtype=np.float32))
    return {"external": external, "inline": inline, "data": data}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MB of weights, not 512 MB")
    parser.add_argument("--repeats", type=int, default=1, help="ignored (one run per command)")
    args = parser.parse_args(argv)
    layers = 4 if args.quick else 8
    weights_mb = layers * WIDTH * WIDTH * 4 / 2**20
    print("== activations_memory: peak RSS of the activations pass, external vs inline weights ==")
    print(f"model: {layers} MatMul layers of {WIDTH}x{WIDTH} float32 ({weights_mb:.0f} MB)")
    print(f"data: {SAMPLES} samples, batch {BATCH}")
    print(f"machine: {machine_info()}")
    with tempfile.TemporaryDirectory(prefix="irwua-bench-") as folder:
        paths = write_models(pathlib.Path(folder), layers)
        peaks: dict[tuple[str, str], float] = {}
        print(f"{'weights':<9} {'command':<18} {'peak RSS MB':>11} {'x weights':>9} {'seconds':>8}")
        for storage in ("external", "inline"):
            model = str(paths[storage])
            runs = {
                "irwua activations": [ACTIVATIONS, model, str(paths["data"]), str(BATCH)],
                "irwua flops": [FLOPS, model],
                "onnxruntime": [ONNXRUNTIME, model, str(paths["data"]), str(BATCH)],
            }
            for name, (code, *rest) in runs.items():
                try:
                    run = run_with_memory([sys.executable, "-c", code, *rest])
                except CommandFailed as exc:
                    print(f"benchmark command failed: {exc}", file=sys.stderr)
                    return 1
                peak = run.maxrss_kib / 1024
                peaks[storage, name] = peak
                print(
                    f"{storage:<9} {name:<18} {peak:>11.0f} {peak / weights_mb:>9.2f} "
                    f"{run.seconds:>8.1f}"
                )
    met = True
    for storage in ("external", "inline"):
        share = (peaks[storage, "irwua activations"] - peaks[storage, "irwua flops"]) / weights_mb
        versus = peaks[storage, "irwua activations"] / peaks[storage, "onnxruntime"]
        judged = storage == "external"
        verdict = ("met" if share < TARGET_PASS_SHARE else "MISSED") if judged else "reported"
        met = met and (share < TARGET_PASS_SHARE or not judged)
        print(
            f"{storage}: activations pass share = {share:.2f}x the weights ({verdict}, target "
            f"< {TARGET_PASS_SHARE:g}x); irwua activations / onnxruntime peak RSS = {versus:.2f}"
        )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
