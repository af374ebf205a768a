#!/usr/bin/env bash
# Benchmark this repository's aiosonic against aiohttp, httpx, the PyPI aiosonic and the
# Rust-backed wreq and pyreqwest.
# Usage: bash benchmarks/run.sh [extra compare.py options]   (or: make bench)
# See benchmarks/README.md.  Environment knobs: PYTHON, BENCH_ROUNDS, BENCH_DURATION,
# BENCH_BIG_DURATION, BENCH_BIG_REQUESTS, BENCH_WARMUP, BENCH_COLD_ITERATIONS,
# BENCH_COLD_SECONDS, BENCH_CLIENTS, BENCH_SCENARIOS, BENCH_WS_DURATION,
# BENCH_KEEP_RUN=1 (keep the nginx directory under benchmarks/.run/).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENVS="$BENCH_DIR/.venvs"
RUN_ROOT="$BENCH_DIR/.run"

# Baselines (bump deliberately; a venv is rebuilt when its spec changes).
AIOSONIC_PYPI_SPEC="aiosonic==1.3.3"
AIOHTTP_SPEC="aiohttp==3.14.5"
# sniffio: without it httpcore retries a failing `import sniffio` (a sys.path scan) on
# every lock it creates, i.e. several times per request; anyio no longer pulls it in.
# The http2 extra (h2) is needed for the HTTP/2 scenario.  An array: `[` is a glob.
HTTPX_SPEC=("httpx[http2]==0.28.1" sniffio)
WREQ_SPEC="wreq==0.13.0"
PYREQWEST_SPEC="pyreqwest==0.15.1"
# The WebSocket rows' third client (aiohttp's venv also runs their echo server).
WEBSOCKETS_SPEC="websockets==17.4"
# Every client venv also gets uvloop, for the uvloop rows (client scripts' --loop uvloop).
UVLOOP_SPEC="uvloop==0.23.0"

