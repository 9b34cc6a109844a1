# Clearline: `make run` runs the main job, `make test` runs the whole suite.
# Both bootstrap .venv from nothing but python3 and the pinned constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CLEARLINE_DATA_DIR ?= .clearline

NATIVE := $(VENV)/.native
# What clearline.native.NATIVE_GROUPS compiles (one mypyc group), and the builder itself.
NATIVE_SOURCES := src/clearline/native.py \
	src/clearline/risk/feature_catalogue.py src/clearline/risk/feature_windows.py \
	src/clearline/risk/feature_state.py src/clearline/risk/features.py

.PHONY: run test lint format bench clean venv native

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The per-event risk features compiled with mypyc from their own Python sources, as one group so
# calls between their modules stay native (clearline.native);
# without a C compiler this warns and the Python source runs, only slower.
$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/python -m clearline.native --optional
	touch $(NATIVE)

native: $(NATIVE)

# The live demo; each run gets a fresh platform in $(CLEARLINE_DATA_DIR)/demo/run-<UTC time>/ and
# reuses the world it generated before. After the replay the API and its /docs stay up until
# Ctrl-C (DEMO_ARGS=--exit-after-replay stops there instead). Pass options with DEMO_ARGS, e.g.
# DEMO_ARGS='--people 3000'.
DEMO_ARGS ?=
run: $(NATIVE)
	$(BIN)/clearline demo $(DEMO_ARGS)

test: $(NATIVE) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(NATIVE)
	$(BIN)/python -m bench.ledger

clean:
	test ! -x $(BIN)/python || $(BIN)/python -m clearline.native --clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
