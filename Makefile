PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint demo bench data model clean

setup:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"

test:
	$(BIN)/python -m pytest -x

lint:
	$(BIN)/ruff check starmd cli tests benchmarks

demo:
	$(BIN)/starmd demo

bench:
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis build *.egg-info
