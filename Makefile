# The README's commands. Everything runs in .venv, made here from the first python3 >= 3.10.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11 python3.10; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
BENCH_BIN := .venv-bench/bin

.PHONY: demo test bench lint fmt typecheck migrations-check clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.10+ is needed"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[crypto]" --group dev
	touch $@

## demo: migrate the example project's SQLite database, create the demo user, print the URL of
## the demo page and serve it (DEMO_ADDRESS=127.0.0.1:8001 make demo: another port)
DEMO_ADDRESS ?= 127.0.0.1:8000
demo: $(BIN)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m example_project.demo_user http://$(DEMO_ADDRESS)/
	$(BIN)/python manage.py runserver $(DEMO_ADDRESS)

## test: the whole test suite (SQLite; PostgreSQL/Redis too when DATABASE_URL/REDIS_URL are set),
## the custom-user suite included (one process per user model: AUTH_USER_MODEL is set at start)
test: $(BIN)/.installed
	$(BIN)/python -m pytest
	$(BIN)/python -m tests.custom_user

## bench: tokenauth vs simplejwt, knox and oauth-toolkit, installed into .venv-bench; SQLite,
## plus PostgreSQL and Redis when reachable (DATABASE_URL / REDIS_URL, or the local defaults)
bench: $(BENCH_BIN)/.installed
	$(BENCH_BIN)/python -m benchmarks $(BENCH_ARGS)

$(BENCH_BIN)/.installed: pyproject.toml benchmarks/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.10+ is needed"; exit 1; }
	test -x $(BENCH_BIN)/python || $(PYTHON) -m venv .venv-bench
	$(BENCH_BIN)/python -m pip install --quiet --upgrade pip
	$(BENCH_BIN)/python -m pip install --quiet -e ".[crypto]" -r benchmarks/requirements.txt
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check tokenauth tests example_project benchmarks
	$(BIN)/ruff format --check tokenauth benchmarks

fmt: $(BIN)/.installed
	$(BIN)/ruff format tokenauth tests example_project benchmarks
	$(BIN)/ruff check --fix tokenauth tests example_project benchmarks

typecheck: $(BIN)/.installed
	$(BIN)/mypy

migrations-check: $(BIN)/.installed
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m django makemigrations --check --dry-run tokenauth

clean:
	rm -rf $(VENV) .venv-bench .tox .mypy_cache .ruff_cache example_project/db.sqlite3
