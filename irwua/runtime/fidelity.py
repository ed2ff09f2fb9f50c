"""Fidelity: how closely a model's outputs follow a reference model's on the same data.

Used wherever a changed model (pruned, compressed, retrained) is measured against the original:
the pruning sweeps, ``irwua prune`` and ``irwua compare``. Everything is measured on one output
(``measured_output``): the first floating-point tensor output (scores, probabilities, logits),
else the first output. A classifier converted from scikit-learn outputs class ids first and
probabilities second, so its probabilities are measured; one whose probabilities are not a tensor
(a ZipMap) has its class ids measured.

* ``relative_error`` = ||y - y_ref|| / ||y_ref|| (Frobenius norm over all samples; the absolute
  error when the reference is all zeros); for integer outputs (class ids), the share of ids that
  differ;
* ``agreement`` = the share of predictions whose arg-max over the last axis equals the
  reference's (top-1 agreement; per sample, or per position for sequence outputs), None when the
  last axis has a single value (regression, binary logit); for class ids, the share of equal ids;
* ``accuracy`` = the share of predictions equal to the labels, when labels are given (class ids,
  or one-hot rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from irwua.data.dataset import Dataset
from irwua.errors import IrwuaError
from irwua.runtime.progress import progress
from irwua.runtime.sessions import run


class Session(Protocol):
    """What fidelity needs of an onnxruntime ``InferenceSession``."""

    def run(self, output_names: Any, input_feed: Any) -> list[Any]: ...

    def get_outputs(self) -> list[Any]: ...


@dataclass(frozen=True)
class Fidelity:
    """A model's outputs measured against a reference's (and the labels, when given)."""

    samples: int
    relative_error: float
    agreement: float | None
    accuracy: float | None

    def within(self, tolerance: float) -> bool:
        """Whether the outputs stay within ``tolerance`` of the reference: top-1 agreement
        >= 1 - ``tolerance``, or for outputs without a top-1, relative error <= ``tolerance``."""
        if self.agreement is not None:
            return self.agreement >= 1.0 - tolerance
        return self.relative_error <= tolerance

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "relative_error": self.relative_error,
            "agreement": self.agreement,
            "accuracy": self.accuracy,
        }


def measured_output(session: Session) -> str:
    """The name of the output fidelity measures: the first floating-point tensor, else the
    first output."""
    outputs = session.get_outputs()
    floating = (
        o
        for o in outputs
        if o.type in ("tensor(float)", "tensor(double)", "tensor(float16)", "tensor(bfloat16)")
    )
    return next(floating, outputs[0]).name


def predict(
    session: Session,
    data: Dataset,
    batch_size: int = 64,
    label: str = "evaluating",
    show: bool = True,
) -> np.ndarray:
    """The session's measured output over every sample of ``data``, concatenated on axis 0;
    ``show`` draws a progress bar (off when the caller draws its own)."""
    first = measured_output(session)
    outputs = []
    batches = data.batches(batch_size)
    for batch in progress(batches, batches.count, label, show):
        (output,) = run(session, [first], batch)
        outputs.append(np.asarray(output))
    return np.concatenate(outputs, axis=0)


def measure(
    outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None = None
) -> Fidelity:
    """``outputs`` against ``reference`` (same shape) and, when given, against ``labels``."""
    if outputs.shape != reference.shape:
        raise IrwuaError(
            f"Outputs of shape {list(outputs.shape)} cannot be compared with reference outputs "
            f"of shape {list(reference.shape)}."
        )
    if _class_ids(outputs):
        agreement = float(np.mean(outputs == reference))
        relative_error = 1.0 - agreement
    else:
        difference = np.linalg.norm((outputs - reference).astype(np.float64).ravel())
        scale = np.linalg.norm(reference.astype(np.float64).ravel())
        relative_error = float(difference / scale) if scale > 0 else float(difference)
        agreement = None
        if outputs.ndim >= 2 and outputs.shape[-1] > 1:
            agreement = float(np.mean(outputs.argmax(-1) == reference.argmax(-1)))
    return Fidelity(
        samples=len(outputs),
        relative_error=relative_error,
        agreement=agreement,
        accuracy=None if labels is None else accuracy(outputs, labels),
    )


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose arg-max over the last axis (or whose class id) is the label (class
    id or one-hot)."""
    labels = np.asarray(labels)
    if _class_ids(outputs):
        if labels.ndim == outputs.ndim + 1:
            labels = labels.argmax(-1)
        if labels.shape != outputs.shape:
            raise IrwuaError(
                f"Labels of shape {list(labels.shape)} do not fit the model's class ids of shape "
                f"{list(outputs.shape)}; give one class id (or one-hot row) per sample."
            )
        return float(np.mean(outputs == labels))
    if labels.ndim == outputs.ndim and labels.shape[-1] == outputs.shape[-1] > 1:
        labels = labels.argmax(-1)
    if labels.shape != outputs.shape[:-1] or outputs.shape[-1] < 2:
        raise IrwuaError(
            f"Labels of shape {list(labels.shape)} do not fit model outputs of shape "
            f"{list(outputs.shape)}; give one class id (or one-hot row) per sample."
        )
    return float(np.mean(outputs.argmax(-1) == labels))


def _class_ids(outputs: np.ndarray) -> bool:
    """Whether outputs are class ids: integers (or strings), one per sample."""
    return outputs.ndim == 1 and outputs.dtype.kind in "iuUSOb"
