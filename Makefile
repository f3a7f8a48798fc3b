# Two commands do everything on a fresh machine with Python 3.11 and pip:
#   make demo  - set up, start the sandboxes, run the pipeline, print a summary
#   make test  - set up, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PKGS := sandbox/pyproject.toml tap-quickbooks-online/pyproject.toml target-tableau-hyper/pyproject.toml requirements-dev.txt

.PHONY: setup demo test bench clean

setup: $(STAMP)

# Re-runs only when a package definition changes, so a second `make test` starts at once.
$(STAMP): $(PKGS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet \
		-e ./sandbox[test] \
		-e ./tap-quickbooks-online[test] \
		-e ./target-tableau-hyper[test] \
		-r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .meltano output
