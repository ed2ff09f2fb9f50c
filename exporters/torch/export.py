"""The PyTorch front-end: a module (or a saved one) becomes ONNX named after its module paths.

The torch.export-based exporter runs first; when it cannot capture the model, the TorchScript
exporter runs instead and the export notes say why. Both trace the model in eval mode on the first
two samples of the user's data, with axis 0 exported as the dynamic axis "batch". The user's
module is left as it was: every submodule's training flag is restored, and the exporters add no
hooks, buffers or attributes.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import onnx

from irwua.data.dataset import to_numpy
from irwua.errors import IrwuaError, root_reason
from irwua.exporters.loaded import LoadedModel
from irwua.exporters.provenance import constant_values, node_sources
from irwua.exporters.quiet import quiet
from irwua.exporters.torch.files import load_torch_file
from irwua.exporters.torch.graph import tidy
from irwua.exporters.torch.names import TorchNames
from irwua.ir.source import ModelSource

EXAMPLE_SAMPLES = 2
"""Samples traced; two, because torch.export specializes a dimension of size 1."""


def load_torch(model: Any, example: Any, trust_code: bool = False) -> LoadedModel:
    """Export a torch module, ScriptModule, ExportedProgram or saved file to ONNX."""
    torch = _require_torch()
    path = None
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        model = load_torch_file(path, trust_code)
    if example is None:
        raise IrwuaError(
            "A PyTorch model is exported by running it, so irwua needs sample input: pass data "
            "(an array, a list or a dict of arrays; --data on the command line)."
        )
    program = isinstance(model, torch.export.ExportedProgram)
    naming = TorchNames(model, model.state_dict if program else model.state_dict())
    args, kwargs, input_names = _example_inputs(example, _float_dtype(naming.tensors.values()))
    with _eval_mode(model):
        proto, notes = _export(model, args, kwargs, input_names)
    values = constant_values(proto.graph)
    proto = tidy(proto, values, set(naming.tensors))
    sources = node_sources(proto.graph, values)
    names, layer_notes = naming.name_nodes(proto.graph.node, sources)
    params = sum(p.numel() for p in model.parameters())
    buffers = naming.stored_buffers(sources)
    if buffers:
        notes.append(
            f"irwua counts the {buffers} values of the model's buffers that layers use (BatchNorm "
            "running statistics) as parameters; torch's parameters() leaves them out."
        )
    return LoadedModel(
        source=ModelSource.of_file(proto, path),
        framework="torch",
        layer_names=names,
        layer_notes=layer_notes,
        notes=tuple(notes),
        framework_params=int(params),
    )


def _require_torch() -> Any:
    """torch (with onnxscript, which its exporter and irwua's tidying use), or an error that says
    how to install them."""
    try:
        import onnxscript  # noqa: F401
        import torch
    except ImportError as exc:
        raise IrwuaError(
            f"Analyzing a PyTorch model needs torch and onnxscript ({root_reason(exc)}); "
            "install them with: pip install 'irwua[torch]'."
        ) from exc
    return torch


def _example_inputs(example: Any, float_dtype: Any) -> tuple[tuple, dict, list[str]]:
    """Positional args, keyword args and ONNX input names for the user's data."""
    if isinstance(example, Mapping):
        kwargs = {str(key): _tensor(value, float_dtype) for key, value in example.items()}
        return (), kwargs, list(kwargs)
    if isinstance(example, (list, tuple)):
        args = tuple(_tensor(value, float_dtype) for value in example)
        return args, {}, [f"input_{i}" for i in range(len(args))]
    return (_tensor(example, float_dtype),), {}, ["input"]


def _tensor(value: Any, float_dtype: Any) -> Any:
    """The first samples of ``value`` as a CPU tensor (floats in the model's dtype)."""
    import numpy as np
    import torch

    tensor = value.detach() if isinstance(value, torch.Tensor) else to_numpy(value)
    if tensor.ndim == 0 or tensor.shape[0] == 0:
        raise IrwuaError("The data needs at least one sample on axis 0 to trace the model.")
    tensor = tensor[:EXAMPLE_SAMPLES]  # before any copy: the data may be a large memory map
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.cpu()
    else:
        tensor = torch.from_numpy(np.array(tensor))
    if tensor.shape[0] < EXAMPLE_SAMPLES:
        tensor = tensor.repeat(EXAMPLE_SAMPLES, *([1] * (tensor.ndim - 1)))
    if tensor.is_floating_point():
        return tensor.to(float_dtype)
    return tensor.long() if tensor.dtype in (torch.int32, torch.int16, torch.uint8) else tensor


def _float_dtype(tensors: Any) -> Any:
    import torch

    return next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Eval mode while exporting; every submodule's own training flag restored afterwards."""
    import torch

    if not isinstance(model, torch.nn.Module):
        yield
        return
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def _export(model: Any, args: tuple, kwargs: dict, input_names: list[str]):
    """The ONNX model and export notes: torch.export first, TorchScript as the fallback."""
    import torch

    try:
        return _export_dynamo(model, args, kwargs, input_names), []
    except Exception as exc:  # the exporter raises many types; the reason is what matters
        reason = root_reason(exc)
    if isinstance(model, torch.export.ExportedProgram):
        raise IrwuaError(
            f"PyTorch could not export the program to ONNX ({reason}); export the nn.Module it "
            "came from instead."
        )
    try:
        proto = _export_torchscript(model, args, kwargs, input_names)
    except Exception as exc:
        raise IrwuaError(
            f"PyTorch could not export the model to ONNX (torch.export: {reason}; TorchScript: "
            f"{root_reason(exc)}); make forward() traceable (no data-dependent Python control "
            "flow, only tensor outputs, ops ONNX knows) or export it yourself and analyze the "
            ".onnx file."
        ) from exc
    note = f"torch.export could not capture the model ({reason}); TorchScript exported it."
    return proto, [note]


def _export_dynamo(model: Any, args: tuple, kwargs: dict, input_names: list[str]):
    import torch

    dynamic = None
    if not isinstance(model, torch.export.ExportedProgram):
        batch = torch.export.Dim("batch")
        if kwargs:
            dynamic = {name: {0: batch} for name in kwargs}
        else:
            dynamic = tuple({0: batch} for _ in args)
    with quiet():
        program = torch.onnx.export(
            model,
            args,
            kwargs=kwargs or None,
            dynamo=True,
            optimize=False,
            input_names=input_names,
            dynamic_shapes=dynamic,
            verbose=False,
        )
    return program.model_proto


def _export_torchscript(model: Any, args: tuple, kwargs: dict, input_names: list[str]):
    import torch

    buffer = io.BytesIO()
    with quiet():
        torch.onnx.export(
            model,
            args,
            buffer,
            kwargs=kwargs or None,
            dynamo=False,
            input_names=input_names,
            dynamic_axes={name: {0: "batch"} for name in input_names},
            training=torch.onnx.TrainingMode.PRESERVE,  # EVAL would fold BatchNorm into convs
            do_constant_folding=False,
        )
    return onnx.load_from_string(buffer.getvalue())
