"""Pathways: the K-best dynamic program against brute-force enumeration, connections against
numpy references, and pathways of networks trained on scikit-learn's digits."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
from builders import model
from onnx import helper

import irwua
from irwua import IrwuaError, Options
from irwua.units import kbest
from irwua.units.kbest import Edge, best_paths, flow, k_best


def _random_dag(seed: int) -> list[Edge]:
    """3-5 nodes of 1-12 units (at most 20,000 paths), each fed by some earlier nodes; ~30%
    zero connections."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 13, size=rng.integers(3, 6))
    while math.prod(sizes) > 20_000:
        sizes[np.argmax(sizes)] //= 2
    edges = []
    for target in range(1, len(sizes)):
        sources = [s for s in range(target) if rng.random() < 0.5] or [target - 1]
        for source in sources:
            weights = rng.random((sizes[target], sizes[source])).astype(np.float32)
            weights[rng.random(weights.shape) < 0.3] = 0.0
            edges.append(Edge(f"n{source}", f"n{target}", weights))
    return edges


def _all_paths(edges: list[Edge]) -> dict[str, list[list[tuple[float, tuple]]]]:
    """Every path from a start to every unit of every node, by enumeration."""
    paths: dict[str, list[list[tuple[float, tuple]]]] = {}
    for node in kbest.topological(edges):
        incoming = [e for e in edges if e.target == node]
        if not incoming:
            size = max(e.weights.shape[1] for e in edges if e.source == node)
            paths[node] = [[(1.0, ((node, u),))] for u in range(size)]
            continue
        found: list[list[tuple[float, tuple]]] = [[] for _ in range(incoming[0].weights.shape[0])]
        for edge in incoming:
            for u, before in enumerate(paths[edge.source]):
                for score, steps in before:
                    for o in range(len(found)):
                        if edge.weights[o, u] > 0:
                            found[o].append(
                                (score * float(edge.weights[o, u]), (*steps, (node, o)))
                            )
        paths[node] = found
    return paths


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("k", [1, 3, 7])
def test_k_best_equals_brute_force_on_random_dags(seed, k, monkeypatch):
    monkeypatch.setattr(kbest, "GROUP", 2)  # groups and chunks even on small layers
    monkeypatch.setattr(kbest, "CHUNK_ELEMENTS", 64)
    edges = _random_dag(seed)
    ranked = k_best(edges, k)
    everything = _all_paths(edges)
    for node, entry in ranked.items():
        for unit in range(entry.scores.shape[0]):
            expected = sorted(everything[node][unit], key=lambda p: -p[0])[:k]
            got = [kbest.path(edges, ranked, node, unit, r) for r in range(k)]
            got = [p for p in got if p is not None]
            np.testing.assert_allclose(
                [math.exp(p.log_score) for p in got], [s for s, _ in expected], rtol=1e-6
            )
            for path in got:  # each listed path exists and has the score it claims
                score = math.prod(
                    float(next(e for e in edges if (e.source, e.target) == (a, b)).weights[v, u])
                    for (a, u), (b, v) in itertools.pairwise(path.units)
                )
                assert score == pytest.approx(math.exp(path.log_score), rel=1e-6)
    ends = sorted({e.target for e in edges} - {e.source for e in edges})
    top = best_paths(edges, ranked, [(end, None) for end in ends], k)
    expected = sorted(
        (p for end in ends for unit in everything[end] for p in unit), key=lambda p: -p[0]
    )
    np.testing.assert_allclose(
        [math.exp(p.log_score) for p in top], [s for s, _ in expected[:k]], rtol=1e-6
    )


@pytest.mark.parametrize("seed", range(6))
def test_flow_is_the_share_of_all_path_scores_through_each_unit(seed):
    edges = _random_dag(100 + seed)
    everything = _all_paths(edges)
    ends = {e.target for e in edges} - {e.source for e in edges}
    complete = [p for end in ends for unit in everything[end] for p in unit]
    for node, shares in flow(edges).items():
        through = np.zeros(shares.size)
        for score, steps in complete:
            for name, unit in steps:
                if name == node:
                    through[unit] += score
        expected = through / through.sum() if through.sum() > 0 else through
        np.testing.assert_allclose(shares, expected, rtol=1e-4, atol=1e-9)


def test_deep_chains_keep_exact_log_scores_where_products_underflow():
    depth = 400
    weights = np.full((2, 2), 1e-3, np.float32)
    weights[1, 1] = 2e-3  # the planted path stays on unit 1
    edges = [Edge(f"l{i}", f"l{i + 1}", weights) for i in range(depth)]
    ranked = k_best(edges, 3)
    best, second, third = best_paths(edges, ranked, [(f"l{depth}", None)], 3)
    assert best.units == tuple((f"l{i}", 1) for i in range(depth + 1))
    assert best.log_score == pytest.approx(depth * math.log(2e-3), rel=1e-6)
    assert math.exp(best.log_score) == 0.0  # the plain product underflows
    assert second.log_score == pytest.approx((depth - 1) * math.log(2e-3) + math.log(1e-3))
    assert third.log_score <= second.log_score


