"""tools/check_structure.py: the tree passes it, and it finds what it is meant to find."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import check_structure  # noqa: E402


def test_the_tree_has_no_cycle_no_upward_import_and_matches_the_map(capsys):
    assert check_structure.main([]) == 0, capsys.readouterr().out


def test_imports_inside_functions_and_by_name_count(tmp_path):
    source = tmp_path / "module.py"
    source.write_text(
        "import importlib\n"
        "def later():\n"
        "    from irwua.report import text\n"
        "    importlib.import_module('irwua.passes.flops')\n"
    )
    known = dict.fromkeys(["irwua.report", "irwua.report.text", "irwua.passes.flops"], source)
    found = {name for name, _ in check_structure.imports("irwua.x", source, known)}
    assert found == {"irwua.report.text", "irwua.passes.flops"}


def test_cycles_are_found_through_any_number_of_modules():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert check_structure.cycles(edges) == [["a", "b", "c"]]
    assert check_structure.cycles({"a": {"b"}, "b": set()}) == []


def test_a_layer_is_the_longest_prefix_that_names_the_module():
    layer = check_structure.layer_of
    assert layer("irwua.report.sections.flops") > layer("irwua.passes.flops") > layer("irwua.ir")
    assert layer("irwua.analysis") > layer("irwua.report.text")
