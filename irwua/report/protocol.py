"""What the renderers read: small protocols that ``irwua.Analysis``, ``irwua.Comparison``,
``irwua.Tracker`` and ``irwua.pruner.Pruned`` satisfy. The report never imports those classes,
so the objects that hold results depend on their renderers, not the other way round."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from irwua.ir.graph import LayerGraph
    from irwua.pipeline import PassResult
    from irwua.pruning.vocabulary import Method
    from irwua.runtime.fidelity import Fidelity
    from irwua.runtime.latency import Latency


class AnalysisLike(Protocol):
    """One analysis: the layer graph, the pass results by pass name, and the JSON document
    (``analysis.json``) built from them."""

    @property
    def graph(self) -> LayerGraph: ...

    @property
    def results(self) -> Mapping[str, PassResult]: ...

    @property
    def document(self) -> dict[str, Any]: ...


class ColumnLike(Protocol):
    """A compared quantity: its label and how it is shown ("count", "share" or "number")."""

    label: str
    kind: str


class ComparedModelLike(Protocol):
    name: str

    def value(self, column: Any) -> float | int | None: ...

    def to_dict(self) -> dict[str, Any]: ...


class ComparisonLike(Protocol):
    """Models compared on the same data, the first the baseline."""

    models: Sequence[ComparedModelLike]
    labels: bool

    @property
    def baseline(self) -> ComparedModelLike: ...

    @property
    def samples(self) -> int: ...

    @property
    def columns(self) -> Sequence[ColumnLike]: ...


class SnapshotLike(Protocol):
    """What a tracker keeps of one epoch."""

    epoch: float
    utilization: float
    mean_redundancy: float
    gini: float
    coverage_80: float
    layers: Mapping[str, Mapping[str, float]]

    def to_dict(self) -> dict[str, Any]: ...


class TrackerLike(Protocol):
    passes: tuple[str, ...]

    @property
    def history(self) -> Sequence[SnapshotLike]: ...


class ModelStatsLike(Protocol):
    params: int
    nonzero: int
    flops: int
    bytes: int
    latency: Latency


class DerivedLike(Protocol):
    """A model derived from an original (pruned, quantized), measured against it."""

    before: ModelStatsLike
    after: ModelStatsLike
    fidelity: Fidelity
    baseline_accuracy: float | None
    batch: int
    notes: tuple[str, ...]


class PrunedLike(DerivedLike, Protocol):
    """A pruned model measured against its original."""

    method: Method
    ratio: float


class QuantizedLike(DerivedLike, Protocol):
    """An int8 model measured against its original."""

    mode: str
    keep_float: tuple[str, ...]
