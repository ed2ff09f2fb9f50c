"""irwua's analysis passes, one pass per module, and the registry analyses run them from.

A module registers its pass when imported (``irwua.pipeline.register_pass``); ``PASSES`` imports
a built-in pass's module only when that pass is asked for, so that running the FLOPs pass alone
stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from irwua.pipeline import REGISTERED, PassSpec

BUILTIN = {
    "flops": "irwua.passes.flops",
    "activations": "irwua.passes.activations",
    "importance": "irwua.passes.importance",
    "metrics": "irwua.passes.metrics",
    "pruning": "irwua.passes.pruning",
    "quantization": "irwua.passes.quantization",
    "recommendations": "irwua.passes.recommendations",
    "pathways": "irwua.passes.pathways",
}
"""Built-in pass name -> the module that registers it."""


class _Passes(Mapping[str, PassSpec]):
    """The registered passes, a built-in one's module imported when it is first asked for."""

    def __getitem__(self, name: str) -> PassSpec:
        if name not in REGISTERED and name in BUILTIN:
            importlib.import_module(BUILTIN[name])
        return REGISTERED[name]

    def __iter__(self) -> Iterator[str]:
        for module in BUILTIN.values():
            importlib.import_module(module)
        return iter(dict(REGISTERED))

    def __len__(self) -> int:
        return sum(1 for _ in self)


PASSES: Mapping[str, PassSpec] = _Passes()
"""Every pass by name: the built-in ones and any registered by plugins."""


def available_passes() -> dict[str, PassSpec]:
    """All passes by name (imports every built-in pass module)."""
    return dict(PASSES)
