# aiosonic developer commands. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv system-deps node-ws test test-oldest lint typecheck unit demo bench callgrind docs fuzz clean compat-manifest

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "aiosonic needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip

$(STAMP): $(PY) setup.cfg pyproject.toml aiosonic/version.py
	$(PY) -m pip install -q -e '.[test,docs]'
	touch $(STAMP)

venv: $(STAMP)

# Tests of pure code: no server and no socket (conftest refuses to open one).
UNIT_TESTS := tests/test_h11_response.py tests/test_h11_fuzz.py tests/test_h11_request.py \
	tests/test_headers.py tests/test_decoders.py tests/test_http_auth.py \
	tests/test_http2_core.py tests/test_h2_protocol.py tests/test_happy_eyeballs.py \
	tests/test_h11_rules.py tests/test_sse_protocol.py tests/test_layering.py tests/test_timer.py \
	tests/test_websocket_protocol.py tests/test_websocket_unmask.py tests/test_websocket_frames.py \
	tests/test_websocket_receive_path.py \
	tests/compat

unit: $(STAMP)
	AIOSONIC_TEST_NO_SOCKETS=1 $(PY) -m pytest -q -p no:cacheprovider $(UNIT_TESTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check aiosonic tests benchmarks examples fuzz
	$(VENV)/bin/ruff format --check aiosonic

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict aiosonic tests/typing

# The real servers of tests/test_http2_servers.py, from Debian's packages, as
# binary:package[,package]; apt-get runs only for those missing, so this is quick
# once they are there.
SYSTEM_DEPS := lighttpd:lighttpd,lighttpd-mod-openssl nginx:nginx-light h2o:h2o \
	apache2:apache2 caddy:caddy node:nodejs

system-deps:
	@PATH="$$PATH:/usr/sbin:/sbin"; missing=""; for dep in $(SYSTEM_DEPS); do \
		command -v $${dep%%:*} >/dev/null || missing="$$missing $$(echo $${dep#*:} | tr , ' ')"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# node's `ws` package for tests/test_websocket_servers.py, in a cache outside the
# checkout; its tests skip (with the reason) when node, npm or the network is missing.
NODE_WS_DIR ?= $(HOME)/.cache/aiosonic-tests/node-ws
NODE_WS_SPEC := ws@8

node-ws: system-deps
	@if [ -f "$(NODE_WS_DIR)/node_modules/ws/package.json" ]; then :; \
	elif command -v node >/dev/null && command -v npm >/dev/null; then \
		mkdir -p "$(NODE_WS_DIR)" && \
		timeout 120 npm install --prefix "$(NODE_WS_DIR)" $(NODE_WS_SPEC) --no-audit --no-fund \
			--loglevel=error >/dev/null 2>&1 || \
		echo "note: npm could not install $(NODE_WS_SPEC); its WebSocket tests will skip"; \
	else echo "note: no node/npm; the node ws WebSocket tests will skip"; fi

# The oldest h2, hpack and aiodns that setup.cfg allows, for the tests that rely
# on them: our h2 overrides use their internals, and aiodns changed its API, so
# both ends of each range are tested.
OLDEST := .venv-oldest
# aiodns 3.2 (no close(), pycares 4: one port for all nameservers) is the oldest
# aiodns allowed; its resolver tests run there too.
OLDEST_PINS := h2==4.1.0 hpack==4.0.0 aiodns==3.2.0 pycares==4.4.0
OLDEST_TESTS := tests/test_http2_core.py tests/test_h2_protocol.py tests/test_http2.py \
	tests/test_http2_faults.py tests/test_http2_streams.py tests/test_http2_validation.py \
	tests/test_resolver.py tests/test_dns_cache.py

$(OLDEST)/.installed: setup.cfg pyproject.toml aiosonic/version.py Makefile
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q -U pip
	$(OLDEST)/bin/python -m pip install -q -e '.[test]' $(OLDEST_PINS)
	touch $@

test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider $(OLDEST_TESTS)

# The whole suite runs twice: on asyncio's default loop, then on uvloop; then the
# HTTP/2 tests on the oldest h2 and hpack allowed.
test: $(STAMP) system-deps node-ws
	AIOSONIC_NODE_WS_DIR=$(NODE_WS_DIR) AIOSONIC_TEST_LOOP=asyncio $(PY) -m pytest -q -p no:cacheprovider
	AIOSONIC_NODE_WS_DIR=$(NODE_WS_DIR) AIOSONIC_TEST_LOOP=uvloop $(PY) -m pytest -q -p no:cacheprovider
	$(VENV)/bin/mypy --strict aiosonic tests/typing
	$(VENV)/bin/ruff check aiosonic tests benchmarks examples fuzz
	$(VENV)/bin/ruff format --check aiosonic tests
	$(MAKE) --no-print-directory test-oldest

demo: $(STAMP)
	$(PY) examples/demo.py

# Coverage-guided fuzzing (atheris, libFuzzer) of the response parser, chunked
# framing and the decoders, for FUZZ_SECONDS (default 60). atheris ships wheels
# for CPython 3.11 on Linux, so no compiler is needed; it stays out of the test
# extras so `make test` never needs it. New inputs go to fuzz/corpus, crashes to
# fuzz/artifacts (both git-ignored); replay one with
# `$(PY) fuzz/fuzz_response.py fuzz/artifacts/crash-...`.
FUZZ_SECONDS ?= 60

fuzz: $(STAMP)
	$(PY) -m pip install -q atheris
	$(PY) fuzz/fuzz_response.py --write-seeds fuzz/corpus
	mkdir -p fuzz/artifacts
	$(PY) fuzz/fuzz_response.py -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-artifact_prefix=fuzz/artifacts/ fuzz/corpus

bench: $(STAMP)
	bash benchmarks/run.sh

# Instructions per request of this checkout (valgrind's callgrind; steady on a busy
# machine, unlike wall-clock numbers): small GET C=1 and C=64, HTTPS and HTTP/2 C=64.
callgrind: $(STAMP)
	$(PYTHON) benchmarks/callgrind.py --python $(PY)

# Rewrite tests/compat/manifest/ from the published sdists (downloads them with
# pip; not part of `make test`, whose compat test only reads the JSON files).
compat-manifest: $(STAMP)
	$(PY) tests/compat/make_manifest.py

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -q -W -b html docs docs/_build/html
	@echo "docs built in docs/_build/html/index.html"

clean:
	rm -rf $(VENV) $(OLDEST) docs/_build build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache \
		fuzz/corpus fuzz/artifacts
