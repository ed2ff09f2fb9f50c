"""The activations pass hands onnxruntime the weights without copying the model: its peak RSS
grows by well under twice the weights when they are external data, and by at most about twice
when they are stored inline (the old copy-and-serialize path cost over 4x).

Each measurement runs in a fresh process, which builds the layer graph first, then resets its
peak RSS (``/proc/self/clear_refs``) and runs only the activations pass. What remains is
onnxruntime's own: it packs the MatMul weights into a copy of its layout (1x), holding one mapped
external weight meanwhile, or, for inline weights, the copy it takes of each array (up to 1x more,
depending on when its allocator returns memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from corpus import write_external_model

WIDTH, LAYERS = 2048, 3  # three 2048 x 2048 float32 MatMul weights: 48 MiB
WEIGHTS = WIDTH * WIDTH * 4 * LAYERS

CHILD = """
import json, sys
import numpy as np
import irwua
from irwua.data.dataset import make_dataset
from irwua.passes.activations import run_activations
from irwua.pipeline import PassContext
from irwua.ingest.inputs import input_specs

def status(key):
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) * 1024 for line in file if line.startswith(key + ":"))

path, width = sys.argv[1], int(sys.argv[2])
data = np.random.default_rng(0).standard_normal((64, width), dtype=np.float32)
graph = irwua.analyze(path, data=data[:1], passes=["activations"]).graph  # warms onnxruntime up
dataset = make_dataset(data, input_specs(graph.source.proto))
with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # resets VmHWM to the current RSS
before = status("VmRSS")
result = run_activations(PassContext(graph, {}, irwua.Options(batch_size=16), dataset))
growth = status("VmHWM") - before
weights = [graph.constants.values[f"w{i}"] for i in range(3)]
reference, x = [], data.astype(np.float64)
for w in weights:
    reference.append(np.abs(x).mean(0))
    x = x @ w
stats = [result.inputs[f"fc{i}"].mean_abs for i in range(3)]
error = max(float(np.max(np.abs(s - r) / r)) for s, r in zip(stats, reference))
print(json.dumps({"growth": growth, "error": error}))
"""


def _measure(path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(WIDTH)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    external = write_external_model(folder, WIDTH, LAYERS)
    inline = folder / "inline.onnx"
    onnx.save_model(onnx.load(external), inline)
    return {"external": external, "inline": inline}


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(("storage", "bound"), [("external", 1.5), ("inline", 2.25)])
def test_capture_works_and_rss_grows_by_less_than_the_bound(models, storage, bound):
    measured = _measure(models[storage])
    assert measured["error"] < 1e-4  # mean |x| of every layer input, against numpy
    assert measured["growth"] < bound * WEIGHTS, f"{measured['growth'] / WEIGHTS:.2f}x the weights"
