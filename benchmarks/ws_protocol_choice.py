"""Measure two sans-I/O WebSocket cores driven by an aiosonic-style driver (issue 14).

Which protocol core should aiosonic's WebSocket client use: ``websockets``'
``ClientProtocol`` (sans-I/O, C speedup for masking) or python-hyper's ``wsproto``?
This script answers the speed half of the question and probes the correctness half.

Modes:

* ``python benchmarks/ws_protocol_choice.py`` (default): the whole run. Starts an echo
  server in a child process pinned to CPU 0 (``taskset -c 0``), then runs every
  (client, scenario) cell three times, each in a fresh client process pinned to CPU 1,
  cells interleaved so that a burst of load from elsewhere hits all clients alike.
  Prints a markdown table and writes the raw numbers as JSON (``--json``).
* ``--serve``: the echo server (``websockets`` or ``aiohttp.web``, on uvloop when it is
  installed); prints its port, echoes every message back with the same type.
* ``--run CLIENT SCENARIO``: one measurement; prints one JSON line.
* ``--probe``: the correctness probes: exact frames fed to each sans-I/O core, no sockets.

Clients:

* ``ws-sansio``: :class:`WebsocketsDriver`, an ``asyncio.Protocol`` that feeds
  ``data_received`` bytes to ``websockets.client.ClientProtocol`` and hands complete
  messages to the awaiting coroutine (the shape of aiosonic/drivers/http11.py: no
  StreamReader, no task per connection). It reassembles fragments and validates UTF-8
  itself, since ``ClientProtocol`` yields frames, not messages.
* ``wsproto``: :class:`WsprotoDriver`, the same driver around ``wsproto.WSConnection``.
* ``aiohttp``: ``ClientSession.ws_connect`` (reference).
* ``websockets``: ``websockets.asyncio.client.connect`` (reference).

Every client runs on the default asyncio loop (as the HTTP benchmarks do). Measurement:
C connections each loop "send one message, await its echo"; after a warm-up a snapshot
(round trips, wall clock, ``getrusage`` user+sys of the client process) is taken, a second
one after the measured time; the numbers are the differences. Each echo is compared with
what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import os
import random
import resource
import subprocess
import sys
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

MIB = 1024 * 1024
HOST = "127.0.0.1"
SMALL_TEXT = ('{"id": 14, "op": "echo", "payload": "' + "aiosonic-websocket-" * 5)[:98] + '"}'
assert len(SMALL_TEXT.encode()) == 100


def _big_binary() -> bytes:
    """1 MiB of JSON records with random fields: deflate shrinks it about 5:1."""
    rnd = random.Random(14)
    records = []
    size = 0
    while size < MIB:
        record = json.dumps(
            {"id": rnd.randrange(10**9), "user": f"user-{rnd.randrange(10**6)}",
             "score": round(rnd.random() * 1000, 3), "tags": rnd.sample(TAGS, 3)}
        ).encode()  # fmt: skip
        records.append(record)
        size += len(record) + 1
    return b"\n".join(records)[:MIB]


TAGS = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"]
BIG_BINARY = _big_binary()
assert len(BIG_BINARY) == MIB

# scenario -> (payload kind, connections, permessage-deflate)
SCENARIOS: dict[str, tuple[str, int, bool]] = {
    "text100_c1": ("small", 1, False),
    "text100_c64": ("small", 64, False),
    "bin1m_c1": ("big", 1, False),
    "text100_c1_deflate": ("small", 1, True),
    "bin1m_c1_deflate": ("big", 1, True),
}
CLIENTS = ("ws-sansio", "wsproto", "aiohttp", "websockets", "ws-sansio-l1")
#: Clients that differ from another only with permessage-deflate on.
DEFLATE_ONLY = {"ws-sansio-l1"}


class EchoError(Exception):
    """The echo differs from what was sent, or the connection failed."""


# --- drivers: asyncio.Protocol + sans-I/O core -----------------------------------------


class _MessageDriver(asyncio.Protocol):
    """What both drivers share: the transport, the message queue and its waiter."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[str] = self._loop.create_future()
        self._messages: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._start()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(EchoError(f"connection lost: {exc!r}"))

    def _start(self) -> None:
        raise NotImplementedError

    def _deliver(self, message: str | bytes) -> None:
        self._messages.append(message)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        if not self.opened.done():
            self.opened.set_exception(exc)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    async def recv(self) -> str | bytes:
        while not self._messages:
            if self._failure is not None:
                raise self._failure
            self._waiter = self._loop.create_future()
            await self._waiter
        return self._messages.popleft()


