# `make demo` and `make test` are all a fresh machine with Python 3.10+ needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The public datasets are read from a local mirror when one sits beside the
# repository (machines without internet); otherwise they are downloaded.
ifneq ($(wildcard ../shared/data),)
export ZOO_DATA_DIR ?= $(abspath ../shared/data)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-slow test-docs lint benchmarks tensorboard

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,serve]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/zoo list
	$(VENV)/bin/zoo translate "Ein Mann fährt Fahrrad." "Zwei Hunde spielen im Schnee." "Eine Frau mit rotem Hut liest ein Buch."
	$(VENV)/bin/zoo generate char-lstm --prompt "ROMEO:" --length 200 --temperature 0.8 --seed 0

# Two test processes (pytest-xdist): much of a test's time is Python and process start-up,
# which one process cannot spread over the two cores. `worksteal` balances the long recipe runs.
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist worksteal

test-slow: $(VENV)/.installed  # one process: the kill-mid-epoch runs time their kills
	$(PY) -m pytest -q -m slow

# The tutorial notebooks (docs/tutorials), each run top to bottom in a fresh kernel: fails on any error
# or failed check, and on a notebook committed without its outputs (refresh them with `--write`).
test-docs: $(VENV)/.installed
	$(PY) docs/tutorials/run_notebooks.py

# every shipped model's training run (saved_models/<name>/logs/), side by side
tensorboard: $(VENV)/.installed
	$(VENV)/bin/tensorboard --logdir saved_models

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check zoo recipes tests benchmarks

benchmarks: $(VENV)/.installed
	$(PY) benchmarks/cells.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/generate.py
	$(PY) benchmarks/char_models.py
	$(PY) benchmarks/captioning.py
