"""The op registry against ONNX's own schemas, and against every place of irwua that names ops.

Every op that a table or an ``op_type`` comparison names must be registered, registered ops must
be ONNX ops from the opset the registry says, and their categories must agree with the schemas
(an activation has one data input, a reduction reduces, ...). A new elementwise activation is
one line of registration, and shapes, FLOPs, unit flow and activation capture then handle it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnx
import onnx.defs
import pytest
from builders import model, weight
from onnx import helper

import irwua
from irwua.exporters.torch import graph as torch_graph
from irwua.ingest import folding, shape_rules
from irwua.ops import REGISTRY, Category, OpInfo, register
from irwua.ops import registry as registry_module
from irwua.passes import activations, op_costs
from irwua.pruning import shrink_plan
from irwua.units import flow
from irwua.units.flow import unit_flow

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {}
for _schema in onnx.defs.get_all_schemas_with_history():
    if _schema.domain in ("", "ai.onnx"):
        first = SCHEMAS.get(_schema.name)
        if first is None or _schema.since_version < first.since_version:
            SCHEMAS[_schema.name] = _schema

TABLES = {
    "shape rules": shape_rules.RULES,
    "op values": folding.FOLDS,
    "cost formulas": op_costs.FORMULAS,
    "recurrent gate costs": op_costs._GATE_ELEMENTWISE,
    "unit flow": flow._OP_BEHAVIOUR,
    "structured pruning": shrink_plan._SHAPE_READERS,
    "torch biases": torch_graph._MADE_UP_BIAS_OPS,
}
"""Every table of irwua keyed by op type."""


def _compared_op_types() -> dict[str, set[str]]:
    """Op types that irwua's code compares an ``op_type`` with, by file."""
    found: dict[str, set[str]] = {}
    for folder in ("irwua", "passes", "exporters"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not isinstance(node, ast.Compare):
                    continue
                sides = [node.left, *node.comparators]
                if not any(_is_op_type(side) for side in sides):
                    continue
                for side in sides:
                    for value in ast.walk(side):
                        if isinstance(value, ast.Constant) and isinstance(value.value, str):
                            found.setdefault(str(path.relative_to(ROOT)), set()).add(value.value)
    return found


def _is_op_type(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "op_type") or (
        isinstance(node, ast.Name) and node.id in ("op_type", "op")
    )


def test_every_op_a_table_names_is_registered():
    for table, names in TABLES.items():
        missing = sorted(set(names) - set(REGISTRY))
        assert not missing, f"{table} names unregistered ops: {missing}"


def test_every_op_the_code_compares_with_is_registered():
    compared = _compared_op_types()
    assert sum(len(names) for names in compared.values()) >= 15  # the scan finds them
    for path, names in compared.items():
        missing = sorted(names - set(REGISTRY))
        assert not missing, f"{path} compares op_type with unregistered ops: {missing}"


def test_each_op_is_onnx_and_its_category_agrees_with_the_schema():
    for name in REGISTRY:
        _agrees_with_schema(name)


def _agrees_with_schema(name: str) -> None:
    info, schema = REGISTRY[name], SCHEMAS.get(name)
    assert schema is not None, f"{name} is no default-domain ONNX op"
    assert info.since == schema.since_version, f"{name} exists from opset {schema.since_version}"
    inputs = schema.max_input
    assert info.data_inputs is None or 1 <= info.data_inputs <= inputs, name
    assert all(index < inputs for _, index in info.roles), name
    if info.quantized is not None:
        indices = [i for operand in info.quantized.operands for i in operand[:3] if i is not None]
        assert max([*indices, info.quantized.bias or 0]) < inputs
    category = info.category
    if category in (Category.ACTIVATION, Category.UNARY):
        assert len(info.data(tuple(range(inputs)))) == 1 and schema.max_output == 1
    if category in (Category.BROADCAST, Category.COMPARISON):
        assert inputs >= 2 and schema.max_output == 1
    if category == Category.REDUCTION:
        assert name.startswith("Reduce")
    if category == Category.GLOBAL_POOLING:
        assert name.startswith("Global")
    if category == Category.WEIGHTED:
        assert info.layer is not None
    if info.nonnegative:
        assert category in (Category.ACTIVATION, Category.UNARY, Category.SOFTMAX)
    if info.gates is not None:
        assert info.layer == "recurrent"


def test_each_op_has_one_cost_a_formula_or_a_cost_per_element():
    for name, info in REGISTRY.items():
        assert (name in op_costs.FORMULAS) != (info.flops is not None), name
        assert op_costs.formula_for(name) is not None


def test_registering_an_op_twice_is_an_error():
    with pytest.raises(ValueError, match="registered twice"):
        register(REGISTRY["Relu"])
    with pytest.raises(ValueError, match="two cost formulas"):
        op_costs.formula("Conv")(op_costs.conv)


@pytest.fixture
def squareplus():
    """Squareplus, (x + sqrt(x^2 + 4)) / 2: an activation ONNX does not have."""
    info = register(OpInfo("Squareplus", Category.ACTIVATION, flops=4))  # the one line
    yield info
    del registry_module._REGISTRY[info.name]


def test_a_new_activation_is_one_line_of_registration(squareplus, monkeypatch):
    def no_onnx_inference(*_args):
        raise AssertionError("irwua's rules should shape the model")

    monkeypatch.setattr(irwua.ingest.shapes, "onnx_shapes", no_onnx_inference)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Squareplus", ["c1"], ["a"], name="act"),
        helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2"),
    ]
    proto = model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 5, 8, 8])])
    proto.graph.initializer.extend([weight("w1", 4, 3, 3, 3), weight("w2", 5, 4, 1, 1)])
    analysis = irwua.analyze(proto, passes=["flops"])
    graph, flops = analysis.graph, analysis["flops"]
    assert graph.shape("a") == (1, 4, 8, 8)
    assert flops.nodes["act"].flops == 4 * 4 * 8 * 8
    assert not flops.unsupported
    (link,) = unit_flow(graph).incoming("conv2")
    assert (link.source, link.mode, link.ops) == ("conv1", "unit", ("act",))
    np.testing.assert_array_equal(link.units, np.arange(4))
    assert activations._activated_output(graph.layer_by_name["conv1"], graph) == "a"


def test_an_unregistered_op_is_unsupported_and_shaped_by_onnx():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", domain="")]
    nodes.append(helper.make_node("Squareplus2", ["c"], ["y"], name="act", domain="custom"))
    proto = model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 4, 6, 6])])
    proto.opset_import.append(onnx.helper.make_opsetid("custom", 1))
    proto.graph.initializer.append(weight("w", 4, 3, 3, 3))
    flops = irwua.analyze(proto, passes=["flops"])["flops"]
    assert flops.unsupported == {"custom::Squareplus2": 1}
