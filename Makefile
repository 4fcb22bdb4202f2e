# make run  — set up everything and serve the demo on http://127.0.0.1:8000
# make test — the whole suite
# make bench — the benchmark, about 10 minutes (bench/README.md); BENCH_ARGS=--quick for a smoke run
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test bench install migrate seed messages lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

var/demo-password:
	@mkdir -p var
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(12))" > $@
	@chmod 600 $@

# make run is for trying the product locally: DEBUG on unless the environment says otherwise.
run: export DEBUG ?= true
run: $(STAMP) var/demo-password
	$(BIN)/python manage.py migrate --no-input -v 0
	DEMO_PASSWORD="$${DEMO_PASSWORD:-$$(cat var/demo-password)}" $(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl+C stops)"
	$(BIN)/daphne -b $(HOST) -p $(PORT) --websocket-max-message-size 65536 chatserver.asgi:application

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Refresh the French catalogues after changing user-facing strings (needs GNU gettext).
messages: $(STAMP)
	DEBUG=true $(BIN)/python manage.py makemessages -l fr -d django --no-obsolete --ignore=.venv --ignore=var --ignore=tests
	DEBUG=true $(BIN)/python manage.py makemessages -l fr -d djangojs --no-obsolete --ignore=.venv --ignore=var --ignore=var/static --ignore=tests
	DEBUG=true $(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var