class WebsocketsDriver(_MessageDriver):
    """Drive ``websockets.client.ClientProtocol`` (frames out; we assemble messages)."""

    def __init__(
        self, port: int, deflate: bool, max_size: int | None, level: int | None = None
    ) -> None:
        super().__init__()
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        from websockets.frames import Opcode
        from websockets.http11 import Response
        from websockets.uri import parse_uri

        extensions = (
            # zlib's defaults (level 6, memLevel 8), as wsproto uses; websockets' own
            # client would pass memLevel=5.
            # ``level`` set: ws-sansio-l1, at aiohttp's level (zlib.Z_BEST_SPEED).
            [
                ClientPerMessageDeflateFactory(
                    compress_settings=None if level is None else {"level": level}
                )
            ]
            if deflate
            else None
        )
        self._core = ClientProtocol(
            parse_uri(f"ws://{HOST}:{port}/"), extensions=extensions, max_size=max_size
        )
        self._response_type = Response
        self._text, self._binary, self._cont = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
        self._close = Opcode.CLOSE
        self._parts: list[bytes] | None = None
        self._is_text = False
        self._decoder: codecs.IncrementalDecoder | None = None

    def _start(self) -> None:
        self._core.send_request(self._core.connect())
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        for chunk in self._core.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    def data_received(self, data: bytes) -> None:
        core = self._core
        core.receive_data(data)
        for event in core.events_received():
            if type(event) is self._response_type:
                if core.handshake_exc is not None:
                    self._fail(EchoError(f"handshake failed: {core.handshake_exc!r}"))
                else:
                    self.opened.set_result(event.headers.get("Sec-WebSocket-Extensions", ""))
                continue
            opcode = event.opcode
            if opcode is self._text or opcode is self._binary or opcode is self._cont:
                self._frame(opcode, event.data, event.fin)
            elif opcode is self._close:
                self._fail(EchoError(f"closed by peer: {core.close_code}"))
        self._flush()  # pongs, close replies
        if core.parser_exc is not None:
            self._fail(EchoError(f"protocol error: {core.parser_exc!r}"))

    def _frame(self, opcode: Any, data: bytes, fin: bool) -> None:
        if fin and self._parts is None:  # the common case: one frame, one message
            if opcode is self._text:
                try:
                    self._deliver(data.decode())
                except UnicodeDecodeError as exc:
                    self._core.fail(1007, "invalid UTF-8")
                    self._fail(EchoError(str(exc)))
            else:
                self._deliver(bytes(data))
            return
        if self._parts is None:
            self._parts = []
            self._is_text = opcode is self._text
            if self._is_text:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        if self._decoder is not None:
            # RFC 6455 §8.1: fail as soon as a fragment cannot be UTF-8.
            try:
                self._decoder.decode(data, fin)
            except UnicodeDecodeError as exc:
                self._core.fail(1007, "invalid UTF-8")
                self._fail(EchoError(str(exc)))
                return
        self._parts.append(data)
        if fin:
            whole = b"".join(self._parts)
            self._parts, self._decoder = None, None
            self._deliver(whole.decode() if self._is_text else whole)

    def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self._core.send_text(message.encode())
        else:
            self._core.send_binary(message)
        self._flush()

    def close(self) -> None:
        if self.transport is not None and self._failure is None:
            self._core.send_close(1000)
            self._flush()
            self.transport.close()


