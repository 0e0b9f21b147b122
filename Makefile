# Set-up and everyday commands. `make demo` and `make test` each work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# The CPU build of PyTorch; a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-fast lint install install-dev clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e .

install-dev: install
	$(BIN)/pip install --quiet -e '.[dev]'

## Install, then train and evaluate on a built-in dataset (digits).
demo: install
	$(BIN)/trainwise fit --data digits --output runs/demo-$$(date +%Y%m%d-%H%M%S)

## Install the dev tools, lint, and run the test suite (slow tests included with SLOW=1).
test: install-dev lint
	$(BIN)/pytest -q -n 2 $(if $(SLOW),,-m "not slow")

test-fast: install-dev
	$(BIN)/pytest -q -n 2 -m "not slow"

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

## System packages for the browser test of the HTML report: Debian's Chromium (needs apt-get).
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
system-deps:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: already installed"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		( $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium ) \
		|| echo "chromium could not be installed: the browser test will be skipped"; \
	else echo "no apt-get here: install Chromium at /usr/bin/chromium, or the browser test is skipped"; fi

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
