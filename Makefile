# Two commands: `make demo` and `make test`. Each creates the virtualenv
# (.venv) on first use and reinstalls when setup.py changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

# `make test PYTEST_ARGS="-n 2 --dist loadfile"` runs the suite on two
# pytest-xdist workers, a test file per worker at a time (so each
# end-to-end file's trained and served model is built once); 21 min on
# two cores shared with other jobs. Not the default yet: the timed
# assertion of tests/export/test_search_bench.py (the search signature's
# rate below the embedding's) failed in both two-worker runs, and passes
# alone.
PYTEST_ARGS ?=

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check mmkeras serving scripts tests

clean:
	rm -rf $(VENV) build *.egg-info
