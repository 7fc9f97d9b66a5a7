# The two commands of the README: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-output

.PHONY: demo test lint typecheck check sample-reports bench clean system-deps system-deps-test

demo: system-deps $(VENV)/.installed
	$(BIN)/auditor demo --out $(OUT)

test: system-deps-test $(VENV)/.installed
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: $(VENV)/.installed
	$(BIN)/ruff check auditor tests bench devtools
	$(BIN)/ruff format --check auditor tests bench devtools

typecheck: $(VENV)/.installed
	$(BIN)/mypy

check: lint typecheck test

# Regenerates sample_reports/ from the demo (commit the result).
sample-reports: system-deps $(VENV)/.installed
	rm -rf build/sample-demo
	$(BIN)/auditor --quiet demo --out build/sample-demo
	$(BIN)/python scripts/copy_sample_reports.py build/sample-demo sample_reports

bench: $(VENV)/.installed
	$(BIN)/python bench/run_all.py

system-deps:
	bash scripts/system-deps.sh

system-deps-test:
	bash scripts/system-deps.sh --test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[demo,test,dev,sign,oscal,ocsf,dask]'
	touch $@

clean:
	rm -rf $(VENV) $(OUT) build .pytest_cache .mypy_cache .ruff_cache
