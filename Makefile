# Developer entry points. Every target builds .venv from nothing when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins packages that clash with the app's, so the policy scan gets its own venv.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed
ARGS ?=

.PHONY: venv test lint run bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(INFRA_STAMP): infra/requirements-checkov.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet -r infra/requirements-checkov.txt
	touch $(INFRA_STAMP)

venv: $(STAMP) $(INFRA_STAMP)

test: $(STAMP) $(INFRA_STAMP)
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

run: $(STAMP)
	$(PY) -m simulation run $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) $(INFRA_VENV) .devhost .pytest_cache .ruff_cache
