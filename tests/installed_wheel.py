"""irwua's wheel, built once per test session from the working tree and installed into a fresh
venv, as a user of ``pip install irwua`` gets it (``test_wheel.py``, ``test_readme.py``).

The wheel is built from a copy of the files a build reads (so no ``build/`` folder of the repo
leaks into it, and none is left there), without build isolation (offline: the running
interpreter's setuptools). The venv has no pip and no packages of its own: a ``.pth`` file
appends the running interpreter's site-packages (numpy, onnx, onnxruntime, torch, ...) to its
``sys.path``, after its own; ``.pth`` files found there are not run, so the repo's editable
irwua stays out and ``import irwua`` is the wheel's.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "irwua", "passes", "exporters")
"""What a build of the wheel reads."""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    build_log: str
    install_log: str
    venv: Path
    python: Path
    irwua: Path


_installed: Installed | None = None


def environment() -> dict[str, str]:
    """The environment of every command run in the venv: nothing points into the repo."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", MPLBACKEND="Agg")
    return env


def run(command: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel and the venv it is installed in (built on the first call of the session)."""
    global _installed
    if _installed is None:
        _installed = _build_and_install(tmp_path_factory.mktemp("wheel"))
    return _installed


def _build_and_install(base: Path) -> Installed:
    source, dist, venv = base / "source", base / "dist", base / "venv"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip"]
    build = run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, source], base)
    _check(build, "pip wheel")
    (wheel,) = dist.glob("irwua-*.whl")
    _check(run([sys.executable, "-m", "venv", "--without-pip", venv], base), "python -m venv")
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], base)
    _check(purelib, "the venv's site-packages")
    parents = [*site.getsitepackages(), site.getusersitepackages()]
    lines = "".join(f"{path}\n" for path in parents if Path(path).is_dir())
    (Path(purelib.stdout.strip()) / "irwua_test_parent.pth").write_text(lines)
    options = ("--no-deps", "--ignore-installed", "--no-index")  # -I: the parent's irwua stays
    install = run([*pip, "--python", python, "install", *options, wheel], base)
    _check(install, "pip install")
    logs = (build.stdout + build.stderr, install.stdout + install.stderr)
    return Installed(wheel, *logs, venv, python, venv / "bin" / "irwua")


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
