# The two commands a newcomer needs:  make demo  and  make test.
PYTHON ?= python3
VENV ?= .venv
LOWEST ?= .venv-lowest
BIN := $(VENV)/bin
PORT ?= 5000
# the suite mostly waits on the database servers: several workers overlap those waits
PYTEST_WORKERS ?= 4

AXE := .node/node_modules/axe-core/axe.min.js

.PHONY: demo test test-lowest lint docs bench chromium axe clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install -q -e ".[example]"
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install -q -e ".[test,dev]"
	touch $@

## make demo: the example club site with demo data on SQLite, at http://127.0.0.1:5000
demo: $(VENV)/.runtime
	$(BIN)/flask --app example_app avg init-db
	$(BIN)/flask --app example_app demo-seed
	$(BIN)/flask --app example_app run --host 127.0.0.1 --port $(PORT)

## make test: install everything the tests need, then lint, type-check, test and build the docs
test: $(VENV)/.dev chromium axe
	$(BIN)/ruff check flask_avg example_app tests bench
	$(BIN)/ruff format --check flask_avg example_app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=25
	$(BIN)/sphinx-build -W -q -b html docs docs/_build/html

## make test-lowest: the suite on SQLite with the lowest version of every dependency setup.cfg allows
$(LOWEST)/.installed: setup.cfg pyproject.toml .ci/lowest.py
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python .ci/lowest.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/pip install -q -c $(LOWEST)/constraints.txt -e ".[test]"
	touch $@

# Left to make test: browser tests, benchmarks and the 128 blueprint subsets call no library
# code the rest of the suite does not, and would double this leg's time.
test-lowest: $(LOWEST)/.installed
	@echo "dependency floors under test: $$(tr '\n' ' ' < $(LOWEST)/constraints.txt)"
	AVG_TEST_DATABASES=sqlite $(LOWEST)/bin/python -m pytest -q -n $(PYTEST_WORKERS) -m "not browser" \
	  --ignore=tests/project/test_bench_smoke.py \
	  --deselect=tests/core/test_lifecycle.py::test_every_subset_of_blueprints_erases_the_same

lint: $(VENV)/.dev
	$(BIN)/ruff check flask_avg example_app tests bench
	$(BIN)/mypy

docs: $(VENV)/.dev
	$(BIN)/sphinx-build -W -b html docs docs/_build/html

## make bench: every benchmark, printing ratios against baselines measured in the same run
bench: $(VENV)/.dev
	$(BIN)/python -m bench

# Browser tests drive Debian's chromium; never a downloaded browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: browser tests will be skipped (apt-get install chromium)"; fi; }

# The accessibility sweep (tests/browser) runs axe-core from the npm registry, never a CDN.
axe: $(AXE)

$(AXE):
	npm install --prefix .node --no-save --no-audit --no-fund axe-core@4

clean:
	rm -rf $(VENV) $(LOWEST) .node instance docs/_build .pytest_cache .mypy_cache .ruff_cache
