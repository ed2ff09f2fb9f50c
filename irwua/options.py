"""Settings of an analysis: one options block per pass, and ``Options``, which holds them all.

A block is a frozen dataclass that checks its own values; each field's metadata gives its help
text and, for the settings the command line offers, its flag (``irwua.cli`` builds the flags from
them). A pass declares its block when it registers (``irwua.pipeline.register_pass``) and sees
only that block. ``Options`` takes every block's settings as keywords, ``Options(norm="l2",
batch_size=32)``, and reads them back as attributes (``options.norm``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from irwua.errors import IrwuaError
from irwua.pruning.vocabulary import CRITERIA, DEFAULT_RATIOS, GRANULARITIES, SWEEP_SCOPES

NORMS = ("l1", "l2", "magnitude")
"""Importance criteria: |w| x mean|x|, |w| x rms(x) (Wanda), |w|."""


def setting(
    default: Any,
    help: str,
    flag: str | None = None,
    parse: Callable[[str], Any] = str,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
) -> Any:
    """A block's field: its default, help text (``{default}`` is filled in) and, when the
    command line offers it, its flag, the function that reads the flag's text (a ValueError
    means the text is not a value) and the choices or the metavar shown in the help."""
    metadata = {
        "help": help,
        "flag": flag,
        "parse": parse,
        "choices": choices,
        "metavar": metavar or _METAVARS.get(parse),
    }
    return field(default=default, metadata=metadata)


def expected(item: Any) -> str:
    """What the flag of a setting takes, in words (for an error)."""
    return _EXPECTED.get(item.metadata["parse"], "a value")


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _numbers(text: str) -> tuple[float, ...]:
    """A comma-separated list of numbers."""
    return tuple(float(value) for value in _names(text))


_METAVARS: dict[Callable[[str], Any], str] = {int: "N", float: "X"}
_EXPECTED: dict[Callable[[str], Any], str] = {
    int: "a whole number",
    float: "a number",
    _numbers: "numbers like 0.5,0.7",
}


def _positive_whole(block: Any, *names: str) -> None:
    for name in names:
        value = getattr(block, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise IrwuaError(f"{name} must be a positive whole number, got {value!r}.")


def _positive(block: Any, *names: str) -> None:
    for name in names:
        if not getattr(block, name) > 0:
            raise IrwuaError(f"{name} must be positive, got {getattr(block, name)!r}.")


@dataclass(frozen=True)
class FlopsOptions:
    """The ``flops`` pass: the training FLOPs estimate."""

    train_samples: int | None = setting(
        None, "training samples, for the training FLOPs estimate", "--samples", int
    )
    epochs: int = setting(
        1, "epochs for the training estimate (default {default})", "--epochs", int
    )
    train_factor: float = setting(
        3.0,
        "training FLOPs per forward FLOP (default {default:g}: forward + backward)",
        "--train-factor",
        float,
    )

    def __post_init__(self) -> None:
        _positive_whole(self, "train_samples", "epochs")
        _positive(self, "train_factor")


@dataclass(frozen=True)
class StreamingOptions:
    """How data streams through onnxruntime: the options of every pass and command that runs
    the model on the data."""

    batch_size: int = setting(
        64, "samples per onnxruntime run (default {default})", "--batch-size", int
    )
    max_samples: int | None = setting(
        None, "use at most this many samples of the data", "--max-samples", int
    )
    progress: bool = setting(True, "show a progress bar on long runs (on a terminal)")

    def __post_init__(self) -> None:
        _positive_whole(self, "batch_size", "max_samples")


@dataclass(frozen=True)
class ActivationsOptions(StreamingOptions):
    """The ``activations`` pass: streaming only."""


@dataclass(frozen=True)
class ImportanceOptions:
    """The ``importance`` pass."""

    norm: str = setting(
        "l1",
        "importance: |w| x mean|x| (l1), |w| x rms(x) (l2, Wanda), or |w| (default {default})",
        "--norm",
        choices=NORMS,
    )

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise IrwuaError(
                f"Unknown importance norm {self.norm!r}; use one of: {', '.join(NORMS)}."
            )


@dataclass(frozen=True)
class MetricsOptions:
    """The ``metrics`` pass: what counts as a low-contribution or near-zero weight."""

    low_share: float = setting(
        0.1,
        "a weight is low-contribution below this fraction of the uniform share 1/N "
        "(default {default:g})",
        "--low-share",
        float,
    )
    near_zero: float = setting(
        1e-3,
        "a weight is near zero below this fraction of its layer's largest |w| "
        "(default {default:g})",
        "--near-zero",
        float,
    )

    def __post_init__(self) -> None:
        _positive(self, "low_share", "near_zero")


@dataclass(frozen=True)
class PathwaysOptions:
    """The ``pathways`` pass."""

    top_k: int = setting(
        10, "pathways listed overall and per output unit (default {default})", "--top-k", int
    )

    def __post_init__(self) -> None:
        _positive_whole(self, "top_k")


@dataclass(frozen=True)
class PruningOptions(StreamingOptions):
    """The ``pruning`` pass: which sweeps run (``irwua.pruning.vocabulary`` says what the words
    mean). Criteria None: importance, magnitude and random globally, importance per layer."""

    prune_ratios: tuple[float, ...] = setting(
        DEFAULT_RATIOS,
        "pruning ratios to measure (default 0,0.1,...,0.9)",
        "--prune-ratios",
        _numbers,
        metavar="R,R",
    )
    prune_criteria: tuple[str, ...] | None = setting(
        None,
        "importance, magnitude, random (default: all three globally, importance per layer)",
        "--prune-criteria",
        _names,
        metavar="C,C",
    )
    prune_scopes: tuple[str, ...] = setting(
        SWEEP_SCOPES, "global, layer (default: both)", "--prune-scopes", _names, metavar="S,S"
    )
    prune_granularity: tuple[str, ...] = setting(
        GRANULARITIES,
        "unstructured, structured (default: both)",
        "--prune-granularity",
        _names,
        metavar="G,G",
    )
    prune_seed: int = setting(
        0, "seed of the random criterion (default {default})", "--prune-seed", int
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        given = self.prune_ratios
        try:
            ratios = tuple(sorted({float(r) for r in ((given,) if np.isscalar(given) else given)}))
        except (TypeError, ValueError):
            ratios = ()
        if not ratios or not all(0.0 <= r < 1.0 for r in ratios):
            raise IrwuaError(f"Pruning ratios must be numbers in [0, 1), got {given!r}.")
        object.__setattr__(self, "prune_ratios", ratios)
        for name, known in (
            ("prune_criteria", CRITERIA),
            ("prune_scopes", SWEEP_SCOPES),
            ("prune_granularity", GRANULARITIES),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            value = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
            if not value or not set(value) <= set(known):
                raise IrwuaError(f"{name} must name some of: {', '.join(known)}; got {value}.")
            object.__setattr__(self, name, value)
        if not isinstance(self.prune_seed, int) or self.prune_seed < 0:
            raise IrwuaError(f"prune_seed must be a whole number >= 0, got {self.prune_seed!r}.")


@dataclass(frozen=True)
class RecommendationsOptions:
    """The ``recommendations`` pass."""

    tolerance: float = setting(
        0.01,
        "agreement loss recommendations accept, as a share of the predictions (default "
        "{default:g})",
        "--tolerance",
        float,
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.tolerance < 1.0:
            raise IrwuaError(f"tolerance must be in (0, 1), got {self.tolerance!r}.")


BLOCKS = (
    FlopsOptions,
    ActivationsOptions,
    ImportanceOptions,
    MetricsOptions,
    PathwaysOptions,
    PruningOptions,
    RecommendationsOptions,
)
"""Every options block; a setting shared by two blocks (streaming) is one setting."""


def settings() -> Iterator[Any]:
    """Every setting (a dataclass field) of every block, each name once."""
    seen: set[str] = set()
    for block in BLOCKS:
        for item in fields(block):
            if item.name not in seen:
                seen.add(item.name)
                yield item


class Options:
    """Settings that passes read: every block's settings, given as keywords and read as
    attributes; each pass gets its own block (``block``). Immutable, like the blocks."""

    __slots__ = ("_blocks",)

    def __init__(self, **given: Any) -> None:
        known = {item.name for item in settings()}
        unknown = sorted(set(given) - known)
        if unknown:
            raise TypeError(f"Options got an unknown setting {unknown[0]!r}")
        blocks = {
            block: block(**{f.name: given[f.name] for f in fields(block) if f.name in given})
            for block in BLOCKS
        }
        object.__setattr__(self, "_blocks", blocks)

    def __reduce__(self) -> tuple[Any, ...]:
        return (functools.partial(Options, **self.as_dict()), ())

    def block(self, kind: type) -> Any:
        """The options block ``kind`` (one of ``BLOCKS``)."""
        return self._blocks[kind]

    def __getattr__(self, name: str) -> Any:
        if name == "_blocks":
            raise AttributeError(name)
        for block in self._blocks.values():
            if name in block.__dataclass_fields__:
                return getattr(block, name)
        raise AttributeError(f"Options has no setting {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Options are immutable; make new ones")

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name."""
        return {item.name: getattr(self, item.name) for item in settings()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Options) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().items()))

    def __repr__(self) -> str:
        changed = {
            item.name: getattr(self, item.name)
            for item in settings()
            if getattr(self, item.name) != item.default
        }
        return f"Options({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
