"""Networks trained on scikit-learn's digits inside the tests, for the pruning tests.

Each model is trained once per test session (``functools.cache``) in about a second and exported
with torch's TorchScript exporter (opset 17, dynamic batch). Shapes follow the setting of Han et
al. 2015's sensitivity analysis: a wide MLP 64-256-256-256-10 whose first and last layers are
small next to the hidden ones, and a CNN whose first conv and last Linear are the smallest.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import onnx
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

EPOCHS = 15


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test); images N x 1 x 8 x 8 in [0, 1], a stratified 70/30
    split."""
    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    labels = data.target.astype(np.int64)
    split = train_test_split(images, labels, test_size=0.3, random_state=0, stratify=labels)
    return tuple(split)


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def cnn(batch_norm: bool = False) -> nn.Module:
    """Conv 1->8, Conv 8->16, MaxPool, Conv 16->32, Flatten, Linear 512->64, Linear 64->10;
    with ``batch_norm``, a BatchNorm after the second conv."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16) if batch_norm else nn.Identity(),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


@functools.cache
def trained(kind: str, seed: int = 0) -> nn.Module:
    """A ``kind`` ("mlp", "cnn", "cnn_bn") network trained with Adam on the training split."""
    torch.manual_seed(seed)
    net = {"mlp": mlp, "cnn": cnn, "cnn_bn": lambda: cnn(batch_norm=True)}[kind]()
    return fit(net, EPOCHS, 3e-3, seed)


def fit(net: nn.Module, epochs: int, lr: float, seed: int) -> nn.Module:
    """``net`` trained in place with Adam on the training split, batches of 64 in a seeded
    order (also how the tests fine-tune a pruned network); returned in eval mode."""
    x_train, _, y_train, _ = digits()
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: threads only contend, badly on a busy machine
    try:
        net.train()
        for _ in range(epochs):
            permutation = torch.randperm(len(x), generator=order)
            for start in range(0, len(x), 64):
                batch = permutation[start : start + 64]
                optimizer.zero_grad()
                nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


@functools.cache
def exported(kind: str, seed: int = 0) -> onnx.ModelProto:
    """The trained network as ONNX (TorchScript exporter, BatchNorm kept as its own node)."""
    buffer = io.BytesIO()
    example = torch.from_numpy(digits()[1][:2])
    torch.onnx.export(
        trained(kind, seed),
        (example,),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
    )
    return onnx.load_from_string(buffer.getvalue())
