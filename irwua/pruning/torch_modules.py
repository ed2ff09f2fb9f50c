"""A pruning plan applied to the user's own PyTorch module, so that they fine-tune it in their
own training loop.

* Masks (unstructured, N:M) become ``torch.nn.utils.prune`` custom masks: the weight is
  ``weight_orig * weight_mask``, so pruned weights stay zero while the others train (call
  ``torch.nn.utils.prune.remove`` to make it permanent).
* Cuts (structured) shrink the modules in place: the listed rows, columns and channels of each
  Linear, Conv and BatchNorm are deleted from its parameters and buffers, and its width
  attributes (``out_features``, ``in_channels``, ``num_features``, ...) follow.

Weights of a plan are in the ONNX layout; a layer whose output axis is 1 (a MatMul weight) is
transposed to torch's [out, in]. The plan is checked against the module first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.pruning.plan_file import PruningPlan

TORCH_ROLES = {"weight": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
"""irwua's tensor roles -> the attributes of torch's modules that hold them."""

WIDTHS = {
    "Linear": ("out_features", "in_features"),
    "Conv1d": ("out_channels", "in_channels"),
    "Conv2d": ("out_channels", "in_channels"),
    "Conv3d": ("out_channels", "in_channels"),
}
"""Module class -> the attributes of its width along weight axes 0 and 1."""


def apply_pruning(module: Any, plan: PruningPlan | str | Path) -> Any:
    """Apply ``plan`` (a ``PruningPlan`` or its file, ``Pruned.save_plan``) to ``module`` in
    place and return it (see the module docstring)."""
    import torch
    import torch.nn.utils.prune

    plan = plan if isinstance(plan, PruningPlan) else PruningPlan.load(plan)
    if not isinstance(module, torch.nn.Module):
        raise IrwuaError(f"apply_pruning takes a torch.nn.Module, not {type(module).__name__}.")
    modules = dict(module.named_modules())
    shapes = {}
    for name in plan.shapes:
        sub = modules.get(name)
        weight = getattr(sub, "weight", None)
        if isinstance(weight, torch.Tensor):
            shape = tuple(weight.shape)
            shapes[name] = shape[::-1] if plan.out_axes[name] == 1 and weight.ndim == 2 else shape
    plan.check(shapes, "the module")
    for name, mask in plan.masks.items():
        sub = modules[name]
        keep = ~_torch_layout(mask, plan.out_axes[name])
        torch.nn.utils.prune.custom_from_mask(sub, "weight", torch.from_numpy(keep))
    with torch.no_grad():
        for (name, role), axes in plan.cuts.items():
            if name not in modules:
                raise IrwuaError(
                    f"The plan is for another model: it narrows '{name}', which the module does "
                    "not have."
                )
            _cut(modules[name], role, axes, plan.out_axes.get(name, 0))
    return module


def _torch_layout(values: np.ndarray, out_axis: int) -> np.ndarray:
    return values.T.copy() if out_axis == 1 and values.ndim == 2 else values


def _cut(sub: Any, role: str, axes: dict[int, np.ndarray], out_axis: int) -> None:
    """Delete the ``axes`` indices from the ``role`` tensor of ``sub`` and update its widths."""
    import torch

    attribute = TORCH_ROLES.get(role, role)
    tensor = getattr(sub, attribute)
    value = tensor.detach().cpu().numpy()
    transposed = role == "weight" and out_axis == 1 and value.ndim == 2
    for axis, indices in axes.items():
        torch_axis = 1 - axis if transposed else axis
        value = np.delete(value, indices, axis=torch_axis)
    new = torch.from_numpy(np.ascontiguousarray(value)).to(tensor.dtype)
    if isinstance(tensor, torch.nn.Parameter):
        setattr(sub, attribute, torch.nn.Parameter(new, requires_grad=tensor.requires_grad))
    else:
        setattr(sub, attribute, new)
    if role == "weight" and type(sub).__name__ in WIDTHS:
        names = WIDTHS[type(sub).__name__]
        groups = getattr(sub, "groups", 1)
        setattr(sub, names[0], new.shape[0])
        setattr(sub, names[1], new.shape[1] * groups)
    if hasattr(sub, "num_features") and new.ndim == 1:
        sub.num_features = new.shape[0]