class WsprotoDriver(_MessageDriver):
    """Drive ``wsproto.WSConnection`` (message events, possibly partial)."""

    def __init__(self, port: int, deflate: bool, max_size: int | None) -> None:
        super().__init__()
        import wsproto
        from wsproto import events
        from wsproto.extensions import PerMessageDeflate

        self._core = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._port = port
        self._extensions = [PerMessageDeflate()] if deflate else []
        self._ev = events
        self._text_type, self._bytes_type = events.TextMessage, events.BytesMessage
        self._parts: list[Any] | None = None

    def _start(self) -> None:
        request = self._ev.Request(
            host=f"{HOST}:{self._port}", target="/", extensions=self._extensions
        )
        assert self.transport is not None
        self.transport.write(self._core.send(request))

    def data_received(self, data: bytes) -> None:
        core = self._core
        core.receive_data(data)
        for event in core.events():
            kind = type(event)
            if kind is self._text_type or kind is self._bytes_type:
                if event.message_finished and self._parts is None:
                    self._deliver(event.data)
                elif self._parts is None:
                    self._parts = [event.data]
                else:
                    self._parts.append(event.data)
                    if event.message_finished:
                        parts, self._parts = self._parts, None
                        self._deliver(("" if kind is self._text_type else b"").join(parts))
            elif kind is self._ev.AcceptConnection:
                self.opened.set_result(
                    ", ".join(repr(ext) for ext in event.extensions) if event.extensions else ""
                )
            elif kind is self._ev.Ping:
                assert self.transport is not None
                self.transport.write(core.send(event.response()))
            elif kind is self._ev.CloseConnection:
                self._fail(EchoError(f"closed: {event.code} {event.reason}"))
            elif kind is self._ev.RejectConnection:
                self._fail(EchoError(f"handshake rejected: {event.status_code}"))

    def send(self, message: str | bytes) -> None:
        assert self.transport is not None
        event = (
            self._text_type(data=message)
            if isinstance(message, str)
            else self._bytes_type(data=message)
        )
        self.transport.write(self._core.send(event))

    def close(self) -> None:
        if self.transport is not None and self._failure is None:
            self.transport.write(self._core.send(self._ev.CloseConnection(code=1000)))
            self.transport.close()


class FloorDriver(_MessageDriver):
    """No WebSocket core at all: the cost of the driver and event loop alone.

    Does the handshake with the websockets core, then writes a pre-built masked frame
    and counts echoed bytes until a whole frame is back. Not a client: a floor.
    """

    def __init__(self, port: int, deflate: bool) -> None:
        super().__init__()
        self._handshake: WebsocketsDriver | None = WebsocketsDriver(port, deflate, None)
        self._handshake.opened = self.opened
        self._frames: dict[str | bytes, tuple[bytes, int]] = {}
        self._want = 0
        self._got = 0
        self._message: str | bytes = b""

    def _start(self) -> None:
        assert self._handshake is not None
        self._handshake.transport = self.transport
        self._handshake._start()

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            self._handshake.data_received(data)
            if self.opened.done():
                self._handshake = None
            return
        self._got += len(data)
        if self._got >= self._want:
            self._got -= self._want
            self._deliver(self._message)

    def send(self, message: str | bytes) -> None:
        built = self._frames.get(message)
        if built is None:
            raw = message.encode() if isinstance(message, str) else message
            opcode = 0x1 if isinstance(message, str) else 0x2
            built = (frame(opcode, raw, mask=b"\x00\x00\x00\x00"), len(frame(opcode, raw)))
            self._frames[message] = built
        self._message = message
        self._want = built[1]
        assert self.transport is not None
        self.transport.write(built[0])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# --- clients: connect, echo, close -------------------------------------------------------


class Client:
    """One WebSocket connection of one library: ``connect``, ``echo``, ``close``."""

    async def connect(self, port: int, deflate: bool) -> str:
        raise NotImplementedError

    async def echo(self, message: str | bytes) -> str | bytes:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class DriverClient(Client):
    def __init__(
        self, make_driver: Callable[[int, bool], WebsocketsDriver | WsprotoDriver | FloorDriver]
    ) -> None:
        self._make_driver = make_driver

    async def connect(self, port: int, deflate: bool) -> str:
        loop = asyncio.get_running_loop()
        _, self._driver = await loop.create_connection(
            lambda: self._make_driver(port, deflate), HOST, port
        )
        return await self._driver.opened

    async def echo(self, message: str | bytes) -> str | bytes:
        self._driver.send(message)
        return await self._driver.recv()

    async def close(self) -> None:
        self._driver.close()


