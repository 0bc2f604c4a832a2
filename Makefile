# Two entry points for a fresh machine (see README):
#   make run   - set up a light virtualenv and evaluate baseline/history on the built-in benchmark
#   make test  - set up a virtualenv with every extra and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# pytest workers: most tests wait on subprocesses and loopback servers, so two workers halve the
# wall time on two cores; one file per worker keeps module fixtures built once.
TEST_WORKERS ?= 2
# One torch (OpenMP) thread per worker: two workers with two threads each on two cores spin-wait
# on each other (a SmolLM2 LoRA test measured 100 s of CPU with two threads, 30 s with one).
TEST_THREADS ?= 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup setup-all chromium clean

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

# The report's browser tests drive Debian's Chromium through Playwright (no browser download);
# installed here when missing (root or sudo).
chromium:
	@command -v chromium >/dev/null || (command -v apt-get >/dev/null && \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   $(SUDO) apt-get install -y -qq --no-install-recommends chromium) \
	  || echo "could not install chromium; the browser tests will say so")

test: setup-all chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	CI=$${CI:-1} OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$(TEST_THREADS)} \
	  $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
