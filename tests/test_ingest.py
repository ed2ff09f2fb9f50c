"""Ingest: weights are found where real exporters put them; bad files get one clear sentence."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from builders import external_copy, mlp, model
from onnx import helper, numpy_helper

import irwua
from irwua import IrwuaError


def _layer(analysis, name):
    return analysis.graph.layer_by_name[name]


def _weight(analysis, name):
    return analysis.graph.array(_layer(analysis, name))


def test_initializers_give_layers_with_weights_and_bias():
    analysis = irwua.analyze(mlp())
    assert [layer.name for layer in analysis.graph.layers] == ["fc1", "fc2"]
    fc1 = _layer(analysis, "fc1")
    assert fc1.kind == "gemm" and fc1.data_input == "x"
    assert _weight(analysis, "fc1").shape == (8, 4)
    assert analysis.graph.array(fc1, "bias").shape == (8,)
    assert _layer(analysis, "fc2").data_input in analysis.graph.consumers[fc1.output][0].outputs


def test_initializers_listed_as_graph_inputs_are_not_model_inputs():
    proto = mlp()
    for tensor in proto.graph.initializer:
        proto.graph.input.append(
            helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
        )
    proto.ir_version = 3
    analysis = irwua.analyze(proto)
    assert analysis.graph.inputs == ["x"]
    assert analysis.to_dict()["totals"]["params"] == 8 * 4 + 8 + 3 * 8 + 3


def test_weights_in_constant_nodes_and_behind_cast_transpose_chains():
    w = np.arange(12, dtype=np.float16).reshape(4, 3)  # stored [out, in] as fp16
    nodes = [
        helper.make_node("Constant", [], ["w16"], value=numpy_helper.from_array(w)),
        helper.make_node("Cast", ["w16"], ["w32"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Transpose", ["w32"], ["wt"], perm=[1, 0]),
        helper.make_node("Identity", ["wt"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="proj"),
    ]
    analysis = irwua.analyze(model(nodes, [("x", [1, 3])], [("y", [1, 4])]))
    assert [layer.kind for layer in analysis.graph.layers] == ["matmul"]
    np.testing.assert_array_equal(_weight(analysis, "proj"), w.astype(np.float32).T)


def test_constant_number_attributes_take_the_spec_types():
    """Constant's value_float(s) are float32 and value_int(s) int64 (ONNX's spec), also in the
    constant table, whose values numpy would otherwise widen to float64."""
    nodes = [
        helper.make_node("Constant", [], ["f"], value_float=0.5),
        helper.make_node("Constant", [], ["fs"], value_floats=[0.5, 2.0, 1.0]),
        helper.make_node("Constant", [], ["i"], value_int=2),
        helper.make_node("Mul", ["x", "f"], ["a"]),
        helper.make_node("Mul", ["a", "fs"], ["b"]),
        helper.make_node("Unsqueeze", ["b", "i"], ["y"]),
    ]
    graph = irwua.analyze(model(nodes, [("x", [1, 3])], [("y", None)])).graph
    types = {name: graph.constants.values[name].dtype for name in ("f", "fs", "i")}
    assert types == {"f": np.float32, "fs": np.float32, "i": np.int64}
    assert graph.tensors["f"].dtype == np.float32 and graph.shape("y") == (1, 3, 1)


def test_constant_of_shape_weights_are_views_not_copies():
    nodes = [
        helper.make_node(
            "ConstantOfShape",
            ["shape"],
            ["w"],
            value=numpy_helper.from_array(np.array([0.5], np.float32)),
        ),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="big"),
    ]
    shape = np.array([4096, 4096], np.int64)
    analysis = irwua.analyze(model(nodes, [("x", [1, 4096])], [("y", [1, 4096])], {"shape": shape}))
    weight = _weight(analysis, "big")
    assert weight.shape == (4096, 4096) and weight.strides == (0, 0)
    assert analysis.to_dict()["totals"]["params"] == 4096 * 4096


def test_dequantize_linear_weights_are_dequantized_per_channel():
    q = np.array([[10, 20], [30, 40]], np.int8)
    scale = np.array([0.5, 0.25], np.float32)
    zero = np.array([0, 10], np.int8)
    nodes = [
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["w"], axis=1),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="qmm"),
    ]
    analysis = irwua.analyze(
        model(nodes, [("x", [1, 2])], [("y", [1, 2])], {"q": q, "scale": scale, "zero": zero})
    )
    expected = (q.astype(np.float32) - zero.astype(np.float32)) * scale
    np.testing.assert_allclose(_weight(analysis, "qmm"), expected)


def test_weights_inside_if_branches_are_found():
    rng = np.random.default_rng(0)
    then_graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w_then"], ["t"], name="then_mm")],
        "then",
        [],
        [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(rng.standard_normal((3, 2)).astype(np.float32), "w_then")],
    )
    else_graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w_outer"], ["e"], name="else_mm")],
        "else",
        [],
        [helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, [1, 2])],
    )
    nodes = [
        helper.make_node(
            "If", ["cond"], ["y"], name="branch", then_branch=then_graph, else_branch=else_graph
        )
    ]
    proto = model(
        nodes,
        [("x", [1, 3]), ("cond", [], onnx.TensorProto.BOOL)],
        [("y", [1, 2])],
        {"w_outer": rng.standard_normal((3, 2)).astype(np.float32)},
    )
    analysis = irwua.analyze(proto)
    scopes = {layer.name: layer.scope for layer in analysis.graph.layers}
    assert scopes == {
        "branch.then_branch/then_mm": "branch.then_branch",
        "branch.else_branch/else_mm": "branch.else_branch",
    }


def test_external_data_is_memory_mapped(tmp_path):
    proto = mlp(in_features=64, hidden=256)
    expected = numpy_helper.to_array(proto.graph.initializer[0])
    onnx.save_model(
        proto,
        tmp_path / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    analysis = irwua.analyze(tmp_path / "m.onnx")
    weight = _weight(analysis, "fc1")
    assert isinstance(weight, np.memmap)
    np.testing.assert_array_equal(weight, expected)


def test_external_data_outside_the_model_directory_is_refused(tmp_path):
    with pytest.raises(IrwuaError, match="outside the model's directory"):
        irwua.analyze(external_copy(tmp_path, "../w.bin"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"this is not a model at all, just some text\n" * 3, "not"),
        ("truncated", "truncated"),
    ],
)
def test_bad_files_get_one_sentence(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    if content == "truncated":
        content = mlp().SerializeToString()[:-7]
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IrwuaError, match=message) as caught:
        irwua.analyze(path)
    assert str(caught.value).count("\n") == 0


def test_an_additive_minus_infinity_mask_is_no_weight():
    """A causal mask added to attention scores (-inf above the diagonal, as nanoGPT-style code
    builds it) is a constant Add operand but no learned weight: it is not a layer, and the
    importance and metrics passes run (they refused the model before: "not finite")."""
    mask = np.triu(np.full((4, 4), -np.inf, np.float32), 1)
    scale = np.linspace(0.5, 1.5, 4, dtype=np.float32)
    nodes = [
        helper.make_node("Add", ["x", "mask"], ["masked"], name="mask_add"),
        helper.make_node("Mul", ["masked", "scale"], ["scaled"], name="scale_mul"),
        helper.make_node("Softmax", ["scaled"], ["y"], axis=-1),
    ]
    proto = model(nodes, [("x", ["n", 4, 4])], [("y", ["n", 4, 4])], {"mask": mask, "scale": scale})
    x = np.random.default_rng(0).standard_normal((8, 4, 4)).astype(np.float32)
    analysis = irwua.analyze(proto, x, passes=["metrics"])
    assert [layer.name for layer in analysis.graph.layers] == ["scale_mul"]
