"""Quick WebSocket echo measurement: aiosonic's client against aiohttp's (issue 14).

Not a ``make bench`` row: a check of where the client stands. An aiohttp.web
echo server runs in its own process (pinned to CPU 0 when ``taskset`` exists);
each client runs in a fresh process (pinned to CPU 1) and does 100 B text echo
round trips at C=1: after a warm-up it counts round trips, wall time and its
own CPU time (user + sys) over ``--seconds``.

    .venv/bin/python benchmarks/ws_echo_quick.py [--loop uvloop] [--repeat 3]

Prints msg/s and client CPU µs per message for each client, best of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time

HOST = "127.0.0.1"
MESSAGE = "x" * 100
WARMUP_SECONDS = 0.3


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve(loop_name: str) -> None:
    """Run the aiohttp echo server; print its port on stdout."""
    from aiohttp import web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    _run(main(), loop_name)


async def _aiosonic(port: int, seconds: float) -> tuple[int, float, float]:
    from aiosonic import WebSocketClient

    async with WebSocketClient() as client:
        conn = await client.connect(f"ws://{HOST}:{port}/", start_keepalive=False)
        return await _loop(conn.send_text, conn.receive_text, seconds)


async def _aiohttp(port: int, seconds: float) -> tuple[int, float, float]:
    import aiohttp

    url = f"ws://{HOST}:{port}/"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        return await _loop(ws.send_str, ws.receive_str, seconds)


async def _loop(send: object, receive: object, seconds: float) -> tuple[int, float, float]:
    send_text, receive_text = send, receive  # callables; typed loosely for both clients
    end = time.perf_counter() + WARMUP_SECONDS
    while time.perf_counter() < end:
        await send_text(MESSAGE)  # type: ignore[operator]
        await receive_text()  # type: ignore[operator]
    count, wall0, cpu0 = 0, time.perf_counter(), _cpu()
    end = wall0 + seconds
    while time.perf_counter() < end:
        await send_text(MESSAGE)  # type: ignore[operator]
        assert await receive_text() == MESSAGE  # type: ignore[operator]
        count += 1
    return count, time.perf_counter() - wall0, _cpu() - cpu0


def client(name: str, port: int, seconds: float, loop_name: str) -> None:
    """Run one client measurement; print it as JSON."""
    run = _aiosonic if name == "aiosonic" else _aiohttp
    count, wall, cpu = _run(run(port, seconds), loop_name)
    print(json.dumps({"msg_s": count / wall, "cpu_us": cpu / count * 1e6}))


def _run(coro: object, loop_name: str) -> tuple[int, float, float]:
    if loop_name == "uvloop":
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type, no-any-return]
    return asyncio.run(coro)  # type: ignore[arg-type, no-any-return]


def _pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") else argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        serve(args.loop)
        return
    if args.role:
        client(args.role, args.port, args.seconds, args.loop)
        return
    me = [sys.executable, os.path.abspath(__file__), "--loop", args.loop]
    server = subprocess.Popen(_pinned(0, [*me, "--role", "server"]), stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):
            for name in ("aiosonic", "aiohttp"):
                argv = [*me, "--role", name, "--port", str(port), "--seconds", str(args.seconds)]
                out = subprocess.run(_pinned(1, argv), capture_output=True, check=True, text=True)
                result = json.loads(out.stdout)
                if name not in best:
                    best[name] = result
                else:
                    best[name]["msg_s"] = max(best[name]["msg_s"], result["msg_s"])
                    best[name]["cpu_us"] = min(best[name]["cpu_us"], result["cpu_us"])
    finally:
        server.terminate()
        server.wait()
    print(f"100 B text echo, C=1, {args.loop}, best of {args.repeat}:")
    for name, result in best.items():
        print(f"  {name:9} {result['msg_s']:9,.0f} msg/s  {result['cpu_us']:7.1f} µs CPU/msg")


if __name__ == "__main__":
    main()
