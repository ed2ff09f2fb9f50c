"""Settings of an analysis: one options block per pass, and ``Options``, which holds them all.

A block lists its ``Setting``s (name, default, help text and, for the settings the command line
offers, the flag: ``irwua.cli`` builds its flags from them) and checks its own values. A pass
declares its block when it registers (``irwua.pipeline.register_pass``) and sees only that block.
``Options`` takes every block's settings as keywords, ``Options(norm="l2", batch_size=32)``, and
reads them back as attributes (``options.norm``). Blocks and options are immutable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from irwua.errors import IrwuaError
from irwua.pruning.vocabulary import (
    CRITERIA,
    DEFAULT_RATIOS,
    DEFAULT_SWEEP_SCOPES,
    GRANULARITIES,
    GROUPINGS,
    SWEEP_SCOPES,
    is_granularity,
)
from irwua.quantization.vocabulary import MODES as QUANT_MODES

NORMS = ("l1", "l2", "magnitude")
"""Importance criteria: |w| x mean|x|, |w| x rms(x) (Wanda), |w|."""


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


class Setting(NamedTuple):
    """One setting of an options block: its name, default and help text (``{default}`` is
    filled in) and, when the command line offers it, its flag, the function that reads the
    flag's text (a ValueError means the text is no value) and the choices shown in the help."""

    name: str
    default: Any
    help: str
    flag: str | None = None
    parse: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None

    @property
    def metavar(self) -> str | None:
        """How the help shows the flag's value (None: argparse's own, or the choices)."""
        return "A,B" if self.parse in (_names, _numbers) else _METAVARS.get(self.parse)

    @property
    def expected(self) -> str:
        """What the flag takes, in words (for an error)."""
        return _EXPECTED.get(self.parse, "a value")


class Block:
    """Base of the options blocks: the ``SETTINGS`` given as keywords (the others keep their
    defaults), checked by ``check``, then immutable."""

    SETTINGS: tuple[Setting, ...] = ()

    def __init__(self, **given: Any) -> None:
        known = {setting.name for setting in self.SETTINGS}
        unknown = sorted(set(given) - known)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {unknown[0]!r}")
        for setting in self.SETTINGS:
            object.__setattr__(self, setting.name, given.get(setting.name, setting.default))
        self.check()

    def check(self) -> None:
        """Raise ``IrwuaError`` for a value the block does not accept; normalize the others."""

    def _normalize(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; make a new one")

    def values(self) -> dict[str, Any]:
        return {setting.name: getattr(self, setting.name) for setting in self.SETTINGS}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.values() == self.values()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.values().items())))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.values().items())
        return f"{type(self).__name__}({shown})"


class Named(str):
    """A setting's name inside a ``SettingError``'s message."""


class SettingError(IrwuaError):
    """A setting's value is refused. The message is made of ``parts``: text, and the settings
    it names (``Named``). It names the settings (``max_samples``); the command line words it
    again with its flags (``--max-samples``). Nothing in the parts is ever formatted, so a value
    from the user shows as given."""

    def __init__(self, *parts: str) -> None:
        super().__init__("".join(parts))
        self.parts = parts

    def worded(self, words: Callable[[str], str]) -> str:
        """The message with each setting named by ``words(setting)``."""
        return "".join(words(part) if isinstance(part, Named) else part for part in self.parts)


