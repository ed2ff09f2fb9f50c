"""Issue 17's claims measured on a small character-level transformer language model: Wanda's
protocol in miniature (Sun et al. 2024; SparseGPT's, Frantar & Alistarh 2023).

The model (``tests/char_lm.py``: 3 pre-LayerNorm blocks, width 128, context 64, 128 byte ids,
0.64 M parameters) is trained for about a minute on the Python standard library's source,
calibrated on 128 training windows, pruned unstructured at 50% by ``irwua.prune_model`` and
judged by its perplexity on 512 windows of held-out files (run with onnxruntime). About 1.5 min
on two idle cores, most of it training.
"""

from __future__ import annotations

import functools

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import irwua

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
import onnxruntime as ort
import torch
from char_lm import exported, logits, perplexity, trained, windows

CALIBRATION = 128
HELD_OUT = 512
RATIO = 0.5


@functools.cache
def _held_out() -> tuple[np.ndarray, np.ndarray]:
    return windows("test", HELD_OUT)


def _logits(proto: onnx.ModelProto, ids: np.ndarray, batch: int = 128) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [session.run(["logits"], {"ids": ids[i : i + batch]})[0] for i in range(0, len(ids), batch)]
    )


def _perplexity(proto: onnx.ModelProto) -> float:
    ids, targets = _held_out()
    return perplexity(_logits(proto, ids), targets)


@functools.cache
def _pruned(criterion: str) -> onnx.ModelProto:
    """The model pruned at RATIO by ``criterion``, per output unit of every layer (Wanda's
    comparison group and scope)."""
    calibration, _ = windows("train", CALIBRATION)
    pruned = irwua.prune_model(
        exported(),
        calibration,
        RATIO,
        criterion=criterion,
        scope="uniform",
        grouping="output",
        options=irwua.Options(norm="l2"),
    )
    return pruned.proto


def test_the_onnx_model_computes_what_torch_computes():
    ids, targets = windows("test", 8)
    reference = logits(trained(), ids)
    ours = _logits(exported(), ids)
    assert ours.shape == (8, ids.shape[1], 128)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    assert perplexity(ours, targets) == pytest.approx(perplexity(reference, targets), rel=1e-5)


def test_perplexity_is_exp_of_the_mean_cross_entropy():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 5, 7)) * 30  # large logits: log-sum-exp must stay finite
    targets = rng.integers(0, 7, (3, 5))
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(scores).reshape(-1, 7), torch.from_numpy(targets).reshape(-1)
    )
    assert perplexity(scores, targets) == pytest.approx(float(torch.exp(expected)), rel=1e-9)
    assert perplexity(np.zeros((2, 4, 10)), np.zeros((2, 4), np.int64)) == pytest.approx(10)


def _matmul_weights(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The weight ([in, out]) of each MatMul node that reads one, by node name."""
    arrays = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    return {
        node.name: arrays[node.input[1]]
        for node in proto.graph.node
        if node.op_type == "MatMul" and node.input[1] in arrays
    }


def test_each_output_unit_loses_half_its_weights():
    """Per-output grouping at 50%: every column of every Linear's weight has half its weights
    zeroed, the head's included; nothing else changes."""
    before, after = _matmul_weights(exported()), _matmul_weights(_pruned("importance"))
    assert before.keys() == after.keys() and len(before) == 3 * 4 + 1, list(after)
    for name, weight in after.items():
        assert weight.shape == before[name].shape, name
        assert np.array_equal(weight, np.where(weight == 0, 0, before[name])), name
        assert ((weight == 0).sum(axis=0) == weight.shape[0] // 2).all(), name
    others = {t.name for t in exported().graph.initializer} - {
        n.input[1] for n in exported().graph.node if n.op_type == "MatMul"
    }
    kept = {t.name: numpy_helper.to_array(t) for t in _pruned("importance").graph.initializer}
    for tensor in exported().graph.initializer:
        if tensor.name in others:
            assert np.array_equal(kept[tensor.name], numpy_helper.to_array(tensor)), tensor.name


def test_wanda_beats_magnitude_and_random_beats_neither():
    """Issue 17 expects importance pruning (Wanda: |w| x the l2 norm of its input, compared
    within each output unit, every layer at the ratio) to keep a language model's held-out
    perplexity clearly lower than magnitude pruning with the same grouping and scope, and
    random pruning to be far worse than both. Measured 2026-12-03 (Python 3.11's standard
    library, 50% unstructured, uniform scope, per-output grouping; unpruned / importance /
    magnitude / random):

    * seed 0: 4.644 / 5.348 / 5.524 / 29.6
    * seed 1: 4.632 / 5.358 / 5.626 / 30.5
    * seed 2: 4.723 / 5.458 / 5.685 / 32.5

    so importance adds 73-80% of the perplexity magnitude adds (0.70-0.74 against 0.88-0.99),
    and random multiplies the unpruned perplexity by more than six. The test runs seed 0 and
    asserts importance adds at most 90% of magnitude's increase and is at least 0.1 lower, and
    random at least twice magnitude's perplexity. The gap is far smaller than Wanda's on
    LLaMA-7B (7.26 against 17.29), likely (not measured here) because a model this small,
    trained for a minute, lacks the large-magnitude outlier features of large language models
    that magnitude pruning cuts."""
    dense = _perplexity(exported())
    importance, magnitude, random = (
        _perplexity(_pruned(criterion)) for criterion in ("importance", "magnitude", "random")
    )
    measured = dict(dense=dense, importance=importance, magnitude=magnitude, random=random)
    assert dense < importance < magnitude < random, measured
    assert importance - dense <= 0.9 * (magnitude - dense), measured
    assert importance <= magnitude - 0.1, measured
    assert random >= 2 * magnitude, measured
