# The two commands that matter: `make run` and `make test`. Everything else is a step of theirs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/common services/identity services/campaign services/candidature \
            services/matching services/notification services/support
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: install run stack test lint format typecheck pytest bench-matching clean

$(STAMP): requirements-dev.txt $(PYPROJECTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -e 'libs/common[stack]' \
	    $(addprefix -e ,$(filter-out libs/common,$(PACKAGES)))
	touch $(STAMP)

install: $(STAMP) ## create .venv and install every package editable

run: install ## backing servers + every service + demo campaign
	$(BIN)/python -m appariement.common.stack run

stack: install ## only the backing servers (PostgreSQL, Kafka-protocol broker, SMTP sink)
	$(BIN)/python -m appariement.common.stack up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy libs/common/src/appariement/common services/matching/src/appariement/matching/engine

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest ## lint, type-check and the whole test suite on real servers

bench-matching: install ## matching engine benchmarks (figures printed, not asserted)
	$(BIN)/python -m benchmarks.matching

clean:
	rm -rf $(VENV) var
