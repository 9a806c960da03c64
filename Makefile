# mm: the two commands that matter are `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/paper.toml
PYTEST_ARGS ?=

.PHONY: up test lint bench bench-quick chaos chaos-quick soak clean-shm status venv help

help:
	@echo "make up      - set up .venv and run the process group in paper mode ($(CONFIG))"
	@echo "make test    - set up .venv, lint (ruff + mypy) and run the test suite"
	@echo "make bench   - run the benchmarks and print figures"
	@echo "make chaos   - run the fault and failure-mode scenarios, print the table"
	@echo "make soak    - run the paper group for SOAK_S seconds (default 600): memory growth, latency drift"
	@echo "make status  - mmctl status of the running group"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,research]'
	@touch $(STAMP)

venv: $(STAMP)

up: $(STAMP)
	exec $(PY) -m procs.supervisor --config $(CONFIG)

status: $(STAMP)
	$(VENV)/bin/mmctl status

lint: $(STAMP)
	$(VENV)/bin/ruff check mm ipc procs tests bench chaos
	$(VENV)/bin/mypy

test: $(STAMP) lint
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

BENCH_STAMP := $(VENV)/.bench-installed

# The `bench` extra (hftbacktest, a benchmark-only peer). hftbacktest 2.4 declares numpy < 2.3 but
# runs on the project's numpy (identical figures on 2.2.6 and 2.3.5): --no-deps keeps the venv's
# numpy, so `make bench` never changes what `make test` type-checks against.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q --no-deps 'hftbacktest>=2.4,<2.5'
	@touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m bench.run

bench-quick: $(STAMP) $(BENCH_STAMP)
	$(PY) -m bench.run --quick

chaos: $(STAMP)
	$(PY) -m chaos.run $(CHAOS_ARGS)

chaos-quick: $(STAMP)
	$(PY) -m chaos.run --quick $(CHAOS_ARGS)

# The soak run alone: the trading paper group for SOAK_S seconds: private memory growth per process
# after the warm-up (the first fifth) and RSS growth in all, latency drift (var/chaos/soak.json).
SOAK_S ?= 600
soak: $(STAMP)
	SOAK_S=$(SOAK_S) $(PY) -m chaos.run --only soak --out var/chaos/soak.json $(CHAOS_ARGS)

clean-shm: $(STAMP)
	$(PY) -m ipc.segments --clean-stale
