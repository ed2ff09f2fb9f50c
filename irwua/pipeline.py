"""The pass pipeline: how analysis passes declare themselves, and the manager that runs them.

A pass is a function ``run(context) -> result`` registered (``register_pass``) with a name, the
passes whose results it reads (``requires``), its options block (``irwua.options``) and a one-line
description. Asking for a pass runs what it requires first; every pass runs at most once per
analysis and its result is immutable. A pass sees the results it requires and its own options
block, nothing else: reading another pass's result is an error that names both. Passes read the
layer graph and never modify it or the user's model. The built-in passes are in
``irwua.passes``, which also holds the registry the analyses run from (``PASSES``).
"""

from __future__ import annotations

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
    """What a pass sees: the graph, the results of the passes it requires, its options block
    (None if it has none), and the user's data and labels (None when none were given)."""

    graph: LayerGraph
    results: Mapping[str, PassResult]
    options: Any
    data: Dataset | None = None
    labels: np.ndarray | None = None
    """One class id (or one-hot row) per sample of ``data``, when the user gave labels."""


class PassSpec(NamedTuple):
    name: str
    requires: tuple[str, ...]
    description: str
    run: Callable[[PassContext], PassResult]
    options: type | None = None
    """The pass's options block (a class of ``irwua.options.BLOCKS``), None if it has none."""
    needs_data: str | None = None
    """Why the pass has nothing to show without data, as a clause ("pruning measures each
    pruned model by running it on the data"); None when it works without."""


class PassContractError(LookupError):
    """A pass read a result it did not declare in ``requires`` (a bug in the pass)."""


class RequiredResults(Mapping[str, PassResult]):
    """The results one pass may read: those of the passes it requires."""

    def __init__(self, spec: PassSpec, results: Mapping[str, PassResult]) -> None:
        self._spec = spec
        self._results = results

    def __getitem__(self, name: str) -> PassResult:
        if name not in self._spec.requires:
            raise PassContractError(
                f"pass {self._spec.name!r} reads the result of {name!r}, which it does not "
                f"require (it requires: {', '.join(self._spec.requires) or 'nothing'})"
            )
        return self._results[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._spec.requires if name in self._results)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_REGISTERED: dict[str, PassSpec] = {}

REGISTERED: Mapping[str, PassSpec] = MappingProxyType(_REGISTERED)
"""The passes registered so far (``irwua.passes.PASSES`` also loads the built-in ones)."""


def register_pass(
    name: str,
    description: str,
    requires: Iterable[str] = (),
    options: type | None = None,
    needs_data: str | None = None,
):
    """Decorator that registers ``run(context) -> PassResult`` as the pass ``name``, which reads
    the results of ``requires`` and the options block ``options``; ``needs_data`` says why it has
    nothing to show without data, when it has not."""

    def decorate(run: Callable[[PassContext], PassResult]) -> Callable[[PassContext], PassResult]:
        if name in _REGISTERED:
            raise ValueError(f"pass {name!r} is registered twice")
        _REGISTERED[name] = PassSpec(name, tuple(requires), description, run, options, needs_data)
        return run

    return decorate


def resolve_order(requested: Iterable[str], registry: Mapping[str, PassSpec]) -> list[str]:
    """The requested passes and everything they require, each after its requirements."""
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
    """Runs passes of ``registry`` (``irwua.passes.PASSES``, or a test's own) over one graph,
    once each, keeping their results and timings."""

    graph: LayerGraph
    registry: Mapping[str, PassSpec]
    options: Options = field(default_factory=Options)
    data: Dataset | None = None
    labels: np.ndarray | None = None
    results: dict[str, PassResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, requested: Iterable[str]) -> dict[str, PassResult]:
        for name in resolve_order(requested, self.registry):
            if name in self.results:
                continue
            spec = self.registry[name]
            options = None if spec.options is None else self.options.block(spec.options)
            context = PassContext(
                self.graph, RequiredResults(spec, self.results), options, self.data, self.labels
            )
            start = time.perf_counter()
            self.results[name] = spec.run(context)
            self.seconds[name] = time.perf_counter() - start
        return self.results
