"""irwua: how a trained neural network uses its weights.

Every model becomes ONNX, ONNX becomes a layer graph, and analysis passes run over that graph::

    import irwua
    analysis = irwua.analyze("model.onnx", passes=["flops"])
    analysis.print_report()
    analysis.save("irwua-report")
"""

__version__ = "0.1.0"

from irwua.analysis import Analysis, analyze
from irwua.compare import Comparison, compare
from irwua.errors import IrwuaError
from irwua.pipeline import Options, available_passes
from irwua.tracking import Tracker

__all__ = [
    "Analysis",
    "Comparison",
    "IrwuaError",
    "Options",
    "Tracker",
    "__version__",
    "analyze",
    "available_passes",
    "compare",
]
