# The two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# One stamp per install flavour: the demo needs only the runtime, the tests the extras.
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: demo test lint system-packages install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@ $(RUNTIME)

install: $(DEV)

demo: $(RUNTIME)
	$(BIN)/staysync demo

# mosquitto, PostgreSQL and Chromium: the tests run against the real ones.
system-packages:
	bash deploy/system-packages.sh

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: system-packages lint
	$(BIN)/pytest

# Every benchmark runs even if one misses its goal; the exit status says if any did.
BENCHES = bench.store bench.ingest bench.sim_scale bench.dispatch bench.dispatch_round bench.sync bench.arrival

bench: system-packages $(DEV)
	@status=0; for b in $(BENCHES); do echo "== $$b"; $(BIN)/python -m $$b || status=1; done; exit $$status

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
