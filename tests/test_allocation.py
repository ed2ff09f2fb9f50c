"""How a pruning ratio spreads over layers and which elements go, checked against numpy: global
shares, the structured log-share order, OWL's layer ratios, per-output (Wanda) groups and N:M
patterns; and issue 17's first claim measured: on the bundled digits CNN, structured importance
pruning keeps at least the agreement of random pruning at every ratio."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from builders import mlp

import irwua
from irwua import IrwuaError, Options
from irwua.pruning.allocation import (
    OWL_OUTLIER,
    OWL_RANGE,
    outlier_shares,
    owl_ratios,
    unit_keys,
    weight_keys,
)
from irwua.pruning.cuts import cuts, removed_weights
from irwua.pruning.selection import Selection
from irwua.pruning.shrink_plan import plan
from irwua.pruning.vocabulary import Method, n_m
from irwua.units.flow import unit_flow

DEMO = Path(irwua.__file__).parent / "demo"


def test_global_weight_keys_are_shares_of_the_layer_total():
    scores = {"a": np.array([3.0, 1.0, 2.0]), "b": np.array([10.0, 30.0, 20.0, 40.0])}
    keys = weight_keys(scores, shares=True)
    assert keys.tolist() == pytest.approx([0.5, 1 / 6, 1 / 3, 0.1, 0.3, 0.2, 0.4])
    assert weight_keys(scores, shares=False).tolist() == [3, 1, 2, 10, 30, 20, 40]


def test_structured_keys_are_the_fall_of_log_kept_share_per_weight():
    """Layer a's shares sorted are 1/4, 1/4, 1/2: removing its units keeps 3/4, then 1/2, then
    nothing (never: its best unit's key is infinite); each step costs ``costs`` weights."""
    scores = {"a": np.array([2.0, 1.0, 1.0]), "b": np.array([1.0, 1.0])}
    keys = unit_keys(scores, {"a": 10, "b": 4}, "global", shares=True)
    assert keys[1] == pytest.approx(math.log(4 / 3) / 10)
    assert keys[2] == pytest.approx(math.log(1.5) / 10)
    assert keys[3] == pytest.approx(math.log(2) / 4)
    assert np.isinf(keys[0]) and np.isinf(keys[4])
    uniform = unit_keys(scores, {"a": 10, "b": 4}, "uniform", shares=True)
    assert uniform[1:4].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2])


def test_owl_gives_layers_with_more_outliers_a_lower_ratio_averaging_to_the_ratio():
    rng = np.random.default_rng(0)
    flat = rng.random(1000)  # no score above 5 x the mean
    heavy = rng.random(3000)
    heavy[:150] = 100.0  # 5% outliers
    shares = outlier_shares({"flat": flat, "heavy": heavy})
    assert shares["flat"] == 0 and shares["heavy"] == pytest.approx(0.05)
    assert OWL_OUTLIER == 5 and OWL_RANGE == 0.08  # the paper's values
    sizes = {"flat": 1000, "heavy": 3000}
    ratios = owl_ratios(shares, 0.5, sizes)
    assert ratios["flat"] - ratios["heavy"] == pytest.approx(2 * OWL_RANGE)
    mean = (ratios["flat"] * 1000 + ratios["heavy"] * 3000) / 4000
    assert mean == pytest.approx(0.5)
    assert owl_ratios({"a": 0.1, "b": 0.1}, 0.3, {"a": 1, "b": 5}) == {"a": 0.3, "b": 0.3}


@pytest.fixture(scope="module")
def wide():
    """An MLP 8 -> 12 -> 5 and its importance."""
    proto = mlp(in_features=8, hidden=12, out=5, seed=4)
    x = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    return irwua.analyze(proto, x, passes=["importance"])


