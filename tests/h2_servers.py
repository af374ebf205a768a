"""HTTP/2 test servers, in-process on 127.0.0.1, port 0 (loaded with
``pytest_plugins = ["h2_servers"]``; PYTEST_DONT_REWRITE: tests import it first).

* ``hypercorn_server``: real HTTP/2 (hypercorn, TLS, ALPN h2 + http/1.1) running
  :func:`asgi_app`; logs each request's client ``(host, port)`` and version.
* ``h2_server``: a scripted server on ``h2`` (plain TCP: prior knowledge, or
  TLS + ALPN h2); a test's ``script(conn)`` decides each frame (:class:`H2ScriptConn`).
* ``h2_trust``: ``SSL_CERT_FILE`` -> the test CA, so the client's default context is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hyperframe.frame import GoAwayFrame

# --- deterministic bodies -----------------------------------------------------

PATTERN = bytes((i * 7 + 3) % 251 for i in range(65536))


def pattern_chunks(size: int) -> Iterator[bytes]:
    """``size`` bytes of a repeating 64 KiB pattern, a pattern at a time."""
    for start in range(0, size, len(PATTERN)):
        yield PATTERN[: min(len(PATTERN), size - start)]


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in pattern_chunks(size):
        digest.update(piece)
    return digest.hexdigest()


# --- hypercorn ----------------------------------------------------------------


@dataclass
class RequestLog:
    path: str
    client: tuple[str, int]  # the client's (host, port): one per connection
    http_version: str


@dataclass
class AppState:
    requests: list[RequestLog] = field(default_factory=list)
    # Requests whose client went away before the response was finished.
    disconnects: list[str] = field(default_factory=list)

    @property
    def connections(self) -> dict[tuple[str, int], str]:
        """Client address -> HTTP version, for each connection that sent a request."""
        return {log.client: log.http_version for log in self.requests}


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> AsyncIterator[bytes]:
    while (message := await receive())["type"] != "http.disconnect":
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return
    raise ConnectionResetError("client went away")


def asgi_app(state: AppState) -> Callable[..., Awaitable[None]]:
    """The ASGI app behind ``hypercorn_server``; see the route table below."""

    async def lifespan(receive: Any, send: Any) -> None:
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    async def start(send: Any, status: int = 200, headers: Any = (), trailers=False) -> None:
        message = {"status": status, "headers": list(headers), "trailers": trailers}
        await send({"type": "http.response.start", **message})

    async def body(send: Any, data: bytes, more: bool = False) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": more})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path = scope["path"]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        state.requests.append(RequestLog(path, tuple(scope["client"]), scope["http_version"]))
        method = scope["method"]
        if path == "/small" and method == "GET":
            await start(send, headers=[(b"content-type", b"text/plain"), (b"x-route", b"small")])
            await body(send, b"small response over " + scope["http_version"].encode())
        elif path == "/echo" and method == "POST":
            # Echo each received piece as it arrives (full duplex over h2).
            await start(send, headers=[(b"content-type", b"application/octet-stream")])
            async for piece in _read_body(receive):
                await body(send, piece, more=True)
            await body(send, b"")
        elif path == "/upload" and method == "POST":
            digest, size = hashlib.sha256(), 0
            async for piece in _read_body(receive):
                digest.update(piece)
                size += len(piece)
            await start(send, headers=[(b"content-type", b"application/json")])
            await body(send, json.dumps({"size": size, "sha256": digest.hexdigest()}).encode())
        elif path == "/big":
            size = int(query["size"])
            await start(send, headers=[(b"content-type", b"application/octet-stream")])
            for piece in pattern_chunks(size):
                await body(send, piece, more=True)
            await body(send, b"")
        elif path == "/trailers":
            await start(send, headers=[(b"content-type", b"text/plain")], trailers=True)
            payload = b"body before trailers"
            await body(send, payload)
            checksum = [(b"x-checksum", hashlib.sha256(payload).hexdigest().encode())]
            await send({"type": "http.response.trailers", "headers": checksum})
        elif path == "/slow":
            # Wait ``delay`` s before the head (with head=1: after it), unless the
            # client goes away first (receive() returns http.disconnect then).
            async for _ in _read_body(receive):
                pass
            if query.get("head") == "1":
                await start(send)
                await body(send, b"head sent;", more=True)
            try:
                await asyncio.wait_for(receive(), float(query.get("delay", "1")))
                state.disconnects.append(path)
            except TimeoutError:
                if query.get("head") != "1":
                    await start(send)
                await body(send, b"slow done")
        else:
            await start(send, status=404)
            await body(send, b"not found")

    return app


class HypercornServer:
    """hypercorn serving :func:`asgi_app` over TLS on 127.0.0.1."""

    def __init__(self, files: dict[str, str], **options: Any) -> None:
        self.state, self.port = AppState(), 0
        assert all(hasattr(Config, name) for name in options), f"bad options: {options}"
        tls = {"certfile": files["cert"], "keyfile": files["key"]}
        self.config = Config.from_mapping(graceful_timeout=0.5, **tls, **options)
        self.config.accesslog = None
        self.config.errorlog = logging.getLogger("tests.hypercorn")
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def connections(self) -> dict[tuple[str, int], str]:
        return self.state.connections

    async def start(self) -> HypercornServer:
        # hypercorn reports a port-0 bind only in a log line, so bind and listen
        # here and hand it the descriptor ("fd://N"); early clients wait in the
        # backlog until it accepts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self.config.bind = [f"fd://{sock.detach()}"]
        app = asgi_app(self.state)
        self._task = asyncio.create_task(serve(app, self.config, shutdown_trigger=self._stop.wait))
        return self

    async def close(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, 5)
        finally:
            self._task = None


@pytest.fixture(scope="session")
def h2_cert_files(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("h2-tls")
    cert = tls_ca.issue_cert("localhost", "127.0.0.1")
    files = {"cert": folder / "cert.pem", "key": folder / "key.pem", "ca": folder / "ca.pem"}
    files["cert"].write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    files["key"].write_bytes(cert.private_key_pem.bytes())
    files["ca"].write_bytes(tls_ca.cert_pem.bytes())
    return {name: str(path) for name, path in files.items()}


@pytest.fixture
def h2_trust(h2_cert_files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Trust the test CA through ``SSL_CERT_FILE`` (the client's default context)."""
    monkeypatch.setenv("SSL_CERT_FILE", h2_cert_files["ca"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return h2_cert_files["ca"]


@pytest.fixture
async def hypercorn_server(
    h2_cert_files: dict[str, str],
) -> AsyncIterator[Callable[..., Awaitable[HypercornServer]]]:
    """``await make(**hypercorn_config_options)`` -> a started server.

    Useful options: ``h2_max_concurrent_streams=10``, ``alpn_protocols=["http/1.1"]``.
    """
    servers: list[HypercornServer] = []

    async def make(**options: Any) -> HypercornServer:
        servers.append(server := HypercornServer(h2_cert_files, **options))
        return await server.start()

    yield make
    for server in servers:
        await server.close()


# --- the scripted HTTP/2 server -------------------------------------------------


@dataclass
class H2Request:
    stream_id: int
    headers: dict[str, str]
    path: str = ""
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False  # END_STREAM arrived


class H2ScriptConn:
    """One server-side HTTP/2 connection, driven by a test's script.

    A reader task feeds every received byte to ``h2`` (which answers SETTINGS
    and PING by itself), records what the client did and hands flow-control
    credit back as DATA arrives. The script waits with :meth:`wait_until` /
    :meth:`next_request` and sends frames with the helpers, which write at once.
    """

    def __init__(self, index: int, reader: Any, writer: Any, settings: dict | None) -> None:
        self.index, self.reader, self.writer = index, reader, writer
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        if settings:  # in force from the first SETTINGS frame on
            values = {**self.h2.local_settings, **settings}
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=values)
        self.requests: dict[int, H2Request] = {}
        self.order: list[int] = []  # stream ids in the order their requests ended
        self.resets: dict[int, int] = {}  # stream id -> RST_STREAM code from the client
        self.goaway: h2.events.ConnectionTerminated | None = None  # the client's GOAWAY
        self.errors: list[Exception] = []  # protocol violations by the client
        self.settings_acked = 0
        self.pings_acked = 0  # PING ACKs from the client, for ping_round_trip()
        self.sent: dict[int, int] = {}  # stream id -> DATA bytes sent by send_data
        self.max_open_streams = 0  # most client streams open at once
        self.closed = asyncio.Event()  # the client closed (EOF) or we did
        self._changed = asyncio.Condition()
        self._taken = 0

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def _read_loop(self) -> None:
        try:
            while data := await self.reader.read(65536):
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self.errors.append(exc)
                    break
                finally:
                    self.flush()
                for event in events:
                    self._record(event)
                self.flush()
                async with self._changed:
                    self._changed.notify_all()
        except OSError:
            pass
        finally:
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    def _record(self, event: Any) -> None:
        sid = getattr(event, "stream_id", 0)
        if isinstance(event, h2.events.RequestReceived):
            headers = dict(event.headers)
            self.requests[sid] = H2Request(sid, headers, headers.get(":path", ""))
            self.max_open_streams = max(self.max_open_streams, self.h2.open_inbound_streams)
        elif isinstance(event, h2.events.DataReceived):
            self.requests[sid].body += event.data
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self.h2.acknowledge_received_data(event.flow_controlled_length, sid)
        elif isinstance(event, h2.events.StreamEnded):
            self.requests[sid].ended = True
            self.order.append(sid)
        elif isinstance(event, h2.events.StreamReset):
            self.resets[sid] = int(event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acked += 1
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings_acked += 1

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5) -> None:
        """Wait for ``predicate()``, re-checked after each batch of client frames."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate() or self.closed.is_set())
        if not predicate():
            raise ConnectionResetError(f"connection {self.index} closed while waiting")

    async def next_request(self, timeout: float = 5) -> H2Request:
        """The next request whose END_STREAM arrived (in arrival order)."""
        await self.wait_until(lambda: len(self.order) > self._taken, timeout)
        self._taken += 1
        return self.requests[self.order[self._taken - 1]]

    async def wait_closed(self, timeout: float = 30) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    async def ping_round_trip(self, timeout: float = 5) -> None:
        """Send a PING and wait for the client's ACK.

        The client reads frames in order, so once it acknowledges the PING it
        has read every frame sent before it; and what it wrote before the ACK
        (a WINDOW_UPDATE, say) reached us with it or earlier.
        """
        target = self.pings_acked + 1
        self.h2.ping(b"%08d" % target)
        self.flush()
        await self.wait_until(lambda: self.pings_acked >= target, timeout)

    def send_headers(self, stream_id: int, status: int = 200, headers=(), end=False) -> None:
        self.h2.send_headers(stream_id, [(":status", str(status)), *headers], end_stream=end)
        self.flush()

    async def send_data(self, stream_id: int, data: bytes, end: bool = True) -> None:
        """Send ``data`` in frames the client's windows allow, waiting for credit."""
        view, window = memoryview(data), self.h2.local_flow_control_window
        while view:
            await self.wait_until(lambda: window(stream_id) > 0)
            size = min(len(view), window(stream_id), self.h2.max_outbound_frame_size)
            self.h2.send_data(stream_id, bytes(view[:size]))
            self.sent[stream_id] = self.sent.get(stream_id, 0) + size
            view = view[size:]
            self.flush()
            await self.writer.drain()
        if end:
            self.h2.end_stream(stream_id)
            self.flush()

    async def respond(self, stream_id: int, body: bytes = b"", status: int = 200) -> None:
        self.send_headers(stream_id, status, [("content-length", str(len(body)))], not body)
        if body:
            await self.send_data(stream_id, body)

    def reset(self, stream_id: int, code: int) -> None:
        self.h2.reset_stream(stream_id, code)
        self.flush()

    def goaway_frame(self, code: int = 0, last_stream_id: int | None = None) -> None:
        """GOAWAY written by hand: ``h2`` would refuse to answer open streams after it."""
        last = self.h2.highest_inbound_stream_id if last_stream_id is None else last_stream_id
        self.flush()
        self.write_raw(GoAwayFrame(0, last_stream_id=last, error_code=code).serialize())

    def update_settings(self, settings: dict[int, int]) -> None:
        self.h2.update_settings(settings)
        self.flush()

    def window_update(self, increment: int, stream_id: int | None = None) -> None:
        self.h2.increment_flow_control_window(increment, stream_id)
        self.flush()

    def write_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def abort(self) -> None:
        """Drop the TCP connection without a GOAWAY."""
        self.writer.transport.abort()


Script = Callable[[H2ScriptConn], Awaitable[None]]


async def answer_all(conn: H2ScriptConn, delay: float = 0) -> None:
    """A script: answer each request with its path until the connection closes.

    With ``delay``, each answer goes ``delay`` seconds after its request ended,
    concurrently, so streams overlap.
    """

    async def answer(request: H2Request) -> None:
        await asyncio.sleep(delay)
        await conn.respond(request.stream_id, request.path.encode())

    pending: set[asyncio.Task[None]] = set()
    while True:
        try:
            request = await conn.next_request(timeout=30)
        except ConnectionResetError:
            return
        if not delay:
            await answer(request)
            continue
        pending.add(task := asyncio.create_task(answer(request)))
        task.add_done_callback(pending.discard)


class H2ScriptServer:
    """Accept connections on 127.0.0.1 and run ``script(conn)`` on each."""

    def __init__(
        self, script: Script, settings: dict | None, ssl_context: Any, before_settings: bytes = b""
    ) -> None:
        self.script, self.settings, self.ssl_context = script, settings, ssl_context
        self.before_settings = before_settings  # raw bytes sent ahead of the SETTINGS preface
        self.conns: list[H2ScriptConn] = []
        self.port = 0
        self.script_errors: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conn_made = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[H2Request]:
        """Every request received, connection by connection, by stream id."""
        return [r for conn in self.conns for r in conn.requests.values()]

    async def conn(self, index: int = 0, timeout: float = 5) -> H2ScriptConn:
        """Connection ``index`` (0: the first accepted), waiting for it to be accepted."""
        async with asyncio.timeout(timeout), self._conn_made:
            await self._conn_made.wait_for(lambda: len(self.conns) > index)
        return self.conns[index]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = H2ScriptConn(len(self.conns), reader, writer, self.settings)
        self.conns.append(conn)
        self._tasks.add(task := asyncio.current_task())  # type: ignore[arg-type]
        async with self._conn_made:
            self._conn_made.notify_all()
        if self.before_settings:
            conn.write_raw(self.before_settings)
        conn.h2.initiate_connection()
        conn.flush()
        reading = asyncio.create_task(conn._read_loop())
        try:
            await self.script(conn)
            await conn.closed.wait()  # the script is done: wait for the client to close
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception as exc:  # a broken script must fail the test, not hang it
            self.script_errors.append(exc)
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.transport.abort()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def start(self) -> H2ScriptServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        await self._server.wait_closed()
        self._server = None


@pytest.fixture
async def h2_server() -> AsyncIterator[Callable[..., Awaitable[H2ScriptServer]]]:
    """``await make(script, settings={SettingCodes.X: value}, ssl_context=None)``.

    ``before_settings=b"..."``: raw bytes the server writes before its SETTINGS preface.
    """
    servers: list[H2ScriptServer] = []

    async def make(
        script: Script, settings: dict | None = None, ssl_context: Any = None, before_settings=b""
    ) -> Any:
        servers.append(server := H2ScriptServer(script, settings, ssl_context, before_settings))
        return await server.start()

    yield make
    for server in servers:
        await server.close()
    errors = [exc for server in servers for exc in server.script_errors]
    assert not errors, f"server script failed: {errors!r}"


def h2_tls_context(cert_files: dict[str, str]) -> ssl.SSLContext:
    """A server context offering only ``h2`` with ALPN, for the scripted server."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_files["cert"], cert_files["key"])
    context.set_alpn_protocols(["h2"])
    return context
