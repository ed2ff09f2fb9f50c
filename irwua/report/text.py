"""Everything irwua prints in a terminal: the summary of an analysis (each report section's
lines, in page order), the table of a comparison and the before/after of a pruned model. Text
from the model (names, notes) is made printable: it cannot move the cursor or forge a line."""

from __future__ import annotations

from irwua.printable import printable, printable_strings
from irwua.report.formatting import (
    format_value,
    human,
    human_bytes,
    percent,
    shortened,
    spread,
)
from irwua.report.protocol import (
    AnalysisLike,
    ComparisonLike,
    DerivedLike,
    PrunedLike,
    QuantizedLike,
)
from irwua.report.sections import SECTIONS
from irwua.version import __version__

NAME_WIDTH = 24
"""Characters of a model's name shown in a comparison's column."""


def analysis_text(analysis: AnalysisLike) -> str:
    """The terminal summary of ``irwua analyze`` and ``Analysis.print_report()``; every string
    taken from the model is made printable (``irwua.printable``)."""
    document = printable_strings(analysis.document)
    return "\n".join(line for section in SECTIONS for line in section.text(document))


def comparison_text(comparison: ComparisonLike) -> str:
    """A table: one row per compared quantity, one column per model."""
    names = [shortened(printable(model.name), NAME_WIDTH) for model in comparison.models]
    width = max(12, *(len(name) for name in names))
    label_width = max(len(column.label) for column in comparison.columns)
    source = f"{comparison.samples} samples" + (" with labels" if comparison.labels else "")
    lines = [
        f"irwua {__version__} - {len(comparison.models)} models on {source}; "
        f"baseline: {printable(comparison.baseline.name)}",
        f"  {'':<{label_width}}  " + "  ".join(f"{name:>{width}}" for name in names),
    ]
    for column in comparison.columns:
        cells = [format_value(model.value(column), column.kind) for model in comparison.models]
        lines.append(
            f"  {column.label:<{label_width}}  " + "  ".join(f"{cell:>{width}}" for cell in cells)
        )
    return "\n".join(lines)


def pruned_text(pruned: PrunedLike) -> str:
    """Both models' costs side by side, and the pruned model's fidelity."""
    title = f"pruned {pruned.ratio:.0%} of the weights ({pruned.method.describe()})"
    lines = _before_after(pruned, title)
    if not pruned.method.structured:
        lines.append("  zeroed weights keep dense FLOPs and latency; sparse kernels gain")
    lines += [f"  {printable(note)}" for note in pruned.notes]
    return "\n".join(lines)


def quantized_text(model: QuantizedLike) -> str:
    """Both models' costs side by side, and the int8 model's fidelity."""
    count = len(model.keep_float)
    kept = f", {count} layer{'s' if count > 1 else ''} in float" if count else ""
    lines = _before_after(model, f"quantized to int8 ({model.mode}{kept})")
    lines += [f"  {printable(note)}" for note in model.notes]
    return "\n".join(lines)


def _before_after(model: DerivedLike, title: str) -> list[str]:
    b, a = model.before, model.after
    rows = [
        ("parameters", human(b.params), human(a.params)),
        ("non-zero parameters", human(b.nonzero), human(a.nonzero)),
        ("FLOPs / sample", human(b.flops), human(a.flops)),
        ("file size", human_bytes(b.bytes), human_bytes(a.bytes)),
        (f"latency (batch {model.batch})", spread(*b.latency[:3]), spread(*a.latency[:3])),
    ]
    fidelity = model.fidelity
    lines = [
        f"{title} - measured on {fidelity.samples} samples",
        f"  {'':<22}{'before':>16}{'after':>16}",
        *(f"  {label:<22}{old:>16}{new:>16}" for label, old, new in rows),
        f"  relative output error {fidelity.relative_error:.4g}, top-1 agreement "
        f"{percent(fidelity.agreement)}",
    ]
    if fidelity.accuracy is not None:
        lines.append(
            f"  accuracy {percent(model.baseline_accuracy)} -> {percent(fidelity.accuracy)}"
        )
    lines.append(
        f"  latency: median ± half the interquartile range of {b.latency.runs} runs of each "
        "model, interleaved"
    )
    return lines
