"""Instructions per request of our client, counted by callgrind (stdlib only).

Usage: python3 benchmarks/callgrind.py [--python PY] [--scenario NAME ...] [--json OUT]

Wall-clock numbers on a shared 2-core machine swing by 2x between identical
runs; instruction counts do not. This counts the client process's instructions
(valgrind's ``Collected``) for two runs of one scenario, with N1 and N2 requests
after the same warm-up, and reports ``(Ir(N2) - Ir(N1)) / (N2 - N1)``: start-up,
imports and warm-up cancel out. The server is a private nginx made by
``nginx_setup.py`` (the same one ``make bench`` uses), outside valgrind.

``--python`` is the interpreter whose ``aiosonic`` is measured (default: this
checkout's ``.venv/bin/python``). Compare two trees by running this once from
each (or with each tree's python) on the same machine.

Scenarios: ``get_c1`` (GET 100 B, one at a time), ``get_c64`` (64 at a time),
``https_c64`` (HTTPS/1.1, 64 at a time), ``h2_c64`` (HTTP/2 over TLS, 64 at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: name -> (path, concurrency, tls, http2)
SCENARIOS = {
    "get_c1": ("/small", 1, False, False),
    "get_c64": ("/small", 64, False, False),
    "https_c64": ("/small", 64, True, False),
    "h2_c64": ("/small", 64, True, True),
}
#: Requests counted per run, after WARMUP; the difference is what is reported.
N1, N2 = 640, 2560
WARMUP = 256

CLIENT = r"""
import asyncio, ssl, sys
import aiosonic
from aiosonic.connectors import TCPConnector

url, ca, h2 = sys.argv[1], sys.argv[5], sys.argv[6] == "1"
conc, n, warm = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

async def main():
    kw = {}
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        if h2:
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            kw["http2"] = True
        kw["ssl"] = ctx
    connector = TCPConnector(pool_size=conc, conn_max_requests=None, http2=h2)
    async with aiosonic.HTTPClient(connector=connector) as client:
        async def worker(count):
            for _ in range(count):
                r = await client.get(url, **kw)
                body = await r.content()
                assert r.status_code == 200 and len(body) == 100, (r.status_code, len(body))
                if h2:
                    assert r.http_version == "2", r.http_version
        async def burst(total):
            per, extra = divmod(total, conc)
            await asyncio.gather(*(worker(per + (i < extra)) for i in range(conc)))
        await burst(warm)
        await burst(n)
    await connector.cleanup()

asyncio.run(main())
"""


def start_nginx(run: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    out = subprocess.run(
        [sys.executable, str(HERE / "nginx_setup.py"), str(run)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    values: dict[str, str] = {}
    flags: list[str] = []
    for line in out.splitlines():
        if line.startswith("NGINX_FLAGS=("):
            flags = shlex.split(line[len("NGINX_FLAGS=(") : -1])
        else:
            key, _, value = line.partition("=")
            values[key] = shlex.split(value)[0]
    proc = subprocess.Popen([values["NGINX_BIN"], *flags])
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(values["HTTP_PORT"])), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        sys.exit("callgrind: nginx did not start")
    return proc, values


def collected(python: str, args: list[str]) -> int:
    """Run CLIENT under callgrind and return the instructions it collected."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    result = subprocess.run(
        [*valgrind, python, "-c", CLIENT, *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        sys.exit(f"callgrind: client failed ({result.returncode}):\n{result.stderr[-3000:]}")
    found = re.search(r"Collected\s*:\s*(\d+)", result.stderr)
    if found is None:
        sys.exit(f"callgrind: no 'Collected' line in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--json", help="also write the results to this file")
    opts = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("callgrind: valgrind is missing (apt-get install valgrind)")
    names = opts.scenario or list(SCENARIOS)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="aiosonic-cg-") as tmp:
        nginx, values = start_nginx(Path(tmp))
        try:
            for name in names:
                path, conc, tls, h2 = SCENARIOS[name]
                base = (
                    f"https://127.0.0.1:{values['TLS_PORT']}"
                    if tls
                    else f"http://127.0.0.1:{values['HTTP_PORT']}"
                )
                common = [base + path, str(conc)]
                tail = [str(WARMUP), values["TLS_CA"] if tls else "", "1" if h2 else "0"]
                low = collected(opts.python, [*common, str(N1), *tail])
                high = collected(opts.python, [*common, str(N2), *tail])
                results[name] = (high - low) / (N2 - N1)
                print(f"{name:10s} {results[name] / 1000:8.1f}k instructions/request", flush=True)
        finally:
            nginx.terminate()
            nginx.wait(10)
    if opts.json:
        Path(opts.json).write_text(json.dumps({"python": opts.python, "results": results}))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
