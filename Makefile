# Backorder Desk. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --disable-pip-version-check -q
PORT ?= 8000
export PORT

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-dev.txt
	touch $@

# The app needs only the runtime packages (htmx); the tests also need the development ones (Shopify's
# Admin schema, about 370 MB), so `make run` on a new machine does not download them.
node_modules/.installed: package.json package-lock.json
	npm ci --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

node_modules/.dev-installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch node_modules/.installed $@

venv: $(VENV)/.installed node_modules/.installed ## Create or refresh .venv and the front-end packages

run: venv ## Serve the demo store with its worker on SQLite (127.0.0.1:$PORT; mail on 127.0.0.1:$EMAIL_PORT)
	@export DEBUG=$${DEBUG:-true} EMAIL_PORT=$${EMAIL_PORT:-1025} \
	  STORE_NAME="$${STORE_NAME:-Maple & Moss Home (demo store)}" STORE_FROM_EMAIL=$${STORE_FROM_EMAIL:-orders@maple-moss.example}; \
	$(PY) manage.py migrate --noinput -v 0 && \
	$(PY) manage.py seed_demo && \
	$(PY) manage.py sync_schedules && \
	$(PY) manage.py sweep && \
	trap 'kill 0' INT TERM EXIT; \
	if [ -z "$${EMAIL_HOST:-}" ]; then \
	  echo "Mail goes to a local SMTP server on 127.0.0.1:$$EMAIL_PORT that prints each message here."; \
	  $(PY) -m aiosmtpd -n -l 127.0.0.1:$$EMAIL_PORT & \
	fi; \
	$(PY) manage.py qcluster & \
	echo "Backorder Desk on http://127.0.0.1:$(PORT)/  (Ctrl-C stops the web server, the worker and the mail server)"; \
	$(PY) manage.py runserver --noreload 127.0.0.1:$(PORT)

serve: venv ## The production shape locally: gunicorn (2 workers) + 2 worker clusters, on $DATABASE_URL
	@export DEBUG=false SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-false} SECURE_COOKIES=$${SECURE_COOKIES:-false} \
	  ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} WEB_CONCURRENCY=$${WEB_CONCURRENCY:-2}; \
	test -s .secret_key || $(PY) -c "import secrets; print(secrets.token_urlsafe(64))" > .secret_key; \
	export SECRET_KEY=$${SECRET_KEY:-$$(cat .secret_key)}; \
	$(PY) manage.py migrate --noinput -v 0 && \
	$(PY) manage.py collectstatic --noinput -v 0 && \
	$(PY) manage.py sync_schedules && \
	trap 'kill 0' INT TERM EXIT; \
	$(PY) manage.py qcluster & $(PY) manage.py qcluster & \
	echo "Backorder Desk (production shape) on http://127.0.0.1:$(PORT)/  health: /healthz"; \
	$(VENV)/bin/gunicorn -c config/gunicorn.conf.py config.wsgi

test: venv node_modules/.dev-installed ## Run the whole test suite (PostgreSQL when DATABASE_URL names one)
	$(VENV)/bin/pytest

lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/backorder_desk_bench

bench: venv ## Benchmarks beside their baselines on a seeded store ($DATABASE_URL, else backorder_desk_bench); BENCH_ARGS="--quick"; BENCH_1M=1 adds the 1,000,000-order point
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_DATABASE_URL)} BENCH_1M=$(BENCH_1M) $(PY) bench/run.py $(BENCH_ARGS)

.PHONY: help venv run serve test lint format bench
