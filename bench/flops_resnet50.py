"""FLOPs pass on ResNet-50: irwua's CLI vs onnx-tool's profiler, whole process.

The irwua rows: ``irwua`` is the CLI writing analysis.json and printing the summary (``--no-html``);
``irwua-api`` runs the same analysis through the Python API and writes nothing, like onnx-tool;
``irwua+html`` is the CLI also writing the full HTML report (charts and diagrams: matplotlib and
Graphviz), shown for context, not part of the target.

Both sides run as fresh Python processes on the same file, interleaved, and
the bench prints the median wall time of each and the ratio irwua/onnx-tool.
Target: ratio <= 1 (irwua not slower). The model is the ResNet-50 shipped in
the onnx wheel (``onnx/backend/test/data/light/light_resnet50.onnx``).

Usage: python bench/flops_resnet50.py [--repeats N] [--quick] [--all-light]
  --all-light: also the CLI vs onnx-tool on the other eight light models (context only).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import CommandFailed, machine_info, measure, print_ratio, print_table

# onnx-tool's profiler, as its own model_profile() runs it, minus the per-node
# table print: load, topological reorder, shape inference, profile. Prints
# "<forward MACs> <params>". argv[1] is the model path.
ONNX_TOOL_CODE = """\
import contextlib, os, sys
import onnx_tool
model = onnx_tool.Model(sys.argv[1], {"verbose": False})
graph = model.graph
with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
    graph.graph_reorder_nodes()
    graph.shape_infer()
    graph.profile()
print(int(graph.macs[0]), int(graph.params))
"""


def model_path() -> pathlib.Path:
    """The ResNet-50 shipped inside the installed onnx wheel."""
    import onnx

    path = pathlib.Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
    if not path.exists():
        raise SystemExit(f"model not found: {path}")
    return path


# The same analysis through irwua's Python API, without writing the JSON/HTML report or printing
# the summary: what the FLOPs pass itself costs next to onnx-tool, which writes nothing.
IRWUA_API_CODE = """\
import sys
import irwua
print(irwua.analyze(sys.argv[1], passes=["flops"])["flops"].total.macs)
"""


def commands(model: pathlib.Path, outdir: str) -> dict[str, list[str]]:
    """The commands compared, keyed by the names shown in the table."""
    cli = [
        sys.executable,
        "-m",
        "irwua",
        "analyze",
        str(model),
        "--only",
        "flops",
        "--out",
        outdir,
    ]
    return {
        "irwua-api": [sys.executable, "-c", IRWUA_API_CODE, str(model)],
        "irwua": [*cli, "--no-html"],
        "irwua+html": cli,
        "onnx-tool": [sys.executable, "-c", ONNX_TOOL_CODE, str(model)],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command")
    parser.add_argument("--quick", action="store_true", help="3 timed runs per command")
    parser.add_argument(
        "--all-light", action="store_true", help="also every other light model, for context"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 3

    model = model_path()
    print("== flops_resnet50: irwua analyze --only flops vs onnx-tool profile ==")
    print(f"model: {model}")
    print(f"machine: {machine_info()}")
    with tempfile.TemporaryDirectory(prefix="irwua-bench-") as outdir:
        try:
            timings = measure(commands(model, outdir), args.repeats)
        except CommandFailed as exc:
            print(f"benchmark command failed: {exc}", file=sys.stderr)
            return 1
    macs, params = timings["onnx-tool"].last_stdout.split()
    print(f"onnx-tool reports: MACs={int(macs):,}  params={int(params):,}")
    print_table(timings)
    medians = {n: t.median for n, t in timings.items()}
    print_ratio(medians, "irwua", "onnx-tool")
    print_ratio(medians, "irwua-api", "onnx-tool")
    if args.all_light:
        return _other_light_models(model.parent, args.repeats)
    return 0


def _other_light_models(directory: pathlib.Path, repeats: int) -> int:
    """The CLI row vs onnx-tool on every other model of the onnx wheel's light set (context:
    per-process costs weigh most on the smaller graphs)."""
    print("-- other light models: irwua (CLI, --no-html) / onnx-tool, medians --")
    for path in sorted(directory.glob("light_*.onnx")):
        if path.name == "light_resnet50.onnx":
            continue
        with tempfile.TemporaryDirectory(prefix="irwua-bench-") as outdir:
            every = commands(path, outdir)
            wanted = {name: every[name] for name in ("irwua", "onnx-tool")}
            try:
                timings = measure(wanted, repeats)
            except CommandFailed as exc:
                print(f"{path.name}: a command failed: {exc}")
                continue
        irwua, tool = timings["irwua"].median, timings["onnx-tool"].median
        ratio = irwua / tool
        print(f"{path.name:28s} irwua {irwua:.3f} s  onnx-tool {tool:.3f} s  ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
