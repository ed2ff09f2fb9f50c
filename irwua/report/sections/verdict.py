"""The verdict: the page's first section, the answers to the questions users open it with, one
sentence each, worst first, each linked to its evidence further down. Is the model oversized
(weight usage), what does it cost (parameters, MACs, FLOPs, memory), what can go (measured
pruning, narrower layers, units never active)? A question whose pass did not run is named with
the flags that answer it."""

from __future__ import annotations

from typing import Any

from irwua.passes.recommendations import dead_units_text
from irwua.report.formatting import human, human_bytes, percent
from irwua.report.sections.section import Document, Report, Section

SEVERITY_ORDER = ("warning", "headline", "suggestion", "info")
"""Findings in this order: warnings, the whole-model pruning answer, per-layer suggestions,
other facts."""

SHOWN_FINDINGS = 6
"""Findings the verdict lists; the recommendations section has them all."""


class Verdict(Section):
    key = "verdict"
    title = "Verdict"

    def view(self, report: Report) -> dict[str, Any]:
        document = report.analysis.document
        anchors = {entry["name"]: layer_anchor(i) for i, entry in enumerate(document["layers"])}
        recommended = _recommended(document, anchors)
        findings = recommended + _usage(document, headline=not recommended)
        findings += _quantization(document)
        if not recommended:
            findings += _dead_units(document, anchors)
        findings.sort(key=lambda finding: SEVERITY_ORDER.index(finding["severity"]))
        return {
            "findings": findings[:SHOWN_FINDINGS],
            "more": max(len(findings) - SHOWN_FINDINGS, 0),
            "more_at": "#recommendations" if recommended else "#details",
            "cost": _cost(document),
            "missing": _not_measured(document),
        }


def layer_anchor(index: int) -> str:
    """The id of a layer's entry in the layer details (by position: ids never hold names)."""
    return f"layer-{index}"


def _recommended(document: Document, anchors: dict[str, str]) -> list[dict[str, str]]:
    """The recommendations pass's items, the whole-model pruning one as the headline."""
    findings = []
    for item in document.get("recommendations", {}).get("items", []):
        layer = item.get("layer")
        severity = item["severity"]
        if item.get("topic") == "whole_model":
            severity = "headline"
        href = f"#{anchors[layer]}" if layer in anchors else "#pruning"
        findings.append({"severity": severity, "text": item["text"], "href": href})
    return findings


def _usage(document: Document, headline: bool) -> list[dict[str, str]]:
    """How much of the weights the model uses, from the metrics pass (none without it)."""
    totals = document["totals"]
    if totals.get("utilization") is None:
        return []
    source = f"on {totals['samples']} samples" if totals.get("data") else "by weight magnitude"
    text = (
        f"{percent(totals['utilization'], 0)} of the weights are effectively used "
        f"({human(totals['effective_params'])} of {human(totals['scored_weights'])}, {source}): "
        f"the compression potential is {percent(totals['compression_potential'], 0)}."
    )
    return [{"severity": "headline" if headline else "info", "text": text, "href": "#metrics"}]


def _quantization(document: Document) -> list[dict[str, str]]:
    """How int8 fares, per mode the quantization pass measured (none without it)."""
    section = document.get("quantization")
    if not section or not section.get("ran"):
        return []
    findings = []
    for mode in section.get("modes", []):
        whole = mode.get("whole")
        if whole is None:
            continue
        shares = (
            f"{percent(whole['agreement'])} top-1 agreement"
            if whole.get("agreement") is not None
            else f"relative output error {whole['relative_error']:.3g}"
        )
        size = f"{human_bytes(section['float_bytes'])} -> {human_bytes(mode['bytes'])}"
        keep = mode.get("keep_float") or []
        advice = (
            f"; keep {', '.join(repr(name) for name in keep)} in float"
            if keep
            else "; no layer needs to stay in float"
        )
        findings.append(
            {
                "severity": "info",
                "text": f"int8 ({mode['mode']}) keeps {shares}, {size}{advice} "
                f"(irwua quantize --mode {mode['mode']} writes it).",
                "href": "#quantization",
            }
        )
    return findings


def _dead_units(document: Document, anchors: dict[str, str]) -> list[dict[str, str]]:
    """The layers with output units never active on the data, from the metrics pass."""
    findings = []
    for entry in document["layers"]:
        dead = entry.get("metrics", {}).get("dead_units")
        if dead:
            findings.append(
                {
                    "severity": "suggestion",
                    "text": dead_units_text(entry["name"], dead),
                    "href": f"#{anchors[entry['name']]}",
                }
            )
    return findings


def _cost(document: Document) -> str | None:
    """What one sample costs, in one sentence (None without the flops pass)."""
    if "flops" not in document:
        return None
    totals = document["totals"]
    return (
        f"Each sample costs {human(totals['macs'])} MACs ({human(totals['flops'])} FLOPs) over "
        f"{human(totals['params'])} parameters ({human_bytes(totals['weight_bytes'])} of "
        f"weights) and {human_bytes(totals['activation_bytes'])} of activations."
    )


def _not_measured(document: Document) -> list[str]:
    """The questions the analysis left open, each with what answers it."""
    totals = document["totals"]
    open_questions = []
    if "utilization" not in totals:
        open_questions.append(
            "Which weights the model uses: not measured; the metrics pass answers it "
            "(--passes metrics, with --data FILE to weigh weights by their inputs)."
        )
    elif not totals.get("data"):
        open_questions.append(
            "Weight usage is from weight magnitudes only: give --data FILE to weigh each weight "
            "by the inputs it meets."
        )
    pruning = document.get("pruning")
    if pruning is None:
        open_questions.append(
            "How much can be pruned, and at what accuracy: not measured; "
            "--passes recommendations with --data FILE (and --labels FILE) measures it."
        )
    elif not pruning.get("sweeps"):
        reason = pruning.get("note") or "no sweep ran"
        open_questions.append(f"How much can be pruned: not measured ({reason}).")
    if "pathways" not in document:
        open_questions.append(
            "Which pathways carry the decisions: not computed; --passes pathways finds them."
        )
    return open_questions


SECTION = Verdict()
