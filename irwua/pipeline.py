"""The pass pipeline: a registry of analysis passes and a manager that runs them in order.

A pass is a function ``run(context) -> result`` registered with a name, the names of the passes
whose results it reads, and a one-line description. Asking for a pass runs what it requires first;
every pass runs at most once per analysis and its result is immutable. Passes read the layer graph
and never modify it or the user's model.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from irwua.errors import IrwuaError
from irwua.graph import LayerGraph

if TYPE_CHECKING:
    from irwua.data import Dataset


class PassResult:
    """Base of every pass result: how the result shows up in ``analysis.json``.

    ``totals_json`` is merged into ``totals``, ``layer_json`` into each entry of ``layers[]``,
    ``section_json`` is stored under the pass's own name, and ``files`` are saved beside it.
    """

    def totals_json(self) -> dict[str, Any]:
        return {}

    def layer_json(self, layer_name: str) -> dict[str, Any]:
        return {}

    def section_json(self) -> dict[str, Any]:
        return {}

    def files(self) -> dict[str, bytes]:
        """Extra files ``Analysis.save`` writes next to analysis.json, by file name."""
        return {}


NORMS = ("l1", "l2", "magnitude")
CRITERIA = ("importance", "magnitude", "random")
"""Pruning criteria (see ``irwua.prune``)."""
SCOPES = ("global", "layer")
GRANULARITIES = ("unstructured", "structured")
DEFAULT_RATIOS = tuple(round(0.1 * step, 1) for step in range(10))


@dataclass(frozen=True)
class Options:
    """Settings that passes read.

    ``train_samples``, ``epochs``, ``train_factor``: the training FLOPs estimate.
    ``batch_size``, ``max_samples``: how data streams through onnxruntime.
    ``norm``: importance criterion, "l1" (|w| mean|x|), "l2" (|w| rms(x), Wanda) or "magnitude".
    ``low_share``: a weight is low-contribution below this fraction of the uniform share 1/N.
    ``near_zero``: a weight is near zero below this fraction of its layer's largest |w|.
    ``progress``: show a progress bar on long runs (on a terminal).
    ``top_k``: pathways listed overall and per output unit.
    ``prune_ratios``, ``prune_criteria``, ``prune_scopes``, ``prune_granularity``,
    ``prune_seed``: the pruning sweeps (see ``irwua.passes.pruning``; criteria None: importance,
    magnitude and random globally, importance per layer). ``tolerance``: the agreement loss a
    recommendation accepts (0.01: 1% of predictions may change).
    """

    train_samples: int | None = None
    epochs: int = 1
    train_factor: float = 3.0
    batch_size: int = 64
    max_samples: int | None = None
    norm: str = "l1"
    low_share: float = 0.1
    near_zero: float = 1e-3
    progress: bool = True
    top_k: int = 10
    prune_ratios: tuple[float, ...] = DEFAULT_RATIOS
    prune_criteria: tuple[str, ...] | None = None
    prune_scopes: tuple[str, ...] = SCOPES
    prune_granularity: tuple[str, ...] = GRANULARITIES
    prune_seed: int = 0
    tolerance: float = 0.01

    def __post_init__(self) -> None:
        for name in ("train_samples", "epochs", "batch_size", "max_samples", "top_k"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise IrwuaError(f"{name} must be a positive whole number, got {value!r}.")
        for name in ("train_factor", "low_share", "near_zero"):
            if not getattr(self, name) > 0:
                raise IrwuaError(f"{name} must be positive, got {getattr(self, name)!r}.")
        if self.norm not in NORMS:
            raise IrwuaError(
                f"Unknown importance norm {self.norm!r}; use one of: {', '.join(NORMS)}."
            )
        self._check_pruning()

    def _check_pruning(self) -> None:
        """Pruning settings as sorted tuples of known values."""
        given = self.prune_ratios
        try:
            ratios = tuple(sorted({float(r) for r in ((given,) if np.isscalar(given) else given)}))
        except (TypeError, ValueError):
            ratios = ()
        if not ratios or not all(0.0 <= r < 1.0 for r in ratios):
            raise IrwuaError(f"Pruning ratios must be numbers in [0, 1), got {given!r}.")
        object.__setattr__(self, "prune_ratios", ratios)
        for name, known in (
            ("prune_criteria", CRITERIA),
            ("prune_scopes", SCOPES),
            ("prune_granularity", GRANULARITIES),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            value = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
            if not value or not set(value) <= set(known):
                raise IrwuaError(f"{name} must name some of: {', '.join(known)}; got {value}.")
            object.__setattr__(self, name, value)
        if not isinstance(self.prune_seed, int) or self.prune_seed < 0:
            raise IrwuaError(f"prune_seed must be a whole number >= 0, got {self.prune_seed!r}.")
        if not 0.0 < self.tolerance < 1.0:
            raise IrwuaError(f"tolerance must be in (0, 1), got {self.tolerance!r}.")


class PassContext(NamedTuple):
    """What a pass sees: the graph, the results of the passes it required, the options, and the
    user's data (None when none was given)."""

    graph: LayerGraph
    results: Mapping[str, PassResult]
    options: Options
    data: Dataset | None = None
    labels: np.ndarray | None = None
    """One class id (or one-hot row) per sample of ``data``, when the user gave labels."""


