# The single entry point: the README's commands and .ci/run call these targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast fmt lint types bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)  ## install VibePiper with every extra and the dev tools into .venv

demo: $(STAMP)  ## run the quick-start flow, then list the runs it recorded
	$(BIN)/python examples/quickstart.py
	$(BIN)/vibepiper flow-run ls --limit 5

test: $(STAMP)  ## the whole suite (what .ci/run runs)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: $(STAMP)  ## everything but the slow subprocess tests
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy src/vibepiper

bench: $(STAMP)  ## benchmarks/, writes benchmarks/RESULTS.md
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
