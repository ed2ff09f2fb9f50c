"""Models whose body sits inside an If on a scalar input, with symbolic dims and LSTMs in the
branches: TorchScript's export of a scripted switch, and a hand-built model with a nested If
whose branches read an outer-scope constant.

The references: torch's parameter count, and the LSTM formula nobody here wrote into irwua,
MACs = steps x 4 x hidden x (inputs + hidden) per layer (plus the head's inputs x outputs).
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import irwua

STEPS, FEATURES, HIDDEN, CLASSES = 20, 8, 16, 4


def _lstm_macs(inputs: int, hidden: int = HIDDEN) -> int:
    return STEPS * 4 * hidden * (inputs + hidden)


@pytest.fixture(scope="module")
def scripted_switch(tmp_path_factory):
    torch = pytest.importorskip("torch")

    class Switch(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fast = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True)
            self.slow = torch.nn.LSTM(FEATURES, HIDDEN, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, CLASSES)

        def forward(self, x, mode):
            if bool(mode > 0):
                y, _ = self.fast(x)
            else:
                y, _ = self.slow(x)
            return self.head(y[:, -1])

    model = Switch()
    path = tmp_path_factory.mktemp("switch") / "switch.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            torch.jit.script(model),
            (torch.ones(2, STEPS, FEATURES), torch.tensor(1)),
            path,
            dynamo=False,
            input_names=["x", "mode"],
            dynamic_axes={"x": {0: "batch", 1: "steps"}},
        )
    return model, path


def test_lstms_inside_an_if_are_layers_sized_from_the_outer_scope(scripted_switch):
    model, path = scripted_switch
    assert any(node.op_type == "If" for node in onnx.load(path).graph.node)
    analysis = irwua.analyze(path, input_shapes={"x": (1, STEPS, FEATURES)})
    flops = analysis["flops"]
    kinds = sorted(layer.kind for layer in analysis.graph.layers)
    assert kinds == ["gemm", "recurrent", "recurrent", "recurrent"]
    assert flops.total.params == sum(p.numel() for p in model.parameters())
    assert not flops.unresolved and not flops.unsupported
    slow = _lstm_macs(FEATURES) + _lstm_macs(HIDDEN)  # the larger branch counts
    assert flops.total.macs == slow + HIDDEN * CLASSES
    assert len(flops.branches) == 2
    assert sorted(c.macs for c in flops.branches.values()) == [_lstm_macs(FEATURES), slow]


def _branch(tag: str, rng: np.random.Generator, nested: bool) -> onnx.GraphProto:
    """A batch-first LSTM, its last hidden state squeezed with the outer scope's axes, a dense
    layer; with ``nested``, an inner If on the same condition picks an activation."""
    stored = [
        numpy_helper.from_array(rng.standard_normal(shape, dtype=np.float32), f"{name}_{tag}")
        for name, shape in (
            ("W", (1, 4 * HIDDEN, FEATURES)),
            ("R", (1, 4 * HIDDEN, HIDDEN)),
            ("B", (1, 8 * HIDDEN)),
            ("dense", (HIDDEN, CLASSES)),
        )
    ]
    nodes = [
        helper.make_node(
            "LSTM",
            ["x", f"W_{tag}", f"R_{tag}", f"B_{tag}"],
            ["", f"last_{tag}"],
            hidden_size=HIDDEN,
            layout=1,
            name=f"lstm_{tag}",
        ),
        helper.make_node("Squeeze", [f"last_{tag}", "axis_one"], [f"h_{tag}"], name=f"sq_{tag}"),
        helper.make_node("MatMul", [f"h_{tag}", f"dense_{tag}"], [f"y_{tag}"], name=f"fc_{tag}"),
    ]
    out = f"y_{tag}"
    if nested:
        inner = [
            helper.make_graph(
                [helper.make_node(op, [out], [f"{op}_{tag}"], name=f"{op}_{tag}")],
                f"{op}_{tag}",
                [],
                [helper.make_tensor_value_info(f"{op}_{tag}", TensorProto.FLOAT, None)],
            )
            for op in ("Relu", "Sigmoid")
        ]
        nodes.append(
            helper.make_node(
                "If", ["mode"], [f"z_{tag}"], then_branch=inner[0], else_branch=inner[1]
            )
        )
        out = f"z_{tag}"
    outputs = [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)]
    return helper.make_graph(nodes, f"branch_{tag}", [], outputs, initializer=stored)


def test_nested_ifs_are_sized_and_summarised_in_one_note(tmp_path):
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [
            helper.make_node(
                "If",
                ["mode"],
                ["y"],
                then_branch=_branch("a", rng, nested=True),
                else_branch=_branch("b", rng, nested=False),
                name="switch",
            )
        ],
        "switch",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", FEATURES]),
            helper.make_tensor_value_info("mode", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=[numpy_helper.from_array(np.array([1], np.int64), "axis_one")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "nested.onnx"
    onnx.save(model, path)
    analysis = irwua.analyze(path, input_shapes={"x": (1, STEPS, FEATURES)})
    flops = analysis["flops"]
    assert not flops.unresolved
    assert flops.total.macs == _lstm_macs(FEATURES) + HIDDEN * CLASSES
    assert flops.total.params == 2 * (4 * HIDDEN * (FEATURES + HIDDEN) + 8 * HIDDEN + 64)
    (note,) = flops.notes
    assert "the larger counts, as in the 1 nested If;" in note
    assert analysis.summary().count("note: If") == 1
