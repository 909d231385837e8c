# Two commands: `make demo` (the main job) and `make test` (every test). Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out
SEED ?= 20171025

.PHONY: demo test validate bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/ikema demo --out $(OUT) --seed $(SEED)

test: $(STAMP)
	scripts/system-deps.sh test
	$(BIN)/python -m pytest -q -p no:cacheprovider

validate: $(STAMP)
	OUT=$(OUT) scripts/validate.sh

bench: $(STAMP)
	scripts/system-deps.sh bench
	@set -e; for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(OUT) .pytest_cache
