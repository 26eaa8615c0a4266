# Everything runs from a virtual environment in .venv, created on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test lint bench

$(BIN)/vidtrack: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/vidtrack

demo: install  ## track the sample clip (people walking); outputs in runs/demo
	$(BIN)/vidtrack track data/pets09-s2l1.mp4 --classes person --out runs/demo

test: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/pytest -q

bench: install
	$(BIN)/python scripts/bench_backends.py --repeats 3 --markdown --json runs/bench/backends.json
