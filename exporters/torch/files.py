"""Loading saved PyTorch models: TorchScript archives and pickled modules (``.pt``, ``.pth``) and
torch.export programs (``.pt2``).

All of them go through pickle, which can run arbitrary code, so they are loaded only when the user
says the file is trusted (``trust_code=True``, ``--trust-code`` on the command line).
"""

from __future__ import annotations

import zipfile
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
        raise IrwuaError(f"PyTorch cannot load '{path}': {root_reason(exc)}.") from exc
    if isinstance(loaded, (torch.nn.Module, torch.export.ExportedProgram)):
        return loaded
    raise IrwuaError(
        f"'{path}' holds a {type(loaded).__name__}, not a model (weights alone cannot be "
        "analyzed); build the module in Python, load the weights into it and call "
        "irwua.analyze(module, data)."
    )


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
