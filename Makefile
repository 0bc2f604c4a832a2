# Two entry points for a fresh machine (see README):
#   make run   - set up a light virtualenv and score the built-in default
#   make test  - set up a virtualenv with every extra and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: run test setup setup-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e .

# torch first, pinned to the local CPU build: a bare `torch` requirement would pull CUDA wheels.
setup-all: $(BIN)/python
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q -e '.[all]'

run: setup
	$(BIN)/pertool eval

test: setup-all
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
