# reclift: make demo | make test | make install | make lint
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.reclift-installed
PYTEST_ARGS ?=
DEMO_DIR ?= demo
DEMO_EVENTS ?= 1000000

export SPARK_LOCAL_IP ?= 127.0.0.1
export OPENBLAS_NUM_THREADS ?= 1
export HF_HUB_OFFLINE ?= 1

.PHONY: install demo test test-fast lint format bench clean

install: $(STAMP)

# Re-run the install whenever the project's declared dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/reclift demo --out $(DEMO_DIR) --events $(DEMO_EVENTS)

# pytest exits 5 when it collects nothing: that is a failure of the suite, say so.
test: install
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not spark and not spark_cluster and not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: install
	$(BIN)/python -m benchmarks.simulator
	$(BIN)/python -m benchmarks.ingestion

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
