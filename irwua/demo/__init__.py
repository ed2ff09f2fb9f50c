"""The bundled example: a small CNN trained on scikit-learn's digits, with its test images and
labels, shipped inside the package so that it works from any install.

``irwua demo`` (and ``make demo``) analyze it and write the report; ``files()`` gives the three
paths for trying irwua's API on real data::

    import numpy as np

    import irwua
    from irwua.demo import files

    demo = files()
    analysis = irwua.analyze(demo.model, np.load(demo.images), labels=np.load(demo.labels))

The model (trained and exported by ``examples/train_digits_cnn.py``) has 40.6 k parameters; input
``image``: float32 ``[batch, 1, 8, 8]``, pixels in [0, 1]; output ``logits``: ``[batch, 10]``. Its
layers carry the torch ``Sequential`` indices as names: the convolutions ``0``, ``3`` and ``6``
(grouped), the dense layers ``9`` (64 units) and ``12`` (the 10 classes). The data are the 450
images of the test split (float32, ``450 x 1 x 8 x 8``) and their int64 labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from irwua.analysis import Analysis

PASSES = ("flops", "pathways", "recommendations")
"""The demo's passes (with what they require: activations, importance, metrics, pruning)."""

TRAIN_SAMPLES, EPOCHS = 1347, 30
"""The model's training split and epochs, for the training FLOPs estimate."""


class DemoFiles(NamedTuple):
    """Paths of the bundled model, its sample images and their labels."""

    model: Path
    images: Path
    labels: Path


def files() -> DemoFiles:
    """The bundled files, where the package is installed."""
    folder = Path(__file__).resolve().parent
    return DemoFiles(
        folder / "digits_cnn.onnx", folder / "digits_images.npy", folder / "digits_labels.npy"
    )


def analyze_demo() -> Analysis:
    """The bundled model analyzed on its images and labels with the demo's ``PASSES``."""
    import numpy as np

    from irwua.analysis import analyze
    from irwua.options import Options

    demo = files()
    return analyze(
        demo.model,
        np.load(demo.images, allow_pickle=False),
        passes=PASSES,
        options=Options(train_samples=TRAIN_SAMPLES, epochs=EPOCHS),
        labels=np.load(demo.labels, allow_pickle=False),
    )


def run_demo(out: str | os.PathLike = "demo-report") -> tuple[Analysis, dict[str, Path]]:
    """Analyze the bundled model and write the report into ``out``: the analysis and the
    written files by name (``report.html``, ``analysis.json``, ``importance_units.npz``)."""
    demo = files()
    analysis = analyze_demo()
    return analysis, analysis.save(out, inputs=(demo.images, demo.labels))


def headline(analysis: Analysis) -> str:
    """One line on the demo's analysis: size, cost, accuracy, weight usage, recommendations."""
    from irwua.report.formatting import human, percent

    total = analysis["flops"].total
    parts = [f"{human(total.params)} parameters", f"{human(total.macs)} MACs per sample"]
    baseline = analysis["pruning"].baseline
    if baseline is not None and baseline.accuracy is not None:
        parts.append(f"accuracy {percent(baseline.accuracy)}")
    utilization = analysis["metrics"].totals.get("utilization")
    if utilization is not None:
        parts.append(f"weight utilization {percent(utilization)}")
    parts.append(f"{len(analysis['recommendations'].items)} recommendations")
    samples = analysis["pruning"].samples
    return f"{files().model.name} on {samples} digits images: " + ", ".join(parts)
