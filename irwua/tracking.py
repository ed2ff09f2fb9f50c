"""Weight usage over training: a ``Tracker`` keeps a compact analysis per epoch.

In a training loop::

    tracker = irwua.Tracker()
    for epoch in range(epochs):
        train_one_epoch(model)
        tracker.record(epoch, model, x_val)  # or tracker.record(epoch, analysis)
    tracker.figure()  # the trends, as a matplotlib Figure
    tracker.save("tracking")  # tracking.json + tracking.html

Each record analyzes the model with the ``metrics`` pass (or takes an ``Analysis`` you ran) and
keeps a few numbers, not the analysis: parameters, effective weights, weight utilization, mean
redundancy, importance concentration (Gini and coverage_80, the layers' values averaged with
their numbers of scored weights as weights: a model-wide view that big layers dominate, as they
dominate the parameter count), and per layer its utilization, redundancy, Gini and coverage_80.

A tracker holds nothing but its own history, and nothing module-wide changes between records:
recording the same model twice gives the same numbers, and trackers never see each other's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irwua.analysis import Analysis, analyze
from irwua.errors import IrwuaError
from irwua.options import Options
from irwua.report.files import write_folder
from irwua.version import __version__

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LAYER_METRICS = ("utilization", "redundancy", "gini", "coverage_80")


@dataclass(frozen=True)
class Snapshot:
    """What a tracker keeps of one epoch's analysis."""

    epoch: float
    params: int
    effective_params: float
    utilization: float
    mean_redundancy: float
    gini: float
    coverage_80: float
    layers: Mapping[str, Mapping[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot(epoch: float, analysis: Analysis) -> Snapshot:
    """The tracked numbers of ``analysis`` (which must have run the ``metrics`` pass)."""
    if "metrics" not in analysis.results:
        raise IrwuaError(
            "The analysis has no weight-usage metrics; run it with passes=['metrics']."
        )
    document = analysis.document
    totals = document["totals"]
    metrics = {layer["name"]: layer["metrics"] for layer in document["layers"]}
    sizes = np.array([m["weights"] for m in metrics.values()], dtype=np.float64)

    def weighted(key: str) -> float:
        values = np.array([m[key] for m in metrics.values()], dtype=np.float64)
        return float(values @ sizes / sizes.sum()) if sizes.sum() > 0 else 0.0

    return Snapshot(
        epoch=epoch,
        params=int(totals["params"]),
        effective_params=float(totals["effective_params"]),
        utilization=float(totals["utilization"]),
        mean_redundancy=float(totals["mean_redundancy"]),
        gini=weighted("gini"),
        coverage_80=weighted("coverage_80"),
        layers={name: {key: float(m[key]) for key in LAYER_METRICS} for name, m in metrics.items()},
    )


class Tracker:
    """Records a compact analysis per epoch and charts the trends.

    ``passes``, ``options``, ``framework`` and ``trust_code`` are given to ``analyze()`` on
    every record of a model (``metrics`` is always among the passes).
    """

    def __init__(
        self,
        passes: Iterable[str] = ("metrics",),
        options: Options | None = None,
        framework: str | None = None,
        trust_code: bool = False,
    ) -> None:
        self.passes = tuple(dict.fromkeys(("metrics", *passes)))
        self.options = options
        self.framework = framework
        self.trust_code = trust_code
        self._history: list[Snapshot] = []

    @property
    def history(self) -> tuple[Snapshot, ...]:
        """The snapshots recorded so far, by epoch."""
        return tuple(self._history)

    def record(self, epoch: float, model: Any, data: Any = None) -> Snapshot:
        """Analyze ``model`` on ``data`` (or take ``model`` as a finished ``Analysis``) and keep
        its numbers for ``epoch``, which must come after the epochs recorded before."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, float, np.number)):
            raise IrwuaError(f"The epoch must be a number, got {epoch!r}.")
        if self._history and not epoch > self._history[-1].epoch:
            raise IrwuaError(
                f"Epoch {epoch} does not come after the last recorded epoch "
                f"{self._history[-1].epoch}; record epochs in increasing order."
            )
        if isinstance(model, Analysis):
            if data is not None:
                raise IrwuaError("Give either a model and its data or a finished analysis.")
            analysis = model
        else:
            analysis = analyze(
                model,
                data,
                passes=self.passes,
                options=self.options,
                framework=self.framework,
                trust_code=self.trust_code,
            )
        recorded = snapshot(epoch.item() if isinstance(epoch, np.number) else epoch, analysis)
        self._history.append(recorded)
        return recorded

    def series(self, name: str, layer: str | None = None) -> list[float | None]:
        """One tracked number per recorded epoch: a model-wide one (``"utilization"``,
        ``"gini"``, ...) or, with ``layer``, one of the layer's (None where it is missing)."""
        if layer is not None:
            return [entry.layers.get(layer, {}).get(name) for entry in self._history]
        if name not in Snapshot.__dataclass_fields__ or name == "layers":
            raise IrwuaError(f"Nothing named {name!r} is tracked.")
        return [getattr(entry, name) for entry in self._history]

    def to_dict(self) -> dict[str, Any]:
        """The history as JSON-ready Python (the content of tracking.json)."""
        return {
            "irwua_version": __version__,
            "passes": list(self.passes),
            "history": [entry.to_dict() for entry in self._history],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def figure(self) -> Figure:
        """The trends of utilization, redundancy and concentration, and per-layer utilization."""
        from irwua.report.tracking_page import plot_tracking

        return plot_tracking(self.history)

    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write ``tracking.json`` and ``tracking.html`` into ``directory``, both or neither."""
        from irwua.report.tracking_page import render_tracking_html

        contents = {"tracking.json": self.to_json(), "tracking.html": render_tracking_html(self)}
        return write_folder(Path(directory), contents)

    def _repr_html_(self) -> str:
        from irwua.report.notebook import notebook_frame
        from irwua.report.tracking_page import render_tracking_html

        return notebook_frame(render_tracking_html(self), "irwua tracking")
