# Two commands work on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test install lint bench clean

$(BIN)/bertkit: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/bertkit

run: install
	$(BIN)/bertkit qa --question "Where does John live?" --context "John lives in New York City."
	$(BIN)/bertkit qa --question "Where does John live?" --context "John lives in New York City." --json
	$(BIN)/bertkit tokenize "Where does John live?" --pair "John lives in New York City."

test: install
	$(BIN)/python -m pytest -x -q

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

bench: install
	$(BIN)/python bench/qa_inference.py

clean:
	rm -rf $(VENV) .venv-ref build dist *.egg-info
