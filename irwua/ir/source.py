"""A parsed model and where it came from: its file (for provenance and external data) and the
file's sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import onnx


class ModelSource(NamedTuple):
    """A parsed model and where it came from (for provenance and external data).

    ``learned`` names the stored tensors that hold the model's learned values, when the
    framework says which (a torch module's parameters and normalization statistics); a constant
    derived from any other (a rotary embedding's frequency buffer) is then never a layer's
    weight nor a parameter. None: every floating-point constant may be learned (an ONNX file).
    """

    proto: onnx.ModelProto
    path: Path | None
    sha256: str | None
    learned: frozenset[str] | None = None

    @property
    def base_dir(self) -> Path | None:
        return self.path.parent if self.path else None

    @classmethod
    def of_file(
        cls, proto: onnx.ModelProto, path: Path | None, learned: frozenset[str] | None = None
    ) -> ModelSource:
        """A model exported from the framework file ``path`` (None: from a live object); the
        sha256 is the file's (a SavedModel directory has none)."""
        if path is None:
            return cls(proto, None, None, learned)
        return cls(proto, path.resolve(), file_sha256(path) if path.is_file() else None, learned)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks (framework files can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
