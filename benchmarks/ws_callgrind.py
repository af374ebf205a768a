"""Instructions per WebSocket echo round trip of our client, counted by callgrind.

Usage: python3 benchmarks/ws_callgrind.py [--python PY] [--loop asyncio|uvloop ...]
[--conc N] [--size BYTES] [--binary] [--client ours|aiohttp|floor] [--profile OUT]

The WebSocket twin of ``callgrind.py`` (issue 14): an aiohttp.web echo server
(``ws_echo_server.py``, run by ``--server-python``, outside valgrind) and our
client under callgrind, twice, with N1 and N2 round trips of a ``--size`` byte
text message after the same warm-up; it prints ``(Ir(N2) - Ir(N1)) / (N2 - N1)``
(user-space instructions of the client per round trip: one send, one receive,
the loop's work). ``--profile OUT`` also keeps the N2 run's callgrind file for
``callgrind_annotate``.

``--client aiohttp`` counts aiohttp's ``ws_connect`` client instead, and ``--client
floor`` the WebSocket floor of ``make bench`` (``clients/ws_floor_client.py``: no
WebSocket code at all), so the three compare without the noise of a shared machine.

``--python`` is the interpreter whose ``aiosonic`` is measured (default: this
checkout's ``.venv/bin/python``); it also needs ``uvloop`` for ``--loop uvloop``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Round trips counted per run, after WARMUP; the difference is what is reported.
N1, N2 = 1000, 3000
WARMUP = 500

#: What --client measures: code that defines ``connect(url)``, returning a connection
#: with ``send_text``/``receive_text``/``send_bytes``/``receive_bytes``/``close``
#: coroutines, and ``shutdown()``.
CLIENTS = {
    "ours": r"""
from aiosonic import WebSocketClient
_client = WebSocketClient()
async def connect(url):
    return await _client.connect(url)
async def shutdown():
    await _client.close()
""",
    "aiohttp": r"""
import aiohttp
_session = None
class _Conn:
    def __init__(self, ws):
        self.ws = ws
        self.send_text, self.send_bytes = ws.send_str, ws.send_bytes
        self.receive_text, self.receive_bytes = ws.receive_str, ws.receive_bytes
        self.close = ws.close
async def connect(url):
    global _session
    _session = _session or aiohttp.ClientSession()
    return _Conn(await _session.ws_connect(url, max_msg_size=0))
async def shutdown():
    await _session.close()
""",
    "floor": r"""
sys.path.insert(0, CLIENTS_DIR)
from ws_floor_client import load
_client = load()(1)
connect = _client.ws_connect
async def shutdown():
    pass
""",
}

CLIENT = r"""
import asyncio, sys
url, loop_name = sys.argv[1], sys.argv[2]
conc, n, warm, size, binary = (int(a) for a in sys.argv[3:8])
CLIENTS_DIR = sys.argv[8]
payload = b"x" * size if binary else "x" * size
exec(sys.argv[9])

async def main():
    conns = [await connect(url) for _ in range(conc)]
    async def worker(ws, count):
        for _ in range(count):
            await (ws.send_bytes(payload) if binary else ws.send_text(payload))
            got = await (ws.receive_bytes() if binary else ws.receive_text())
            assert got == payload
    async def burst(total):
        per, extra = divmod(total, conc)
        await asyncio.gather(*(worker(ws, per + (i < extra)) for i, ws in enumerate(conns)))
    await burst(warm)
    await burst(n)
    for ws in conns:
        await ws.close()
    await shutdown()

if loop_name == "uvloop":
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
else:
    asyncio.run(main())
"""


def start_server(python: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp / "ws.port"
    proc = subprocess.Popen(
        [python, str(HERE / "ws_echo_server.py"), "--port-file", str(port_file)]
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"ws://127.0.0.1:{port_file.read_text().strip()}/ws"
        time.sleep(0.05)
    proc.kill()
    sys.exit("ws_callgrind: the echo server did not start")


def collected(python: str, args: list[str], out: str) -> int:
    """Run CLIENT under callgrind and return the instructions it collected."""
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    result = subprocess.run(
        [*valgrind, python, "-c", CLIENT, *args], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        sys.exit(f"ws_callgrind: client failed ({result.returncode}):\n{result.stderr[-3000:]}")
    found = re.search(r"Collected\s*:\s*(\d+)", result.stderr)
    if found is None:
        sys.exit(
            f"ws_callgrind: no 'Collected' line in valgrind's output:\n{result.stderr[-2000:]}"
        )
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--server-python", default=None, help="needs aiohttp (default: --python)")
    parser.add_argument("--loop", action="append", choices=["asyncio", "uvloop"])
    parser.add_argument("--conc", type=int, default=1)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--binary", action="store_true")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="ours")
    parser.add_argument("--profile", help="keep the N2 run's callgrind output here (loop appended)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiosonic-wscg-") as tmp:
        server, url = start_server(opts.server_python or opts.python, Path(tmp))
        try:
            for loop_name in opts.loop or ["asyncio", "uvloop"]:
                common = [url, loop_name, str(opts.conc)]
                tail = [str(WARMUP), str(opts.size), "1" if opts.binary else "0"]
                tail += [str(HERE / "clients"), CLIENTS[opts.client]]
                low = collected(opts.python, [*common, str(N1), *tail], "/dev/null")
                out = f"{opts.profile}.{loop_name}" if opts.profile else "/dev/null"
                high = collected(opts.python, [*common, str(N2), *tail], out)
                per = (high - low) / (N2 - N1)
                shape = f"{opts.client:7s} {loop_name:8s} C={opts.conc} {opts.size} B"
                print(f"{shape}: {per:,.0f} instructions/round trip", flush=True)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
