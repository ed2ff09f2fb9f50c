"""Every Python block of the README runs as written: in order, each as a script of its own in a
temporary folder (not the repo), with the python of a venv that has irwua's wheel installed
(``installed_wheel``), so the blocks see only what a pip user has (``irwua.demo.files()``)."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
from installed_wheel import ROOT, installed, run

import irwua
from irwua.demo import files

README = (ROOT / "README.md").read_text("utf-8")
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
BLOCKS = [(README.count("\n", 0, block.start()) + 1, block[1]) for block in BLOCK.finditer(README)]
"""(line of the opening fence, code) of every Python block, in order."""

FRAMEWORKS = ("torch", "keras", "tensorflow")
"""Modules a block may import that irwua does not require (its blocks skip without them)."""

LAYERS = "'0', '3', '6', '9', '12'"
"""The prunable layers of the bundled CNN (``irwua.demo``)."""


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    return installed(tmp_path_factory).python


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs_as_written(line, code, python, tmp_path):
    for module in re.findall(r"^import (\w+)", code, re.MULTILINE):
        if module in FRAMEWORKS and importlib.util.find_spec(module) is None:
            pytest.skip(f"the block at README.md:{line} needs {module}, which is not installed")
    script = tmp_path / "block.py"
    script.write_text(code, "utf-8")
    done = run([python, script], tmp_path)
    assert done.returncode == 0, f"README.md:{line} failed:\n{code}\n{done.stderr[-3000:]}"


def test_a_sweep_of_a_missing_layer_names_the_layers_as_the_readme_says():
    demo = files()
    options = irwua.Options(
        prune_ratios=(0.5,), prune_scopes=("layer",), prune_granularity=("unstructured",)
    )
    analysis = irwua.analyze(demo.model, np.load(demo.images), passes=["pruning"], options=options)
    pruning = analysis["pruning"]
    assert pruning.sweep("global", "importance", "unstructured") is None  # not asked for
    assert pruning.sweep("layer", "importance", "unstructured", "9") is not None
    with pytest.raises(KeyError) as raised:
        pruning.sweep("layer", "importance", "unstructured", "fc1")
    assert isinstance(raised.value, irwua.IrwuaError)
    message = str(raised.value)
    assert message == "No layer 'fc1' to sweep; the layers that can be swept: " + LAYERS + "."
    assert message in " ".join(README.split())
