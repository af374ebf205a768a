"""Cold HTTPS with and without TLS session resumption: time and client CPU per new connection.

Usage: python3 benchmarks/tls_resumption.py [--python PY] [--requests N] [--rounds R]
       python3 benchmarks/tls_resumption.py --callgrind [--python PY]

Against the private nginx of ``nginx_setup.py`` (TLS 1.2 and 1.3, session
tickets on, an EC P-256 certificate), each request goes on a new connection
(``conn_max_requests=1``): DNS-free TCP connect, TLS handshake, one GET of
100 bytes, close. Every cell runs in its own client process (``--python``,
default this checkout's ``.venv/bin/python``), R rounds of N requests; the
median round is reported as wall milliseconds and client CPU milliseconds
(``time.process_time``) per request, and the share of handshakes that resumed
(from ``connector.stats()``). The server's certificate is verified (the
default context, trusting the throw-away CA through ``SSL_CERT_FILE``).

``--callgrind`` counts the client's instructions per new connection instead
(valgrind's ``Collected`` for 150 and 450 connections, one at a time; the
difference divided by 300), which a busy machine does not blur.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from callgrind import REPO, start_nginx

CLIENT = r"""
import asyncio, json, ssl, sys, time
import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.tls import SHARED_CONTEXTS

url, n, conc, loop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
resume, tls12 = sys.argv[5] == "1", sys.argv[6] == "1"
if tls12:
    SHARED_CONTEXTS.get(True).maximum_version = ssl.TLSVersion.TLSv1_2

async def main():
    connector = TCPConnector(pool_size=conc, conn_max_requests=1, tls_session_resumption=resume)
    async with aiosonic.HTTPClient(connector=connector) as client:
        async def worker(count):
            for _ in range(count):
                r = await client.get(url)
                body = await r.content()
                assert r.status_code == 200 and len(body) == 100, (r.status_code, len(body))
        await worker(20)  # warm-up: imports, the context, the first session
        before = connector.stats()
        wall, cpu = time.perf_counter(), time.process_time()
        per, extra = divmod(n, conc)
        await asyncio.gather(*(worker(per + (i < extra)) for i in range(conc)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = connector.stats()
    print(json.dumps({
        "wall_ms": wall * 1000 / n, "cpu_ms": cpu * 1000 / n,
        "handshakes": after.tls_handshakes - before.tls_handshakes,
        "resumed": after.tls_resumed - before.tls_resumed,
    }))

if loop == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


def run_cell(python: str, env: dict[str, str], args: list[str]) -> dict[str, float]:
    result = subprocess.run(
        [python, "-c", CLIENT, *args], capture_output=True, text=True, env=env, timeout=600
    )
    if result.returncode != 0:
        sys.exit(f"tls_resumption: client failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout))


#: Connections of the two callgrind runs; start-up and warm-up cancel out.
CG_N1, CG_N2 = 150, 450


def instructions(python: str, env: dict[str, str], args: list[str]) -> int:
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    result = subprocess.run(
        [*valgrind, python, "-c", CLIENT, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        sys.exit(f"tls_resumption: client under valgrind failed:\n{result.stderr[-3000:]}")
    return int(found.group(1))


def callgrind_rows(python: str, env: dict[str, str], url: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    print("| TLS | loop | resumption | client instructions/conn |")
    print("|---|---|---|---|")
    for version in ("1.3", "1.2"):
        for loop in ("asyncio", "uvloop"):
            for resume in (False, True):
                tail = [loop, "1" if resume else "0", "1" if version == "1.2" else "0"]
                low = instructions(python, env, [url, str(CG_N1), "1", *tail])
                high = instructions(python, env, [url, str(CG_N2), "1", *tail])
                per = (high - low) / (CG_N2 - CG_N1)
                rows.append({"tls": version, "loop": loop, "resume": resume, "ir": per})
                on = "on" if resume else "off"
                print(f"| {version} | {loop} | {on} | {per / 1000:.0f}k |", flush=True)
    return rows


def timing_rows(opts: argparse.Namespace, env: dict[str, str], url: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    print("| TLS | loop | C | resumption | wall ms/conn | client CPU ms/conn | resumed |")
    print("|---|---|---|---|---|---|---|")
    for version in opts.tls or ["1.3", "1.2"]:
        for loop in ("asyncio", "uvloop"):
            for conc in opts.concurrency or [1, 16]:
                for resume in (False, True):
                    args = [url, str(opts.requests), str(conc), loop]
                    args += ["1" if resume else "0", "1" if version == "1.2" else "0"]
                    rounds = [run_cell(opts.python, env, args) for _ in range(opts.rounds)]
                    mid = sorted(rounds, key=lambda r: r["cpu_ms"])[len(rounds) // 2]
                    wall = statistics.median(r["wall_ms"] for r in rounds)
                    share = mid["resumed"] / max(mid["handshakes"], 1)
                    row = {"tls": version, "loop": loop, "concurrency": conc}
                    row |= {"resume": resume, "wall_ms": wall, "cpu_ms": mid["cpu_ms"]}
                    row["resumed_share"] = share
                    rows.append(row)
                    print(
                        f"| {version} | {loop} | {conc} | {'on' if resume else 'off'} "
                        f"| {wall:.3f} | {mid['cpu_ms']:.3f} | {share:.0%} |",
                        flush=True,
                    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, action="append")
    parser.add_argument("--tls", action="append", choices=["1.2", "1.3"])
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--json", help="also write the rows to this file")
    opts = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="aiosonic-tlsr-") as tmp:
        nginx, values = start_nginx(Path(tmp))
        env = {**os.environ, "SSL_CERT_FILE": values["TLS_CA"], "PYTHONHASHSEED": "0"}
        url = f"https://localhost:{values['TLS_PORT']}/small"
        try:
            if opts.callgrind:
                rows = callgrind_rows(opts.python, env, url)
            else:
                rows = timing_rows(opts, env, url)
        finally:
            nginx.terminate()
            nginx.wait(10)
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