def _mlp_with_planted_path():
    rng = np.random.default_rng(0)
    w1 = rng.uniform(-0.1, 0.1, (8, 6)).astype(np.float32)
    w2 = rng.uniform(-0.1, 0.1, (8, 8)).astype(np.float32)
    w3 = rng.uniform(-0.1, 0.1, (4, 8)).astype(np.float32)
    w1[5, 3] = w2[2, 5] = w3[1, 2] = 3.0  # x3 -> fc1:5 -> fc2:2 -> fc3:1
    nodes = [
        helper.make_node("Gemm", ["x", "w1"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("MatMul", ["a1", "w2t"], ["h2"], name="fc2"),  # [in, out] layout
        helper.make_node("Tanh", ["h2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "w3"], ["y"], name="fc3", transB=1),
    ]
    weights = {"w1": w1, "w2t": w2.T.copy(), "w3": w3}
    return model(nodes, [("x", ["batch", 6])], [("y", ["batch", 4])], weights)


def test_a_planted_strong_path_ranks_first():
    data = np.abs(np.random.default_rng(1).standard_normal((64, 6))).astype(np.float32)
    analysis = irwua.analyze(_mlp_with_planted_path(), data=data, passes=["pathways"])
    result = analysis["pathways"]
    planted = (("x", 3), ("fc1", 5), ("fc2", 2), ("fc3", 1))
    assert result.top[0].units == planted
    assert result.per_output[1][0].units == planted
    assert all(paths[0].units[-1] == ("fc3", unit) for unit, paths in result.per_output.items())
    assert int(np.argmax(result.neuron_importance["fc1"])) == 5
    assert int(np.argmax(result.neuron_importance["fc2"])) == 2
    for shares in result.neuron_importance.values():
        assert shares.sum() == pytest.approx(1.0)
    document = analysis.to_dict()
    section = document["pathways"]
    assert section["k"] == 10 and len(section["top"]) == 10
    assert section["top"][0]["units"][1] == {"layer": "fc1", "unit": 5}
    assert [entry["unit"] for entry in section["per_output"]] == [0, 1, 2, 3]
    fc1 = next(layer for layer in document["layers"] if layer["name"] == "fc1")
    assert fc1["neuron_importance"]["units"] == 8
    assert fc1["neuron_importance"]["top"][0][0] == 5
    assert {link["mode"] for link in section["links"]} == {"unit"}


def _residual_concat_flatten():
    rng = np.random.default_rng(2)

    def conv(name, data, out, cin, cout, k):
        weights[name] = rng.standard_normal((cout, cin, k, k)).astype(np.float32)
        pads = [k // 2] * 4
        return helper.make_node("Conv", [data, name], [out], name=name, pads=pads)

    weights: dict[str, np.ndarray] = {}
    nodes = [
        conv("a", "x", "ya", 2, 3, 3),
        helper.make_node("Relu", ["ya"], ["ra"]),
        conv("c", "ra", "yc", 3, 3, 1),
        helper.make_node("Add", ["yc", "ra"], ["res"]),
        conv("b", "ra", "yb", 3, 2, 1),
        helper.make_node("Concat", ["res", "yb"], ["cat"], axis=1),
        helper.make_node("MaxPool", ["cat"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc"], ["y"], name="fc", transB=1),
    ]
    weights["fc"] = rng.standard_normal((4, 20)).astype(np.float32)
    return model(nodes, [("x", ["batch", 2, 4, 4])], [("y", ["batch", 4])], weights)


def test_pass_equals_brute_force_through_residual_concat_and_flatten():
    data = np.random.default_rng(3).standard_normal((32, 2, 4, 4)).astype(np.float32)
    analysis = irwua.analyze(
        _residual_concat_flatten(), data=data, passes=["pathways"], options=Options(top_k=6)
    )
    result, importance = analysis["pathways"], analysis["importance"].layers

    def normalized(name):  # [out, in] summed over the kernel, / the layer's total
        weight = importance[name].weight
        summed = weight.sum(axis=tuple(range(2, weight.ndim)))
        return summed / weight.sum()

    a, c, b = normalized("a"), normalized("c"), normalized("b")
    fc = normalized("fc").reshape(4, 5, 4).sum(axis=2)  # a channel is 4 flattened features
    expected_connections = {
        ("x", "a"): a.T,
        ("a", "c"): c.T,
        ("a", "b"): b.T,
        ("a", "fc"): fc[:, :3].T,  # the skip of the residual Add
        ("c", "fc"): fc[:, :3].T,
        ("b", "fc"): fc[:, 3:].T,  # Concat offsets b's channels by 3
    }
    assert set(result.connections) == set(expected_connections)
    for key, matrix in expected_connections.items():
        np.testing.assert_allclose(result.connections[key], matrix, rtol=1e-5, err_msg=str(key))
    paths = []
    for i, j, o in itertools.product(range(2), range(3), range(4)):
        start = a[j, i]
        paths.append((start * fc[o, j], (("x", i), ("a", j), ("fc", o))))
        for m in range(3):
            paths.append((start * c[m, j] * fc[o, m], (("x", i), ("a", j), ("c", m), ("fc", o))))
        for m in range(2):
            score = start * b[m, j] * fc[o, 3 + m]
            paths.append((score, (("x", i), ("a", j), ("b", m), ("fc", o))))
    paths.sort(key=lambda p: -p[0])
    assert [p.units for p in result.top] == [units for _, units in paths[:6]]
    np.testing.assert_allclose([p.score for p in result.top], [s for s, _ in paths[:6]], rtol=1e-5)
    for unit in range(4):
        mine = [p for p in paths if p[1][-1] == ("fc", unit)][:6]
        assert [p.units for p in result.per_output[unit]] == [units for _, units in mine]


def test_grouped_conv_connection_matches_numpy():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 6, 3, groups=2),
    )
    data = np.random.default_rng(0).standard_normal((16, 1, 6, 6)).astype(np.float32)
    result = irwua.analyze(net, data, passes=["pathways"])["pathways"]
    with torch.no_grad():
        hidden = net[1](net[0](torch.from_numpy(data))).numpy()
    channel_mean = np.abs(hidden).mean(axis=(0, 2, 3))
    weight = np.abs(net[2].weight.detach().numpy()).sum(axis=(2, 3))  # [6, 2]
    expected = np.zeros((4, 6))
    for out in range(6):
        group = out // 3
        for local in range(2):
            expected[group * 2 + local, out] = weight[out, local] * channel_mean[group * 2 + local]
    np.testing.assert_allclose(result.connections[("0", "2")], expected / expected.sum(), rtol=1e-4)


def test_top_k_must_be_positive():
    with pytest.raises(IrwuaError, match="top_k must be a positive whole number"):
        Options(top_k=0)


def test_a_wide_head_traces_only_the_output_units_asked_for():
    """A 20,000-unit head (a language model's vocabulary, in small): per_output is traced on
    access, equals the top pathways' best entry, and refuses units the head does not have."""
    rng = np.random.default_rng(0)
    tensors = {"w1": rng.random((8, 16), np.float32), "w2": rng.random((16, 20000), np.float32)}
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("MatMul", ["h", "w2"], ["y"], name="head"),
    ]
    proto = model(nodes, [("x", ["N", 8])], [("y", ["N", 20000])], tensors)
    analysis = irwua.analyze(proto, passes=["pathways"], options=Options(top_k=3))
    result = analysis["pathways"]
    assert len(result.per_output) == 20000 and result.per_output._traced == {}
    best = result.top[0]
    assert result.per_output[best.units[-1][1]][0] == best
    assert set(result.per_output._traced) == {best.units[-1][1]}
    assert len(analysis.document["pathways"]["per_output"]) == 100
    for missing in (20000, -1, "0"):
        with pytest.raises(KeyError):
            result.per_output[missing]


digits_models = pytest.importorskip("digits_models")


def test_trained_digits_cnn_pathways_follow_the_network_and_skip_a_dead_channel():
    net = copy.deepcopy(digits_models.trained("cnn"))
    with __import__("torch").no_grad():
        net[0].bias[3] = -1e4  # channel 3 of the first conv never passes its ReLU
    images = digits_models.digits()[1]
    analysis = irwua.analyze(net, images, passes=["pathways"], options=Options(top_k=5))
    result = analysis["pathways"]
    layers = (analysis.graph.inputs[0], "0", "2", "6", "9", "11")
    assert result.flow.layers == layers[1:] and result.output_layer == "11"
    assert sorted(result.per_output) == list(range(10))
    for unit, paths in result.per_output.items():
        assert len(paths) == 5
        scores = [p.score for p in paths]
        assert scores == sorted(scores, reverse=True) and scores[-1] > 0
        for path in paths:
            assert tuple(name for name, _ in path.units) == layers
            assert path.units[-1] == ("11", unit)
    assert result.top[0].score == max(paths[0].score for paths in result.per_output.values())
    every = [p for paths in result.per_output.values() for p in paths] + list(result.top)
    assert all(("0", 3) not in path.units for path in every)
    assert result.neuron_importance["0"][3] == 0.0
    assert result.connections[("0", "2")][3].sum() == 0.0


def test_trained_digits_mlp_paths_never_start_at_a_blank_pixel():
    images = digits_models.digits()[1]
    blank = set(np.flatnonzero(np.abs(images).reshape(len(images), -1).max(axis=0) == 0))
    assert blank  # load_digits has pixels that are 0 in every image
    analysis = irwua.analyze(digits_models.trained("mlp"), images, passes=["pathways"])
    result, image = analysis["pathways"], analysis.graph.inputs[0]
    starts = {p.units[0] for paths in result.per_output.values() for p in paths}
    assert all(name == image for name, _ in starts) and len(starts) > 1
    assert not {unit for _, unit in starts} & blank
    first = result.flow.layers[0]
    assert result.connections[(image, first)][sorted(blank)].sum() == 0.0
