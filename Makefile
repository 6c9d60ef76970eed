# HTSĐ Workflow — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app htsd_workflow
HOST ?= 127.0.0.1
PORT ?= 5000
TEST_WORKERS ?= 2

.PHONY: run test check install migrate seed lint format bench worker beat web clean translations

$(BIN)/activate: requirements.txt requirements-dev.txt bench/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

migrate: install
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed-demo

# Serves http://$(HOST):$(PORT) with demo data, plus a real Celery worker and beat.
run: seed
	$(BIN)/python -m htsd_workflow.devserver --host $(HOST) --port $(PORT)

# The whole suite, on both cores (pytest-xdist: each worker its own SQLite files and its own
# throwaway PostgreSQL database). Tests are handed out one at a time, in the order
# tests/conftest.py sets (the longest first): xdist's default first hands each worker a quarter
# of its share in one block, which gave one worker every slow test.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS)

# The edit-run loop: lint and the fast tests on SQLite (no servers, browsers or worker processes).
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL -u REQUIRE_SERVICES \
		$(BIN)/pytest -q -n $(TEST_WORKERS) -m "not slow and not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.run

# The screens are written in Vietnamese; English lives in htsd_workflow/translations/en.
# After changing screen words: `make translations`, fill in the new English entries of
# messages.po, then `make translations` again (the compiled .mo is committed, so a fresh
# checkout needs no build step; tests/web/test_translations.py checks it is current).
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--omit-header -o htsd_workflow/translations/messages.pot .
	$(BIN)/pybabel update -i htsd_workflow/translations/messages.pot -d htsd_workflow/translations \
		--width 100 --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d htsd_workflow/translations --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache
