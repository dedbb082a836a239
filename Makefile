# Set-up, tests, demo and benchmarks. Every target works on a fresh clone: it makes the virtual
# environment and installs into it as needed. Run `make help` for the list.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/pip install -c constraints.txt
# Triton kernels run on the CPU through Triton's interpreter unless told otherwise
# (`make test TRITON_INTERPRET=0` on a GPU machine runs them compiled).
TRITON_INTERPRET ?= 1
# Lint only the folders that exist (benchmarks/ may not yet).
LINT_PATHS := $(wildcard norse tests benchmarks)

.PHONY: help venv install install-runtime demo test docs lint format bench gpu-check clean distclean

help:
	@echo "make demo     train the digits demo (creates $(VENV) and installs on first use)"
	@echo "make test     unit tests, the doctests in norse/, then the documentation site (make docs)"
	@echo "make docs     build the documentation site into docs/_build/html (warnings are errors)"
	@echo "make install  editable install with the test extras into $(VENV)"
	@echo "make lint     ruff check + ruff format --check"
	@echo "make format   ruff format + ruff check --fix"
	@echo "make bench    benchmarks/bench_lif.py"
	@echo "make gpu-check  CUDA tests, fused-vs-reference equivalence and GPU benchmarks (benchmarks/gpu_check.py)"
	@echo "make clean    remove build and cache files (keeps $(VENV)); distclean also removes $(VENV)"

# The virtual environment; nothing in it is upgraded.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

venv: $(BIN)/python

# Stamps make repeated runs fast: pip runs again only when the dependencies change.
$(VENV)/.installed-runtime: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

# The test extras include the runtime dependencies, so this satisfies the runtime stamp too.
$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[test]"
	touch $@ $(VENV)/.installed-runtime

# The documentation extras (Sphinx, its theme, myst-nb) on top of the test extras.
$(VENV)/.installed-docs: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[test,docs]"
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-runtime

install-runtime: $(VENV)/.installed-runtime

install: $(VENV)/.installed-test

demo: $(VENV)/.installed-runtime
	$(BIN)/python -m norse.task.digits

# The docs build (a fresh one, so that -W sees every warning) runs the tutorials;
# tests/test_docs.py then checks the built site (inventory against the public names, plots).
test: $(VENV)/.installed-docs
	TRITON_INTERPRET=$(TRITON_INTERPRET) $(BIN)/python -m pytest -n 2 tests --ignore=tests/test_docs.py
	TRITON_INTERPRET=$(TRITON_INTERPRET) $(BIN)/python -m pytest -p no:cacheprovider --doctest-modules norse -q
	$(MAKE) docs
	NORSE_DOCS_HTML=$(DOCS_HTML) $(BIN)/python -m pytest -p no:cacheprovider tests/test_docs.py -q

# The site: API reference generated from the package (docs/_ext/norse_api.py), the guides in
# docs/*.md and the tutorials in docs/tutorials/, executed during the build.
DOCS_HTML := docs/_build/html
docs: $(VENV)/.installed-docs
	rm -rf docs/_build docs/api/sections docs/api/generated
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs $(DOCS_HTML)
	@echo "documentation: $(DOCS_HTML)/index.html"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(VENV)/.installed-test
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_lif.py

# At most 8 minutes on one GPU; results in $$OUT or benchmarks/results/ (see benchmarks/README.md).
gpu-check: $(VENV)/.installed-test
	$(BIN)/python benchmarks/gpu_check.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf docs/_build docs/api/sections docs/api/generated
	rm -f $(VENV)/.installed-runtime $(VENV)/.installed-test $(VENV)/.installed-docs

distclean: clean
	rm -rf $(VENV)
