"""Train a tiny CNN on scikit-learn's digits and export it to ONNX.

This script produces the example model bundled with irwua for demos and tests, written into the
package (``irwua/demo/``, which ships them; ``examples/`` links to them):

* ``digits_cnn.onnx``   - a small convolutional classifier (opset 17, dynamic
  batch); input ``image`` (N x 1 x 8 x 8 float32), output ``logits`` (N x 10).
* ``digits_images.npy`` - the held-out test images, float32, N x 1 x 8 x 8,
  pixels scaled to [0, 1].
* ``digits_labels.npy`` - the matching int64 labels.

The data is scikit-learn's bundled ``load_digits`` set (no download needed), the
split and the seeds are fixed, and training takes a few seconds on two CPU cores,
so the files can be regenerated anywhere with::

    .venv/bin/python examples/train_digits_cnn.py [--out DIR]

Before reporting accuracy, the script checks that onnxruntime reproduces the
PyTorch outputs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


def build_model() -> nn.Sequential:
    """Return the CNN: two 3x3 convs, a 2x2 max-pool, a grouped conv, an MLP head."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),  # 16 x 8 x 8
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),  # 32 x 8 x 8
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 4 x 4
        nn.Conv2d(32, 32, kernel_size=3, padding=1, groups=4),  # 32 x 4 x 4
        nn.ReLU(),
        nn.Flatten(),  # 512
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 10),
    )


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, x_test, y_train, y_test); images are N x 1 x 8 x 8 in [0, 1]."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, random_state=0, stratify=labels
    )
    return x_train, x_test, y_train, y_test


def train(model: nn.Module, x_train: np.ndarray, y_train: np.ndarray) -> None:
    """Fit ``model`` in place with Adam and cross-entropy on shuffled mini-batches."""
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        scheduler.step()
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            print(f"epoch {epoch + 1:3d}  train loss {total / len(x):.4f}")


def export_onnx(model: nn.Module, path: Path) -> None:
    """Export ``model`` (eval mode) to ONNX opset 17 with a dynamic batch axis."""
    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 8, 8),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "irwua" / "demo",
        help="output directory (default: irwua/demo, the package's copy)",
    )
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(2)

    x_train, x_test, y_train, y_test = load_data()
    model = build_model()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"train {len(x_train)}  test {len(x_test)}  params {n_params}")

    start = time.perf_counter()
    train(model, x_train, y_train)
    print(f"training took {time.perf_counter() - start:.1f} s")

    model.eval()
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x_test)).numpy()

    onnx_path = out / "digits_cnn.onnx"
    export_onnx(model, onnx_path)
    np.save(out / "digits_images.npy", x_test)
    np.save(out / "digits_labels.npy", y_test)

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"image": x_test})
    max_diff = float(np.abs(onnx_logits - torch_logits).max())
    if not np.allclose(onnx_logits, torch_logits, atol=1e-4):
        raise SystemExit(f"ONNX differs from PyTorch (max abs diff {max_diff:.2e})")
    print(f"onnxruntime matches PyTorch (max abs diff {max_diff:.2e})")

    accuracy = float((onnx_logits.argmax(axis=1) == y_test).mean())
    print(f"ONNX test accuracy: {accuracy:.4f} ({len(y_test)} images)")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
