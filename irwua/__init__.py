"""irwua: how a trained neural network uses its weights.

Every model becomes ONNX, ONNX becomes a layer graph, and analysis passes run over that graph::

    import irwua
    analysis = irwua.analyze("model.onnx", passes=["flops"])
    analysis.print_report()
    analysis.save("irwua-report")
"""

from irwua.analysis import Analysis, analyze
from irwua.errors import IrwuaError
from irwua.options import Options
from irwua.passes import available_passes
from irwua.version import __version__

__all__ = [
    "Analysis",
    "Comparison",
    "IrwuaError",
    "Options",
    "Tracker",
    "__version__",
    "analyze",
    "apply_pruning",
    "available_passes",
    "compare",
    "prune_model",
    "quantize_model",
]

_LAZY = {
    "compare": "irwua.comparison",
    "Comparison": "irwua.comparison",
    "Tracker": "irwua.tracking",
    "prune_model": "irwua.pruner",
    "apply_pruning": "irwua.pruning.torch_modules",
    "quantize_model": "irwua.quantizer",
}
"""Public names imported on first use, so that ``import irwua`` stays quick for the CLI."""


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'irwua' has no attribute {name!r}")
