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


@pytest.mark.parametrize(("mode", "taken"), [(1, "then"), (0, "else")])
def test_the_branch_the_data_takes_counts_and_both_are_reported(scripted_switch, mode, taken):
    model, path = scripted_switch
    x = np.random.default_rng(0).standard_normal((6, STEPS, FEATURES)).astype(np.float32)
    analysis = irwua.analyze(
        path, data={"x": x, "mode": np.array(mode)}, passes=["flops", "metrics"]
    )
    flops = analysis["flops"]
    fast, slow = _lstm_macs(FEATURES), _lstm_macs(FEATURES) + _lstm_macs(HIDDEN)
    assert flops.total.macs == (fast if mode else slow) + HIDDEN * CLASSES
    (note,) = flops.notes
    assert f"took its {taken} branch on 6 samples of the data" in note
    assert f"then {flops.branches[next(b for b in flops.branches if 'then' in b)].flops:,}" in note
    assert flops.total.params == sum(p.numel() for p in model.parameters())  # both branches
    importance = analysis["importance"]
    assert importance.data and importance.layers["head"].criterion == "l1"
    assert importance.note.startswith("3 layers inside Loop or If bodies")
    assert "note: 3 layers inside Loop or If bodies" in analysis.summary()


def _switch_on(condition: list[onnx.NodeProto], wide: int, narrow: int) -> onnx.ModelProto:
    """y = x @ W, W of [F, wide] when ``condition`` (nodes ending in the tensor 'c') holds,
    else [F, narrow]; x is [N, F] with symbolic dims."""
    rng = np.random.default_rng(1)

    def branch(tag: str, units: int) -> onnx.GraphProto:
        weight = numpy_helper.from_array(
            rng.standard_normal((FEATURES, units)).astype(np.float32), f"w_{tag}"
        )
        return helper.make_graph(
            [helper.make_node("MatMul", ["x", f"w_{tag}"], [f"y_{tag}"], name=f"fc_{tag}")],
            tag,
            [],
            [helper.make_tensor_value_info(f"y_{tag}", TensorProto.FLOAT, None)],
            initializer=[weight],
        )

    graph = helper.make_graph(
        [
            *condition,
            helper.make_node(
                "If",
                ["c"],
                ["y"],
                then_branch=branch("a", wide),
                else_branch=branch("b", narrow),
                name="switch",
            ),
        ],
        "switch",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "F"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array(4, np.int64), "four"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero_f"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_condition_on_the_batch_size_is_decided_by_the_input_shape(tmp_path):
    condition = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"]),
        helper.make_node("Greater", ["batch", "four"], ["c"]),
    ]
    path = tmp_path / "by_shape.onnx"
    onnx.save(_switch_on(condition, wide=32, narrow=2), path)
    for batch, units, taken in ((8, 32, "then"), (2, 2, "else")):
        flops = irwua.analyze(path, input_shapes={"x": (batch, FEATURES)})["flops"]
        assert flops.total.macs == FEATURES * units
        assert f"took its {taken} branch on the input shapes" in flops.notes[0]


def test_samples_that_take_different_branches_are_counted_and_the_larger_counts(tmp_path):
    condition = [
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Greater", ["total", "zero_f"], ["c"]),
    ]
    path = tmp_path / "by_value.onnx"
    onnx.save(_switch_on(condition, wide=32, narrow=2), path)
    x = np.ones((5, FEATURES), np.float32)
    x[:2] *= -1
    flops = irwua.analyze(path, data=x, passes=["flops"])["flops"]
    assert flops.total.macs == FEATURES * 32
    (note,) = flops.notes
    assert "then on 3 and else on 2 of 5 samples of the data; the larger counts" in note
    flops = irwua.analyze(path, input_shapes={"x": (1, FEATURES)})["flops"]
    assert "chooses a branch at run time" in flops.notes[0] and "samples" not in flops.notes[0]
