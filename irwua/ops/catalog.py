"""The ONNX ops irwua knows, one line each (see ``irwua.ops.registry`` for the fields).

FLOPs per element follow the convention of ``irwua.passes.op_costs``: an op that only moves,
selects or creates data costs 0, and an op whose ``flops`` is missing has a formula there.
"""

from __future__ import annotations

from irwua.ops.registry import Category, OpInfo, QuantizedLayout, QuantizedOperand, register

ACTIVATION = Category.ACTIVATION
BITWISE = Category.BITWISE
BROADCAST = Category.BROADCAST
COMPARISON = Category.COMPARISON
CONTROL_FLOW = Category.CONTROL_FLOW
CREATION = Category.CREATION
DATA_MOVEMENT = Category.DATA_MOVEMENT
GLOBAL_POOLING = Category.GLOBAL_POOLING
IDENTITY = Category.IDENTITY
NORMALIZATION = Category.NORMALIZATION
OTHER = Category.OTHER
POOLING = Category.POOLING
QUANTIZATION = Category.QUANTIZATION
REDUCTION = Category.REDUCTION
RESHAPE = Category.RESHAPE
RESIZE = Category.RESIZE
SEARCH = Category.SEARCH
SELECT = Category.SELECT
SEQUENCE = Category.SEQUENCE
SHAPE = Category.SHAPE
SOFTMAX = Category.SOFTMAX
UNARY = Category.UNARY
WEIGHTED = Category.WEIGHTED

_WEIGHT_BIAS = (("weight", 1), ("bias", 2))
"""A conv's weight and bias; a normalization's scale (its weight) and shift."""
_NORM_STATS = (("weight", 1), ("bias", 2), ("mean", 3), ("var", 4))
_RECURRENT = (("weight", 1), ("R", 2), ("bias", 3))

_QLINEAR_CONV = QuantizedLayout(
    (QuantizedOperand(0, 1, 2, 1), QuantizedOperand(3, 4, 5, 0)), weight_operands=(1,), bias=8
)
"""x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, bias (int32, scale x_scale*w_scale)."""
_CONV_INTEGER = QuantizedLayout(
    (QuantizedOperand(0, None, 2, 1), QuantizedOperand(1, None, 3, 0)), weight_operands=(1,)
)
"""x, w, x_zero, w_zero: integer units."""
_QLINEAR_MATMUL = QuantizedLayout(
    (QuantizedOperand(0, 1, 2, 0), QuantizedOperand(3, 4, 5, -1)), weight_operands=(1, 0)
)
"""a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero."""
_MATMUL_INTEGER = QuantizedLayout(
    (QuantizedOperand(0, None, 2, 0), QuantizedOperand(1, None, 3, -1)), weight_operands=(1, 0)
)
"""a, b, a_zero, b_zero: integer units."""

