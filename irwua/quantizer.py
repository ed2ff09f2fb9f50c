"""``quantize_model()``: an int8 copy of a model, measured against the original (``irwua
quantize``).

The copy is made by onnxruntime's quantization tools (``irwua.quantization.copies``: ``dynamic``
or ``static`` QDQ calibrated on the data). ``keep_float="auto"`` first runs the quantization
pass for that mode and leaves in float the layers whose quantization alone moves the outputs
beyond the tolerance; a list names them instead. Both models are measured as ``irwua.derived``
measures them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from irwua.analysis import analyze
from irwua.derived import Derived, measured
from irwua.errors import IrwuaError
from irwua.options import Named, Options, SettingError
from irwua.pruning.scores import prunable_layers
from irwua.quantization.copies import Calibration, is_quantized, prepared, quantized
from irwua.quantization.vocabulary import MODES


@dataclass(frozen=True, kw_only=True)
class Quantized(Derived):
    """An int8 model, what both models cost, and its fidelity to the original; ``keep_float``:
    the layers left in float."""

    mode: str
    keep_float: tuple[str, ...]

    def summary(self) -> str:
        """Both models' costs side by side, and the fidelity."""
        from irwua.report.text import quantized_text

        return quantized_text(self)


def quantize_model(
    model: Any,
    data: Any,
    mode: str = "static",
    keep_float: str | Sequence[str] | None = "auto",
    labels: Any = None,
    options: Options | None = None,
    framework: str | None = None,
    trust_code: bool = False,
) -> Quantized:
    """Quantize ``model`` to int8 in ``mode`` ("static" or "dynamic") and measure the result on
    ``data`` (which also calibrates static ranges).

    ``keep_float``: "auto" (the layers the quantization pass finds beyond ``options.tolerance``,
    measured one at a time), a list of layer names, or None (every layer quantized). ``labels``
    add accuracy; ``options`` (batch_size, max_samples, tolerance), ``framework`` and
    ``trust_code`` are as for ``analyze()``.
    """
    if data is None:
        raise IrwuaError("Quantization needs data: the int8 model is measured on it (--data).")
    if mode not in MODES:
        raise SettingError(Named("mode"), f" must be one of {', '.join(MODES)}, not {mode!r}.")
    options = options or Options()
    auto = isinstance(keep_float, str)
    if auto and keep_float != "auto":
        raise SettingError(
            Named("keep_float"), f" must be 'auto' or a list of layers, not {keep_float!r}."
        )
    passes = ["flops", "quantization"] if auto else ["flops"]
    scoped = Options(**{**options.as_dict(), "quant_modes": (mode,)})
    analysis = analyze(
        model,
        data,
        passes=passes,
        options=scoped,
        framework=framework,
        trust_code=trust_code,
        labels=labels,
    )
    graph = analysis.graph
    layers = {layer.name: layer.nodes for layer in prunable_layers(graph)}
    if auto:
        kept = analysis["quantization"].modes[mode].keep_float
    else:
        kept = tuple(keep_float or ())
        unknown = [name for name in kept if name not in layers]
        if unknown:
            listed = ", ".join(f"'{name}'" for name in list(layers)[:30])
            raise IrwuaError(f"'{unknown[0]}' is not one of the weighted layers: {listed}.")
    nodes = None if not kept else [n for name, ns in layers.items() if name not in kept for n in ns]
    if nodes == []:
        raise IrwuaError("Every weighted layer is kept in float: there is nothing to quantize.")
    proto = prepared(graph)
    with Calibration(analysis.dataset.limit(options.max_samples)) as calibration:
        copy = quantized(proto, mode, nodes, calibration)
    if not is_quantized(copy):
        raise IrwuaError(
            f"onnxruntime's {mode} quantization found no op of this model to quantize."
        )
    notes = tuple(f"'{name}' stays in float" for name in kept)
    return Quantized(
        mode=mode, keep_float=kept, notes=notes, **measured(analysis, copy, options, "quantized")
    )
