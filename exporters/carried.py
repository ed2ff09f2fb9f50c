"""The framework names an ONNX file carries for its nodes, for files exported elsewhere.

PyTorch's exporters leave the module path a node ran in inside the file:

- torch.export (``dynamo=True``) records the scopes in node metadata,
  ``pkg.torch.onnx.name_scopes = ['', 'encoder', 'encoder.layer.0', ..., 'linear_3']``, whose
  last entry is the call and the one before it the module path;
- TorchScript (``dynamo=False``, and tools built on it) names nodes after the attribute path,
  ``/encoder/layer.0/attention/self/query/MatMul`` -> ``encoder.layer.0.attention.self.query``.

A node carrying neither keeps its ONNX name.
"""

from __future__ import annotations

import ast
import contextlib

import onnx

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
"""The node metadata where the torch.export exporter records the module path a node ran in."""

_LONGEST_SCOPES = 1 << 14
"""Longer scope metadata is not parsed (a hostile file's deep nesting would exhaust the stack)."""


def carried_names(graph: onnx.GraphProto) -> dict[str, str]:
    """ONNX node name -> the module path it carries, for the nodes of the main graph."""
    names: dict[str, str] = {}
    for node in graph.node:
        path = module_path(node)
        if path and node.name:
            names[node.name] = path
    return names


def module_path(node: onnx.NodeProto) -> str | None:
    """The module path ``node`` ran in, from its scope metadata or its TorchScript name."""
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY and len(prop.value) <= _LONGEST_SCOPES:
            with contextlib.suppress(ValueError, SyntaxError, TypeError, RecursionError):
                scopes = ast.literal_eval(prop.value)
                if isinstance(scopes, list) and len(scopes) >= 2 and scopes[-2]:
                    return str(scopes[-2])
            return None
    parts = node.name.split("/")
    if len(parts) > 2 and parts[0] == "" and all(parts[1:-1]):
        return ".".join(parts[1:-1])
    return None
