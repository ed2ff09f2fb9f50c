"""Pruning methods compared on real data: which order of units, scope and grouping keep accuracy.

Default: the methods of the pruning pass on the digits CNN and MLP of the tests (3 trained
seeds each; random: its own seed per network), calibrated (importance, OWL outliers,
reconstruction moments) on 512 training images and evaluated on the held-out test split:
criterion x scope/grouping x ratio (30/50/70%) x with/without reconstruction, unstructured, plus
2:4 and global structured. Prints mean test accuracy. About 2 minutes.

``--structured-allocation``: global structured pruning of the digits networks of the tests
(``tests/digits_models.py``: a CNN, the CNN with a BatchNorm, an MLP 64-256-256-256-10; each
trained with 3 seeds on scikit-learn's digits), calibrated on 512 training images, evaluated on
the test split, at 30/50/70/80/90% of the weights removed (units searched until their cut removes
the share, as ``irwua.pruning.selection`` does). Orders of units compared:

* ``share``: each unit's share of its layer's importance (the rule before issue 17);
* ``share/weight``: that share divided by the weights the unit's cut removes;
* ``log/weight`` (irwua's): the fall of log(kept share of the layer) per weight removed;
* ``uniform``: the same share of every layer's units;
* ``random``: 5 seeded orders per network.

Prints the mean accuracy per order and ratio (the table of ``docs/measured-choices.md``).
About 1 min.

Usage: python bench/pruning_methods.py [--structured-allocation] [--norm l1|l2]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import REPO_ROOT, machine_info

sys.path.insert(0, str(REPO_ROOT / "tests"))
from digits_models import digits, exported

import irwua
from irwua.data.dataset import make_dataset
from irwua.ingest.inputs import input_specs
from irwua.pruning.allocation import unit_keys
from irwua.pruning.cuts import cut_masks, cuts, masked, removed_weights
from irwua.pruning.edits import with_tensors, zeroed
from irwua.pruning.reconstruction import input_moments, reconstructable, reconstructed_weights
from irwua.pruning.scores import prunable_layers, unit_scores
from irwua.pruning.selection import Selection
from irwua.pruning.shrink_plan import plan
from irwua.pruning.vocabulary import CRITERIA, Method
from irwua.runtime.fidelity import predict
from irwua.runtime.sessions import make_session
from irwua.units.flow import unit_flow

RATIOS = (0.3, 0.5, 0.7, 0.8, 0.9)
ORDERS = ("share", "share/weight", "log/weight", "uniform", "random")
SEEDS = (0, 1, 2)
RANDOM_ORDERS = 5


def _keys(order: str, scores: dict, costs: dict) -> np.ndarray:
    """Concatenated keys of every unit (lowest pruned first); each layer's best unit is never
    pruned."""
    if order == "log/weight":
        return unit_keys(scores, costs, "global", shares=True)
    if order == "uniform":
        return unit_keys(scores, costs, "uniform", shares=True)
    keys = []
    for name, values in scores.items():
        key = np.asarray(values, np.float64) / max(float(np.sum(values)), 1e-30)
        if order == "share/weight":
            key = key / costs[name]
        key[int(np.argmax(values))] = np.inf
        keys.append(key)
    return np.concatenate(keys)


def _cut_at(graph, shrink, keys, sizes, ratio, total):
    """The cut of the fewest units (in key order) that removes ``ratio`` of ``total``."""
    order = np.argsort(keys, kind="stable")[: int(np.isfinite(keys).sum())]
    layer_of = np.repeat(np.arange(len(sizes)), list(sizes.values()))
    starts = np.cumsum([0, *sizes.values()])

    def cut(count):
        chosen = order[:count]
        units = {
            name: chosen[layer_of[chosen] == index] - starts[index]
            for index, name in enumerate(sizes)
        }
        return cuts(graph, shrink, units)

    low, high = 0, order.size
    while low < high:
        middle = (low + high) // 2
        if removed_weights(graph, cut(middle)) < ratio * total:
            low = middle + 1
        else:
            high = middle
    return cut(low)


def _accuracy(graph, cut, test, labels) -> float:
    proto = with_tensors(graph.source.proto, graph, masked(graph, cut))
    outputs = predict(make_session(proto, None), test, 256, show=False)
    return float(np.mean(outputs.argmax(1) == labels))


def structured_allocation(norm: str) -> None:
    x_train, x_test, _, y_test = digits()
    print(machine_info())
    print(f"accuracy at {', '.join(f'{r:.0%}' for r in RATIOS)} of the weights removed ({norm})")
    for kind in ("cnn", "cnn_bn", "mlp"):
        results: dict[str, list] = {order: [] for order in ORDERS}
        for seed in SEEDS:
            analysis = irwua.analyze(
                exported(kind, seed),
                x_train[:512],
                passes=["importance"],
                options=irwua.Options(norm=norm),
            )
            graph = analysis.graph
            shrink = plan(graph, unit_flow(graph))
            importance = analysis["importance"].layers
            test = make_dataset(x_test, input_specs(graph.source.proto))
            sizes = {name: item.units for name, item in shrink.layers.items()}
            costs = {
                name: removed_weights(graph, cuts(graph, shrink, {name: np.array([0])}))
                for name in sizes
            }
            touched = set(sizes) | {t.target for s in shrink.layers.values() for t in s.links}
            total = sum(graph.array(graph.layer_by_name[name]).size for name in touched)

            rng = np.random.default_rng(100 + seed)
            for order in ORDERS:
                repeats = RANDOM_ORDERS if order == "random" else 1
                for _ in range(repeats):
                    criterion = "random" if order == "random" else "importance"
                    scores = {
                        name: unit_scores(
                            graph.layer_by_name[name], graph, criterion, importance[name], rng
                        )
                        for name in sizes
                    }
                    keys = _keys("share" if order == "random" else order, scores, costs)
                    if order == "random":
                        keys = np.concatenate([scores[name] for name in sizes])
                        keys[np.cumsum([0, *sizes.values()])[1:] - 1] = np.inf
                    results[order].append(
                        [
                            _accuracy(
                                graph, _cut_at(graph, shrink, keys, sizes, r, total), test, y_test
                            )
                            for r in RATIOS
                        ]
                    )
        print(f"\n{kind}")
        for order, rows in results.items():
            print(f"  {order:14s}" + " ".join(f"{v:.3f}" for v in np.mean(rows, axis=0)))


METHOD_RATIOS = (0.3, 0.5, 0.7)
METHODS = (
    ("global", "unstructured", "layer"),
    ("uniform", "unstructured", "layer"),
    ("uniform", "unstructured", "output"),
    ("owl", "unstructured", "layer"),
    ("uniform", "2:4", "layer"),
    ("global", "structured", "layer"),
)


def methods(norm: str) -> None:
    x_train, x_test, _, y_test = digits()
    print(machine_info())
    print(
        f"test accuracy at {', '.join(f'{r:.0%}' for r in METHOD_RATIOS)} of the weights removed "
        f"(2:4: 50%), importance {norm}, calibrated on 512 training images; "
        "plain / reconstructed"
    )
    for kind in ("cnn", "mlp"):
        table: dict[tuple, list] = {}
        baseline = []
        for seed in SEEDS:
            analysis = irwua.analyze(
                exported(kind, seed), x_train[:512], passes=["importance"],
                options=irwua.Options(norm=norm),
            )  # fmt: skip
            graph = analysis.graph
            test = make_dataset(x_test, input_specs(graph.source.proto))
            baseline.append(_test_accuracy(graph, {}, test, y_test))
            shrink = plan(graph, unit_flow(graph))
            names = [layer.name for layer in prunable_layers(graph)]
            usable, _ = reconstructable(graph, names)
            moments = input_moments(graph, usable, analysis.dataset, 256)
            for criterion in CRITERIA:
                for scope, granularity, grouping in METHODS:
                    method = Method(criterion, scope, granularity, grouping)
                    chosen = list(shrink.layers) if method.structured else names
                    selection = Selection(
                        graph, chosen, method, analysis["importance"].layers, seed, shrink
                    )
                    ratios = (0.5,) if method.pattern else METHOD_RATIOS
                    row = []
                    for ratio in ratios:
                        for rebuild in (False, True):
                            changes = _changes(graph, shrink, selection, ratio, moments, rebuild)
                            row.append(_test_accuracy(graph, changes, test, y_test))
                    table.setdefault((criterion, scope, granularity, grouping), []).append(row)
        print(f"\n{kind} (unpruned {np.mean(baseline):.3f})")
        for (criterion, scope, granularity, grouping), rows in table.items():
            means = np.mean(rows, axis=0)
            cells = " ".join(f"{means[i]:.3f}/{means[i + 1]:.3f}" for i in range(0, len(means), 2))
            label = Method(criterion, scope, granularity, grouping).describe()
            print(f"  {label:46s} {cells}")


def _changes(graph, shrink, selection, ratio, moments, rebuild):
    if selection.method.structured:
        cut = cuts(graph, shrink, selection.units(ratio))
        weights = reconstructed_weights(graph, cut_masks(graph, cut), moments) if rebuild else None
        return masked(graph, cut, weights)
    pruned = selection.pruned(ratio)
    changes = zeroed(graph, pruned)
    if rebuild:
        changes.update(reconstructed_weights(graph, pruned, moments))
    return changes


def _test_accuracy(graph, changes, test, labels) -> float:
    proto = with_tensors(graph.source.proto, graph, changes) if changes else graph.source.proto
    outputs = predict(make_session(proto, None), test, 256, show=False)
    return float(np.mean(outputs.argmax(1) == labels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structured-allocation", action="store_true")
    parser.add_argument("--norm", default="l1")
    parser.add_argument("--quick", action="store_true", help="ignored: the run is short")
    parser.add_argument("--repeats", type=int, help="ignored")
    args = parser.parse_args(argv)
    if args.structured_allocation:
        structured_allocation(args.norm)
    else:
        methods(args.norm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
