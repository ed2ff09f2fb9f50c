"""The pass pipeline: requirements resolved, each pass run once, results immutable."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import numpy as np
import pytest
from builders import mlp

import irwua
from irwua import IrwuaError
from irwua.ingest.build import build_graph
from irwua.ingest.model_file import load_model
from irwua.options import ImportanceOptions, Options
from irwua.pipeline import PassContractError, PassManager, PassResult, PassSpec, resolve_order


@dataclass(frozen=True)
class Seen(PassResult):
    inputs: tuple[str, ...]


def _registry(calls: list[str], **requires: tuple[str, ...]) -> dict[str, PassSpec]:
    def make(name: str, needs: tuple[str, ...]) -> PassSpec:
        def run(context) -> Seen:
            calls.append(name)
            assert all(need in context.results for need in needs)
            return Seen(tuple(sorted(context.results)))

        return PassSpec(name, needs, f"test pass {name}", run)

    return {name: make(name, needs) for name, needs in requires.items()}


def _graph():
    return build_graph(load_model(mlp()))


def test_requirements_run_first_and_each_pass_once():
    calls: list[str] = []
    registry = _registry(calls, a=(), b=("a",), c=("a", "b"), d=("c",))
    manager = PassManager(_graph(), registry=registry)
    manager.run(["d"])
    manager.run(["c", "b"])
    assert calls == ["a", "b", "c", "d"]
    assert manager.results["d"].inputs == ("c",)  # a pass sees what it requires, nothing more
    assert set(manager.seconds) == {"a", "b", "c", "d"}


def test_reading_a_result_a_pass_does_not_require_names_both():
    def nosy(context) -> Seen:
        return context.results["a"]

    registry = _registry([], a=())
    registry["b"] = PassSpec("b", (), "test pass b", nosy)
    with pytest.raises(PassContractError, match="pass 'b' reads the result of 'a'"):
        PassManager(_graph(), registry=registry).run(["a", "b"])


def test_a_pass_gets_its_own_options_block():
    seen = []
    registry = {"a": PassSpec("a", (), "test pass a", seen.append, options=ImportanceOptions)}
    PassManager(_graph(), registry, Options(norm="l2", batch_size=3)).run(["a"])
    assert seen[0].options == ImportanceOptions(norm="l2")


def test_unknown_pass_and_cycles_are_user_errors():
    registry = _registry([], a=("b",), b=("a",))
    with pytest.raises(IrwuaError, match="cycle"):
        resolve_order(["a"], registry)
    with pytest.raises(IrwuaError, match="Unknown pass 'nope'; the passes are: a, b"):
        resolve_order(["nope"], registry)


def test_results_are_immutable_and_analysis_is_repeatable():
    first = irwua.analyze(mlp(), passes=["flops"])
    with pytest.raises(FrozenInstanceError):
        first["flops"].batch = 2
    with pytest.raises(TypeError):
        first["flops"].layers["fc1"] = None
    second = irwua.analyze(mlp(), passes=["flops"])
    assert first.to_dict()["totals"] == second.to_dict()["totals"]
    assert [entry["name"] for entry in first.to_dict()["passes"]] == ["flops"]


def test_the_default_passes_are_the_command_lines_and_data_given_is_used():
    analysis = irwua.analyze(mlp(), np.ones((3, 4), np.float32))
    assert list(analysis.results) == ["flops", "activations", "importance", "metrics"]
    assert analysis.document["totals"]["data"] and analysis.document["model"]["data_samples"] == 3


def test_passes_do_not_modify_the_users_model():
    proto = mlp()
    before = proto.SerializeToString()
    irwua.analyze(proto, input_shapes={"x": (4, 4)})
    assert proto.SerializeToString() == before


def test_asking_for_a_pass_that_did_not_run_says_which_ran():
    analysis = irwua.analyze(mlp(), passes=["flops"])
    with pytest.raises(KeyError, match="ran: flops"):
        analysis["importance"]
