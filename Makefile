# promkit: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/pytest
# Integration and e2e suites may be pointed at a subset: make test-integration K=vm
K ?=

.PHONY: setup run test system-deps lint format test-unit test-integration test-e2e bench clean docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/promkit ui

system-deps:
	bash scripts/install-system-deps.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test-unit: setup
	$(PYTEST) tests/unit -q $(if $(K),-k "$(K)")

test-integration: setup
	$(PYTEST) tests/integration -q $(if $(K),-k "$(K)")

test-e2e: setup
	$(PYTEST) tests/e2e -q $(if $(K),-k "$(K)")

test: system-deps setup lint
	$(PYTEST) tests -q -p no:cacheprovider

bench: setup system-deps
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# docs/cli.md and docs/exit-codes.md are generated from the CLI; tests/unit/test_docs.py checks them.
docs: setup
	$(BIN)/python scripts/gen_cli_docs.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
