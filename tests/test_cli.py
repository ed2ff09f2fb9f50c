"""The command line: outputs, summaries, and one clear sentence for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from builders import mlp

import irwua
from irwua.cli import main
from irwua.options import settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_cnn.onnx"


@pytest.fixture
def mlp_file(tmp_path) -> Path:
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp(), path)
    return path


def test_analyze_writes_json_and_html_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "report"
    assert (
        main(["analyze", str(EXAMPLE), "--out", str(out), "--samples", "100", "--epochs", "2"]) == 0
    )
    printed = capsys.readouterr().out
    assert "MACs" in printed and f"report: {out / 'report.html'}" in printed
    document = json.loads((out / "analysis.json").read_text())
    totals = document["totals"]
    assert totals["params"] > 0 and totals["macs"] > 0 and totals["flops"] > 2 * totals["macs"]
    assert totals["training_flops"] == pytest.approx(totals["flops"] * 3 * 100 * 2)
    assert {"name", "op_type", "params", "macs", "flops"} <= set(document["layers"][0])
    assert sum(layer["macs"] for layer in document["layers"]) == totals["macs"]
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "digits_cnn.onnx" in html
    assert sorted(p.name for p in out.iterdir()) == [
        ".irwua-files",
        "analysis.json",
        "importance_units.npz",
        "report.html",
    ]


def test_no_html_writes_the_data_only_with_the_umask_applied(mlp_file, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["analyze", str(mlp_file), "--out", str(out), "--no-html", "--quiet"]) == 0
    files = ["analysis.json", "importance_units.npz"]
    assert sorted(path.name for path in out.iterdir()) == [".irwua-files", *files]
    assert "report:" not in capsys.readouterr().out
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "analysis.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_passes_and_version(capsys):
    assert main(["passes"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(irwua.available_passes()) and "flops" in listed
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"irwua {irwua.__version__}"


def _bad(tmp_path, kind: str) -> list[str]:
    path = tmp_path / "model.onnx"
    if kind == "missing":
        return [str(tmp_path / "absent.onnx")]
    if kind == "not-onnx":
        path.write_text("name,value\nalpha,1\n")
    elif kind == "truncated":
        path.write_bytes(mlp().SerializeToString()[:-9])
    else:
        onnx.save(mlp(), path)
    return {
        "shape": [str(path), "--input-shape", "x=1x5"],
        "unknown-pass": [str(path), "--passes", "flops,warp"],
        "samples": [str(path), "--samples", "0"],
    }.get(kind, [str(path)])


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "does not exist"),
        ("not-onnx", "not"),
        ("truncated", "truncated"),
        ("shape", "needs 4 at axis 1"),
        ("unknown-pass", "Unknown pass 'warp'"),
        ("samples", "--samples must be a positive whole number, got 0"),
    ],
)
def test_bad_input_is_one_sentence_and_nothing_is_written(tmp_path, capsys, kind, message):
    out = tmp_path / "out"
    assert main(["analyze", *_bad(tmp_path, kind), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("irwua: error: ") and message in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert not out.exists()


def test_unwritable_output_directory(mlp_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["analyze", str(mlp_file), "--out", str(blocker / "sub")]) == 2
    assert "Cannot write to" in capsys.readouterr().err


def test_process_exit_code_and_debug_traceback(tmp_path):
    missing = str(tmp_path / "absent.onnx")
    plain = subprocess.run(
        [sys.executable, "-m", "irwua", "analyze", missing], capture_output=True, text=True
    )
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "irwua", "--debug", "analyze", missing],
        capture_output=True,
        text=True,
    )
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_every_setting_with_a_flag_is_an_option_of_analyze(mlp_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    shown = capsys.readouterr().out
    flagged = [setting.flag for setting in settings() if setting.flag]
    assert len(flagged) >= 15 and all(flag in shown for flag in flagged)
    out = tmp_path / "report"
    args = ["analyze", str(mlp_file), "--out", str(out), "--no-html", "--quiet"]
    assert main([*args, "--passes", "metrics", "--low-share", "0.5"]) == 0
    low = json.loads((out / "analysis.json").read_text())["layers"][0]["metrics"]
    assert main([*args, "--passes", "metrics", "--low-share", "0.05"]) == 0
    lower = json.loads((out / "analysis.json").read_text())["layers"][0]["metrics"]
    assert low["low_contribution"] > lower["low_contribution"]  # the flag reached the pass
    assert main([*args, "--top-k", "many"]) == 2
    assert capsys.readouterr().err == "irwua: error: --top-k takes a whole number, not 'many'.\n"


DEMO_DATA = EXAMPLE.with_name("digits_images.npy")


def _ran(out: Path) -> list[str]:
    return [entry["name"] for entry in json.loads((out / "analysis.json").read_text())["passes"]]


def test_passes_add_to_the_defaults_and_only_runs_exactly_those(mlp_file, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["analyze", str(mlp_file), "--out", str(out), "--no-html"]
    assert main([*args, "--passes", "pathways"]) == 0
    assert {"flops", "metrics", "pathways"} <= set(_ran(out))
    assert "  pathways: " in capsys.readouterr().out  # every pass that ran has a line
    assert main([*args, "--only", "flops"]) == 0
    assert _ran(out) == ["flops"]
    assert main([*args, "--only", " , "]) == 2
    assert "--only names no pass" in capsys.readouterr().err


def test_a_pass_that_needs_data_is_refused_without_it(mlp_file, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["analyze", str(mlp_file), "--out", str(out), "--passes", "recommendations"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irwua: error: --passes recommendations needs data (pruning measures")
    assert "--data FILE" in err and not out.exists()


def test_pruning_has_a_table_in_the_summary(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["analyze", str(EXAMPLE), "--data", str(DEMO_DATA), "--out", str(out), "--no-html"]
    assert main([*args, "--passes", "pruning", "--prune-ratios", "0.3,0.5"]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if "share pruned" in line)
    assert header.split()[-2:] == ["30%", "50%"]
    assert "    magnitude, unstructured, global " in printed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-samples", "0"], "--max-samples must be a positive whole number, got 0."),
        (
            ["--epochs", "3"],
            "--epochs is a setting of the training estimate, which needs --samples",
        ),
        (["--prune-ratios", "1.5"], "--prune-ratios must be numbers in [0, 1)"),
        (
            ["--prune-criteria", "{x}"],
            "--prune-criteria must name some of: importance, magnitude, ",
        ),
    ],
)
def test_setting_errors_name_the_flags(mlp_file, tmp_path, capsys, flags, message):
    assert main(["analyze", str(mlp_file), "--out", str(tmp_path / "r"), *flags]) == 2
    assert capsys.readouterr().err.startswith(f"irwua: error: {message}")


def test_prune_errors_name_the_flags_and_latency_is_interleaved(tmp_path, capsys):
    args = ["prune", str(EXAMPLE), "--data", str(DEMO_DATA), "-o", str(tmp_path / "p.onnx")]
    assert main([*args, "--ratio", "1.5"]) == 2
    assert "--ratio must be a number between 0 and 1" in capsys.readouterr().err
    assert main([*args, "--ratio", "0.5", "--scope", "layer"]) == 2
    assert "--scope must be one of global, uniform, owl, not 'layer'" in capsys.readouterr().err
    assert main([*args, "--ratio", "0.5", "--max-samples", "64"]) == 0
    printed = capsys.readouterr().out
    latency = next(line for line in printed.splitlines() if line.startswith("  latency (batch"))
    assert latency.count("ms ±") == 2
    assert "interquartile range of" in printed


def test_long_layer_names_keep_their_ends_within_the_terminal(tmp_path, monkeypatch):
    graph = mlp().graph
    long = "/model/encoder/layers.11/self_attention/"
    for node in graph.node:
        node.name = f"{long}{node.name}"
    model = onnx.helper.make_model(graph, opset_imports=mlp().opset_import)
    monkeypatch.setenv("COLUMNS", "100")
    text = irwua.analyze(model).summary()
    rows = [line for line in text.splitlines() if "Gemm" in line or "MatMul" in line]
    assert rows and all(len(line) <= 100 for line in rows)
    ends = {line.split()[0].rpartition("...")[2] for line in rows}
    assert len(ends) == len(rows)  # the names' ends tell the layers apart


def test_a_closed_pipe_ends_the_command_quietly(mlp_file, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "irwua", "analyze", str(mlp_file), "--out", str(tmp_path / "r")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # as `| head -0` does
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0 and err == b""


def test_progress_on_a_terminal_shows_elapsed_time_rate_and_time_left(monkeypatch):
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    from irwua.runtime import progress as progress_module

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    terminal = os.fdopen(follower, "w")
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_module, "SHOW_AFTER_SECONDS", 0.2)

    def slow():
        for item in range(4):
            time.sleep(0.15)
            yield item

    assert list(progress_module.progress(slow(), 4, "activations")) == [0, 1, 2, 3]
    terminal.flush()
    assert select.select([leader], [], [], 5)[0], "nothing was drawn"
    drawn = os.read(leader, 65536).decode()
    terminal.close()
    os.close(leader)
    assert "activations" in drawn and "/4 [00:00<00:00" in drawn and "batch/s" in drawn