def test_per_output_grouping_prunes_each_row_to_the_ratio(wide):
    graph, importance = wide.graph, wide["importance"].layers
    method = Method("importance", "uniform", "unstructured", "output")
    masks = Selection(graph, ["fc1", "fc2"], method, importance).pruned(0.5)
    for name in ("fc1", "fc2"):
        scores = importance[name].weight
        expected = np.zeros(scores.shape, bool)
        order = np.argsort(scores, axis=1, kind="stable")[:, : scores.shape[1] // 2]
        np.put_along_axis(expected, order, True, axis=1)
        np.testing.assert_array_equal(masks[name], expected)


def test_n_m_keeps_the_m_minus_n_best_of_every_m_inputs_and_skips_misfits(wide):
    graph, importance = wide.graph, wide["importance"].layers
    selection = Selection(graph, ["fc1", "fc2"], Method("magnitude", "uniform", "2:4"), importance)
    weight = np.abs(graph.array(graph.layer_by_name["fc1"]))
    masks = selection.pruned(0.5)
    assert set(masks) == {"fc1", "fc2"} and not selection.dense
    groups = weight.reshape(12, 2, 4)
    expected = np.zeros(groups.shape, bool)
    np.put_along_axis(expected, np.argsort(groups, axis=2)[..., :2], True, axis=2)
    np.testing.assert_array_equal(masks["fc1"], expected.reshape(12, 8))
    eights = Selection(graph, ["fc1", "fc2"], Method("magnitude", "uniform", "4:8"), importance)
    assert list(eights.dense) == ["fc2"] and "12 is not a multiple of 8" in eights.dense["fc2"]
    assert n_m("2:4") == (2, 4) and n_m("4:2") is None and n_m("structured") is None


def test_structured_ratio_counts_the_weights_the_cut_removes():
    """The fewest units (in the global order) whose cut takes out at least the ratio of the
    weights; no layer loses all its units; with a width multiple of 8, a 32-unit layer keeps
    8, 16, 24 or 32."""
    proto = mlp(in_features=6, hidden=16, out=4, seed=1)
    x = np.random.default_rng(1).standard_normal((100, 6)).astype(np.float32)
    analysis = irwua.analyze(proto, x, passes=["importance"])
    graph = analysis.graph
    shrink = plan(graph, unit_flow(graph))
    selection = Selection(
        graph,
        ["fc1"],
        Method("importance", "global", "structured"),
        analysis["importance"].layers,
        shrink_plan=shrink,
    )
    assert selection.method.multiple == 1
    total = selection.scope_weights()
    assert total == 96 + 64  # fc1 and its consumer fc2
    for ratio in (0.2, 0.5, 0.9):
        units = selection.units(ratio)["fc1"]
        removed = removed_weights(graph, cuts(graph, shrink, {"fc1": units}))
        assert removed == 10 * len(units)  # 6 weights of fc1 and 4 of fc2 per unit
        assert removed >= ratio * total > removed - 10
    assert len(selection.units(0.99)["fc1"]) == 15
    wide = mlp(in_features=6, hidden=32, out=4, seed=1)
    analysis = irwua.analyze(wide, x, passes=["importance"])
    graph = analysis.graph
    method = Method("importance", "global", "structured", multiple=8)
    rounded = Selection(
        graph,
        ["fc1"],
        method,
        analysis["importance"].layers,
        shrink_plan=plan(graph, unit_flow(graph)),
    )
    for ratio in (0.1, 0.3, 0.6, 0.9):  # 32 units keep a multiple of 8 (at least 8), the ratio gone
        (units,) = rounded.units(ratio).values()
        assert (32 - len(units)) % 8 == 0 and len(units) >= min(ratio * 32, 24)


def test_structured_importance_keeps_up_with_random_on_the_digits_cnn():
    """Issue 17, item 1: the global structured sweep of the bundled digits CNN ranked random
    above importance at 70-90% (top-1 agreement at 70%: random 0.769, importance 0.587), as
    units were ranked by their share of their layer and the widest layer was emptied first.
    With the log-share order and ratios counting weights, importance keeps at least random's
    agreement (mean of 3 seeds) at every ratio; measured 2026-12-03: 0.902 vs 0.676 at 70%,
    0.504 vs 0.285 at 80%, both at chance (0.19) at 90%."""
    x = np.load(DEMO / "digits_images.npy")
    ratios = tuple(round(0.1 * step, 1) for step in range(1, 10))
    settings = dict(
        prune_ratios=ratios, prune_scopes=("global",), prune_granularity=("structured",)
    )

    def agreement(criterion, seed):
        options = Options(prune_criteria=(criterion,), prune_seed=seed, **settings)
        analysis = irwua.analyze(DEMO / "digits_cnn.onnx", x, passes=["pruning"], options=options)
        (sweep,) = analysis["pruning"].sweeps
        return np.array([point.fidelity.agreement for point in sweep.points])

    importance = agreement("importance", 0)
    random = np.mean([agreement("random", seed) for seed in range(3)], axis=0)
    assert np.all(importance >= random - 0.01), (importance, random)
    assert importance[6] > random[6] + 0.15  # 70%


def test_bad_granularity_grouping_and_pattern_are_one_sentence():
    with pytest.raises(IrwuaError, match="prune_granularity must name some of: unstructured"):
        Options(prune_granularity=("3:2",))
    with pytest.raises(IrwuaError, match="prune_grouping"):
        Options(prune_grouping=("row",))
    Options(prune_granularity=("2:4", "structured"), prune_scopes=("owl", "uniform"))
