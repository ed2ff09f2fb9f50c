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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import onnx

from irwua.data.dataset import to_numpy
from irwua.errors import IrwuaError, root_reason
from irwua.exporters.loaded import LoadedModel
from irwua.exporters.provenance import constant_values, node_sources
from irwua.exporters.quiet import quiet
from irwua.exporters.torch.call import CACHE_OPTION, WRAPPED, cache_off, is_call_option, wrap
from irwua.exporters.torch.files import load_torch_file
from irwua.exporters.torch.graph import tidy, unwrap
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
        exported = _export(model, args, kwargs, input_names, _call_options(example))
    notes = exported.notes
    values = constant_values(exported.proto.graph)
    with quiet():  # constant folding prints what it could not evaluate
        proto = tidy(exported.proto, values, set(naming.tensors))
    sources = node_sources(proto.graph, values)
    names, layer_notes = naming.name_nodes(proto.graph.node, sources)
    params = sum(p.numel() for p in model.parameters())
    statistics = naming.stored_statistics(sources)
    if statistics:
        notes.append(
            f"irwua counts the {statistics:,} BatchNorm running statistics (mean and variance) "
            "that layers use as parameters; torch's parameters() leaves them out."
        )
    return LoadedModel(
        source=ModelSource.of_file(proto, path, _learned(proto, values, naming.learned())),
        framework="torch",
        layer_names=names,
        layer_notes=layer_notes,
        notes=tuple(notes),
        framework_params=int(params),
        exporter=exported.exporter,
        call_options=tuple(_call_options(example)),
    )


