# Everything runs inside .venv, made from the python3 on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A stamp per install flavour, remade whenever pyproject.toml changes.
# The "compat" editable install is a plain path entry: the default import-hook finder
# costs every command about 25 ms of start-up (docs/performance.md).
EDITABLE := --config-settings editable_mode=compat -e
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(EDITABLE) .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(EDITABLE) '.[dev]'
	touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/stepsched table --lr 0.1 --step-size 30
	$(BIN)/stepsched plot --lr 0.1 --step-size 30 --total 120 -o lr.png --force

# Three stages: the suite with branch coverage of the package (at least 95%), the
# hostile-input corpus, then a smoke run of the README through the console script.
COVERAGE := --cov=stepsched_cli --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n 2 tests stepsched_cli --ignore=tests/hardening -m "not smoke" $(COVERAGE)
	$(BIN)/python -m pytest tests/hardening
	$(BIN)/python -m pytest tests -m smoke

lint: $(DEV_STAMP)
	$(BIN)/ruff check stepsched_cli tests scripts
	$(BIN)/ruff format --check stepsched_cli tests scripts
	$(BIN)/mypy --strict stepsched_cli

bench: $(DEV_STAMP)
	$(BIN)/python scripts/bench.py

# Long coverage-guided fuzzing of the readers (not part of make test); FUZZ_SECONDS=3600.
FUZZ_SECONDS ?= 300
fuzz: $(DEV_STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/python -m pip install --quiet atheris
	mkdir -p fuzz/corpus
	cp -n tests/data/checkpoints/* tests/data/hostile/*.p* tests/data/attack/*.pt fuzz/corpus/ 2>/dev/null || true
	find tests/data/bad -maxdepth 1 -type f -size -1M -exec cp -n {} fuzz/corpus/ \;
	$(BIN)/python fuzz/fuzz_readers.py fuzz/corpus -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
