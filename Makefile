# filemonitor: `make run` serves the API on 127.0.0.1:8000; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test soak lint format bench bench-quick clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip check
	touch $(STAMP)

setup: $(STAMP)

# A secret key generated once and kept (0600) in var/, unless DJANGO_SECRET_KEY is set.
SECRET_FILE := var/secret_key
WITH_SECRET = DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_FILE))}"

$(SECRET_FILE):
	mkdir -p var
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $(SECRET_FILE)

run: setup $(SECRET_FILE)
	$(WITH_SECRET) $(MANAGE) migrate --noinput
	$(WITH_SECRET) $(MANAGE) collectstatic --noinput --verbosity 0
	$(WITH_SECRET) $(MANAGE) ensure_admin
	$(WITH_SECRET) $(MANAGE) serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long-running variants (pytest -m soak: more kills, more restarts, bigger batches)
# that `make test` leaves out (pyproject.toml addopts: -m "not soak").
soak: setup
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks (bench/): full run < 15 minutes, quick run < 2 minutes. They need PostgreSQL's
# server binaries (a private cluster is started), Redis on 127.0.0.1:6379 and curl.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	$(BIN)/pip check
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf var .pytest_cache