class AiohttpClient(Client):
    async def connect(self, port: int, deflate: bool) -> str:
        import aiohttp

        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(
            f"ws://{HOST}:{port}/", compress=15 if deflate else 0, max_msg_size=0
        )
        return f"compress={self._ws.compress}"

    async def echo(self, message: str | bytes) -> str | bytes:
        if isinstance(message, str):
            await self._ws.send_str(message)
            return await self._ws.receive_str()
        await self._ws.send_bytes(message)
        return await self._ws.receive_bytes()

    async def close(self) -> None:
        await self._ws.close()
        await self._session.close()


class WebsocketsClient(Client):
    async def connect(self, port: int, deflate: bool) -> str:
        from websockets.asyncio.client import connect

        self._ws = await connect(
            f"ws://{HOST}:{port}/", compression="deflate" if deflate else None, max_size=None
        )
        return self._ws.response.headers.get("Sec-WebSocket-Extensions", "")

    async def echo(self, message: str | bytes) -> str | bytes:
        await self._ws.send(message)
        return await self._ws.recv()

    async def close(self) -> None:
        await self._ws.close()


def make_client(name: str) -> Client:
    if name == "ws-sansio":
        return DriverClient(lambda port, deflate: WebsocketsDriver(port, deflate, None))
    if name == "ws-sansio-l1":
        return DriverClient(lambda port, deflate: WebsocketsDriver(port, deflate, None, 1))
    if name == "wsproto":
        return DriverClient(lambda port, deflate: WsprotoDriver(port, deflate, None))
    if name == "floor":
        return DriverClient(FloorDriver)
    if name == "aiohttp":
        return AiohttpClient()
    if name == "websockets":
        return WebsocketsClient()
    raise SystemExit(f"unknown client {name!r}")


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("websockets", "wsproto", "aiohttp")}


# --- one measurement -----------------------------------------------------------------


