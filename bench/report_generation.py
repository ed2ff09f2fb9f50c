"""Report generation: time and size of report.html next to the analysis it shows.

For each model, every repetition is a fresh process that runs ``irwua.analyze`` and then renders
the report (charts with matplotlib, diagrams with dot, templates), timing both; the bench prints
the medians, the ratio report/analysis, the page size (target < 10 MB) and, when Chromium and
chromedriver are installed, how long the page takes to load and lay out in headless Chromium.

Models: the light ResNet-50 and DenseNet-121 of the onnx wheel (flops + metrics, no data: 107
and 484 layers), the trained digits CNN of examples/ (flops + metrics + pathways on its 450 images),
and a synthetic chain of 300 Gemm+Relu layers (flops + metrics on 64 samples).

Usage: python bench/report_generation.py [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import REPO_ROOT, CommandFailed, machine_info, run_timed

MODELS = ("light_resnet50", "light_densenet121", "digits_cnn", "deep_300")
SIZE_LIMIT = 10 * 2**20


def build(name: str):
    """(model, data, passes) of a benchmark model."""
    import numpy as np
    import onnx

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from report_models import DIGITS_CNN, DIGITS_IMAGES, deep_mlp

    if name.startswith("light_"):
        light = pathlib.Path(onnx.__file__).parent / "backend/test/data/light"
        return str(light / f"{name}.onnx"), None, ["flops", "metrics"]
    if name == "digits_cnn":
        return str(DIGITS_CNN), np.load(DIGITS_IMAGES), ["flops", "metrics", "pathways"]
    data = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    return deep_mlp(layers=300), data, ["flops", "metrics"]


def worker(name: str, out: str) -> None:
    """One repetition: analyze, render and write the report; print the timings as JSON."""
    import irwua
    from irwua.report.analysis_page import render_report
    from irwua.report.files import write_files

    model, data, passes = build(name)
    start = time.perf_counter()
    analysis = irwua.analyze(model, data, passes=passes)
    analyzed = time.perf_counter()
    files = render_report(analysis)
    rendered = time.perf_counter()
    write_files(pathlib.Path(out), files)
    result = {
        "analyze": analyzed - start,
        "report": rendered - analyzed,
        "bytes": len(files["report.html"].encode("utf-8")),
        "layers": len(analysis.graph.layers),
    }
    print(json.dumps(result))


def load_seconds(page: pathlib.Path) -> float | None:
    """Seconds headless Chromium takes to load and lay out ``page``; None without Chromium."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(page.resolve().as_uri())
        return driver.execute_script(
            "return performance.getEntriesByType('navigation')[0].loadEventEnd / 1000"
        )
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repetition per model")
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    repeats = 1 if args.quick else args.repeats
    print("report generation: analyze vs render report.html, fresh process per repetition")
    print(machine_info())
    header = f"{'model':<16}{'layers':>7}{'analyze s':>11}{'report s':>10}{'report/analyze':>16}"
    print(f"{header}{'MB':>7}{'< 10 MB':>9}{'Chromium load s':>17}")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            out = pathlib.Path(tmp) / name
            runs = []
            try:
                for _ in range(repeats):
                    argv = [sys.executable, __file__, "--worker", name, str(out)]
                    runs.append(json.loads(run_timed(argv)[1]))
            except CommandFailed as exc:
                print(f"{name}: failed: {exc}")
                failed = True
                continue
            analyze = statistics.median(r["analyze"] for r in runs)
            report = statistics.median(r["report"] for r in runs)
            size = runs[-1]["bytes"]
            loaded = load_seconds(out / "report.html")
            print(
                f"{name:<16}{runs[-1]['layers']:>7}{analyze:>11.2f}{report:>10.2f}"
                f"{report / analyze:>16.2f}{size / 2**20:>7.2f}"
                f"{'yes' if size < SIZE_LIMIT else 'NO':>9}"
                f"{'n/a' if loaded is None else f'{loaded:.2f}':>17}"
            )
            failed |= size >= SIZE_LIMIT
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
