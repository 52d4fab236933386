# Every target creates .venv/ at the repo root if it is missing (or stale).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv run test test-unit test-integration test-localstack train bench load profile lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make run: the whole pipeline on an embedded Kinesis emulator, with a summary
run: venv
	$(PY) -m streaming demo

## make test: unit + integration tests on moto, then the integration suite on LocalStack
test: venv
	$(PY) -m pytest
	integration-test/localstack.sh

test-localstack: venv
	integration-test/localstack.sh

test-unit: venv
	$(PY) -m pytest tests/unit

test-integration: venv
	$(PY) -m pytest tests/integration

## make train: retrain on data/ and rewrite models/
train: venv
	$(PY) -m streaming train

## make bench: ours vs the course baseline, side by side -> bench/RESULTS.md
bench: venv
	$(PY) -m bench.run

## make profile: where a 10,000-record batch spends its time (pyinstrument)
profile: venv
	$(PY) -m pyinstrument -r text bench/handler_batch.py --rounds 3

## make load: 2 shards for 60 s through sender, runner and handler -> bench/LOAD.md
load: venv
	$(PY) -m bench.load

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .localstack .pytest_cache .ruff_cache *.egg-info
