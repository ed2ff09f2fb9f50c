"""What irwua knows about each ONNX op type: the registry (``registry``) and its entries
(``catalog``, registered when this package is imported)."""

from irwua.ops import catalog as _catalog  # noqa: F401  (registers the ONNX ops)
from irwua.ops.registry import (
    REGISTRY,
    Category,
    OpInfo,
    QuantizedLayout,
    QuantizedOperand,
    category_of,
    op_info,
    register,
)

__all__ = [
    "REGISTRY",
    "Category",
    "OpInfo",
    "QuantizedLayout",
    "QuantizedOperand",
    "category_of",
    "op_info",
    "register",
]