class PassSpec(NamedTuple):
    name: str
    requires: tuple[str, ...]
    description: str
    run: Callable[[PassContext], PassResult]


_REGISTRY: dict[str, PassSpec] = {}


def register_pass(name: str, description: str, requires: Iterable[str] = ()):
    """Decorator that registers ``run(context) -> PassResult`` as the pass ``name``."""

    def decorate(run: Callable[[PassContext], PassResult]) -> Callable[[PassContext], PassResult]:
        if name in _REGISTRY:
            raise ValueError(f"pass {name!r} is registered twice")
        _REGISTRY[name] = PassSpec(name, tuple(requires), description, run)
        return run

    return decorate


class _Registry(Mapping[str, PassSpec]):
    """The registered passes; a built-in pass's module is imported only when it is asked for,
    so that running one pass does not pay for importing the others."""

    def __getitem__(self, name: str) -> PassSpec:
        if name not in _REGISTRY:
            from irwua.passes import BUILTIN

            if name in BUILTIN:
                importlib.import_module(BUILTIN[name])
        return _REGISTRY[name]

    def __iter__(self) -> Iterator[str]:
        from irwua.passes import BUILTIN

        for module in BUILTIN.values():
            importlib.import_module(module)
        return iter(dict(_REGISTRY))

    def __len__(self) -> int:
        return sum(1 for _ in self)


PASSES: Mapping[str, PassSpec] = _Registry()
"""Every pass by name: the built-in ones and any registered by plugins."""


def available_passes() -> dict[str, PassSpec]:
    """All passes by name (imports every built-in pass module)."""
    return dict(PASSES)


def resolve_order(
    requested: Iterable[str], registry: Mapping[str, PassSpec] | None = None
) -> list[str]:
    """The requested passes and everything they require, each after its requirements."""
    registry = PASSES if registry is None else registry
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in registry:
            known = ", ".join(sorted(registry))
            raise IrwuaError(f"Unknown pass '{name}'; the passes are: {known}.")
        if name in visiting:
            raise IrwuaError(f"Passes require each other in a cycle: {' -> '.join(visiting)}.")
        visiting.append(name)
        for required in registry[name].requires:
            visit(required)
        visiting.pop()
        order.append(name)

    for name in requested:
        visit(name)
    return order


@dataclass
class PassManager:
    """Runs passes over one graph, once each, keeping their results and timings.

    ``registry`` defaults to every pass (``PASSES``); tests may pass their own.
    """

    graph: LayerGraph
    options: Options = field(default_factory=Options)
    registry: Mapping[str, PassSpec] = field(default_factory=lambda: PASSES)
    data: Dataset | None = None
    labels: np.ndarray | None = None
    results: dict[str, PassResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, requested: Iterable[str]) -> dict[str, PassResult]:
        registry = self.registry
        for name in resolve_order(requested, registry):
            if name in self.results:
                continue
            context = PassContext(
                self.graph, MappingProxyType(self.results), self.options, self.data, self.labels
            )
            start = time.perf_counter()
            self.results[name] = registry[name].run(context)
            self.seconds[name] = time.perf_counter() - start
        return self.results
