"""Pruning sweeps: a new session per pruned model vs one session fed the pruned weights.

The pruning pass measures many pruned variants of one model. Two ways, timed side by side in one
process, interleaved, on the same variants (a global importance sweep, unstructured, ratios
0.1 ... 0.9):

* ``rebuilt`` (what the pass does): for each variant, a copy of the model with the pruned
  weights as initializers (``irwua.pruning.edits.with_tensors``), a new session, a pass over the
  data;
* ``fed``: one onnxruntime session whose prunable weights are graph inputs; each variant is one
  more pass over the data with other arrays fed in (no session set-up per variant, but
  onnxruntime cannot pre-pack weights it does not know in advance).

Models: the bundled digits CNN (examples/, 540 samples of 1x8x8, small layers: session set-up
dominates) and a VGG-style stack built with onnx.helper (random weights, seed 0, 1.2 M
parameters, 256 samples of 3x32x32: compute dominates). The outputs of both ways must agree.
Result: the ratio of medians rebuilt/fed per model (<= 1: a session per variant is not slower).

Usage: python bench/pruning_sessions.py [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import REPO_ROOT, machine_info

import irwua
from irwua.data.dataset import make_dataset
from irwua.ingest.inputs import input_specs
from irwua.pruning.edits import with_tensors, zeroed
from irwua.pruning.scores import prunable_layers
from irwua.pruning.selection import Selection
from irwua.pruning.vocabulary import Method
from irwua.runtime.fidelity import predict
from irwua.runtime.sessions import make_session

RATIOS = tuple(round(0.1 * step, 1) for step in range(1, 10))
BATCH = 64


def vgg_like(seed: int = 0) -> onnx.ModelProto:
    """x[N, 3, 32, 32] -> 3 x (Conv 3x3, Relu, MaxPool) -> GlobalAveragePool -> Gemm -> [N, 100]."""
    rng = np.random.default_rng(seed)
    nodes, weights, current, channels = [], {}, "x", 3
    for index, width in enumerate((64, 128, 256)):
        fan_in = channels * 9
        weights[f"w{index}"] = rng.normal(0, (2 / fan_in) ** 0.5, (width, channels, 3, 3))
        weights[f"b{index}"] = np.zeros(width)
        nodes += [
            helper.make_node(
                "Conv", [current, f"w{index}", f"b{index}"], [f"c{index}"], pads=[1, 1, 1, 1]
            ),
            helper.make_node("Relu", [f"c{index}"], [f"r{index}"]),
            helper.make_node(
                "MaxPool", [f"r{index}"], [f"p{index}"], kernel_shape=[2, 2], strides=[2, 2]
            ),
        ]
        current, channels = f"p{index}", width
    weights["fc"] = rng.normal(0, (1 / channels) ** 0.5, (100, channels))
    weights["fc_b"] = np.zeros(100)
    nodes += [
        helper.make_node("GlobalAveragePool", [current], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fc_b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "vgg_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 100])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def variants(analysis: irwua.Analysis) -> list[dict]:
    """The pruned weights of a global importance sweep, one dict per ratio."""
    graph = analysis.graph
    names = [layer.name for layer in prunable_layers(graph)]
    method = Method("importance", "global", "unstructured")
    selection = Selection(graph, names, method, analysis["importance"].layers)
    return [zeroed(graph, selection.pruned(ratio)) for ratio in RATIOS]


def fed(analysis: irwua.Analysis, data, changes: list[dict]) -> list[np.ndarray]:
    """One session; the pruned weights (initializers of these models) become graph inputs."""
    graph = analysis.graph
    names = {graph.layer_by_name[key[0]].tensors[key[1]]: key for key in changes[0]}
    proto = onnx.ModelProto()
    proto.CopyFrom(graph.source.proto)
    kept = [t for t in proto.graph.initializer if t.name not in names]
    for tensor in proto.graph.initializer:
        if tensor.name in names:
            shape, elem = list(tensor.dims), tensor.data_type
            proto.graph.input.append(helper.make_tensor_value_info(tensor.name, elem, shape))
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    session = make_session(proto)
    outputs = []
    for change in changes:
        weights = {name: change[key] for name, key in names.items()}
        outputs.append(predict(_Feeding(session, weights), data, BATCH, show=False))
    return outputs


class _Feeding:
    """A session that adds the weights to every run's feeds."""

    def __init__(self, session, weights) -> None:
        self.session, self.weights = session, weights

    def run(self, names, feeds, options=None):
        return self.session.run(names, {**feeds, **self.weights}, options)

    def get_outputs(self):
        return self.session.get_outputs()


def rebuilt(analysis: irwua.Analysis, data, changes: list[dict]) -> list[np.ndarray]:
    graph = analysis.graph
    outputs = []
    for change in changes:
        session = make_session(with_tensors(graph.source.proto, graph, change))
        outputs.append(predict(session, data, BATCH, show=False))
    return outputs


def bench(name: str, model, samples: np.ndarray, repeats: int) -> float:
    analysis = irwua.analyze(model, data=samples, passes=["importance"])
    data = make_dataset(samples, input_specs(analysis.graph.source.proto))
    changes = variants(analysis)
    times: dict[str, list[float]] = {"fed": [], "rebuilt": []}
    results = {}
    for _ in range(repeats):
        for way, run in (("fed", fed), ("rebuilt", rebuilt)):
            start = time.perf_counter()
            results[way] = run(analysis, data, changes)
            times[way].append(time.perf_counter() - start)
    for a, b in zip(results["fed"], results["rebuilt"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    medians = {way: statistics.median(values) for way, values in times.items()}
    ratio = medians["rebuilt"] / medians["fed"]
    print(
        f"{name:<12} {len(changes)} variants x {len(samples)} samples: "
        f"rebuilt {medians['rebuilt']:.3f} s, fed {medians['fed']:.3f} s, "
        f"ratio rebuilt/fed = {ratio:.2f} ({repeats} rounds)"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    print("pruning sweeps: a session per variant vs one fed session")
    print(machine_info())
    examples = REPO_ROOT / "examples"
    images = np.load(examples / "digits_images.npy")
    bench("digits CNN", str(examples / "digits_cnn.onnx"), images, repeats)
    rng = np.random.default_rng(0)
    bench("VGG-like", vgg_like(), rng.standard_normal((256, 3, 32, 32), np.float32), repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
