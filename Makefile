# CareLoop: `make demo` to run it, `make test` to check it. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PYTEST := $(BIN)/python -m pytest

.PHONY: demo serve install install-dev test lint typecheck test-sqlite test-postgres bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

## demo: install, migrate and seed ./var/careloop.sqlite3, serve on http://127.0.0.1:8000
demo: $(STAMP)
	mkdir -p var
	$(BIN)/careloop demo

serve: $(STAMP)
	$(BIN)/careloop serve

## test: every check: format, lint, types, layering, tests on SQLite and PostgreSQL
test: $(DEV_STAMP) lint typecheck test-sqlite test-postgres

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

test-sqlite: $(DEV_STAMP)
	$(PYTEST) -n 2 --db sqlite tests

test-postgres: $(DEV_STAMP)
	$(PYTEST) -n 2 --db postgres tests/integration tests/api tests/migrations

## bench: throughput and latency figures (PostgreSQL at CARELOOP_BENCH_POSTGRES_URL)
bench: $(DEV_STAMP)
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/workqueue.py

clean:
	rm -rf $(VENV) var/*.sqlite3*
