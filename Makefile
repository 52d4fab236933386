# Every target creates .venv/ at the repo root if it is missing (or stale).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: function-sources venv run test fuzz test-unit test-integration test-localstack train bench bench-modes load profile package build-RideDurationFunction build-MonitoringFunction build-BatchFunction run-batch deploy lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make run: the whole pipeline on an embedded Kinesis emulator, with a summary
## (make run SHADOW=DIR: also a challenger model as shadow, trained into DIR the first
## time, and the comparison at the end; make run MONITOR=1: also the monitoring function
## and its dashboard, served until Ctrl-C)
run: venv
	$(PY) -m streaming demo $(if $(SHADOW),--shadow $(SHADOW)) $(if $(MONITOR),--monitor)

## make run-batch: the daily batch job on a SQLite file, no server: a TLC month loaded,
## the week before BATCH_DATE backfilled, then BATCH_DATE scored with its summary and report
BATCH_DIR   ?= build/batch
BATCH_MONTH ?= 2021-01
BATCH_FROM  ?= 2021-01-08
BATCH_TO    ?= 2021-01-14
BATCH_DATE  ?= 2021-01-15
run-batch: venv
	mkdir -p $(BATCH_DIR)
	$(PY) -m streaming batch import-tlc --db sqlite:///$(BATCH_DIR)/rides.db --month $(BATCH_MONTH) --replace
	$(PY) -m streaming batch --db sqlite:///$(BATCH_DIR)/rides.db --from $(BATCH_FROM) --to $(BATCH_TO) --quiet
	$(PY) -m streaming batch --db sqlite:///$(BATCH_DIR)/rides.db --date $(BATCH_DATE) \
	  --report $(BATCH_DIR)/report-$(BATCH_DATE).html

## make test: unit + integration tests on moto, then the integration suite on LocalStack
test: venv
	$(PY) -m pytest
	integration-test/localstack.sh