log() { echo "[bench] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
PATH="$PATH:/usr/sbin:/sbin"

# --- 1. system tools -------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
{ command -v taskset && command -v flock; } >/dev/null 2>&1 || missing+=(util-linux)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
"$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    $SUDO apt-get update -qq
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; then
        # nginx-light is not in every release; fall back to the full package.
        missing=("${missing[@]/nginx-light/nginx}")
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi
command -v nginx >/dev/null 2>&1 || die "nginx is still missing"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is older than 3.11"

mkdir -p "$VENVS" "$RUN_ROOT"
# One benchmark at a time on this checkout: concurrent runs would share the venvs and
# the client CPU, and ruin each other's numbers.
exec 9>"$RUN_ROOT/.lock"
if ! flock -n 9; then
    log "another benchmark run is in progress; waiting for it (up to 10 minutes)"
    flock -w 600 9 || die "gave up waiting for the other benchmark run"
fi

# --- 2. one venv per client --------------------------------------------------------
PYVER="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"

# make_venv NAME [PIP-ARGS...]: (re)create .venvs/NAME unless it was built from the same
# python and spec.  Returns non-zero (and logs why) when installation fails.
make_venv() {
    local name="$1"; shift
    local dir="$VENVS/$name" want="python $PYVER: $*"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.bench-spec" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    log "creating venv $name ($*)"
    rm -rf "$dir"
    if "$PYTHON" -m venv "$dir" >"$RUN_ROOT/pip-$name.log" 2>&1 \
        && { [ $# -eq 0 ] || "$dir/bin/python" -m pip install -q "$@" >>"$RUN_ROOT/pip-$name.log" 2>&1; }; then
        echo "$want" >"$dir/.bench-spec"
        return 0
    fi
    log "venv $name failed; tail of $RUN_ROOT/pip-$name.log:"
    tail -n 15 "$RUN_ROOT/pip-$name.log" >&2 || true
    rm -rf "$dir"
    return 1
}

CLIENT_ARGS=()
make_venv aiosonic-pypi "$AIOSONIC_PYPI_SPEC" "$UVLOOP_SPEC" \
    && CLIENT_ARGS+=(--venv "aiosonic-pypi=$VENVS/aiosonic-pypi/bin/python")
make_venv aiohttp "$AIOHTTP_SPEC" "$UVLOOP_SPEC" \
    && CLIENT_ARGS+=(--venv "aiohttp=$VENVS/aiohttp/bin/python")
make_venv httpx "${HTTPX_SPEC[@]}" "$UVLOOP_SPEC" \
    && CLIENT_ARGS+=(--venv "httpx=$VENVS/httpx/bin/python")
make_venv wreq "$WREQ_SPEC" "$UVLOOP_SPEC" && CLIENT_ARGS+=(--venv "wreq=$VENVS/wreq/bin/python")
make_venv pyreqwest "$PYREQWEST_SPEC" "$UVLOOP_SPEC" \
    && CLIENT_ARGS+=(--venv "pyreqwest=$VENVS/pyreqwest/bin/python")
make_venv websockets "$WEBSOCKETS_SPEC" "$UVLOOP_SPEC" \
    && CLIENT_ARGS+=(--venv "websockets=$VENVS/websockets/bin/python")
# Ours: the venv is kept, but the checkout is re-installed (editable) on every run.
if make_venv ours "$UVLOOP_SPEC"; then
    log "installing this checkout into venv ours (pip install -e $REPO_DIR)"
    if "$VENVS/ours/bin/python" -m pip install -q -e "$REPO_DIR" >"$RUN_ROOT/pip-ours.log" 2>&1; then
        CLIENT_ARGS+=(--venv "ours=$VENVS/ours/bin/python")
        # The WebSocket floor is standard library only; this venv has the uvloop it needs.
        CLIENT_ARGS+=(--venv "ws-floor=$VENVS/ours/bin/python")
    else
        log "WARNING: pip install -e of this checkout failed; tail of $RUN_ROOT/pip-ours.log:"
        tail -n 15 "$RUN_ROOT/pip-ours.log" >&2 || true
    fi
fi

# --- 3. private nginx --------------------------------------------------------------
# Stop nginx instances left behind by earlier runs that were killed hard (only ours:
# the pid must belong to an nginx started with that run directory's config; the lock
# above guarantees that no other run is still using it).
for stale in "$RUN_ROOT"/nginx-*; do
    [ -d "$stale" ] || continue
    pid="$(cat "$stale/nginx.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$stale/nginx.conf"; then
        log "stopping stale benchmark nginx $pid"
        kill "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -rf "$stale"
done

RUN_DIR="$RUN_ROOT/nginx-$(date +%Y%m%d-%H%M%S)-$$"
NGINX_PID=""
WS_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$WS_PID" ] && kill -0 "$WS_PID" 2>/dev/null; then
        kill -TERM "$WS_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$WS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$WS_PID" 2>/dev/null || true
        wait "$WS_PID" 2>/dev/null || true
    fi
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        log "nginx stopped"
    fi
    if [ "${BENCH_KEEP_RUN:-0}" = 1 ]; then
        log "kept $RUN_DIR"
    else
        rm -rf "$RUN_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sets NGINX_BIN, NGINX_VERSION, NGINX_FLAGS (array), HTTP_PORT, TLS_PORT, TLS_CA, UPLOAD_LOG.
setup_vars="$("$PYTHON" "$BENCH_DIR/nginx_setup.py" "$RUN_DIR")" || die "nginx_setup.py failed"
eval "$setup_vars"
# shellcheck disable=SC2153  # assigned by the eval above
nginx_flags=("${NGINX_FLAGS[@]}")
if ! "${NGINX_BIN:?}" "${nginx_flags[@]}" -t >"$RUN_DIR/logs/config-test.log" 2>&1; then
    cat "$RUN_DIR/logs/config-test.log" >&2
    die "nginx rejected the generated config"
fi

NCPU="$("$PYTHON" -c 'import os; print(len(os.sched_getaffinity(0)))')"
if [ "$NCPU" -ge 2 ]; then
    SERVER_PIN=(taskset -c 0)
    CLIENT_CPU=1
else
    log "WARNING: only $NCPU CPU available: server and clients share it (no pinning)"
    SERVER_PIN=()
    CLIENT_CPU=""
fi
# Backgrounded, so a Ctrl-C in the terminal does not reach it; cleanup() stops it.
"${SERVER_PIN[@]}" "$NGINX_BIN" "${nginx_flags[@]}" 9>&- &
NGINX_PID=$!

# Wait until it answers, and check the endpoints (including TLS + ALPN h2) once.
"$PYTHON" - "$HTTP_PORT" "$TLS_PORT" "$TLS_CA" "$NGINX_PID" <<'PY' || die "nginx did not come up (see $RUN_DIR/logs/error.log)"
import http.client, os, socket, ssl, sys, time
port, tls_port, ca, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + 15
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("nginx exited")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/small")
        r = conn.getresponse()
        assert r.status == 200 and len(r.read()) == 100, "bad /small"
        conn.request("GET", "/10m")
        r = conn.getresponse()
        assert r.status == 200 and len(r.read()) == 10 * 1024 * 1024, "bad /10m"
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["h2", "http/1.1"])
with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw, \
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
    assert tls.selected_alpn_protocol() == "h2", tls.selected_alpn_protocol()
PY
log "nginx $NGINX_VERSION pid $NGINX_PID: http://127.0.0.1:$HTTP_PORT  https://127.0.0.1:$TLS_PORT (h2, CA $TLS_CA)"
export AIOSONIC_BENCH_TLS_URL="https://127.0.0.1:$TLS_PORT" AIOSONIC_BENCH_TLS_CA="$TLS_CA"

# The WebSocket rows' echo server (aiohttp.web on uvloop, from the aiohttp venv), pinned
# like nginx.  Without it compare.py leaves the WebSocket rows out.
WS_ARGS=()
if [ -x "$VENVS/aiohttp/bin/python" ]; then
    "${SERVER_PIN[@]}" "$VENVS/aiohttp/bin/python" "$BENCH_DIR/ws_echo_server.py" \
        --port-file "$RUN_DIR/ws.port" 9>&- 2>"$RUN_DIR/logs/ws_echo.log" &
    WS_PID=$!
    for _ in $(seq 150); do
        [ -s "$RUN_DIR/ws.port" ] || ! kill -0 "$WS_PID" 2>/dev/null && break
        sleep 0.1
    done
    if [ -s "$RUN_DIR/ws.port" ]; then
        WS_URL="ws://127.0.0.1:$(cat "$RUN_DIR/ws.port")"
        WS_ARGS=(--ws-url "$WS_URL" --ws-server-pid "$WS_PID")
        log "WebSocket echo server pid $WS_PID: $WS_URL"
    else
        log "WARNING: the WebSocket echo server did not start (see $RUN_DIR/logs/ws_echo.log)"
    fi
fi

# --- 4. measure --------------------------------------------------------------------
"$PYTHON" "$BENCH_DIR/compare.py" \
    --base-url "http://127.0.0.1:$HTTP_PORT" \
    --tls-url "https://127.0.0.1:$TLS_PORT" \
    --tls-ca "$TLS_CA" \
    --upload-log "$UPLOAD_LOG" \
    --nginx-version "$NGINX_VERSION" \
    --nginx-pid "$NGINX_PID" \
    --client-cpu "$CLIENT_CPU" \
    ${BENCH_ROUNDS:+--rounds "$BENCH_ROUNDS"} \
    ${BENCH_DURATION:+--duration "$BENCH_DURATION"} \
    ${BENCH_BIG_DURATION:+--big-duration "$BENCH_BIG_DURATION"} \
    ${BENCH_BIG_REQUESTS:+--big-requests "$BENCH_BIG_REQUESTS"} \
    ${BENCH_WARMUP:+--warmup "$BENCH_WARMUP"} \
    ${BENCH_COLD_ITERATIONS:+--cold-iterations "$BENCH_COLD_ITERATIONS"} \
    ${BENCH_COLD_SECONDS:+--cold-seconds "$BENCH_COLD_SECONDS"} \
    ${BENCH_CLIENTS:+--clients "$BENCH_CLIENTS"} \
    ${BENCH_SCENARIOS:+--scenarios "$BENCH_SCENARIOS"} \
    ${BENCH_WS_DURATION:+--ws-duration "$BENCH_WS_DURATION"} \
    "${WS_ARGS[@]}" "${CLIENT_ARGS[@]}" "$@"
