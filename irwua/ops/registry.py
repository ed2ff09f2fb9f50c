"""The op registry: one entry per ONNX op type with everything irwua knows about it.

An ``OpInfo`` says what kind of op it is (``Category``), from which default-domain opset it
exists, which inputs carry data, what it costs per element, what its output's sign is, whether
it is a layer when it reads a learned tensor (and at which inputs), and the operand layout of the
quantized ops. The concerns that act per op (shape rules, constant folding, FLOP formulas, unit
flow, activation capture, layer recognition) take their membership from here; each may keep its
own table of functions for the ops it treats one by one, and ``tests/test_ops_registry.py``
checks that every op such a table names is registered and that the categories agree with ONNX's
schemas.

``catalog`` registers the ONNX ops; ``register`` adds one more (an op of a newer opset): an
elementwise activation needs one line, ``register(OpInfo("Swish", Category.ACTIVATION,
since=24, flops=4))``. Registering a name twice is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class Category:
    """What an op does, as far as irwua's concerns tell ops apart: the categories, as strings.
    (A namespace of constants rather than an ``enum.Enum``, whose class costs more to create on
    every start of the command line than all the registry's entries.)"""

    ACTIVATION = "activation"
    """Elementwise nonlinearity of one data input (Relu, Gelu, Clip): same shape and dtype."""
    UNARY = "unary"
    """Elementwise math of one input (Abs, Exp, Sin, Not): same shape."""
    BITWISE = "bitwise"
    """Integer bit operations (BitShift, BitwiseAnd)."""
    BROADCAST = "broadcast"
    """Arithmetic of inputs broadcast together (Add, Mul, Max, Sum)."""
    COMPARISON = "comparison"
    """Comparisons and logic of inputs broadcast together, giving booleans (Equal, And)."""
    SELECT = "select"
    """Elementwise choice between inputs by a condition (Where)."""
    SOFTMAX = "softmax"
    """Normalization along one axis (Softmax, LogSoftmax, Hardmax): same shape."""
    NORMALIZATION = "normalization"
    """Normalization by statistics (BatchNormalization, LayerNormalization, LRN)."""
    POOLING = "pooling"
    """A window slid over the spatial axes (MaxPool, AveragePool)."""
    GLOBAL_POOLING = "global_pooling"
    """Every spatial position of each channel pooled into one (GlobalAveragePool)."""
    REDUCTION = "reduction"
    """Reduce* over ``axes`` (an input from opset 18, ReduceSum 13), ``keepdims``."""
    SEARCH = "search"
    """Positions or values found by order (ArgMax, TopK, NonMaxSuppression, Unique)."""
    RESHAPE = "reshape"
    """The same elements in another shape (Reshape, Flatten, Squeeze, Unsqueeze)."""
    IDENTITY = "identity"
    """The same values, maybe in another element type (Identity, Dropout at inference, Cast)."""
    DATA_MOVEMENT = "data_movement"
    """Elements moved, selected or repeated (Transpose, Concat, Slice, Gather, Pad)."""
    RESIZE = "resize"
    """Spatial resampling (Resize, Upsample)."""
    SHAPE = "shape"
    """A tensor's shape or size, not its values (Shape, Size)."""
    CREATION = "creation"
    """A tensor made from attributes or a shape, not from input values (Constant, Range)."""
    QUANTIZATION = "quantization"
    """Conversion between real and quantized integer values (QuantizeLinear)."""
    WEIGHTED = "weighted"
    """Matrix-like ops: convolutions, matrix products, recurrent cells, their quantized forms."""
    CONTROL_FLOW = "control_flow"
    """Ops that run subgraphs (If, Loop, Scan)."""
    SEQUENCE = "sequence"
    """Sequence and optional values (SequenceAt, OptionalGetElement)."""
    OTHER = "other"
    """Anything else irwua knows the cost of (CumSum, MaxRoiPool)."""


class QuantizedOperand(NamedTuple):
    """One integer operand of a quantized op: input indices of the tensor, its scale (None:
    integer units) and zero point (None: 0), and the axis a per-channel scale or zero point
    runs along (-1: the last)."""

    tensor: int
    scale: int | None
    zero: int | None
    axis: int


class QuantizedLayout(NamedTuple):
    """Where a quantized op keeps its operands: the left and right multiplicands, which of them
    may be a constant weight (tried in this order), and the input index of an int32 bias
    quantized with the product of the two scales (None: no bias input)."""

    operands: tuple[QuantizedOperand, QuantizedOperand]
    weight_operands: tuple[int, ...]
    bias: int | None = None


class OpInfo(NamedTuple):
    """Everything irwua knows about one ONNX op type of the default domain.

    ``since``: the first default-domain opset that has the op. ``data_inputs``: how many
    leading inputs carry data (the rest are parameters: shapes, axes, bounds); None: all.
    ``flops``: FLOPs per output element, and ``flops_per_input`` per input element (reductions);
    ``flops`` None means the op's cost needs a formula (``irwua.passes.op_costs``).
    ``nonnegative``: the output is never negative. ``selects``: each output element is an input
    element or an average of some, so the output is non-negative when the data inputs are.
    ``layer``: the layer kind (``irwua.ir.graph.Layer.kind``) of a node that reads a learned
    tensor; ``roles``: the input index of each learned tensor at a fixed position (weight, bias,
    R, mean, var). ``gates``: the gates of a recurrent cell. ``quantized``: the operand layout
    of a quantized op.
    """

    name: str
    category: str
    """One of the ``Category`` constants."""
    since: int = 1
    data_inputs: int | None = None
    flops: int | None = None
    flops_per_input: int = 0
    nonnegative: bool = False
    selects: bool = False
    layer: str | None = None
    roles: tuple[tuple[str, int], ...] = ()
    gates: int | None = None
    quantized: QuantizedLayout | None = None

    def data(self, inputs: tuple[str, ...]) -> tuple[str, ...]:
        """The data inputs among a node's ``inputs``."""
        return inputs if self.data_inputs is None else inputs[: self.data_inputs]


_REGISTRY: dict[str, OpInfo] = {}

REGISTRY: Mapping[str, OpInfo] = MappingProxyType(_REGISTRY)
"""Every registered op by op type (read-only; ``register`` adds to it)."""


def register(info: OpInfo) -> OpInfo:
    """Add ``info`` to the registry; an op type registered twice is an error."""
    if info.name in _REGISTRY:
        raise ValueError(f"op {info.name!r} is registered twice")
    _REGISTRY[info.name] = info
    return info


def op_info(op_type: str, domain: str = "") -> OpInfo | None:
    """The entry of a default-domain op type, None for unknown ops and other domains."""
    return None if domain else _REGISTRY.get(op_type)


def category_of(op_type: str, domain: str = "") -> str | None:
    """The category of an op (None: not registered, or another domain)."""
    info = op_info(op_type, domain)
    return None if info is None else info.category
