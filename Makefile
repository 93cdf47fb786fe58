# MNIST Studio. `make run` starts the app, `make test` runs every test; both set up first.
# Everything is installed into .venv/ in the project, from requirements*.txt.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: run test fetch bench clean

$(VENV)/.app-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

fetch: $(VENV)/.app-installed
	$(PY) -m mnist_core fetch

run: fetch
	$(VENV)/bin/streamlit run streamlit_app.py

test: $(VENV)/.dev-installed fetch
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .cache .pytest_cache exports
