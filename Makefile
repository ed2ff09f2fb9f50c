# irwua - set-up, demo, tests and benchmarks. Everything installs into .venv.
#   make demo     analyze the bundled example model and print where the report is
#   make test     ruff + the whole test suite
#   make install  .venv with every extra (torch, tensorflow)
#   make bench    benchmarks (side-by-side ratios)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# setuptools tells every editable install of a package-dir mapping (passes/ -> irwua.passes) to
# mind same-named folders: information only, so not printed.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip \
  --disable-pip-version-check -q
DEMO_OUT := demo-report
# The front-end releases this machine has (torch: the CPU wheel in /opt/wheels); the extras in
# pyproject.toml take ranges, these pins are added to the installs that use the extras.
TORCH := 'torch==2.13.0'
TENSORFLOW := 'tensorflow-cpu==2.21.*' 'tf2onnx==1.17.*'

.PHONY: demo test install bench lint dot chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools

# One stamp per set of extras, redone when pyproject.toml changes.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

# The test suite exercises both front-ends, so the dev set includes torch and tensorflow.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev,torch,tensorflow]" $(TORCH) $(TENSORFLOW)
	touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev,all]" $(TORCH) $(TENSORFLOW)
	touch $@

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev,torch,bench]" $(TORCH)
	touch $@

# Graphviz's `dot` renders the diagrams; without it irwua still writes .dot sources.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's graphviz (for the dot binary)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "note: Graphviz 'dot' is missing; install it with 'sudo apt-get install graphviz'" \
	         "(irwua still works and writes .dot sources)"; \
	  fi; }

# The report tests open the HTML in a real headless Chromium (skipped, with the reason, without it).
chromium:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium and chromium-driver (for the report tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver >/dev/null; \
	  else \
	    echo "note: chromium is missing; install it with 'sudo apt-get install chromium" \
	         "chromium-driver' (the browser tests are skipped without it)"; \
	  fi; }

# `irwua demo` analyzes the digits CNN bundled in the package (irwua/demo/, also examples/).
demo: $(VENV)/.core dot
	@echo "irwua is installed in $(VENV): activate it (. $(BIN)/activate) or run $(BIN)/irwua"
	$(BIN)/irwua demo --out $(abspath $(DEMO_OUT))

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_structure.py

test: $(VENV)/.dev dot chromium lint
	$(BIN)/python -m pytest -q

install: $(VENV)/.all dot

bench: $(VENV)/.bench
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache build *.egg-info
