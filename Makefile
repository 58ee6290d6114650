# Every target creates the virtual environment and installs paylab on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test test-fast lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default: a Castro day simulated, costs in cents.
demo: $(STAMP)
	$(VENV)/bin/paylab simulate experiments/castro/scenarios/exp2.yaml \
		--param BANK_A.initial_liquidity_fraction=0.2 --param BANK_B.initial_liquidity_fraction=0.2

## The whole test suite (what CI runs).
test: $(STAMP)
	$(VENV)/bin/pytest -q

## Skip the tests marked slow.
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check runner sweep tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
