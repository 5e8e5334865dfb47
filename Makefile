# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

$(VENV)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[demo]"
	touch $@

.PHONY: demo test lint bench soak
demo: $(VENV)/.demo  ## install what the demo needs and start it (prints its URL; PORT=8000)
	$(PY) examples/demo.py

# The suite mostly waits on real clocks (Redis TTLs), so three workers pay even on 2 cores.
WORKERS ?= 3

test: $(VENV)/.installed  ## install and run the whole test suite (WORKERS=0: one process)
	$(PY) -m pytest -n $(WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.installed  ## ruff and mypy, as CI runs them
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict sessionware

bench: $(VENV)/.installed  ## the peer comparison, in-process then real servers (needs wrk: apt-get install wrk)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m benchmarks $(BENCH_ARGS)
	$(PY) -m benchmarks.servers $(SERVERS_ARGS)
	$(PY) -m benchmarks.big_session
	$(PY) -m benchmarks.redis_read_ladder

SOAK_ARGS ?= --seconds 120 --clients 200

soak: $(VENV)/.installed  ## the soak run: real servers, 200 clients, Redis killed and paused (~2 min)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)
