# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

FUTURE_DAYS ?= 400
# End-to-end files with no business date in them (the server's lifecycle, the OpenAPI
# documents, the schema fuzzer, input validation, the mail worker's process): the
# future run leaves them out to keep CI within its time.
DATELESS := test_serve.py test_docs.py test_schema.py test_hostile_input.py test_mail_worker.py

.PHONY: run test test-future lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run ## Serve the API on the embedded PostgreSQL under .ledger/
	$(BIN)/ledger serve

lint: $(VENV)/.installed-test ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The test run starts many servers, each with its `ledger mail` child, on two cores:
# their mailers' sessions take a fair share (production's default, 10, yields to the
# server; tests/e2e/test_mail_worker.py checks it), or a mail test waits behind them.
TEST_ENV = LEDGER_MAIL_SESSION_NICENESS=0

test: lint ## Lint, type-check and run every test
	$(TEST_ENV) $(BIN)/pytest -n 2 --dist loadfile -m "not serial" $(PYTEST_ARGS)
	$(TEST_ENV) $(BIN)/pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-future: $(VENV)/.installed-test ## The end-to-end tests with the clock FUTURE_DAYS ahead
	$(TEST_ENV) LEDGER_CLOCK_OFFSET_DAYS=$(FUTURE_DAYS) $(BIN)/pytest -n 2 --dist loadfile tests/e2e -q \
		$(addprefix --ignore=tests/e2e/,$(DATELESS)) $(PYTEST_ARGS)

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-test ## Benchmarks beside a raw PostgreSQL baseline
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
