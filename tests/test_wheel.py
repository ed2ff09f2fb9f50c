"""The wheel as pip users get it: built and installed without setuptools warnings, every module,
template, the demo files and the license inside, and ``irwua demo`` working from it."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from installed_wheel import ROOT, Installed, installed, run

SOURCE_PACKAGES = {"irwua": "irwua", "passes": "irwua/passes", "exporters": "irwua/exporters"}
"""Source folder -> where it lands in the wheel."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Installed:
    return installed(tmp_path_factory)


def _warnings(log: str) -> list[str]:
    """The lines of a pip log that are (or announce) a warning of the build backend; pip's own
    notes about index locations ("WARNING: Location ... is ignored") are not about irwua."""
    return [
        line
        for line in log.splitlines()
        if re.search("warning", line, re.IGNORECASE) and not line.startswith("WARNING: Location")
    ]


def test_building_and_installing_the_wheel_print_no_warning(wheel):
    assert _warnings(wheel.build_log) == [], wheel.build_log
    assert _warnings(wheel.install_log) == [], wheel.install_log


def _expected_files() -> set[str]:
    """Every module, template and demo file of the source tree, as wheel paths."""
    expected = set()
    for folder, target in SOURCE_PACKAGES.items():
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            relative = path.relative_to(ROOT / folder).as_posix()
            if path.suffix in (".py", ".j2", ".js", ".onnx", ".npy"):
                expected.add(f"{target}/{relative}")
    return expected


def test_the_wheel_holds_every_module_the_templates_the_demo_files_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel.wheel).namelist())
    shipped = {name for name in names if not name.startswith("irwua-")}
    expected = _expected_files()
    assert expected - shipped == set(), "missing from the wheel"
    assert shipped - expected == set(), "in the wheel but not in the source tree"
    assert "irwua/demo/digits_cnn.onnx" in names
    assert "irwua/report/templates/sections/summary.html.j2" in names
    (license_file,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert zipfile.ZipFile(wheel.wheel).read(license_file) == (ROOT / "LICENSE").read_bytes()
    (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel.wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    requirements = re.findall(r"^Requires-Dist: ([^;\n]*)", text, re.MULTILINE)
    assert requirements and [r for r in requirements if "==" in r] == []  # ranges, no pins


def test_the_venv_imports_irwua_from_the_wheel_and_run_demo_writes_the_report(wheel, tmp_path):
    code = (
        "import irwua, irwua.demo\n"
        "print(irwua.__file__, *irwua.demo.files(), sep='\\n')\n"
        "_, written = irwua.demo.run_demo('out')\n"
        "print(*sorted(written), written['report.html'].resolve())\n"
    )
    done = run([wheel.python, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    *paths, written = done.stdout.splitlines()
    paths = [Path(line) for line in paths]
    assert len(paths) == 4 and all(path.is_relative_to(wheel.venv) for path in paths), paths
    assert all(path.is_file() for path in paths)
    *names, report = written.split()
    assert {"analysis.json", "report.html"} <= set(names)
    assert Path(report) == (tmp_path / "out" / "report.html").resolve()
    assert Path(report).read_text("utf-8").startswith("<!DOCTYPE html>")


def test_irwua_demo_from_the_wheel_writes_the_report_and_says_where(wheel, tmp_path):
    out = tmp_path / "demo"
    done = run([wheel.irwua, "demo", "--out", out], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"report: {out / 'report.html'}"
    assert re.match(r"digits_cnn\.onnx on 450 digits images: .* recommendations$", lines[0])
    assert (out / "report.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    assert (out / "analysis.json").is_file()
