# Clearline: `make run` runs the main job, `make test` runs the whole suite.
# Both bootstrap .venv from nothing but python3 and the pinned constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CLEARLINE_DATA_DIR ?= .clearline

.PHONY: run test lint format bench clean venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The live demo; each run gets a fresh platform in $(CLEARLINE_DATA_DIR)/demo/run-<UTC time>/ and
# reuses the world it generated before. Pass options with DEMO_ARGS, e.g. DEMO_ARGS='--people 3000'.
DEMO_ARGS ?=
run: $(STAMP)
	$(BIN)/clearline demo $(DEMO_ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench.ledger

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
