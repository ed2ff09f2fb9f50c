"""A pruning plan: what pruning removed from each layer, as a file the user carries home.

Layers are named as irwua names them, which for a PyTorch or Keras model are the framework's own
names (``features.0``, ``dense_1``). Weights are in the ONNX layout; ``out_axis`` says which axis
of each weight indexes output units (0 for Conv and Gemm, 1 for a MatMul weight, whose framework
layout is transposed). The plan holds

* ``shapes``: the weight shape of every prunable layer of the model it was made for (a plan is
  checked against a model before it is applied);
* ``masks`` (unstructured and N:M): per layer, True where a weight was zeroed;
* ``cuts`` (structured): per (layer, role), the indices removed along each axis: a unit's row,
  its bias, the BatchNorm channels after it and the consumers' input features it fed.

The file is JSON (``FORMAT``); masks are stored as packed bits in base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.ir.geometry import geometry
from irwua.ir.graph import LayerGraph
from irwua.pruning.cuts import Cuts
from irwua.pruning.vocabulary import Method

FORMAT = "irwua-pruning-plan"
VERSION = 1


@dataclass(frozen=True)
class PruningPlan:
    """What one pruning removed (see the module docstring)."""

    method: Method
    ratio: float
    shapes: Mapping[str, tuple[int, ...]]
    out_axes: Mapping[str, int]
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)
    cuts: Cuts = field(default_factory=dict)

    def check(self, shapes: Mapping[str, tuple[int, ...]], what: str = "this model") -> None:
        """Raise ``IrwuaError`` unless every layer the plan prunes is in ``shapes`` (a model's
        weight shapes, by layer) with the plan's shape."""
        pruned = {*self.masks, *(key[0] for key in self.cuts)}
        for name in (name for name in self.shapes if name in pruned):  # in the model's order
            if name not in shapes:
                raise IrwuaError(
                    f"The plan is for another model: it prunes '{name}', which {what} does not "
                    "have."
                )
            if tuple(shapes[name]) != tuple(self.shapes[name]):
                raise IrwuaError(
                    f"The plan is for another model: '{name}' has a weight of "
                    f"{_shape(shapes[name])} in {what}, {_shape(self.shapes[name])} in the plan."
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "method": vars(self.method),
            "ratio": self.ratio,
            "layers": [
                {"layer": name, "shape": list(shape), "out_axis": self.out_axes[name]}
                for name, shape in self.shapes.items()
            ],
            "masks": [{"layer": name, "bits": _packed(mask)} for name, mask in self.masks.items()],
            "cuts": [
                {"layer": layer, "role": role, "axis": axis, "indices": indices.tolist()}
                for (layer, role), axes in self.cuts.items()
                for axis, indices in axes.items()
            ],
        }

    def to_bytes(self) -> bytes:
        """The plan file's contents."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def load(cls, path: str | Path) -> PruningPlan:
        """Read a plan file; anything else is one ``IrwuaError``."""
        path = Path(path)
        try:
            document = json.loads(path.read_text("utf-8"))
            return cls.from_json(document)
        except FileNotFoundError:
            raise IrwuaError(f"The plan file '{path}' does not exist.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IrwuaError(f"'{path}' is not a pruning plan: {exc}.") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise IrwuaError(f"'{path}' is not a valid pruning plan ({exc!r}).") from None

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> PruningPlan:
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} version {VERSION}")
        shapes = {
            entry["layer"]: tuple(int(n) for n in entry["shape"]) for entry in document["layers"]
        }
        masks = {
            entry["layer"]: _unpacked(entry["bits"], shapes[entry["layer"]])
            for entry in document["masks"]
        }
        cuts: Cuts = {}
        for entry in document["cuts"]:
            axes = cuts.setdefault((str(entry["layer"]), str(entry["role"])), {})
            axes[int(entry["axis"])] = np.asarray(entry["indices"], np.int64)
        return cls(
            method=Method(**document["method"]),
            ratio=float(document["ratio"]),
            shapes=shapes,
            out_axes={entry["layer"]: int(entry["out_axis"]) for entry in document["layers"]},
            masks=masks,
            cuts=cuts,
        )


def weight_shapes(graph: LayerGraph, names: list[str]) -> tuple[dict, dict]:
    """(weight shape, output axis) of each of the layers ``names``."""
    shapes, axes = {}, {}
    for name in names:
        layer = graph.layer_by_name[name]
        shapes[name] = tuple(int(n) for n in graph.array(layer).shape)
        axes[name] = int(geometry(layer, graph).out_axis)
    return shapes, axes


def _packed(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask.ravel()).tobytes()).decode("ascii")


def _unpacked(bits: str, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.unpackbits(np.frombuffer(base64.b64decode(bits), np.uint8))
    if flat.size < size:
        raise ValueError(f"a mask of {flat.size} bits for a weight of {size}")
    return flat[:size].astype(bool).reshape(shape)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)
