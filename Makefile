# MNIST Studio. `make run` starts the app, `make test` runs every test; both set up first.
# Everything is installed into .venv/ in the project, from requirements*.txt, and the project
# itself in editable mode (so `.venv/bin/mnist-studio` works from any folder).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint fetch browser screenshots bench clean

$(VENV)/.app-installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps --editable .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

fetch: $(VENV)/.app-installed
	$(PY) -m mnist_core fetch

run: fetch
	$(VENV)/bin/streamlit run serve.py

# The browser tests drive Debian's Chromium through Playwright (which cannot download its own).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: install Debian's chromium package for the browser tests"; fi; }

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint fetch browser
	$(PY) -m pytest

# Refresh docs/screenshots/ (shown in the README) from the browser tests.
screenshots: $(VENV)/.dev-installed fetch browser
	MNIST_STUDIO_SCREENSHOTS=1 $(PY) -m pytest tests/e2e -q

bench: $(VENV)/.dev-installed fetch browser
	$(PY) benchmarks/run.py --seeds

clean:
	rm -rf $(VENV) .cache .pytest_cache exports
