"""The sections of the HTML report, in the order the page shows them: each one module here and
one template in ``templates/sections``. A new section is a module, a template and a line below."""

from irwua.report.sections import (
    details,
    diagrams,
    flops,
    layers,
    metrics,
    pathways,
    provenance,
    pruning,
    quantization,
    recommendations,
    summary,
    verdict,
)
from irwua.report.sections.section import Report, Section

SECTIONS: tuple[Section, ...] = (
    verdict.SECTION,
    summary.SECTION,
    flops.SECTION,
    metrics.SECTION,
    layers.SECTION,
    details.SECTION,
    diagrams.SECTION,
    pathways.SECTION,
    pruning.SECTION,
    quantization.SECTION,
    recommendations.SECTION,
    provenance.SECTION,
)

__all__ = ["SECTIONS", "Report", "Section"]
