# The two commands: `make run` (set up and serve the demo) and `make test` (set up and
# run every test). Everything else here serves those two.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The field app (pwa/): Node 20 and npm from the npm registry; the build lands in pwa/dist.
PWA_MODULES := pwa/node_modules/.package-lock.json
PWA_BUILT := pwa/dist/index.html
PWA_SOURCES := $(shell find pwa/src pwa/public -type f 2>/dev/null) pwa/build.mjs pwa/package.json

.PHONY: run test setup lint bench clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(PWA_MODULES): pwa/package-lock.json
	@command -v npm >/dev/null || { echo "The field app (pwa/) needs Node 20 and npm: install nodejs and npm" >&2; exit 1; }
	cd pwa && npm ci --no-audit --no-fund
	@touch $@

$(PWA_BUILT): $(PWA_MODULES) $(PWA_SOURCES)
	cd pwa && npm run build

setup: $(INSTALLED) $(PWA_BUILT)
	@scripts/ensure-system-packages run

run: setup
	$(BIN)/fengqiao keygen
	$(BIN)/fengqiao migrate
	$(BIN)/fengqiao demo
	@echo "服务地址 http://127.0.0.1:8000 （接口文档 http://127.0.0.1:8000/schema）"
	FENGQIAO_BEACON_UDP_PORT=$${FENGQIAO_BEACON_UDP_PORT:-8000} $(BIN)/fengqiao serve --host 127.0.0.1 --port 8000

lint: $(INSTALLED)
	$(BIN)/ruff check grid sync reports server tests bench
	$(BIN)/lint-imports

test: setup
	@scripts/ensure-system-packages test
	@if [ "$${FENGQIAO_REQUIRE_POSTGRES:-0}" = 1 ]; then scripts/ensure-postgres; else scripts/ensure-postgres || echo "PostgreSQL unavailable: its half of the suite will be skipped"; fi
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	@scripts/ensure-postgres || true
	$(BIN)/python -m bench.api_bench
	$(BIN)/python -m bench.sync_bench
	$(BIN)/python -m bench.sqlite_driver_bench
	$(BIN)/python -m bench.escalation_bench
	$(BIN)/python -m bench.inbox_bench
	$(BIN)/python -m bench.intake_bench
	$(BIN)/python -m bench.pwa_bench
	$(BIN)/python -m bench.reports_bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache pwa/node_modules pwa/dist
