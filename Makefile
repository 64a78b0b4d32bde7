# profilake — run `make` for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# WORKERS=2: two pytest-xdist workers, a file's tests on one worker (tests/conftest.py). Not the
# default: on a 2-core machine it was slower than one process (docs/performance.md, CI).
WORKERS ?= 0
XDIST := -n $(WORKERS) --dist loadfile --no-loadscope-reorder
ifdef FAST
PYTEST_ARGS += --skip-slow
endif

.PHONY: help setup system-deps demo test test-fast test-long lint format services-up services-down \
        services-status kafka-up kafka-down redis-up redis-down mlflow-ui notebooks generate produce stream hot history nightly segment-report maintain monitor serve-api chatbot-demo bench clean \
        cluster-demo

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v java >/dev/null || (echo "Java 17 is required (apt-get install openjdk-17-jdk-headless)" && exit 1)
	@echo "· creating $(VENV) with the pinned dependencies (first run only) …"
	@$(PYTHON) -m venv $(VENV)
	@# uv resolves and installs the same pins as pip in a fraction of the time (CI starts here).
	@$(BIN)/pip install --quiet 'uv>=0.9,<1'
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $@

system-deps: ## install redis-server, Maven and Chromium (console test) from Debian packages when missing
	@command -v redis-server >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null)
	@command -v mvn >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq maven >/dev/null)
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null)

setup: $(STAMP) system-deps ## create .venv, install Python deps, redis-server, Maven, Chromium and the Kafka broker jars
	@$(BIN)/profilake-services kafka install

demo: setup services-up ## run the whole platform end to end on embedded defaults and print a summary
	@$(BIN)/python -m jobs.demo

cluster-demo: setup ## ingest, nightly, export with spark-submit on a local standalone cluster; compare with a local run
	@$(BIN)/python -m jobs.cluster_demo $(CLUSTER_ARGS)

test: setup ## run the test suite (FAST=1 skips slow end-to-end tests)
	@PROFILAKE_ENV=test $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

test-fast: ## run the tests without the slow end-to-end ones
	@$(MAKE) --no-print-directory test FAST=1

test-long: setup ## run the whole suite plus the long soak tests (14-kill crash run)
	@PROFILAKE_ENV=test $(BIN)/pytest $(XDIST) --run-long $(PYTEST_ARGS)

lint: setup ## check style with ruff
	@$(BIN)/ruff check pipelines jobs tests

format: setup ## fix style with ruff
	@$(BIN)/ruff check --fix pipelines jobs tests
	@$(BIN)/ruff format pipelines jobs tests

services-up: setup ## start the local Kafka broker and Redis (idempotent)
	@$(BIN)/profilake-services all start

services-down: ## stop the local Kafka broker and Redis (and the cluster-demo's Spark cluster)
	@if [ -x $(BIN)/profilake-services ]; then $(BIN)/profilake-services all stop; \
		$(BIN)/profilake-services spark-cluster stop > /dev/null; fi

services-status: ## show whether Kafka and Redis are running
	@$(BIN)/profilake-services all status

kafka-up: setup ## start only the Kafka broker
	@$(BIN)/profilake-services kafka start

kafka-down: ## stop only the Kafka broker
	@$(BIN)/profilake-services kafka stop

redis-up: setup ## start only Redis
	@$(BIN)/profilake-services redis start

redis-down: ## stop only Redis
	@$(BIN)/profilake-services redis stop

mlflow-ui: setup ## serve the MLflow UI for the local sqlite store on 127.0.0.1:5000
	@$(BIN)/profilake-services mlflow-ui

notebooks: setup ## open JupyterLab on notebooks/ over the demo's lakehouse (PROFILAKE_ENV=local)
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,notebooks]'
	@PROFILAKE_ENV=local $(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --notebook-dir notebooks

generate: setup ## generate source files (CUSTOMERS=, DAYS=)
	@$(BIN)/profilake-generate $(if $(CUSTOMERS),--customers $(CUSTOMERS)) $(if $(DAYS),--days $(DAYS))

produce: setup kafka-up ## send live events to Kafka (RATE=, DURATION=)
	@$(BIN)/profilake-produce $(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION))

stream: setup services-up ## run the real-time profiles stream until stopped (Ctrl-C)
	@$(BIN)/profilake-stream

hot: setup services-up ## run the hot lane (each event in the served profile within ms) until stopped
	@$(BIN)/profilake-hot

history: setup ## one profile's change history (PROFILE=p_… or IDENTIFIER=customer_id=C…)
	@$(BIN)/profilake-history $(if $(PROFILE),--profile-id $(PROFILE)) $(if $(IDENTIFIER),--identifier $(IDENTIFIER))

erase: setup ## erase one person everywhere, GDPR art. 17 (EMAIL=… or CUSTOMER_ID=…; stop the lanes first)
	@$(BIN)/profilake-erase $(if $(EMAIL),--email $(EMAIL)) $(if $(CUSTOMER_ID),--customer-id $(CUSTOMER_ID))

nightly: setup ## nightly features, models and segments (AS_OF=YYYY-MM-DD, default yesterday)
	@$(BIN)/profilake-nightly $(if $(AS_OF),--as-of $(AS_OF))

segment-report: setup ## print segment sizes and write the HTML segment report (AS_OF=)
	@$(BIN)/profilake-segment-report $(if $(AS_OF),--as-of $(AS_OF))

maintain: setup ## OPTIMIZE, VACUUM, checkpoint and report small files of every table; run after the nightly (TABLES=)
	@$(BIN)/profilake-maintain $(foreach t,$(TABLES),--table $(t))

monitor: setup ## stream lag, freshness, volume, quarantine, null rates, nightly, drift → metrics and alerts (CHECKS=)
	@$(BIN)/profilake-monitor $(foreach c,$(CHECKS),--check $(c))

serve-api: setup redis-up ## serve the read API (PROFILAKE_API_KEYS=key1,key2) on 127.0.0.1:8080
	@$(BIN)/profilake-serve-api

chatbot-demo: setup redis-up ## export profiles, start the API and chat as two customers
	@$(BIN)/profilake-demo-chatbot

# The read API benchmark's second load generator (tests/benchmarks/bench_api.py), built once
# when a Go toolchain is present; without it the benchmark uses its Python generator alone.
VEGETA := var/tools/vegeta
$(VEGETA):
	@if command -v go >/dev/null; then echo "· building vegeta (load generator) into var/tools …"; \
		GOBIN=$(CURDIR)/var/tools go install github.com/tsenart/vegeta/v12@v12.12.0 || \
		echo "· vegeta could not be built: the API benchmark uses its Python generator alone"; fi

bench: setup services-up $(VEGETA) ## run the benchmarks, print a table, write var/bench/latest.json
	@$(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

clean: services-down ## stop services and delete local data (var/), caches and the venv
	rm -rf var $(VENV) .pytest_cache .ruff_cache *.egg-info spark-warehouse metastore_db derby.log