def _learned(
    proto: onnx.ModelProto, values: Mapping[str, Sequence[str]], learned: frozenset[str]
) -> frozenset[str]:
    """The initializers of ``proto`` computed from the model's learned tensors (the parameters
    themselves, and recurrent weights folded from them)."""
    return frozenset(
        tensor.name
        for tensor in proto.graph.initializer
        if not learned.isdisjoint(values.get(tensor.name, (tensor.name,)))
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
    """Positional args, keyword args and ONNX input names for the user's data (call options in a
    data dict, ``irwua.exporters.torch.call.is_call_option``, are left out)."""
    if isinstance(example, Mapping):
        kwargs = {
            str(key): _tensor(value, float_dtype)
            for key, value in example.items()
            if not is_call_option(value)
        }
        return (), kwargs, list(kwargs)
    if isinstance(example, (list, tuple)):
        args = tuple(_tensor(value, float_dtype) for value in example)
        return args, {}, [f"input_{i}" for i in range(len(args))]
    return (_tensor(example, float_dtype),), {}, ["input"]


def _call_options(example: Any) -> dict[str, Any]:
    """The call options in a data dict (``{"use_cache": False}``)."""
    if not isinstance(example, Mapping):
        return {}
    return {str(key): value for key, value in example.items() if is_call_option(value)}


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


def _check_runs(model: Any, args: tuple, kwargs: dict, input_names: list[str]) -> None:
    """Raise the error a model gives on the data when it cannot run on it at all (a shape that
    does not fit forward()), naming the shapes given; return when it runs."""
    import torch

    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except Exception as exc:  # whatever forward() raises on data it does not take
        shapes = [tuple(t.shape) for t in (*args, *kwargs.values())]
        given = ", ".join(
            f"{name} {'x'.join(map(str, shape[1:])) or 'scalar'}"
            for name, shape in zip(input_names, shapes, strict=False)
        )
        lines = [line for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1].strip().removeprefix("RuntimeError: ") if lines else root_reason(exc)
        raise IrwuaError(
            f"The model does not run on the data (per sample: {given}): {reason.rstrip('.')}; "
            "give data of the shapes its forward() takes, samples on axis 0."
        ) from exc


def _export(
    model: Any, args: tuple, kwargs: dict, input_names: list[str], options: Mapping[str, Any]
) -> _Exported:
    """The ONNX model: torch.export first, TorchScript as the fallback; ``options`` are keyword
    options of ``forward`` that the data dict set."""
    import torch

    program = isinstance(model, torch.export.ExportedProgram)
    wrapped = None
    tensors = (*args, *kwargs.values())
    if not program and not isinstance(model, torch.jit.ScriptModule):
        call_options = cache_off(model, options)
        wrapped = wrap(model, input_names, bool(kwargs), call_options)
    axes = _dynamic_axes(tensors)
    try:
        if program:
            proto = _export_dynamo(model, args, kwargs, input_names, None)
        else:
            proto = _export_dynamo(wrapped or model, tensors, {}, input_names, axes)
        exported = _Exported(proto, "torch.export", [])
    except Exception as exc:  # the exporter raises many types; the reason is what matters
        reason = root_reason(exc)
        if program:
            raise IrwuaError(
                f"PyTorch could not export the program to ONNX ({reason}); export the nn.Module "
                "it came from instead."
            ) from exc
        try:
            proto = _export_torchscript(wrapped or model, tensors, input_names, axes)
        except Exception as exc:
            _check_runs(model, args, kwargs, input_names)
            raise IrwuaError(
                f"PyTorch could not export the model to ONNX (torch.export: {reason}; "
                f"TorchScript: {root_reason(exc)}); make forward() traceable (no data-dependent "
                "Python control flow, ops ONNX knows) or export it yourself and analyze the "
                ".onnx file."
            ) from exc
        note = f"torch.export could not capture the model ({reason}); TorchScript exported it."
        exported = _Exported(proto, "torchscript", [note])
    if wrapped is not None:
        unwrap(exported.proto, WRAPPED)
        exported.notes.extend(_call_notes(wrapped.left_out, call_options, options))
    return exported


class _Exported(NamedTuple):
    proto: onnx.ModelProto
    exporter: str
    notes: list[str]


def _call_notes(
    left_out: list[str], call_options: Mapping[str, Any], given: Mapping[str, Any]
) -> list[str]:
    notes = []
    if given:
        listed = ", ".join(f"{key}={value!r}" for key, value in given.items())
        notes.append(f"Exported with the data's call options {listed}.")
    if CACHE_OPTION in call_options and CACHE_OPTION not in given:
        notes.append(
            "Exported with use_cache=False: the cache serves generation, and the outputs are "
            "the same without it (the model itself is unchanged)."
        )
    if left_out:
        kinds = ", ".join(dict.fromkeys(left_out))
        notes.append(f"Outputs that are not tensors are left out of the export ({kinds}).")
    return notes


def _dynamic_axes(tensors: tuple) -> list[dict[int, str]]:
    """Each input's dynamic axes: axis 0 ("batch"), and axis 1 of token ids ("sequence": integer
    inputs of rank 2), so position tables are exported whole rather than cut to the traced
    length."""
    axes = []
    for tensor in tensors:
        dynamic = {0: "batch"}
        if tensor.ndim == 2 and not tensor.is_floating_point() and tensor.shape[1] > 1:
            dynamic[1] = "sequence"
        axes.append(dynamic)
    return axes


def _export_dynamo(
    model: Any, args: tuple, kwargs: dict, input_names: list[str], axes: list | None
) -> onnx.ModelProto:
    import torch

    dynamic = None
    if axes is not None:
        batch = torch.export.Dim("batch")
        dims = {"batch": batch, "sequence": torch.export.Dim.AUTO}
        dynamic = (tuple({i: dims[name] for i, name in spec.items()} for spec in axes),)
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


def _export_torchscript(
    model: Any, args: tuple, input_names: list[str], axes: list[dict[int, str]]
) -> onnx.ModelProto:
    import torch

    buffer = io.BytesIO()
    with quiet():
        torch.onnx.export(
            model,
            args,
            buffer,
            dynamo=False,
            input_names=input_names,
            dynamic_axes=dict(zip(input_names, axes, strict=True)),
            training=torch.onnx.TrainingMode.PRESERVE,  # EVAL would fold BatchNorm into convs
            do_constant_folding=False,
        )
    return onnx.load_from_string(buffer.getvalue())
