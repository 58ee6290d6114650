# Every target creates the virtual environment and installs paylab on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test test-slow lint bench install clean study

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default: the demo sweep (3 Castro games × 2 offline
## proposers × 3 replicates) on a local Ray, then the analysis table, the figures
## (results/plots/) and the HTML report, whose path it prints last. Re-running resumes.
demo: $(STAMP)
	$(VENV)/bin/paylab sweep experiments/sweeps/demo.yaml
	$(VENV)/bin/paylab plot results --sweep castro_demo
	$(VENV)/bin/paylab report results --sweep castro_demo

## The Q1-2026 study (docs/studies/q1.md): both sweeps offline into results/q1, its tables,
## figures (results/q1/plots/) and one HTML report per sweep.
study: $(STAMP)
	$(VENV)/bin/paylab sweep experiments/sweeps/q1_campaign.yaml output=results/q1 --executor local --quiet
	$(VENV)/bin/paylab sweep experiments/sweeps/bank_count.yaml output=results/q1 --executor local --quiet
	$(VENV)/bin/paylab analyze results/q1 --sweep q1_bank_count \
	    --by scenario,scenario_overrides.lsm_config.enable_bilateral,model
	$(VENV)/bin/paylab plot results/q1 --out results/q1/plots
	$(VENV)/bin/paylab report results/q1 --sweep q1_campaign --output results/q1/q1_campaign.html
	$(VENV)/bin/paylab report results/q1 --sweep q1_bank_count --output results/q1/q1_bank_count.html \
	    --by scenario,scenario_overrides.lsm_config.enable_bilateral,model

## The default test run (everything but the tests marked slow; ~10 minutes on 2 cores).
test: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

## The slow tests (Ray sweeps, kill-and-resume, a two-node cluster); CI runs them too.
test-slow: $(STAMP)
	$(VENV)/bin/pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check runner sweep paylab_cli tests benchmarks experiments
	$(VENV)/bin/ruff format --check runner sweep paylab_cli tests benchmarks experiments
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/gridlock.py
	$(PY) benchmarks/iteration.py
	$(PY) benchmarks/sweep.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
