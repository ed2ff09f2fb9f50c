"""Checks irwua's structure: imports point one way, and the README's map names every module.

Run by ``make test`` (``python tools/check_structure.py``); exits 1 with one line per problem.

* **Cycles.** Every import among irwua's modules counts: at module level, inside functions and
  under ``TYPE_CHECKING``, and ``importlib.import_module("irwua....")`` with a literal name.
  ``from irwua.a import b`` is an import of the module ``irwua.a.b`` when that is a module, else
  of ``irwua.a``. No two modules may import each other, directly or through others.
* **Layers.** Each module belongs to one layer (``LAYERS``, lowest first); an import may point to
  its own layer or a lower one, never up. A package's ``__init__`` may import its own modules.
* **Map.** The README's map (the table under ``## Map``) has one row per package whose last
  cell names each of its modules in backticks (remarks in brackets aside): every module of the
  tree is named there, and every name is a module.

``--stats`` also prints the numbers of modules, lines and imports.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"irwua": "irwua", "passes": "irwua.passes", "exporters": "irwua.exporters"}
"""Source folder -> the package it installs as."""

LAYERS = (
    ("base", ("irwua.errors", "irwua.version", "irwua.printable", "irwua.limits")),
    ("ir", ("irwua.ir",)),
    ("ops", ("irwua.ops",)),
    ("data", ("irwua.data",)),
    ("runtime", ("irwua.runtime",)),
    ("ingest", ("irwua.ingest",)),
    ("exporters", ("irwua.exporters",)),
    ("units", ("irwua.units",)),
    ("pruning", ("irwua.pruning",)),
    ("quantization", ("irwua.quantization",)),
    ("pipeline", ("irwua.options", "irwua.pipeline")),
    ("passes", ("irwua.passes",)),
    ("report", ("irwua.report",)),
    (
        "facade",
        (
            "irwua.analysis",
            "irwua.comparison",
            "irwua.tracking",
            "irwua.derived",
            "irwua.pruner",
            "irwua.quantizer",
            "irwua.demo",
        ),
    ),
    ("cli", ("irwua.cli", "irwua.__main__", "irwua")),
)
"""Layers from the lowest; a module is in the layer of the longest prefix that names it."""


def modules() -> dict[str, Path]:
    """Every module of the tree by its installed name."""
    found: dict[str, Path] = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported irwua module, line) for every import in the module ``name``."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _target(alias.name, known, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield from _target(target if target in known else base, known, node.lineno)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            yield from _target(node.args[0].value, known, node.lineno)


def _is_import_module(node: ast.Call) -> bool:
    function = node.func
    named = isinstance(function, ast.Attribute) and function.attr == "import_module"
    literal = node.args and isinstance(node.args[0], ast.Constant)
    return bool(named and literal and isinstance(node.args[0].value, str))


def _target(name: str, known: dict[str, Path], line: int) -> Iterator[tuple[str, int]]:
    while name and name not in known:
        name = name.rpartition(".")[0]
    if name.startswith("irwua"):
        yield name, line


def layer_of(name: str) -> int:
    best, index = -1, -1
    for position, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), position
    return index


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _outside_brackets(text: str) -> str:
    """``text`` without its parenthesized remarks (which may nest)."""
    kept, depth = [], 0
    for char in text:
        depth += char == "("
        if not depth:
            kept.append(char)
        depth -= char == ")" and depth > 0
    return "".join(kept)


def map_problems(known: dict[str, Path]) -> list[str]:
    """Differences between the README's map and the tree."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = re.search(r"^## Map\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if section is None:
        return ["README.md has no '## Map' section"]
    rows: dict[Path, set[str]] = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        folder = ROOT / cells[0].strip("`")
        rows[folder] = set(re.findall(r"`([A-Za-z_]\w*)`", _outside_brackets(cells[-1])))
    problems = []
    folders: dict[Path, set[str]] = {}
    for path in known.values():
        if path.name != "__init__.py":
            folders.setdefault(path.parent, set()).add(path.stem)
        else:
            folders.setdefault(path.parent, set())
    for folder, stems in sorted(folders.items()):
        where = folder.relative_to(ROOT)
        if folder not in rows:
            problems.append(f"README map: no row for package {where}/")
            continue
        for stem in sorted(stems - rows[folder]):
            problems.append(f"README map: {where}/{stem}.py is not named in the row of {where}/")
        for stem in sorted(rows[folder] - stems):
            problems.append(f"README map: {where}/ names `{stem}`, which is no module there")
    for folder in sorted(set(rows) - set(folders)):
        problems.append(f"README map: {folder.relative_to(ROOT)}/ is no package of the tree")
    return problems


def main(argv: list[str]) -> int:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    problems: list[str] = []
    count = 0
    for name, path in known.items():
        for target, line in imports(name, path, known):
            if target == name:
                continue
            count += 1
            edges[name].add(target)
            inside = path.name == "__init__.py" and target.startswith(name + ".")
            if not inside and layer_of(target) > layer_of(name):
                problems.append(
                    f"{path.relative_to(ROOT)}:{line}: {name} ({LAYERS[layer_of(name)][0]}) "
                    f"imports {target} ({LAYERS[layer_of(target)][0]}), a higher layer"
                )
    for component in cycles(edges):
        problems.append("import cycle among: " + ", ".join(component))
    problems += map_problems(known)
    if "--stats" in argv:
        lines = sum(len(path.read_text("utf-8").splitlines()) for path in known.values())
        pairs = sum(len(targets) for targets in edges.values())
        print(
            f"{len(known)} modules, {lines} lines, {count} import statements of irwua modules, "
            f"{pairs} distinct module -> module imports, {len(cycles(edges))} cycles"
        )
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
