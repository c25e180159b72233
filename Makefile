# The project's commands. `make install` once, then `make run` (the system) or `make test` (the suite).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

.PHONY: install browser promtool broker-plugins run run-postgres test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# Installs again only when a requirements or package file changed.
$(VENV)/.installed: $(BIN)/python requirements-dev.txt shared/pyproject.toml shared/x12/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The browser the console's tests drive (Debian's chromium, through Playwright's Python package from PyPI;
# Playwright's own browser download is never used). Installs only when missing; needs root and apt.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the browser tests will be skipped"

# promtool, which checks the Prometheus alert rules and the dashboard's queries in the suite (Debian's
# `prometheus` package; its server is not started). Installs only when missing; needs root and apt.
PROMTOOL ?= /usr/bin/promtool
promtool:
	@test -x $(PROMTOOL) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) \
		|| echo "promtool could not be installed: the promtool checks will be skipped"

# The aggregator's partitions need RabbitMQ's consistent-hash exchange (README "Replicas"): enabled on the local
# node when rabbitmq-plugins is here (nothing to do when it already is); otherwise said, and left to the operator.
broker-plugins:
	@if ! command -v rabbitmq-plugins >/dev/null 2>&1; then \
		echo "rabbitmq-plugins not found: enable rabbitmq_consistent_hash_exchange on the broker (or set SUPPLIER_PARTITIONS=0)"; \
	elif rabbitmq-plugins -q is_enabled rabbitmq_consistent_hash_exchange >/dev/null 2>&1; then \
		:; \
	else \
		rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null \
			|| { echo "could not enable rabbitmq_consistent_hash_exchange (is RabbitMQ running, are you allowed?)"; exit 1; }; \
	fi

run: install broker-plugins
	$(BIN)/python scripts/devstack.py

run-postgres: install broker-plugins
	$(BIN)/python scripts/devstack.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

test: install browser promtool broker-plugins
	$(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/dropship_shared shared/x12/dropship_x12 services/orders/orders services/aggregator/aggregator services/supplier-gateway/supplier_gateway services/supplier-simulator/supplier_simulator

bench: install
	$(BIN)/python scripts/bench_pipeline.py
