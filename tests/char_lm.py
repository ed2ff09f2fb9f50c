"""A character-level transformer language model trained inside the tests, for the pruning tests.

A miniature of the protocol of Wanda (Sun et al. 2024) and SparseGPT (Frantar & Alistarh 2023):
a decoder-only transformer trained on real text, pruned, and judged by its perplexity on
held-out text. The text is the Python standard library's own source that ships with the
interpreter: the sorted top-level ``*.py`` files of ``os.path.dirname(os.__file__)``, taken whole
in name order until ``CORPUS_BYTES`` are read (on 3.11: 105 files, ``__future__.py`` to
``pstats.py``, 3.0 MB); every ``HELD_OUT_EVERY``-th file is held out (10 files, 0.35 MB; the
split is by file, so no held-out line was seen in training). The corpus, and so the
numbers measured on it, depend on the Python version (3.11 when they were measured).

Tokens are bytes: ASCII bytes are their own id, any other byte is id 0 (NUL, absent from the
sources), so the vocabulary has ``VOCAB`` = 128 ids. The model (``CharLM``): learned token and
position embeddings, ``LAYERS`` pre-LayerNorm blocks of causal self-attention (one fused qkv
Linear, ``HEADS`` heads) and a GELU MLP (width x 4), a final LayerNorm and an untied Linear head.
Every Linear is a MatMul with a weight initializer in the export, so irwua can prune it. The
causal mask is a boolean buffer (not saved in the state dict) applied by ``masked_fill``, a
Where in ONNX.

``trained(seed)`` trains it with AdamW for a fixed ``STEPS`` steps (about a minute on two
cores) and is cached per test session (``functools.cache``); ``exported(seed)`` is the same
network as ONNX (TorchScript exporter, opset 17; input "ids" [batch, CONTEXT] int64, output
"logits" [batch, CONTEXT, VOCAB], dynamic batch). ``windows(split, count, length)`` gives
evenly spaced windows of a split and their next-token targets; ``perplexity(logits, targets)``
is exp of the mean cross-entropy, in numpy.
"""

from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

CORPUS_BYTES = 3_000_000
HELD_OUT_EVERY = 10
VOCAB = 128
CONTEXT = 64
WIDTH = 128
HEADS = 4
LAYERS = 3
BATCH = 32
STEPS = 1000
LEARNING_RATE = 3e-3
WARMUP = 50
THREADS = 2


@functools.cache
def corpus() -> dict[str, np.ndarray]:
    """{"train": ids, "test": ids}: the int64 token ids of each split, its files concatenated in
    name order."""
    files = sorted(Path(os.path.dirname(os.__file__)).glob("*.py"))
    parts: dict[str, list[bytes]] = {"train": [], "test": []}
    total = 0
    for index, path in enumerate(files):
        if total >= CORPUS_BYTES:
            break
        text = path.read_bytes()
        total += len(text)
        parts["test" if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"].append(text)
    return {split: encode(b"".join(texts)) for split, texts in parts.items()}


def encode(text: bytes) -> np.ndarray:
    """Token ids of ``text``: ASCII bytes as themselves, any other byte as 0."""
    ids = np.frombuffer(text, np.uint8).astype(np.int64)
    ids[ids >= VOCAB] = 0
    return ids


def windows(split: str, count: int, length: int = CONTEXT) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), both [count, length] int64: ``count`` windows of ``split`` ("train" or
    "test") at evenly spaced starts, and the token after each input token."""
    ids = corpus()[split]
    last = ids.size - length - 1
    if count < 1 or last < 0:
        raise ValueError(f"no {count} windows of {length} in {ids.size} tokens")
    starts = np.linspace(0, last, count).astype(np.int64)
    index = starts[:, None] + np.arange(length)
    return ids[index], ids[index + 1]


def perplexity(logits: np.ndarray, targets: np.ndarray) -> float:
    """exp of the mean cross-entropy of ``logits`` [..., vocab] against ``targets`` [...]
    (log-softmax by log-sum-exp, in float64)."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return float(np.exp(np.mean(log_norm - picked)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a GELU MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.width, self.heads = width, heads
        self.scale = 1.0 / math.sqrt(width // heads)
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length, width, heads = x.shape[1], self.width, self.heads
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=-1)
        q, k, v = (t.reshape(-1, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1) * self.scale).masked_fill(mask, -math.inf)
        mixed = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, length, width)
        x = x + self.proj(mixed)
        return x + self.down(self.gelu(self.up(self.norm2(x))))


class CharLM(nn.Module):
    """Token + position embeddings, ``layers`` blocks, a final LayerNorm and an untied head."""

    def __init__(
        self,
        vocab: int = VOCAB,
        context: int = CONTEXT,
        width: int = WIDTH,
        heads: int = HEADS,
        layers: int = LAYERS,
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.zeros(context, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        above = torch.ones(context, context, dtype=torch.bool).triu(1)
        self.register_buffer("mask", above, persistent=False)  # True where attention is cut
        nn.init.normal_(self.positions, std=0.02)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions
        for block in self.blocks:
            x = block(x, self.mask)
        return self.head(self.norm(x))


def trained(seed: int = 0) -> CharLM:
    """The model trained with AdamW (linear warm-up, cosine decay) on ``STEPS`` batches of
    ``BATCH`` random training windows (seeded by ``seed``), on ``THREADS`` threads; once per
    seed (``trained()`` and ``trained(0)`` are the same call)."""
    return _trained(int(seed))


@functools.cache
def _trained(seed: int) -> CharLM:
    torch.manual_seed(seed)
    net = CharLM()
    train = torch.from_numpy(corpus()["train"])
    order = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95), weight_decay=0.1
    )

    def rate(step: int) -> float:
        if step < WARMUP:
            return (step + 1) / WARMUP
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (STEPS - WARMUP)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    offsets = torch.arange(CONTEXT + 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)  # fixed: thread counts change float sums
    try:
        net.train()
        for _ in range(STEPS):
            starts = torch.randint(0, train.numel() - CONTEXT - 1, (BATCH, 1), generator=order)
            batch = train[starts + offsets]
            logits = net(batch[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def logits(net: nn.Module, ids: np.ndarray, batch: int = 256) -> np.ndarray:
    """torch's logits of ``net`` on ``ids`` [N, T], float32 [N, T, VOCAB]."""
    with torch.no_grad():
        parts = [net(torch.from_numpy(ids[i : i + batch])) for i in range(0, len(ids), batch)]
    return torch.cat(parts).numpy()


def exported(seed: int = 0) -> onnx.ModelProto:
    """The trained model as ONNX (TorchScript exporter, opset 17, dynamic batch), once per
    seed."""
    return _exported(int(seed))


@functools.cache
def _exported(seed: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    example = torch.from_numpy(windows("train", 2)[0])
    torch.onnx.export(
        trained(seed),
        (example,),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["ids"],
        output_names=["logits"],
        dynamic_axes={"ids": {0: "batch"}, "logits": {0: "batch"}},
    )
    return onnx.load_from_string(buffer.getvalue())
