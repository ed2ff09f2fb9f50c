"""PyTorch's own names for the nodes of an exported model.

A stored tensor is owned by the module its state_dict name belongs to (``features.0.weight`` ->
``features.0``; a tensor of the root module by the root's class name). A node is exported in the
module named by the torch.export exporter's ``pkg.torch.onnx.name_scopes`` metadata, or by the
TorchScript exporter's node name (``/features/features.0/Conv``).
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import onnx

from irwua.exporters.names import name_nodes

_SCOPES_KEY = "pkg.torch.onnx.name_scopes"


class TorchNames:
    """Module paths, tensors and BatchNorm modules of one torch model, for naming its nodes."""

    def __init__(self, model: Any, state: Mapping[str, Any]) -> None:
        import torch

        self.root = type(model).__name__
        self.tensors: dict[str, Any] = dict(state)
        if isinstance(model, torch.nn.Module):
            modules = dict(model.named_modules(remove_duplicate=False))
            self.tensors.update(model.named_parameters(remove_duplicate=False))
            self.tensors.update(model.named_buffers(remove_duplicate=False))
        else:  # an ExportedProgram: its module tree is only known from the tensor names
            modules = {name.rpartition(".")[0]: None for name in self.tensors}
        self.modules = set(modules) - {""}
        self.norms = {
            name
            for name, module in modules.items()
            if "BatchNorm" in getattr(module, "original_name", type(module).__name__)
        }

    def owner(self, tensor: str) -> str | None:
        if tensor not in self.tensors:
            return None
        return tensor.rpartition(".")[0] or self.root

    def scope(self, node: onnx.NodeProto) -> str | None:
        path: Iterable[str] = node.name.split("/")[:-1]
        for prop in node.metadata_props:
            if prop.key == _SCOPES_KEY:
                with contextlib.suppress(ValueError, SyntaxError):
                    path = ast.literal_eval(prop.value)
        return next((name for name in reversed(list(path)) if name in self.modules), None)

    def name_nodes(
        self, nodes: Sequence[onnx.NodeProto], sources: Mapping[str, Sequence[str]]
    ) -> tuple[dict[str, str], dict[str, str]]:
        sizes = {name: int(t.numel()) for name, t in self.tensors.items()}
        return name_nodes(nodes, sources, sizes, self.owner, self.scope, self.norms)

    def stored_buffers(self, sources: Mapping[str, Sequence[str]]) -> int:
        """Elements of the floating-point buffers (not parameters) that nodes read."""
        import torch

        used = {name for found in sources.values() for name in found}
        return sum(
            int(tensor.numel())
            for name, tensor in self.tensors.items()
            if name in used
            and not isinstance(tensor, torch.nn.Parameter)
            and tensor.is_floating_point()
        )