async def measure(
    name: str, scenario: str, port: int, warmup: float, duration: float
) -> dict[str, Any]:
    kind, connections, deflate = SCENARIOS[scenario]
    message: str | bytes = SMALL_TEXT if kind == "small" else BIG_BINARY
    clients = [make_client(name) for _ in range(connections)]
    negotiated = await asyncio.gather(*(c.connect(port, deflate) for c in clients))
    done = 0
    stop = False

    async def worker(client: Client) -> None:
        nonlocal done
        while not stop:
            echoed = await client.echo(message)
            if echoed != message:
                raise EchoError(f"{name}: echo differs ({len(echoed)} vs {len(message)})")
            done += 1

    def snapshot() -> tuple[int, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return done, time.perf_counter(), usage.ru_utime + usage.ru_stime

    tasks = [asyncio.ensure_future(worker(c)) for c in clients]
    await asyncio.sleep(warmup)
    first = snapshot()
    await asyncio.sleep(duration)
    last = snapshot()
    stop = True
    await asyncio.gather(*tasks)
    await asyncio.gather(*(c.close() for c in clients))
    msgs, wall, cpu = (b - a for a, b in zip(first, last, strict=True))
    return {
        "client": name,
        "scenario": scenario,
        "round_trips": msgs,
        "wall_s": wall,
        "cpu_s": cpu,
        "msgs_per_s": msgs / wall,
        "cpu_us_per_msg": cpu / msgs * 1e6,
        "mib_per_s": msgs * len(message) / MIB / wall,
        "client_cpu_share": cpu / wall,
        "negotiated": negotiated[0],
    }


# --- the echo server -------------------------------------------------------------------


async def serve_websockets() -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass  # a client that closes without waiting for our close frame

    async with serve(echo, HOST, 0, max_size=None, compression="deflate") as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.get_running_loop().create_future()


async def serve_aiohttp() -> None:
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    await asyncio.get_running_loop().create_future()


def run_server(kind: str) -> None:
    main: Callable[[], Awaitable[None]] = serve_aiohttp if kind == "aiohttp" else serve_websockets
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# --- the whole run -----------------------------------------------------------------


def pinned(cpu: int, *args: str) -> list[str]:
    return ["taskset", "-c", str(cpu), sys.executable, os.path.abspath(__file__), *args]


def orchestrate(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    server = subprocess.Popen(
        pinned(0, "--serve", "--server", args.server), stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results: list[dict[str, Any]] = []
        started = time.perf_counter()
        for repeat in range(args.repeats):
            for scenario in args.scenarios:
                for name in args.clients:
                    if name in DEFLATE_ONLY and not SCENARIOS[scenario][2]:
                        continue
                    out = subprocess.run(
                        pinned(
                            1, "--run", name, scenario, "--port", str(port),
                            "--warmup", str(args.warmup), "--duration", str(args.duration),
                            "--loop", args.loop,
                        ),
                        capture_output=True, text=True, check=False,
                    )  # fmt: skip
                    if out.returncode != 0:
                        raise SystemExit(f"{name} {scenario} failed:\n{out.stderr}")
                    row = json.loads(out.stdout)
                    row["repeat"] = repeat
                    row["loadavg_1m"] = os.getloadavg()[0]
                    results.append(row)
                    print(
                        f"# {repeat} {scenario:20} {name:11} {row['msgs_per_s']:9.0f} msg/s "
                        f"{row['cpu_us_per_msg']:9.1f} us/msg  cpu {row['client_cpu_share']:.2f}",
                        file=sys.stderr,
                    )
    finally:
        server.terminate()
        server.wait()
    meta = {
        "server": args.server,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "elapsed_s": time.perf_counter() - started,
        "python": sys.version.split()[0],
        "versions": library_versions(),
        "nproc": os.cpu_count(),
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "client_loop": args.loop,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "runs": results}, f, indent=1)
    print(table(results, args.clients, args.scenarios))
    print(f"\nload average before {load_before}, after {meta['loadavg_after']}")


def table(results: list[dict[str, Any]], clients: list[str], scenarios: list[str]) -> str:
    lines = [
        "| scenario | " + " | ".join(clients) + " |",
        "|---|" + "---:|" * len(clients),
    ]
    for scenario in scenarios:
        big = SCENARIOS[scenario][0] == "big"
        rate: list[str] = []
        cost: list[str] = []
        share: list[str] = []
        for name in clients:
            runs = [r for r in results if r["client"] == name and r["scenario"] == scenario]
            if not runs:
                rate.append("—")
                cost.append("—")
                share.append("—")
                continue
            if big:
                rate.append(f"{max(r['mib_per_s'] for r in runs):.0f} MiB/s")
            else:
                rate.append(f"{max(r['msgs_per_s'] for r in runs):,.0f} msg/s")
            cost.append(f"{min(r['cpu_us_per_msg'] for r in runs):,.1f} µs")
            share.append(f"{max(r['client_cpu_share'] for r in runs):.0%}")
        lines.append(f"| {scenario} | " + " | ".join(rate) + " |")
        lines.append("| … client CPU µs/msg | " + " | ".join(cost) + " |")
        lines.append("| … client CPU busy | " + " | ".join(share) + " |")
    return "\n".join(lines)


# --- correctness probes (sans-I/O, exact bytes) ------------------------------------------


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False,
          mask: bytes | None = None) -> bytes:  # fmt: skip
    """Serialise one frame by hand (server to client: unmasked unless ``mask``)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def deflated(data: bytes) -> bytes:
    """Compress one message as RFC 7692 §7.2.1 says (sync flush, tail removed)."""
    comp = zlib.compressobj(wbits=-15)
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


BOMB_SIZE = 64 * MIB
LIMIT = MIB


def probe_cases() -> dict[str, tuple[str, list[bytes]]]:
    """Each probe: (what a correct client must do, the server's bytes, in chunks)."""
    bomb = deflated(b"\0" * BOMB_SIZE)
    return {
        "masked server frame": ("1002", [frame(0x1, b"hello", mask=b"\x01\x02\x03\x04")]),
        "frame header says 2 GiB (limit 1 MiB)": (
            "1009 on the header, nothing buffered",
            [frame(0x2, b"")[:1] + bytes([127]) + (2**31).to_bytes(8, "big") + b"x" * 1000],
        ),
        "2 MiB message in 64 KiB fragments (limit 1 MiB)": (
            "1009",
            [frame(0x2 if i == 0 else 0x0, b"y" * 65536, fin=i == 31) for i in range(32)],
        ),
        f"deflate bomb: {len(bomb)} B inflating to 64 MiB (limit 1 MiB)": (
            "1009, inflating at most ~1 MiB",
            [frame(0x2, bomb, rsv1=True)],
        ),
        "valid UTF-8 split inside a char across fragments": (
            "message 'é'",
            [frame(0x1, b"\xc3", fin=False), frame(0x0, b"\xa9")],
        ),
        "invalid UTF-8 in the first (non-final) fragment": (
            "1007 at once",
            [frame(0x1, b"ok\xff", fin=False)],
        ),
        "invalid UTF-8 completed in the last fragment": (
            "1007",
            [frame(0x1, b"\xc3", fin=False), frame(0x0, b"\x28")],
        ),
        "close code 1005 on the wire": ("1002", [frame(0x8, (1005).to_bytes(2, "big"))]),
        "close code 999": ("1002", [frame(0x8, (999).to_bytes(2, "big"))]),
        "close reason not UTF-8": ("1007", [frame(0x8, (1000).to_bytes(2, "big") + b"\xff")]),
        "1-byte close payload": ("1002", [frame(0x8, b"\x03")]),
        "RSV1 without extension": ("1002", [frame(0x1, b"hi", rsv1=True)]),
        "ping of 126 bytes": ("1002", [frame(0x9, b"p" * 126)]),
        "fragmented ping": ("1002", [frame(0x9, b"p", fin=False)]),
        "text frame in the middle of a fragmented message": (
            "1002",
            [frame(0x1, b"a", fin=False), frame(0x1, b"b")],
        ),
    }


def summary(kinds: list[str]) -> str:
    """``A+B+B+B`` as ``A+3xB``."""
    runs: list[list[Any]] = []
    for kind in kinds:
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    return "+".join(k if n == 1 else f"{n}x{k}" for k, n in runs) or "(none yet)"


def probe_websockets(chunks: list[bytes], deflate: bool) -> str:
    from websockets.client import ClientProtocol
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.protocol import State
    from websockets.uri import parse_uri

    core = ClientProtocol(parse_uri("ws://h/"), state=State.OPEN, max_size=LIMIT)
    if deflate:
        core.extensions = [PerMessageDeflate(False, False, 15, 15)]
    largest, frames = 0, []
    for chunk in chunks:
        core.receive_data(chunk)
        for ev in core.events_received():
            largest = max(largest, len(ev.data))
            frames.append(ev)
        if core.parser_exc is not None:
            break
    sent = core.close_sent.code if core.close_sent is not None else None
    if sent is not None and sent != 1000:
        return f"fails {sent} ({type(core.parser_exc).__name__}); largest frame {largest} B"
    if core.close_rcvd is not None:
        return f"accepts close {core.close_rcvd.code}"
    kinds = [f"{f.opcode.name}{'' if f.fin else '…'}" for f in frames]
    return f"no error; frames {summary(kinds)}; largest {largest} B"


def probe_wsproto(chunks: list[bytes], deflate: bool) -> str:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import CloseConnection, Message
    from wsproto.extensions import PerMessageDeflate

    extensions = []
    if deflate:
        ext = PerMessageDeflate()
        ext.finalize("permessage-deflate")
        extensions.append(ext)
    core = Connection(ConnectionType.CLIENT, extensions=extensions)
    largest, text, got = 0, "", []
    for chunk in chunks:
        core.receive_data(chunk)
        for ev in core.events():
            if isinstance(ev, CloseConnection):
                if ev.code in (1000,) and not ev.reason:
                    return f"accepts close {ev.code}"
                return f"fails {int(ev.code)} ({ev.reason[:40]}); largest event {largest} B"
            if isinstance(ev, Message):
                largest = max(largest, len(ev.data))
                got.append(type(ev).__name__ + ("" if ev.message_finished else "…"))
                if isinstance(ev.data, str):
                    text += ev.data
    shown = f" text {text!r}" if text and len(text) < 10 else ""
    return f"no error; events {summary(got)};{shown} largest {largest} B"


def run_probes() -> None:
    print("| probe (server → client bytes) | correct client | websockets ClientProtocol "
          "(max_size=1 MiB) | wsproto Connection |")  # fmt: skip
    print("|---|---|---|---|")
    for name, (expected, chunks) in probe_cases().items():
        deflate = name.startswith("deflate")
        row = [name, expected]
        for probe in (probe_websockets, probe_wsproto):
            try:
                row.append(probe(chunks, deflate))
            except Exception as exc:  # a probe result, not a harness error
                row.append(f"raises {type(exc).__name__}: {exc}")
        print("| " + " | ".join(row) + " |")


# --- the cores alone: no sockets, no event loop ------------------------------------------


def _naive_mask(data: bytes, key: bytes) -> bytes:
    """XOR with a 4-byte key via one big int: the best a pure-Python framer can do."""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def core_costs(rounds: int) -> None:
    """Print µs per message of each core: encode a client message, parse a server one."""
    import timeit

    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.speedups import apply_mask
    from websockets.uri import parse_uri
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import BytesMessage, TextMessage
    from wsproto.frame_protocol import XorMaskerSimple

    ws = ClientProtocol(parse_uri("ws://h/"), state=State.OPEN, max_size=None)
    wp = Connection(ConnectionType.CLIENT)
    small, big = SMALL_TEXT, BIG_BINARY
    small_in, big_in = frame(0x1, small.encode()), frame(0x2, big)
    key = os.urandom(4)

    def ws_send_small() -> None:
        ws.send_text(small.encode())
        ws.data_to_send()

    def ws_recv_small() -> None:
        ws.receive_data(small_in)
        for ev in ws.events_received():
            ev.data.decode()  # ClientProtocol leaves UTF-8 to the caller

    def ws_send_big() -> None:
        ws.send_binary(big)
        ws.data_to_send()

    def ws_recv_big() -> None:
        ws.receive_data(big_in)
        ws.events_received()

    def wp_send_small() -> None:
        wp.send(TextMessage(data=small))

    def wp_recv_small() -> None:
        wp.receive_data(small_in)
        list(wp.events())

    def wp_send_big() -> None:
        wp.send(BytesMessage(data=big))

    def wp_recv_big() -> None:
        wp.receive_data(big_in)
        list(wp.events())

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("websockets: send 100 B text", ws_send_small, rounds),
        ("wsproto: send 100 B text", wp_send_small, rounds),
        ("websockets: receive 100 B text", ws_recv_small, rounds),
        ("wsproto: receive 100 B text", wp_recv_small, rounds),
        ("websockets: send 1 MiB binary", ws_send_big, rounds // 200),
        ("wsproto: send 1 MiB binary", wp_send_big, rounds // 200),
        ("websockets: receive 1 MiB binary (one chunk)", ws_recv_big, rounds // 200),
        ("wsproto: receive 1 MiB binary (one chunk)", wp_recv_big, rounds // 200),
        ("mask 1 MiB: websockets.speedups.apply_mask (C)", lambda: apply_mask(big, key), 200),
        ("mask 1 MiB: wsproto XorMaskerSimple", lambda: XorMaskerSimple(key).process(big), 200),
        ("mask 1 MiB: pure-Python int XOR", lambda: _naive_mask(big, key), 200),
    ]
    print("| operation | µs per call (best of 5) |")
    print("|---|---:|")
    for label, fn, n in cases:
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"| {label} | {best * 1e6:,.2f} |")


# --- command line ------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--server", choices=("websockets", "aiohttp"), default="aiohttp")
    parser.add_argument("--run", nargs=2, metavar=("CLIENT", "SCENARIO"))
    parser.add_argument("--probe", action="store_true")
    parser.add_argument(
        "--core", type=int, metavar="N", help="time each core alone, N small messages per run"
    )
    parser.add_argument("--port", type=int)
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the clients' loop"
    )
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS))
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--json", help="write every run's raw numbers here")
    parser.add_argument("--table", metavar="JSON", help="print the table of an earlier run")
    args = parser.parse_args()
    if args.serve:
        run_server(args.server)
    elif args.run:
        name, scenario = args.run
        coro = measure(name, scenario, args.port, args.warmup, args.duration)
        if args.loop == "uvloop":
            import uvloop

            row = uvloop.run(coro)
        else:
            row = asyncio.run(coro)
        row["loop"] = args.loop
        print(json.dumps(row))
    elif args.probe:
        run_probes()
    elif args.core:
        core_costs(args.core)
    elif args.table:
        with open(args.table) as f:
            results = json.load(f)["runs"]
        print(table(results, args.clients, args.scenarios))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
