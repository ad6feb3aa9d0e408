# The two commands a new user needs:
#   make run    set up (virtualenv + dependencies) and start Trellis, embedded: SQLite + SQLite broker
#   make test   set up and run lint, type checks and the whole test suite
# Both install everything from this repository's own files.

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck browser-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Trellis needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trellis serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's chromium; install it when we can (root, apt), else they skip.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) && echo "installed chromium"; \
	  else echo "note: /usr/bin/chromium missing and not root: browser tests will be skipped"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) browser-deps lint typecheck
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/import_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
