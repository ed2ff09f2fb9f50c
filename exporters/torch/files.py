"""Loading saved PyTorch models: TorchScript archives and pickled modules (``.pt``, ``.pth``) and
torch.export programs (``.pt2``).

All of them go through pickle, which can run arbitrary code, so they are loaded only when the user
says the file is trusted (``trust_code=True``, ``--trust-code`` on the command line).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from irwua.errors import IrwuaError, root_reason
from irwua.exporters.quiet import quiet


def load_torch_file(path: Path, trust_code: bool) -> Any:
    """The ``nn.Module``, ``ScriptModule`` or ``ExportedProgram`` stored at ``path``."""
    import torch

    if not path.is_file():
        raise IrwuaError(f"Model file '{path}' does not exist.")
    if not trust_code:
        raise IrwuaError(
            f"'{path}' is a PyTorch file, which is loaded with pickle and can run code; pass "
            "--trust-code (trust_code=True in Python) if you trust where it came from."
        )
    try:
        with quiet():  # torch.jit.load warns that it is deprecated
            loaded = _load(path)
    except Exception as exc:  # torch raises many types for a file it cannot read
        if _missing_class(exc):
            raise IrwuaError(
                f"'{path}' is a pickled module whose class cannot be imported here "
                f"({root_reason(exc)}): a class defined in the script that saved it (__main__) "
                "exists only there; pass the module itself (irwua.analyze(model, data)), or save "
                "it as TorchScript (torch.jit.save(torch.jit.script(model), path)) or with "
                "torch.export (.pt2)."
            ) from exc
        raise IrwuaError(f"PyTorch cannot load '{path}': {root_reason(exc)}.") from exc
    if isinstance(loaded, (torch.nn.Module, torch.export.ExportedProgram)):
        return loaded
    raise IrwuaError(
        f"'{path}' holds {_described(loaded)}, not a model (weights alone cannot be analyzed); "
        "build the module in Python, load the weights into it (model.load_state_dict) and call "
        "irwua.analyze(model, data)."
    )


def _missing_class(error: Exception) -> bool:
    """Whether unpickling failed because the module's class is not importable here."""
    if isinstance(error, ModuleNotFoundError):
        return True
    return isinstance(error, AttributeError) and "Can't get attribute" in str(error)


def _described(value: object) -> str:
    """What a loaded object is, for the sentence: 'a state dict of 4 tensors', 'a list'."""
    import torch

    if isinstance(value, Mapping):
        tensors = sum(isinstance(v, torch.Tensor) for v in value.values())
        if tensors:
            return f"a state dict ({tensors} tensors by name)"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _load(path: Path) -> Any:
    import torch

    if path.suffix.lower() == ".pt2":
        return torch.export.load(path)
    if _is_torchscript(path):
        return torch.jit.load(str(path), map_location="cpu")
    return torch.load(path, map_location="cpu", weights_only=False)


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())
