# Everything runs inside .venv, made from the python3 on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A stamp per install flavour, remade whenever pyproject.toml or this file changes.
# The default editable install (setuptools' import-hook finder): "compat" mode, which
# setuptools deprecates, no longer starts measurably faster (docs/performance.md).
# setuptools tells every editable install of a flat layout that folders named like
# the package may take precedence: here that folder is the package, so it is silenced.
EDITABLE := -e
QUIET_BUILD := PYTHONWARNINGS="ignore:Editable installation:UserWarning"
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml Makefile | $(BIN)/python
	$(QUIET_BUILD) $(BIN)/python -m pip install --quiet $(EDITABLE) .
	touch $@

$(DEV_STAMP): pyproject.toml Makefile | $(BIN)/python
	$(QUIET_BUILD) $(BIN)/python -m pip install --quiet $(EDITABLE) '.[dev]'
	touch $@ $(RUNTIME_STAMP)

# The design card's commands as typed: every schedule option has a default, and an
# image is regenerable output, so a second `make demo` replaces lr.png.
demo: $(RUNTIME_STAMP)
	$(BIN)/stepsched table
	$(BIN)/stepsched plot -o lr.png
	@echo "$(CURDIR)/lr.png: the seed schedule (lr 0.1, x0.1 every 30 steps: 0.1, 0.01,"
	@echo "0.001, 0.0001) over steps 0-119, each decay marked; open it in an image viewer."

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
	find tests/data/bad -maxdepth 1 -type f -size -1024k -exec cp -n {} fuzz/corpus/ \;
	find tests/data/real tests/data/frameworks -type f -size -1024k | while read -r f; do \
		cp -n "$$f" "fuzz/corpus/$$(echo "$$f" | tr / _)"; done
	$(BIN)/python fuzz/fuzz_readers.py fuzz/corpus -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
