# agent-sessions: `make dev` runs the local stack, `make test` runs every test. Nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := tests/node
WEB_DIR := web
WEB_SOURCES := $(wildcard $(WEB_DIR)/src/* $(WEB_DIR)/public/*) $(WEB_DIR)/index.html $(WEB_DIR)/vite.config.js
CHROMIUM ?= /usr/bin/chromium
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test unit integration e2e infra lint typecheck bench chaos clean node-deps install web browser-deps fuzz

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	@touch $@

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_DIR)/node_modules/.installed: $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	cd $(WEB_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_DIR)/dist/index.html: $(WEB_DIR)/node_modules/.installed $(WEB_SOURCES)
	cd $(WEB_DIR) && npx vite build --logLevel warn

install: $(BIN)/.installed
node-deps: $(NODE_DIR)/node_modules/.installed
web: $(WEB_DIR)/dist/index.html

# Debian's Chromium for the browser tests (root, as on CI); playwright-core never downloads a browser.
browser-deps:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

dev: install web
	AGENT_SESSIONS_AGENT_MODULES=$${AGENT_SESSIONS_AGENT_MODULES:-'["examples.weather_agent","examples.pydantic_ai_agent","examples.hitl_agent"]'} $(BIN)/python -m agent_sessions.local

# Test files spread over TEST_WORKERS processes (one per core on CI's two); a file's tests share a
# worker, so its module fixtures (stacks, tables) are built once.
TEST_WORKERS ?= 2
test: install node-deps web browser-deps lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider -q -n $(TEST_WORKERS) --dist loadfile --durations=25

unit: install
	$(BIN)/python -m pytest -q tests/unit
integration: install
	$(BIN)/python -m pytest -q tests/integration
e2e: install node-deps web browser-deps
	$(BIN)/python -m pytest -q tests/e2e
infra: install node-deps
	$(BIN)/python -m pytest -q tests/infra

# The schema fuzz campaign at full size (CI runs FUZZ_EXAMPLES=40); figures in bench/results/fuzz.json.
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-400} $(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_schema_fuzz.py

lint: install
	$(BIN)/ruff check layers functions tests bench examples
	$(BIN)/ruff format --check layers functions tests bench examples

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

# The fault campaign with large counts (10 % faulty DynamoDB requests): bench/results/chaos.json.
chaos: install
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules $(WEB_DIR)/node_modules $(WEB_DIR)/dist .agent-sessions .pytest_cache .mypy_cache .ruff_cache
