"""Real speed-ups: structured pruning (with fine-tuning) and int8 quantization, measured on CPU.

Two networks trained here on scikit-learn's digits (``tests/digits_models.py``'s split):

* ``digits CNN``: the tests' CNN with a BatchNorm (Conv 1-8, 8-16, 16-32, Linear 512-64-10);
* ``VGG-style``: Conv 1-64, 64-64, MaxPool, Conv 64-128, 128-128, MaxPool, Linear 512-256-10,
  BatchNorm after every conv (1.0 M MACs per sample: compute dominates its latency).

For each: ``irwua.prune_model(..., structured=True)`` at several shares of the weights, global
with exact widths and with widths kept in multiples of 8 (``width_multiple``), and uniform with
multiples of 8 (the share of FLOPs left is printed beside), the plan
applied to the torch module (``irwua.apply_pruning``), 4 epochs of fine-tuning (Adam, lr 1e-3),
export to ONNX; and ``irwua.quantize_model`` (static QDQ, calibrated on the test images). Each
variant is timed against the original ONNX model in onnxruntime, runs interleaved
(``irwua.runtime.latency``), on batches of 256 test images, with the machine's threads. Prints
accuracy before / after and the speed-up (median latency of the original / of the variant).
Target (issue 17): >= 1.5x faster at <= 1 point of accuracy lost. About 3 minutes.

Usage: python bench/pruning_speedups.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import io
import pathlib
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import REPO_ROOT, machine_info

sys.path.insert(0, str(REPO_ROOT / "tests"))
import onnx
import torch
from digits_models import digits, fit, trained
from torch import nn

import irwua
from irwua.runtime.latency import interleaved_latency
from irwua.runtime.sessions import make_session

RATIOS = (0.5, 0.7, 0.85)
BATCH = 256


def vgg_style() -> nn.Module:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(1, 64), *block(64, 64), nn.MaxPool2d(2),
        *block(64, 128), *block(128, 128), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip


def exported(net: nn.Module) -> onnx.ModelProto:
    buffer = io.BytesIO()
    example = torch.from_numpy(digits()[1][:2])
    torch.onnx.export(
        net, (example,), buffer, dynamo=False, opset_version=17, input_names=["x"], verbose=False,
        output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
    )  # fmt: skip
    return onnx.load_from_string(buffer.getvalue())


def accuracy(proto: onnx.ModelProto) -> float:
    _, x, _, y = digits()
    session = make_session(proto, None)
    return float(np.mean(session.run(None, {"x": x})[0].argmax(1) == y))


def speedup(original: onnx.ModelProto, variant: onnx.ModelProto) -> tuple[float, str]:
    _, x, _, _ = digits()
    batch = {"x": x[:BATCH]}
    before, after = interleaved_latency(
        [make_session(original, None), make_session(variant, None)], [batch, batch]
    )
    return before.median_ms / after.median_ms, f"{before.median_ms:.3g} -> {after.median_ms:.3g}"


def measure(name: str, net: nn.Module, ratios: tuple[float, ...]) -> None:
    _, x_test, _, y_test = digits()
    original = exported(net)
    base = accuracy(original)
    macs = irwua.analyze(original, x_test[:1], passes=["flops"])["flops"].total.macs
    print(f"\n{name}: accuracy {base:.3f}, {macs / 1e6:.2f} M MACs per sample")
    print(f"  {'variant':28s} {'accuracy':>9s} {'tuned':>7s} {'speed-up':>9s}  ms per batch")
    for scope, multiple in (("global", 1), ("global", 8), ("uniform", 8)):
        for ratio in ratios:
            pruned_net = copy.deepcopy(net)
            pruned = irwua.prune_model(
                pruned_net, x_test, ratio, structured=True, labels=y_test, scope=scope,
                width_multiple=multiple,
            )  # fmt: skip
            irwua.apply_pruning(pruned_net, pruned.plan)
            fit(pruned_net, epochs=4, lr=1e-3, seed=1)
            tuned = exported(pruned_net)
            factor, times = speedup(original, tuned)
            flops = pruned.after.flops / pruned.before.flops
            label = f"{scope} x{multiple} {ratio:.0%} ({flops:.0%} FLOPs)"
            print(
                f"  {label:28s} {pruned.fidelity.accuracy:9.3f} {accuracy(tuned):7.3f} "
                f"{factor:8.2f}x  {times}"
            )
    int8 = irwua.quantize_model(original, x_test, mode="static", labels=y_test)
    factor, times = speedup(original, int8.proto)
    print(f"  {'int8 static':28s} {int8.fidelity.accuracy:9.3f} {'':>7s} {factor:8.2f}x  {times}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pruning ratio per network")
    parser.add_argument("--repeats", type=int, help="ignored")
    args = parser.parse_args(argv)
    ratios = (0.7,) if args.quick else RATIOS
    warnings.simplefilter("ignore")  # torch's exporter advice on every export
    torch.manual_seed(0)
    print(machine_info())
    print(f"latency: onnxruntime, batches of {BATCH}, runs interleaved; accuracy: test split")
    measure("digits CNN", trained("cnn_bn"), ratios)
    measure("VGG-style", fit(vgg_style(), epochs=8, lr=3e-3, seed=0), ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