## make fuzz [SEED=n]: the property-based tests with a random seed (printed) and 50x their budget
fuzz: venv
	@seed=$${SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "make fuzz: seed $$seed (repeat this run with: make fuzz SEED=$$seed)"; \
	$(PY) -m pytest -m hypothesis -p no:cacheprovider --hypothesis-profile=fuzz \
	  --hypothesis-seed=$$seed --hypothesis-show-statistics -q

test-localstack: venv
	integration-test/localstack.sh

## make test-fast: the inner loop, every test not marked slow (no training, whole months or servers)
.PHONY: test-fast test-static
test-fast: venv
	$(PY) -m pytest -m "not slow"

test-unit: venv
	$(PY) -m pytest tests/unit

## make test-static: template.yaml (cfn-lint), Dockerfiles, docker-compose.yaml, shell scripts
test-static: venv
	$(PY) -m pytest tests/static

test-integration: venv
	$(PY) -m pytest tests/integration

## make train: retrain on data/ and rewrite models/
train: venv
	$(PY) -m streaming train

## make bench: ours vs the course baseline, side by side -> bench/RESULTS.md; publishing at
## Kinesis latency and cost per million rides -> bench/PUBLISH.md; the shadow's cost -> bench/SHADOW.md
bench: venv
	$(PY) -m bench.run
	$(PY) -m bench.publish
	$(PY) -m bench.shadow

## make bench-modes: batch scoring (rows/s) and the web service (requests/s, p99) -> bench/MODES.md
bench-modes: venv
	$(PY) -m bench.modes

## make profile: where a 10,000-record batch spends its time (pyinstrument)
profile: venv
	$(PY) -m pyinstrument -r text bench/handler_batch.py --rounds 3

## make load: 2 shards for 60 s through sender, runner and handler -> bench/LOAD.md
load: venv
	$(PY) -m bench.load

## make package [ARCH=arm64]: the deployable zip, built here without Docker -> dist/
ARCH           ?= x86_64
LAMBDA_PYTHON  := 3.12
LAMBDA_ARCH     = $(if $(filter arm64,$(ARCH)),aarch64,x86_64)
# Lambda's python3.12 (Amazon Linux 2023, glibc 2.34) runs manylinux_2_28 and older
# wheels; pip takes --platform literally, so each tag is named (psycopg-binary ships 2_17)
LAMBDA_PLATFORM = --platform manylinux_2_28_$(LAMBDA_ARCH) --platform manylinux_2_17_$(LAMBDA_ARCH) \
                  --platform manylinux2014_$(LAMBDA_ARCH)
# pip as every function's build runs it: the runtime's wheels into ARTIFACTS_DIR
LAMBDA_PIP      = $(PY) -m pip install --quiet --disable-pip-version-check \
                  --target "$(ARTIFACTS_DIR)" $(LAMBDA_PLATFORM) --python-version $(LAMBDA_PYTHON) \
                  --implementation cp --only-binary=:all: --no-compile
PACKAGE_DIR    := build/function-$(ARCH)
PACKAGE_ZIP    := dist/ride-duration-$(ARCH).zip

package: venv
	rm -rf $(PACKAGE_DIR) $(PACKAGE_ZIP)
	$(MAKE) --no-print-directory build-RideDurationFunction ARTIFACTS_DIR=$(PACKAGE_DIR)
	mkdir -p dist
	cd $(PACKAGE_DIR) && $(CURDIR)/$(PY) -m zipfile -c $(CURDIR)/$(PACKAGE_ZIP) .
	$(PY) -m streaming.tools.package_report $(PACKAGE_DIR) $(PACKAGE_ZIP)

## sam build calls this target (template.yaml: BuildMethod makefile) with ARTIFACTS_DIR set:
## Linux wheels for the Lambda runtime's Python, fetched with pip --platform (no Docker).
build-RideDurationFunction:
	$(LAMBDA_PIP) -r requirements-lambda.txt
	$(MAKE) --no-print-directory function-sources ARTIFACTS_DIR="$(ARTIFACTS_DIR)"

## sam build calls this for the monitoring function (template.yaml, with MonitoringDbSecretArn):
## the same runtime wheels plus SQLAlchemy and psycopg, and the packages it imports.
build-MonitoringFunction:
	$(LAMBDA_PIP) -r requirements-lambda.txt -r requirements-monitoring-lambda.txt
	mkdir -p "$(ARTIFACTS_DIR)/streaming" "$(ARTIFACTS_DIR)/models"
	cp monitoring_function.py "$(ARTIFACTS_DIR)/"
	cp streaming/__init__.py "$(ARTIFACTS_DIR)/streaming/"
	cp -r streaming/consumer streaming/model streaming/downstream streaming/monitoring streaming/database "$(ARTIFACTS_DIR)/streaming/"
	cp models/metadata.json models/model.npz "$(ARTIFACTS_DIR)/models/"
	find "$(ARTIFACTS_DIR)/streaming" -name __pycache__ -type d -prune -exec rm -rf {} +

## sam build calls this for the batch function (template.yaml, with MonitoringDbSecretArn):
## the monitoring function's wheels; the packages the batch job imports, and the model.
build-BatchFunction:
	$(LAMBDA_PIP) -r requirements-lambda.txt -r requirements-monitoring-lambda.txt
	mkdir -p "$(ARTIFACTS_DIR)/streaming" "$(ARTIFACTS_DIR)/models"
	cp batch_function.py "$(ARTIFACTS_DIR)/"
	cp streaming/__init__.py "$(ARTIFACTS_DIR)/streaming/"
	cp -r streaming/consumer streaming/model streaming/serving streaming/monitoring streaming/database streaming/batch streaming/commandline "$(ARTIFACTS_DIR)/streaming/"
	cp models/metadata.json models/model.npz "$(ARTIFACTS_DIR)/models/"
	find "$(ARTIFACTS_DIR)/streaming" -name __pycache__ -type d -prune -exec rm -rf {} +

## The project's own files in the function: its entry module, the packages it imports
## (consumer, model) and the model. Nothing else: no tools, training, serving or esm.
function-sources:
	mkdir -p "$(ARTIFACTS_DIR)/streaming" "$(ARTIFACTS_DIR)/models"
	cp lambda_function.py "$(ARTIFACTS_DIR)/"
	cp streaming/__init__.py "$(ARTIFACTS_DIR)/streaming/"
	cp -r streaming/consumer streaming/model "$(ARTIFACTS_DIR)/streaming/"
	cp models/metadata.json models/model.npz "$(ARTIFACTS_DIR)/models/"
	find "$(ARTIFACTS_DIR)/streaming" -name __pycache__ -type d -prune -exec rm -rf {} +

## make deploy STAGE=dev: sam build + sam deploy (needs the SAM CLI and AWS credentials)
STAGE ?= dev
deploy:
	sam build --template template.yaml
	sam deploy --stack-name ride-duration-$(STAGE) --resolve-s3 --capabilities CAPABILITY_IAM \
	  --parameter-overrides Stage=$(STAGE) Architecture=$(ARCH) --no-fail-on-empty-changeset

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .localstack .pytest_cache .ruff_cache *.egg-info build dist
