# CareLoop: `make demo` to run it, `make test` to check it. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PYTEST := $(BIN)/python -m pytest
# Browser assets come from the npm registry (package-lock.json), never from a CDN; the
# copy under static/vendor is made here and never committed (.gitignore).
HTMX := src/careloop/portal/static/vendor/htmx.min.js
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo serve install install-dev assets chromium tesseract wrk test lint typecheck test-sqlite test-postgres bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) $(HTMX)
install-dev: $(DEV_STAMP) $(HTMX)

## assets: install the portal's browser assets (htmx) from the npm registry
assets: $(HTMX)

$(HTMX): package.json package-lock.json
	@command -v npm >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends npm)
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(dir $@)
	cp node_modules/htmx.org/dist/htmx.min.js $@

## chromium: Debian's chromium for the browser tests (Playwright drives it; see DEVELOPERS.md)
chromium:
	@test -x $(CHROMIUM) || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

## tesseract: Debian's tesseract-ocr, which reads faxed orders that have no text layer
tesseract:
	@command -v tesseract >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng)

## wrk: Debian's wrk, the load client of the benches (it leaves the CPU to the server)
wrk:
	@command -v wrk >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends wrk)

## demo: install, migrate and seed ./var/careloop.sqlite3, serve on http://127.0.0.1:8000
demo: $(STAMP) $(HTMX) tesseract
	mkdir -p var
	$(BIN)/careloop demo

serve: $(STAMP) $(HTMX)
	$(BIN)/careloop serve

## test: every check: format, lint, types, layering, tests on SQLite and PostgreSQL
test: $(DEV_STAMP) lint typecheck test-sqlite test-postgres

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

test-sqlite: $(DEV_STAMP) $(HTMX) chromium tesseract
	$(PYTEST) -n 2 --db sqlite tests

test-postgres: $(DEV_STAMP) $(HTMX)
	$(PYTEST) -n 2 --db postgres tests/integration tests/api tests/migrations tests/portal

## bench: throughput and latency figures (PostgreSQL at CARELOOP_BENCH_POSTGRES_URL)
bench: $(DEV_STAMP) wrk
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/intake_pg.py
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/workqueue.py
	$(BIN)/python bench/worker.py
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) var/*.sqlite3*
