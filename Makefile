PY ?= python3
# TORCH_INDEX=<index URL of the CPU wheels> on a machine whose pip would otherwise pick a CUDA build of torch
TORCH_INDEX ?=
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint demo bench data model clean

setup:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	$(BIN)/pip install -q -e ".[dev]"

test:
	$(BIN)/python -m pytest -x

lint:
	$(BIN)/ruff check starmd cli tests benchmarks

demo:
	$(BIN)/starmd demo

bench:
	$(BIN)/python benchmarks/run_all.py

# regenerate the bundled MD (data/README.md; ~2 h on one core, resumable) and retrain the default model (~30 min)
data:
	bash data/make_dataset.sh

model:
	$(BIN)/starmd train --spec checkpoints/default.train.yaml

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis build *.egg-info
