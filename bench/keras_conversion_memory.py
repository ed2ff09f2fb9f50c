"""Peak memory of converting Keras applications to ONNX: tf2onnx alone vs irwua on top of it.

tf2onnx's conversion dominates the memory of analysing a Keras model (7.2 GB for ResNet50 when
first measured), so this bench checks that irwua adds little to it. Each command runs as a fresh
process and its peak resident memory (``ru_maxrss`` from ``os.wait4``) is compared, side by side
in the same run, for ``keras.applications`` models with ``weights=None`` (no download):

* ``keras``: build the model and run it once (TensorFlow, Keras and the model's weights);
* ``tf2onnx``: the same, then ``tf2onnx.convert.from_function`` on its inference call, as irwua
  converts it (opset 17, constant folding and merging off);
* ``irwua load``: ``irwua.exporters.load(model, example=data)`` (conversion, names, notes);
* ``irwua analyze``: ``irwua.analyze(model, data, passes=["flops"])`` (conversion and layer graph).

Target: irwua load adds < 10 % to tf2onnx's peak. ``--quick``: MobileNetV2 only.

Usage: python bench/keras_conversion_memory.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import CommandFailed, machine_info, peak_rss

MODELS = {"ResNet50": 224, "InceptionV3": 299, "MobileNetV2": 224}
TARGET_ADDED = 0.10
"""irwua may add at most this fraction to tf2onnx's own peak RSS."""

CHILD = """\
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras
mode, name, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
data = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
if mode == "keras":
    model(data, training=False)
elif mode == "tf2onnx":
    import tensorflow as tf
    import tf2onnx
    from irwua.exporters.keras.export import OPSET, _as_written
    spec = [tf.TensorSpec((None, size, size, 3), tf.float32)]
    function = tf.function(lambda x: model(x, training=False))
    with _as_written():
        tf2onnx.convert.from_function(function, input_signature=spec, opset=OPSET)
elif mode == "irwua load":
    from irwua.exporters import load
    load(model, example=data)
else:
    import irwua
    irwua.analyze(model, data, passes=["flops"])
"""
MODES = ("keras", "tf2onnx", "irwua load", "irwua analyze")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="MobileNetV2 only")
    args = parser.parse_args()
    names = ["MobileNetV2"] if args.quick else ["ResNet50", "InceptionV3"]
    print("== keras_conversion_memory: peak RSS of tf2onnx alone and of irwua on top of it ==")
    print(f"machine: {machine_info()}")
    print(f"{'model':<12}  " + "  ".join(f"{mode + ' MB':>16}" for mode in MODES) + "  added")
    missed = False
    for name in names:
        peaks = {}
        for mode in MODES:
            argv = [sys.executable, "-c", CHILD, mode, name, str(MODELS[name])]
            try:
                peaks[mode], _, _ = peak_rss(argv)
            except CommandFailed as exc:
                print(f"benchmark command failed: {exc}", file=sys.stderr)
                return 1
        added = peaks["irwua load"] / peaks["tf2onnx"] - 1
        missed |= added >= TARGET_ADDED
        row = "  ".join(f"{peaks[mode]:>16,.0f}" for mode in MODES)
        print(f"{name:<12}  {row}  {added:+.1%}")
    verdict = "MISSED" if missed else "met"
    print(f"irwua load adds < {TARGET_ADDED:.0%} to tf2onnx's peak: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
