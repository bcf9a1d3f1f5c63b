# photostream: every target works from a fresh clone; the stack installs itself into .stack/.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# every target drives the local stack, which runs on placeholder secrets (refused outside development mode)
export PHOTOSTREAM_DEV_MODE ?= true

.PHONY: install up down status test lint bench demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

up: install
	$(BIN)/photostream stack up

down: install
	$(BIN)/photostream stack down

status: install
	$(BIN)/photostream stack status

## the whole suite on the real stack; leaves the stack as it found it. Two sessions side by side (pytest-xdist),
## each with its own worker, API, keyspace, Redis database, bucket and consumer groups: tests mostly wait on
## the pipeline, so two cut the wall time by a third on two cores (one session: TEST_SESSIONS=1)
TEST_SESSIONS ?= 2
test: install
	bash scripts/test.sh -n $(TEST_SESSIONS) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy photostream producers streams sinks api benchmarks
	$(BIN)/python -m photostream.contracts.compat

bench: install
	bash scripts/bench.sh

demo: install
	bash scripts/demo.sh

clean: down
	rm -rf .stack
