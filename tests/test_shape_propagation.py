"""irwua's own shape rules (irwua/ingest/shape_rules.py, run by irwua/ingest/shape_propagation.py)
against ONNX's shape inference, on the model zoo, torch exports and one hand-built model per rule.

Every model here is shaped twice: by the rules and by ``onnx.shape_inference`` (the reference).
The rules must cover the model (not hand it back) and agree on every tensor ONNX sizes; models
that do not fit their input shapes must be handed back, so that ONNX's inference refuses them.
tests/test_shape_rules_random.py does the same on random models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import model
from onnx.helper import make_node
from shape_paths import assert_agree, both_ways, floats, ints

import irwua
import irwua.ingest.shapes
from irwua import IrwuaError

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    "path",
    [*sorted(LIGHT.glob("light_*.onnx")), *sorted(EXAMPLES.glob("*.onnx"))],
    ids=lambda path: path.stem,
)
def test_rules_cover_the_model_zoo_and_agree_with_onnx(path):
    assert_agree(*both_ways(onnx.load(path)))


# (id, nodes, inputs, initializers, opset): every rule with the attributes that change shapes.
OP_CASES = [
    (
        "conv_grouped_dilated_strided_padded",
        [
            make_node(
                "Conv",
                ["x", "w", "b"],
                ["y"],
                group=2,
                dilations=[2, 1],
                strides=[2, 3],
                pads=[1, 0, 2, 1],
            )
        ],
        [("x", [1, 4, 11, 13])],
        {"w": floats(6, 2, 3, 3), "b": floats(6)},
        17,
    ),
    (
        "conv_auto_pad",
        [
            make_node("Conv", ["x", "w"], ["s"], auto_pad="SAME_UPPER", strides=[2, 2]),
            make_node("Conv", ["s", "w"], ["v"], auto_pad="VALID", strides=[2, 1]),
        ],
        [("x", [2, 1, 9, 7])],
        {"w": floats(1, 1, 3, 3)},
        13,
    ),
    (
        "conv1d_depthwise",
        [make_node("Conv", ["x", "w"], ["y"], group=3, kernel_shape=[5])],
        [("x", [1, 3, 10])],
        {"w": floats(3, 1, 5)},
        11,
    ),
    (
        "conv_transpose_grouped",
        [
            make_node(
                "ConvTranspose",
                ["x", "w", "b"],
                ["y"],
                group=2,
                strides=[2, 2],
                pads=[1, 1, 1, 1],
                output_padding=[1, 0],
                dilations=[1, 2],
            )
        ],
        [("x", [1, 2, 5, 6])],
        {"w": floats(2, 3, 3, 3), "b": floats(6)},
        17,
    ),
    (
        "pools",
        [
            make_node(
                "MaxPool",
                ["x"],
                ["m", "idx"],
                kernel_shape=[3, 2],
                strides=[2, 1],
                dilations=[1, 2],
                pads=[1, 0, 1, 0],
            ),
            make_node(
                "AveragePool",
                ["m"],
                ["a"],
                kernel_shape=[2, 2],
                auto_pad="SAME_LOWER",
                strides=[2, 2],
            ),
            make_node("GlobalAveragePool", ["a"], ["g"]),
            make_node("GlobalMaxPool", ["x"], ["gm"]),
        ],
        [("x", [1, 3, 12, 9])],
        {},
        12,
    ),
    (
        "gemm_transposed_broadcast_bias",
        [make_node("Gemm", ["a", "w", "c"], ["y"], transA=1, transB=1)],
        [("a", [5, 3])],
        {"w": floats(4, 5), "c": floats(4)},
        13,
    ),
    (
        "matmul_vectors_and_batches",
        [
            make_node("MatMul", ["v", "m"], ["vm"]),
            make_node("MatMul", ["m", "u"], ["mu"]),
            make_node("MatMul", ["b", "c"], ["bc"]),
        ],
        [("v", [3]), ("b", [2, 1, 3, 4])],
        {"m": floats(3, 4), "u": floats(4), "c": floats(5, 4, 6)},
        13,
    ),
    (
        "reshape_flatten_transpose",
        [
            make_node("Reshape", ["x", "target"], ["r"]),
            make_node("Flatten", ["r"], ["f"], axis=-1),
            make_node("Flatten", ["x"], ["f0"], axis=0),
            make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
            make_node("Transpose", ["x"], ["tr"]),
        ],
        [("x", [2, 3, 4])],
        {"target": ints(0, -1, 2)},
        14,
    ),
    (
        "squeeze_unsqueeze_attributes",
        [
            make_node("Unsqueeze", ["x"], ["u"], axes=[0, -1]),
            make_node("Squeeze", ["u"], ["s"], axes=[0]),
            make_node("Squeeze", ["u"], ["all"]),
        ],
        [("x", [3, 1, 2])],
        {},
        11,
    ),
    (
        "squeeze_unsqueeze_inputs",
        [make_node("Unsqueeze", ["x", "axes"], ["u"]), make_node("Squeeze", ["u", "first"], ["s"])],
        [("x", [3, 2])],
        {"axes": ints(1, -1), "first": ints(-1)},
        13,
    ),
    (
        "dynamic_flatten_as_torchscript_exports_it",
        [
            make_node("Shape", ["x"], ["shape"]),
            make_node("Gather", ["shape", "zero"], ["n"], axis=0),
            make_node("Unsqueeze", ["n", "axes"], ["n1"]),
            make_node("Concat", ["n1", "minus"], ["target"], axis=0),
            make_node("Shape", ["x"], ["tail"], start=-2),
            make_node("Reshape", ["x", "target"], ["y"]),
        ],
        [("x", [2, 3, 4, 5])],
        {"zero": np.array(0, np.int64), "axes": ints(0), "minus": ints(-1)},
        15,
    ),
    (
        "slices",
        [
            make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"]),
            make_node("Pad", ["x", "pads"], ["p"]),
        ],
        [("x", [6, 8, 5])],
        {
            "starts": ints(-1, 1),
            "ends": ints(-100, 1000),
            "axes": ints(1, 2),
            "steps": ints(-2, 2),
            "pads": ints(0, 1, 2, 1, 0, 3),
        },
        13,
    ),
    (
        "slice_attributes",
        [make_node("Slice", ["x"], ["s"], starts=[1, 0], ends=[9, -1], axes=[2, 0])],
        [("x", [3, 4, 10])],
        {},
        9,
    ),
    (
        "reductions",
        [
            make_node("ReduceMean", ["x", "two"], ["m"], keepdims=0),
            make_node("ReduceSum", ["x", "axes"], ["s"]),
            make_node("ReduceMax", ["x"], ["all"]),
            make_node("ReduceL2", ["x", "empty"], ["same"], noop_with_empty_axes=1),
        ],
        [("x", [2, 3, 4])],
        {"two": ints(1, -1), "axes": ints(0), "empty": np.zeros(0, np.int64)},
        18,
    ),
    (
        "reductions_opset_13",
        [
            make_node("ReduceMean", ["x"], ["m"], axes=[1, -1], keepdims=0),
            make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
        ],
        [("x", [2, 3, 4])],
        {"axes": ints(-2)},
        13,
    ),
    (
        "concat_split_tile_expand",
        [
            make_node("Concat", ["x", "x"], ["c"], axis=-1),
            make_node("Split", ["c", "sizes"], ["s1", "s2"], axis=2),
            make_node("Split", ["x"], ["e1", "e2", "e3"], axis=1, num_outputs=3),
            make_node("Tile", ["x", "reps"], ["t"]),
            make_node("Expand", ["x", "to"], ["e"]),
        ],
        [("x", [2, 7, 1])],
        {"sizes": ints(1, 1), "reps": ints(1, 2, 3), "to": ints(4, 1, 1, 5)},
        18,
    ),
    (
        "elementwise_and_logic",
        [
            make_node("Add", ["x", "row"], ["a"]),
            make_node("Equal", ["a", "x"], ["eq"]),
            make_node("Where", ["eq", "a", "row"], ["w"]),
            make_node("Cast", ["w"], ["h"], to=10),
            make_node("Sum", ["x", "row", "col"], ["s"]),
            make_node("Not", ["eq"], ["n"]),
            make_node("PRelu", ["x", "slope"], ["p"]),
            make_node("Clip", ["x", "lo", "hi"], ["cl"]),
        ],
        [("x", [3, 4])],
        {
            "row": floats(4),
            "col": floats(3, 1),
            "slope": floats(4),
            "lo": np.float32(0),
            "hi": np.float32(1),
        },
        16,
    ),
    (
        "norms_softmax_dropout",
        [
            make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["bn"]),
            make_node("InstanceNormalization", ["bn", "g", "b"], ["inn"]),
            make_node("LayerNormalization", ["inn", "ln"], ["ln_out"], axis=-2),
            make_node("Softmax", ["ln_out"], ["sm"], axis=1),
            make_node("LRN", ["sm"], ["lrn"], size=3),
            make_node("Dropout", ["lrn"], ["d", "mask"]),
            make_node("Relu", ["d"], ["out"]),
        ],
        [("x", [2, 3, 4, 5])],
        {
            "g": floats(3),
            "b": floats(3),
            "m": floats(3),
            "v": np.ones(3, np.float32),
            "ln": floats(4, 5),
        },
        17,
    ),
    (
        "recurrent",
        [
            make_node(
                "LSTM", ["x", "w", "r"], ["y", "h", "c"], hidden_size=5, direction="bidirectional"
            ),
            make_node("GRU", ["x", "gw", "gr"], ["gy", "gh"], hidden_size=4, layout=1),
            make_node("RNN", ["x", "nw", "nr"], ["", "nh"], hidden_size=2),
        ],
        [("x", [6, 2, 3])],
        {
            "w": floats(2, 20, 3),
            "r": floats(2, 20, 5),
            "gw": floats(1, 12, 3),
            "gr": floats(1, 12, 4),
            "nw": floats(1, 2, 3),
            "nr": floats(1, 2, 2),
        },
        14,
    ),
    (
        "resize",
        [
            make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest"),
            make_node("Resize", ["x", "", "", "sizes"], ["to"], mode="linear"),
        ],
        [("x", [1, 2, 5, 7])],
        {"scales": np.array([1, 1, 2, 1.5], np.float32), "sizes": ints(1, 2, 3, 9)},
        13,
    ),
    (
        "upsample_opset_9",
        [make_node("Upsample", ["x", "scales"], ["up"])],
        [("x", [1, 2, 5, 7])],
        {"scales": np.array([1, 1, 2, 3], np.float32)},
        9,
    ),
]


@pytest.mark.parametrize(
    ("nodes", "inputs", "initializers", "opset"),
    [case[1:] for case in OP_CASES],
    ids=[case[0] for case in OP_CASES],
)
def test_each_rule_agrees_with_onnx(nodes, inputs, initializers, opset):
    outputs = [(nodes[-1].output[-1], None)]  # All float.
    assert_agree(*both_ways(model(nodes, inputs, outputs, initializers, opset=opset)))


def _conv_model() -> onnx.ModelProto:
    return model(
        [make_node("Conv", ["x", "w"], ["y"])],
        [("x", ["N", "C", 8, 8])],
        [("y", None)],
        {"w": floats(2, 4, 3, 3)},
    )


# (id, model, input shapes): inputs that do not fit, which ONNX's inference refuses. (It does not
# check a conv's input channels or a Reshape's element count: neither does irwua, yet.)
MISFITS = [
    (
        "broadcast",
        model(
            [make_node("Add", ["x", "b"], ["y"])],
            [("x", ["N", "F"])],
            [("y", None)],
            {"b": floats(4)},
        ),
        {"x": (1, 3)},
    ),
    (
        "matmul_inner_dim",
        model(
            [make_node("MatMul", ["x", "w"], ["y"])],
            [("x", ["N", "F"])],
            [("y", None)],
            {"w": floats(4, 2)},
        ),
        {"x": (2, 5)},
    ),
    (
        "declared_output",
        model([make_node("Relu", ["x"], ["y"])], [("x", ["N", 4])], [("y", [1, 4])]),
        {"x": (3, 4)},
    ),
]


@pytest.mark.parametrize(
    ("proto", "shapes"), [case[1:] for case in MISFITS], ids=[case[0] for case in MISFITS]
)
def test_inputs_that_do_not_fit_go_to_onnx_which_refuses_them(proto, shapes, monkeypatch):
    asked = []
    real = irwua.ingest.shapes.onnx_shapes
    monkeypatch.setattr(
        irwua.ingest.shapes, "onnx_shapes", lambda *args: asked.append(1) or real(*args)
    )
    with pytest.raises(IrwuaError, match="do not fit the model"):
        irwua.analyze(proto, input_shapes=shapes)
    assert asked


def test_models_the_rules_cover_never_reach_onnx_inference(monkeypatch):
    def refuse(*_args):
        raise AssertionError("ONNX's shape inference was run")

    monkeypatch.setattr(irwua.ingest.shapes, "onnx_shapes", refuse)
    fits = irwua.analyze(_conv_model(), input_shapes={"x": (1, 4, 8, 8)})
    assert fits.graph.shape("y") == (1, 2, 6, 6)
    resnet = irwua.analyze(LIGHT / "light_resnet50.onnx", passes=["flops"])
    assert resnet["flops"].total.macs > 4e9


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_rules_cover_torch_exports_of_a_transformer_and_an_lstm(dynamo, tmp_path):
    """Both torch exporters: the TorchScript one computes attention reshapes from Shape, Gather,
    Mod and Concat at run time, which the rules follow through the values of small tensors."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.lstm = torch.nn.LSTM(16, 8, batch_first=True)

        def forward(self, x):
            return self.lstm(self.encoder(x))[0]

    path = tmp_path / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 6, 16),), path, dynamo=dynamo)
    assert_agree(*both_ways(onnx.load(path)))