OPS = (
    # activation: Activations: elementwise nonlinearities, FLOPs per element.
    OpInfo("Relu", ACTIVATION, flops=1, nonnegative=True),
    OpInfo("LeakyRelu", ACTIVATION, flops=1),
    OpInfo("PRelu", ACTIVATION, data_inputs=1, flops=1, layer="elementwise"),
    OpInfo("Elu", ACTIVATION, flops=2),
    OpInfo("Selu", ACTIVATION, flops=3),
    OpInfo("Celu", ACTIVATION, since=12, flops=3),
    OpInfo("Gelu", ACTIVATION, since=20, flops=5),
    OpInfo("Sigmoid", ACTIVATION, flops=3, nonnegative=True),
    OpInfo("HardSigmoid", ACTIVATION, flops=3, nonnegative=True),
    OpInfo("HardSwish", ACTIVATION, since=14, flops=4),
    OpInfo("Mish", ACTIVATION, since=18, flops=4),
    OpInfo("Softplus", ACTIVATION, flops=2, nonnegative=True),
    OpInfo("Softsign", ACTIVATION, flops=2),
    OpInfo("Tanh", ACTIVATION, flops=1),
    OpInfo("ThresholdedRelu", ACTIVATION, since=10, flops=1),
    OpInfo("Clip", ACTIVATION, data_inputs=1, flops=1),
    OpInfo("Shrink", ACTIVATION, since=9, flops=2),
    # unary: Elementwise math: one FLOP per element.
    OpInfo("Abs", UNARY, flops=1, nonnegative=True),
    OpInfo("Neg", UNARY, flops=1),
    OpInfo("Reciprocal", UNARY, flops=1),
    OpInfo("Sqrt", UNARY, flops=1),
    OpInfo("Exp", UNARY, flops=1, nonnegative=True),
    OpInfo("Log", UNARY, flops=1),
    OpInfo("Erf", UNARY, since=9, flops=1),
    OpInfo("Sin", UNARY, since=7, flops=1),
    OpInfo("Cos", UNARY, since=7, flops=1),
    OpInfo("Tan", UNARY, since=7, flops=1),
    OpInfo("Asin", UNARY, since=7, flops=1),
    OpInfo("Acos", UNARY, since=7, flops=1),
    OpInfo("Atan", UNARY, since=7, flops=1),
    OpInfo("Sinh", UNARY, since=9, flops=1),
    OpInfo("Cosh", UNARY, since=9, flops=1),
    OpInfo("Asinh", UNARY, since=9, flops=1),
    OpInfo("Acosh", UNARY, since=9, flops=1),
    OpInfo("Atanh", UNARY, since=9, flops=1),
    OpInfo("Floor", UNARY, flops=1),
    OpInfo("Ceil", UNARY, flops=1),
    OpInfo("Round", UNARY, since=11, flops=1),
    OpInfo("Sign", UNARY, since=9, flops=1),
    OpInfo("Not", UNARY, flops=1),
    OpInfo("IsNaN", UNARY, since=9, flops=1),
    OpInfo("IsInf", UNARY, since=10, flops=1),
    # bitwise
    OpInfo("BitShift", BITWISE, since=11, flops=1),
    OpInfo("BitwiseAnd", BITWISE, since=18, flops=1),
    OpInfo("BitwiseOr", BITWISE, since=18, flops=1),
    OpInfo("BitwiseXor", BITWISE, since=18, flops=1),
    OpInfo("BitwiseNot", BITWISE, since=18, flops=1),
    # broadcast: Sum, Max, Min and Mean of n inputs cost n - 1 (Mean: n) per element: a formula.
    OpInfo("Add", BROADCAST, flops=1, layer="elementwise"),
    OpInfo("Sub", BROADCAST, flops=1, layer="elementwise"),
    OpInfo("Mul", BROADCAST, flops=1, layer="elementwise"),
    OpInfo("Div", BROADCAST, flops=1, layer="elementwise"),
    OpInfo("Pow", BROADCAST, flops=1),
    OpInfo("Mod", BROADCAST, since=10, flops=1),
    OpInfo("Max", BROADCAST),
    OpInfo("Min", BROADCAST),
    OpInfo("Sum", BROADCAST),
    OpInfo("Mean", BROADCAST),
    # comparison
    OpInfo("Equal", COMPARISON, flops=1),
    OpInfo("Greater", COMPARISON, flops=1),
    OpInfo("Less", COMPARISON, flops=1),
    OpInfo("GreaterOrEqual", COMPARISON, since=12, flops=1),
    OpInfo("LessOrEqual", COMPARISON, since=12, flops=1),
    OpInfo("And", COMPARISON, flops=1),
    OpInfo("Or", COMPARISON, flops=1),
    OpInfo("Xor", COMPARISON, flops=1),
    # select
    OpInfo("Where", SELECT, since=9, flops=1),
    # softmax: max, subtract, exp, sum, divide: 5 FLOPs per element.
    OpInfo("Softmax", SOFTMAX, flops=5, nonnegative=True),
    OpInfo("LogSoftmax", SOFTMAX, flops=5),
    OpInfo("Hardmax", SOFTMAX, flops=2),
    # normalization: BatchNormalization at inference: one scale, one shift. The others: formulas.
    OpInfo("BatchNormalization", NORMALIZATION, flops=2, layer="norm", roles=_NORM_STATS),
    OpInfo("LayerNormalization", NORMALIZATION, since=17, layer="norm", roles=_WEIGHT_BIAS),
    OpInfo("InstanceNormalization", NORMALIZATION, layer="norm", roles=_WEIGHT_BIAS),
    OpInfo("GroupNormalization", NORMALIZATION, since=18, layer="norm", roles=_WEIGHT_BIAS),
    OpInfo("LpNormalization", NORMALIZATION),
    OpInfo("MeanVarianceNormalization", NORMALIZATION, since=9),
    OpInfo("LRN", NORMALIZATION),
    # pooling: kernel elements per output element: a formula.
    OpInfo("MaxPool", POOLING, selects=True),
    OpInfo("AveragePool", POOLING, selects=True),
    OpInfo("LpPool", POOLING),
    # global_pooling
    OpInfo("GlobalAveragePool", GLOBAL_POOLING, flops=1, flops_per_input=1, selects=True),
    OpInfo("GlobalMaxPool", GLOBAL_POOLING, flops=0, flops_per_input=1, selects=True),
    OpInfo("GlobalLpPool", GLOBAL_POOLING, flops=1, flops_per_input=2),
    # reduction
    OpInfo("ReduceSum", REDUCTION, data_inputs=1, flops=0, flops_per_input=1),
    OpInfo("ReduceMax", REDUCTION, data_inputs=1, flops=0, flops_per_input=1),
    OpInfo("ReduceMin", REDUCTION, data_inputs=1, flops=0, flops_per_input=1),
    OpInfo("ReduceProd", REDUCTION, data_inputs=1, flops=0, flops_per_input=1),
    OpInfo("ReduceL1", REDUCTION, data_inputs=1, flops=0, flops_per_input=2),
    OpInfo("ReduceMean", REDUCTION, data_inputs=1, flops=1, flops_per_input=1),
    OpInfo("ReduceSumSquare", REDUCTION, data_inputs=1, flops=0, flops_per_input=2),
    OpInfo("ReduceL2", REDUCTION, data_inputs=1, flops=1, flops_per_input=2),
    OpInfo("ReduceLogSum", REDUCTION, data_inputs=1, flops=1, flops_per_input=1),
    OpInfo("ReduceLogSumExp", REDUCTION, data_inputs=1, flops=1, flops_per_input=2),
    # search
    OpInfo("ArgMax", SEARCH, flops=0, flops_per_input=1),
    OpInfo("ArgMin", SEARCH, flops=0, flops_per_input=1),
    OpInfo("TopK", SEARCH, data_inputs=1, flops=0, flops_per_input=1),
    OpInfo("NonMaxSuppression", SEARCH, since=10, flops=0),
    OpInfo("Unique", SEARCH, since=11, flops=0),
    # reshape
    OpInfo("Reshape", RESHAPE, data_inputs=1, flops=0, selects=True),
    OpInfo("Flatten", RESHAPE, flops=0, selects=True),
    OpInfo("Squeeze", RESHAPE, data_inputs=1, flops=0, selects=True),
    OpInfo("Unsqueeze", RESHAPE, data_inputs=1, flops=0, selects=True),
    # identity
    OpInfo("Identity", IDENTITY, flops=0, selects=True),
    OpInfo("Dropout", IDENTITY, data_inputs=1, flops=0, selects=True),
    OpInfo("Cast", IDENTITY, flops=0),
    OpInfo("CastLike", IDENTITY, since=15, data_inputs=1, flops=0),
    # data_movement
    OpInfo("Transpose", DATA_MOVEMENT, flops=0, selects=True),
    OpInfo("Concat", DATA_MOVEMENT, flops=0, selects=True),
    OpInfo("Split", DATA_MOVEMENT, data_inputs=1, flops=0),
    OpInfo("Slice", DATA_MOVEMENT, data_inputs=1, flops=0, selects=True, layer="embedding"),
    OpInfo("Gather", DATA_MOVEMENT, flops=0, layer="embedding"),
    OpInfo("Expand", DATA_MOVEMENT, since=8, data_inputs=1, flops=0, layer="broadcast"),
    OpInfo("Tile", DATA_MOVEMENT, data_inputs=1, flops=0, layer="broadcast"),
    OpInfo("Pad", DATA_MOVEMENT, data_inputs=1, flops=0),
    OpInfo("GatherElements", DATA_MOVEMENT, since=11, flops=0),
    OpInfo("GatherND", DATA_MOVEMENT, since=11, flops=0, layer="embedding"),
    OpInfo("Scatter", DATA_MOVEMENT, since=9, flops=0),
    OpInfo("ScatterElements", DATA_MOVEMENT, since=11, flops=0),
    OpInfo("ScatterND", DATA_MOVEMENT, since=11, flops=0),
    OpInfo("DepthToSpace", DATA_MOVEMENT, flops=0),
    OpInfo("SpaceToDepth", DATA_MOVEMENT, flops=0),
    OpInfo("Compress", DATA_MOVEMENT, since=9, flops=0),
    OpInfo("ReverseSequence", DATA_MOVEMENT, since=10, flops=0),
    OpInfo("Trilu", DATA_MOVEMENT, since=14, flops=0),
    OpInfo("OneHot", DATA_MOVEMENT, since=9, flops=0),
    OpInfo("NonZero", DATA_MOVEMENT, since=9, flops=0),
    # resize: nearest 0; linear 2*2^r-1; cubic 2*4^r-1 per element (r resized axes): a formula.
    OpInfo("Resize", RESIZE, since=10, data_inputs=1),
    OpInfo("Upsample", RESIZE, data_inputs=1),
    # shape
    OpInfo("Shape", SHAPE, flops=0),
    OpInfo("Size", SHAPE, flops=0),
    # creation
    OpInfo("Constant", CREATION, flops=0),
    OpInfo("ConstantOfShape", CREATION, since=9, flops=0),
    OpInfo("Range", CREATION, since=11, flops=0),
    OpInfo("EyeLike", CREATION, since=9, flops=0),
    OpInfo("RandomNormal", CREATION, flops=0),
    OpInfo("RandomUniform", CREATION, flops=0),
    OpInfo("RandomNormalLike", CREATION, flops=0),
    OpInfo("RandomUniformLike", CREATION, flops=0),
    OpInfo("Bernoulli", CREATION, since=15, flops=0),
    OpInfo("Multinomial", CREATION, since=7, flops=0),
    # quantization
    OpInfo("QuantizeLinear", QUANTIZATION, since=10, data_inputs=1, flops=2),
    OpInfo("DequantizeLinear", QUANTIZATION, since=10, data_inputs=1, flops=2),
    # weighted: MACs and FLOPs by formula (irwua.passes.op_costs).
    OpInfo("Conv", WEIGHTED, layer="conv", roles=_WEIGHT_BIAS),
    OpInfo("ConvTranspose", WEIGHTED, layer="conv_transpose", roles=_WEIGHT_BIAS),
    OpInfo("Gemm", WEIGHTED, layer="gemm"),
    OpInfo("MatMul", WEIGHTED, layer="matmul"),
    OpInfo("Einsum", WEIGHTED, since=12, layer="einsum"),
    OpInfo("LSTM", WEIGHTED, layer="recurrent", roles=_RECURRENT, gates=4),
    OpInfo("GRU", WEIGHTED, layer="recurrent", roles=_RECURRENT, gates=3),
    OpInfo("RNN", WEIGHTED, layer="recurrent", roles=_RECURRENT, gates=1),
    OpInfo("QLinearConv", WEIGHTED, since=10, layer="conv", quantized=_QLINEAR_CONV),
    OpInfo("ConvInteger", WEIGHTED, since=10, layer="conv", quantized=_CONV_INTEGER),
    OpInfo("QLinearMatMul", WEIGHTED, since=10, layer="matmul", quantized=_QLINEAR_MATMUL),
    OpInfo("MatMulInteger", WEIGHTED, since=10, layer="matmul", quantized=_MATMUL_INTEGER),
    # control_flow: The ops of their subgraphs are counted instead.
    OpInfo("If", CONTROL_FLOW, flops=0),
    OpInfo("Loop", CONTROL_FLOW, flops=0),
    OpInfo("Scan", CONTROL_FLOW, since=8, flops=0),
    # sequence
    OpInfo("SplitToSequence", SEQUENCE, since=11, flops=0),
    OpInfo("SequenceAt", SEQUENCE, since=11, flops=0),
    OpInfo("SequenceConstruct", SEQUENCE, since=11, flops=0),
    OpInfo("SequenceEmpty", SEQUENCE, since=11, flops=0),
    OpInfo("SequenceInsert", SEQUENCE, since=11, flops=0),
    OpInfo("SequenceLength", SEQUENCE, since=11, flops=0),
    OpInfo("ConcatFromSequence", SEQUENCE, since=11, flops=0),
    OpInfo("Optional", SEQUENCE, since=15, flops=0),
    OpInfo("OptionalGetElement", SEQUENCE, since=15, flops=0),
    OpInfo("OptionalHasElement", SEQUENCE, since=15, flops=0),
    # other
    OpInfo("CumSum", OTHER, since=11, flops=0, flops_per_input=1),
    OpInfo("MaxRoiPool", OTHER, flops=0),
)

for _info in OPS:
    register(_info)
