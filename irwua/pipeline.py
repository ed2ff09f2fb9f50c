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
from irwua.ir.graph import LayerGraph
from irwua.options import Options

if TYPE_CHECKING:
    from irwua.data.dataset import Dataset


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
