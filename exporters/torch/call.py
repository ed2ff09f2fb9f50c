"""How irwua calls a user's module to export it: what the user means by running the model.

A transformers model returns a cache (``DynamicCache``) next to its logits unless told not to, and
returns a ``ModelOutput`` rather than a tensor; the exporters accept neither. irwua exports a thin
wrapper that

- passes the inputs by name (keyword-only models export with either exporter),
- passes call options: Python scalars in a data dict (``{"input_ids": ids, "use_cache": False}``)
  are options of ``forward``, not inputs,
- turns caches off (``use_cache=False``) when ``forward`` takes that option and the data does not
  set it: the cache is for generation, and the model computes the same logits without it,
- returns the tensors of the output, in order, and leaves the rest out (caches, ``None``).

The user's module is not changed. The wrapper holds it as its submodule ``model``, so exported
tensor names and module scopes start with ``model.`` (``WRAPPED``) until
``irwua.exporters.torch.graph.unwrap`` takes the prefix off. What the wrapper left out of the
output while it was traced is in its ``left_out`` list.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

WRAPPED = "model."
"""The prefix the wrapper adds to the module paths and tensor names of the user's module."""

CACHE_OPTION = "use_cache"
CALL_OPTION_TYPES = (bool, int, float, str, type(None))
"""Values in a data dict that are options of ``forward`` rather than inputs."""


def is_call_option(value: Any) -> bool:
    return isinstance(value, CALL_OPTION_TYPES)


def cache_off(model: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with ``use_cache=False`` added when ``model.forward`` takes that option and
    ``options`` leave it unset."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return dict(options)
    if CACHE_OPTION in parameters and CACHE_OPTION not in options:
        return {**options, CACHE_OPTION: False}
    return dict(options)


def wrap(model: Any, input_names: Sequence[str], by_name: bool, options: Mapping[str, Any]) -> Any:
    """A module whose ``forward(*tensors)`` calls ``model`` on them (by name when ``by_name``)
    with the keyword ``options``, and returns the output's tensors as a tuple."""
    import torch

    class TensorOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.left_out: list[str] = []

        def forward(self, *tensors: Any) -> tuple[Any, ...]:
            if by_name:
                output = self.model(**dict(zip(input_names, tensors, strict=True)), **options)
            else:
                output = self.model(*tensors, **options)
            self.left_out[:] = left_out(output)
            return tuple(tensor_leaves(output))

    return TensorOutputs()


def tensor_leaves(output: Any) -> list[Any]:
    """The tensors in ``output`` (a tensor, a sequence or mapping of them, a ``ModelOutput``),
    depth first, in order; anything else is left out."""
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        items = output.values()
    elif isinstance(output, (list, tuple)):
        items = output
    else:
        return []
    return [leaf for item in items for leaf in tensor_leaves(item)]


def left_out(output: Any) -> list[str]:
    """Type names of what ``tensor_leaves`` leaves out of ``output`` (``None`` not named)."""
    import torch

    if output is None or isinstance(output, torch.Tensor):
        return []
    if isinstance(output, Mapping):
        return [name for item in output.values() for name in left_out(item)]
    if isinstance(output, (list, tuple)):
        return [name for item in output for name in left_out(item)]
    return [type(output).__name__]
