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

from irwua.exporters.carried import SCOPES_KEY
from irwua.exporters.names import name_nodes


class TorchNames:
    """Module paths, tensors and BatchNorm modules of one torch model, for naming its nodes."""

    def __init__(self, model: Any, state: Mapping[str, Any]) -> None:
        import torch

        self.root = type(model).__name__
        self.tensors: dict[str, Any] = dict(state)
        if isinstance(model, torch.nn.Module):
            modules = dict(model.named_modules(remove_duplicate=False))
            parameters = dict(model.named_parameters(remove_duplicate=False))
            self.tensors.update(parameters)
            self.tensors.update(model.named_buffers(remove_duplicate=False))
        else:  # an ExportedProgram: its module tree is only known from the tensor names
            modules = {name.rpartition(".")[0]: None for name in self.tensors}
            parameters = dict.fromkeys(model.graph_signature.parameters)
        self.parameters = set(parameters)
        self.modules = set(modules) - {""}
        self.norms = {
            name
            for name, module in modules.items()
            if "BatchNorm" in getattr(module, "original_name", type(module).__name__)
        }
        self.aliases: dict[int, list[str]] = {}
        for name, tensor in self.tensors.items():
            self.aliases.setdefault(id(tensor), []).append(name)

    def owners(self, tensor: str) -> list[str]:
        """The modules holding ``tensor``: its own, then those sharing it (tied weights)."""
        if tensor not in self.tensors:
            return []
        names = [tensor, *(n for n in self.aliases[id(self.tensors[tensor])] if n != tensor)]
        return list(dict.fromkeys(name.rpartition(".")[0] or self.root for name in names))

    def learned(self) -> frozenset[str]:
        """The tensors holding learned values: parameters, and the floating-point statistics of
        BatchNorm layers (which irwua scores; their running mean and variance)."""
        return frozenset(
            name
            for name, tensor in self.tensors.items()
            if name in self.parameters
            or (tensor.is_floating_point() and name.rpartition(".")[0] in self.norms)
        )

    def scope(self, node: onnx.NodeProto) -> str | None:
        path: Iterable[str] = node.name.split("/")[:-1]
        for prop in node.metadata_props:
            if prop.key == SCOPES_KEY:
                with contextlib.suppress(ValueError, SyntaxError):
                    path = ast.literal_eval(prop.value)
        return next((name for name in reversed(list(path)) if name in self.modules), None)

    def name_nodes(
        self, nodes: Sequence[onnx.NodeProto], sources: Mapping[str, Sequence[str]]
    ) -> tuple[dict[str, str], dict[str, str]]:
        sizes = {name: int(t.numel()) for name, t in self.tensors.items()}
        named = ((node.name, node) for node in nodes)
        return name_nodes(named, sources, sizes, self.owners, self.scope, self.norms)

    def stored_statistics(self, sources: Mapping[str, Sequence[str]]) -> int:
        """Elements of the BatchNorm statistics (learned buffers, not parameters) nodes read."""
        used = {name for found in sources.values() for name in found}
        statistics = (self.learned() - self.parameters) & used
        return sum(int(self.tensors[name].numel()) for name in statistics)