def _positive_whole(block: Block, *names: str) -> None:
    for name in names:
        value = getattr(block, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise SettingError(Named(name), f" must be a positive whole number, got {value!r}.")


def _positive(block: Block, *names: str) -> None:
    """Each setting ``names`` of ``block`` must be a positive, finite number."""
    for name in names:
        value = getattr(block, name)
        if not 0 < value < math.inf:
            raise SettingError(Named(name), f" must be a positive finite number, got {value!r}.")


class FlopsOptions(Block):
    """The ``flops`` pass: the training FLOPs estimate."""

    SETTINGS = (
        Setting(
            "train_samples",
            None,
            "training samples, for the training FLOPs estimate",
            "--samples",
            int,
        ),
        Setting(
            "epochs", 1, "epochs for the training estimate (default {default})", "--epochs", int
        ),
        Setting(
            "train_factor",
            3.0,
            "training FLOPs per forward FLOP (default {default:g}: forward + backward)",
            "--train-factor",
            float,
        ),
    )

    def check(self) -> None:
        _positive_whole(self, "train_samples", "epochs")
        _positive(self, "train_factor")
        defaults = {setting.name: setting.default for setting in self.SETTINGS}
        for name in ("epochs", "train_factor"):
            if self.train_samples is None and getattr(self, name) != defaults[name]:
                raise SettingError(
                    Named(name),
                    " is a setting of the training estimate, which needs ",
                    Named("train_samples"),
                    " (the number of training samples).",
                )


class StreamingOptions(Block):
    """How data streams through onnxruntime: the settings of every pass and command that runs
    the model on the data."""

    SETTINGS = (
        Setting(
            "batch_size", 64, "samples per onnxruntime run (default {default})", "--batch-size", int
        ),
        Setting(
            "max_samples", None, "use at most this many samples of the data", "--max-samples", int
        ),
        Setting("progress", True, "show a progress bar on long runs (on a terminal)"),
    )

    def check(self) -> None:
        _positive_whole(self, "batch_size", "max_samples")


class ActivationsOptions(StreamingOptions):
    """The ``activations`` pass: streaming only."""


class ImportanceOptions(Block):
    """The ``importance`` pass."""

    SETTINGS = (
        Setting(
            "norm",
            "l1",
            "importance: |w| x mean|x| (l1), |w| x rms(x) (l2, Wanda), or |w| (default {default})",
            "--norm",
            choices=NORMS,
        ),
        Setting(
            "save_importance",
            False,
            "also write importance.npz: every weight's importance, as large as the weights "
            "(importance_units.npz, the totals per unit, is always written)",
            "--save-importance",
            bool,
        ),
    )

    def check(self) -> None:
        if not isinstance(self.save_importance, bool):
            raise SettingError(
                Named("save_importance"), f" must be True or False, got {self.save_importance!r}."
            )
        if self.norm not in NORMS:
            raise SettingError(
                Named("norm"), f" must be one of {', '.join(NORMS)}, not {self.norm!r}."
            )


class MetricsOptions(Block):
    """The ``metrics`` pass: what counts as a low-contribution or a near-zero weight."""

    SETTINGS = (
        Setting(
            "low_share",
            0.1,
            "a weight is low-contribution below this fraction of the uniform share 1/N "
            "(default {default:g})",
            "--low-share",
            float,
        ),
        Setting(
            "near_zero",
            1e-3,
            "a weight is near zero below this fraction of its layer's largest |w| "
            "(default {default:g})",
            "--near-zero",
            float,
        ),
    )

    def check(self) -> None:
        _positive(self, "low_share", "near_zero")


class PathwaysOptions(Block):
    """The ``pathways`` pass."""

    SETTINGS = (
        Setting(
            "top_k",
            10,
            "pathways listed overall and per output unit (default {default})",
            "--top-k",
            int,
        ),
    )

    def check(self) -> None:
        _positive_whole(self, "top_k")


class PruningOptions(StreamingOptions):
    """The ``pruning`` pass: which sweeps run (``irwua.pruning.vocabulary`` says what the words
    mean). Criteria None: importance, magnitude and random globally, importance per layer."""

    SETTINGS = (
        *StreamingOptions.SETTINGS,
        Setting(
            "prune_ratios",
            DEFAULT_RATIOS,
            "pruning ratios to measure (default 0,0.1,...,0.9)",
            "--prune-ratios",
            _numbers,
        ),
        Setting(
            "prune_criteria",
            None,
            "importance, magnitude, random (default: all three globally, importance per layer)",
            "--prune-criteria",
            _names,
        ),
        Setting(
            "prune_scopes",
            DEFAULT_SWEEP_SCOPES,
            "global, uniform, owl, layer (default: global,layer)",
            "--prune-scopes",
            _names,
        ),
        Setting(
            "prune_granularity",
            GRANULARITIES,
            "unstructured, structured, or an N:M pattern such as 2:4 (default: the first two)",
            "--prune-granularity",
            _names,
        ),
        Setting(
            "prune_grouping",
            ("layer",),
            "unstructured weights compete per layer or per output unit (Wanda): layer, output "
            "(default: layer)",
            "--prune-grouping",
            _names,
        ),
        Setting(
            "prune_seed", 0, "seed of the random criterion (default {default})", "--prune-seed", int
        ),
        Setting(
            "prune_reconstruct",
            False,
            "also sweep each whole-model method with reconstruction: the kept weights of every "
            "layer updated to keep its outputs on the data (irwua.pruning.reconstruction)",
            "--prune-reconstruct",
            bool,
        ),
    )

    def check(self) -> None:
        super().check()
        given = self.prune_ratios
        try:
            ratios = tuple(sorted({float(r) for r in ((given,) if np.isscalar(given) else given)}))
        except (TypeError, ValueError):
            ratios = ()
        if not ratios or not all(0.0 <= r < 1.0 for r in ratios):
            raise SettingError(Named("prune_ratios"), f" must be numbers in [0, 1), got {given!r}.")
        self._normalize("prune_ratios", ratios)
        for name, known in (
            ("prune_criteria", CRITERIA),
            ("prune_scopes", SWEEP_SCOPES),
            ("prune_granularity", GRANULARITIES),
            ("prune_grouping", GROUPINGS),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            value = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
            valid = is_granularity if name == "prune_granularity" else set(known).__contains__
            if not value or not all(isinstance(v, str) and valid(v) for v in value):
                patterns = " or N:M patterns such as 2:4" if name == "prune_granularity" else ""
                raise SettingError(
                    Named(name), f" must name some of: {', '.join(known)}{patterns}; got {value}."
                )
            self._normalize(name, value)
        if not isinstance(self.prune_reconstruct, bool):
            raise SettingError(
                Named("prune_reconstruct"),
                f" must be True or False, got {self.prune_reconstruct!r}.",
            )
        if not isinstance(self.prune_seed, int) or self.prune_seed < 0:
            raise SettingError(
                Named("prune_seed"), f" must be a whole number >= 0, got {self.prune_seed!r}."
            )


_TOLERANCE = Setting(
    "tolerance",
    0.01,
    "agreement loss recommendations accept, as a share of the predictions (default {default:g})",
    "--tolerance",
    float,
)
"""How much a pruned or quantized model may change the predictions: shared by the blocks that
decide with it."""


def _check_tolerance(block: Block) -> None:
    if not 0.0 < block.tolerance < 1.0:
        raise SettingError(Named("tolerance"), f" must be in (0, 1), got {block.tolerance!r}.")


class QuantizationOptions(StreamingOptions):
    """The ``quantization`` pass: the modes measured (``irwua.quantization.copies``) and the
    tolerance that decides which layers stay in float."""

    SETTINGS = (
        *StreamingOptions.SETTINGS,
        Setting(
            "quant_modes",
            QUANT_MODES,
            "int8 modes to measure: dynamic, static (default: both)",
            "--quant-modes",
            _names,
        ),
        _TOLERANCE,
    )

    def check(self) -> None:
        super().check()
        modes = self.quant_modes
        modes = (modes,) if isinstance(modes, str) else tuple(dict.fromkeys(modes))
        if not modes or not set(modes) <= set(QUANT_MODES):
            raise SettingError(
                Named("quant_modes"), f" must name some of: {', '.join(QUANT_MODES)}; got {modes}."
            )
        self._normalize("quant_modes", modes)
        _check_tolerance(self)


class RecommendationsOptions(Block):
    """The ``recommendations`` pass."""

    SETTINGS = (_TOLERANCE,)

    def check(self) -> None:
        _check_tolerance(self)


BLOCKS: tuple[type[Block], ...] = (
    FlopsOptions,
    ActivationsOptions,
    ImportanceOptions,
    MetricsOptions,
    PathwaysOptions,
    PruningOptions,
    QuantizationOptions,
    RecommendationsOptions,
)
"""Every options block; a setting shared by two blocks (streaming) is one setting."""


def settings() -> Iterator[Setting]:
    """Every setting of every block, each name once."""
    seen: set[str] = set()
    for block in BLOCKS:
        for setting in block.SETTINGS:
            if setting.name not in seen:
                seen.add(setting.name)
                yield setting


class Options:
    """Settings that passes read: every block's settings, given as keywords and read as
    attributes; each pass gets its own block (``block``). Immutable, like the blocks."""

    __slots__ = ("_blocks",)

    def __init__(self, **given: Any) -> None:
        unknown = sorted(set(given) - {setting.name for setting in settings()})
        if unknown:
            raise TypeError(f"Options has no setting {unknown[0]!r}")
        blocks = {
            block: block(**{s.name: given[s.name] for s in block.SETTINGS if s.name in given})
            for block in BLOCKS
        }
        object.__setattr__(self, "_blocks", blocks)

    def block(self, kind: type[Block]) -> Block:
        """The options block ``kind`` (one of ``BLOCKS``)."""
        return self._blocks[kind]

    def __getattr__(self, name: str) -> Any:
        if name == "_blocks":
            raise AttributeError(name)
        for block in self._blocks.values():
            if any(setting.name == name for setting in block.SETTINGS):
                return getattr(block, name)
        raise AttributeError(f"Options has no setting {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Options are immutable; make new ones")

    def __reduce__(self) -> tuple[Any, ...]:
        return (functools.partial(Options, **self.as_dict()), ())

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name."""
        return {setting.name: getattr(self, setting.name) for setting in settings()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Options) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().items()))

    def __repr__(self) -> str:
        changed = [
            f"{setting.name}={getattr(self, setting.name)!r}"
            for setting in settings()
            if getattr(self, setting.name) != setting.default
        ]
        return f"Options({', '.join(changed)})"
