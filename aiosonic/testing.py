"""A mock transport for users' tests: answer requests from a function, with no server.

``HTTPClient(MockTransport(handler))`` sends every request to ``handler``,
which returns a :class:`MockResponse`. Only the network is replaced:
requests are serialised and responses parsed for real (HTTP/1.1, or HTTP/2
with ``http2=True``), so redirects, cookies, auth, decompression, hooks and
timeouts behave as they do against a server. ``transport.requests`` keeps
every request sent, for assertions::

    def handler(request: MockRequest) -> MockResponse:
        if request.url.endswith("/users/1"):
            return MockResponse(200, {"content-type": "application/json"}, b'{"id": 1}')
        return MockResponse(404)

    async def test_user() -> None:
        transport = MockTransport(handler)
        async with HTTPClient(transport) as client:
            assert (await (await client.get("https://api.test/users/1")).json()) == {"id": 1}
        assert transport.requests[0].headers["user-agent"].startswith("aiosonic")

With pytest, ``pytest_plugins = ["aiosonic.testing"]`` adds the
``aiosonic_mock`` fixture: ``aiosonic_mock(handler)`` returns a transport
that is closed after the test.

The server side of each protocol is a well-tested library, not ours: ``h11``
for HTTP/1.1 (installed with ``aiosonic[testing]``) and ``h2`` for HTTP/2.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

try:
    import h11
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "aiosonic.testing needs the h11 package: pip install 'aiosonic[testing]'"
    ) from exc
import h2.config
import h2.connection
import h2.events

from aiosonic.backends import NetworkBackendInterface, NetworkStreamInterface
from aiosonic.connectors import TCPConnector
from aiosonic.headers import HeadersInput, HttpHeaders
from aiosonic.http2 import Http2Config

__all__ = ["MockRequest", "MockResponse", "MockTransport", "aiosonic_mock"]

#: What a handler returns, at once or awaited.
Handler = Callable[["MockRequest"], "MockResponse | Awaitable[MockResponse]"]


class MockRequest:
    """A request as the mock server received it.

    Attributes:
        method: Upper-case method.
        url: The absolute URL (scheme from the connection, host from ``Host``
            or ``:authority``).
        headers: The headers as sent (``Host`` included on HTTP/1.1).
        content: The whole body (an empty ``bytes`` for none).
        http_version: ``"1.1"`` or ``"2"``.
    """

    def __init__(
        self, method: str, url: str, headers: HttpHeaders, content: bytes, http_version: str
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content
        self.http_version = http_version

    def __repr__(self) -> str:
        return f"<MockRequest [{self.method} {self.url}, {len(self.content)} bytes]>"


class MockResponse:
    """What a handler answers.

    Args:
        status: The status code.
        headers: Response headers (a dict, pairs, or HttpHeaders).
        body: ``bytes`` (sent with a ``Content-Length``), or an async
            iterator of bytes (sent chunked on HTTP/1.1, as DATA frames on HTTP/2).
        http_version: ``"1.1"`` or ``"2"``: the protocol the response must
            go over; ``"2"`` needs ``MockTransport(..., http2=True)``.

    Raises:
        ValueError: ``http_version`` is neither ``"1.1"`` nor ``"2"``.
    """

    def __init__(
        self,
        status: int = 200,
        headers: HeadersInput | None = None,
        body: bytes | AsyncIterable[bytes] = b"",
        http_version: str = "1.1",
    ) -> None:
        if http_version not in ("1.1", "2"):
            raise ValueError(f"http_version must be '1.1' or '2', not {http_version!r}")
        self.status = status
        self.headers = HttpHeaders(headers or {})
        self.body = body
        self.http_version = http_version

    def __repr__(self) -> str:
        return f"<MockResponse [{self.status}, HTTP/{self.http_version}]>"


class MockTransport(TCPConnector):
    """A connector whose connections reach ``handler`` instead of the network.

    Args:
        handler: ``handler(request) -> MockResponse``, sync or async. An
            exception it raises fails the connection, and the client's error
            has it as its ``__cause__``.
        http2: Serve HTTP/2: by ALPN for ``https``, by prior knowledge for
            ``http``. Otherwise HTTP/1.1.
        **connector_options: Any other :class:`TCPConnector` argument
            (``timeouts``, ``pool_size``...).

    Attributes:
        requests: Every request received, in order.
    """

    def __init__(self, handler: Handler, http2: bool = False, **connector_options: Any) -> None:
        if http2:
            connector_options.setdefault("http2_config", Http2Config(prior_knowledge=True))
        super().__init__(network_backend=_MockBackend(self), http2=http2, **connector_options)
        self.handler = handler
        self.serves_http2 = http2
        self.requests: list[MockRequest] = []

    def __repr__(self) -> str:
        return f"<MockTransport [{len(self.requests)} requests, {self.handler!r}]>"

    async def respond(self, request: MockRequest) -> MockResponse:
        """Record ``request`` and return the handler's answer.

        Raises:
            TypeError: The handler returned something else than a MockResponse.
        """
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, MockResponse):
            raise TypeError(f"the mock handler returned {answer!r}, not a MockResponse")
        if answer.http_version != request.http_version:
            raise ValueError(
                f"{answer!r} for a request over HTTP/{request.http_version}: "
                "pass MockTransport(..., http2=True) to serve HTTP/2"
            )
        return answer


class _MockBackend(NetworkBackendInterface):
    def __init__(self, transport: MockTransport) -> None:
        self._transport = transport

    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        return _MockStream(self._transport, host, port)


class _FakeSSLObject:
    """What a TLS stream's ``ssl_object`` answers about ALPN."""

    def __init__(self, protocol: str) -> None:
        self._protocol = protocol

    def selected_alpn_protocol(self) -> str:
        return self._protocol


class _MockStream(NetworkStreamInterface):
    """One connection to the mock server: bytes in, handler, bytes out."""

    def __init__(self, transport: MockTransport, host: str, port: int) -> None:
        self._transport = transport
        self._address = (host, port)
        self._scheme = "http"
        self._ssl_object: _FakeSSLObject | None = None
        self._server: _Server | None = None
        self._outbox = bytearray()
        self._eof = False
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    def __repr__(self) -> str:
        state = " CLOSED" if self.closed else " TLS" if self._ssl_object else ""
        return f'<MockStream ["{self._address[0]}:{self._address[1]}"{state}]>'

    def _server_for(self, first_bytes: bytes) -> _Server:
        if self._server is None:
            h2_wanted = self._transport.serves_http2 and (
                self._ssl_object is None or self._ssl_object.selected_alpn_protocol() == "h2"
            )
            self._server = _H2Server(self) if h2_wanted else _H11Server(self)
        return self._server

    async def read(self, max_bytes: int | None = None) -> bytes:
        while not self._outbox and not self._eof and self._error is None:
            self._ready.clear()
            await self._ready.wait()
        if self._error is not None and not self._outbox:
            raise ConnectionError(f"the mock handler failed: {self._error!r}") from self._error
        size = max_bytes or 65536
        data = bytes(self._outbox[:size])
        del self._outbox[:size]
        return data

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError("write to a closed mock stream")
        self._server_for(data).receive(data)

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str | None = None) -> None:
        self._scheme = "https"
        self._ssl_object = _FakeSSLObject("h2" if self._transport.serves_http2 else "http/1.1")

    def get_extra_info(self, key: str) -> Any:
        if key == "ssl_object":
            return self._ssl_object
        return None  # no addresses: responses' remote_addr and local_addr are None

    async def close(self) -> None:
        self.closed = True
        self._eof = True
        self._ready.set()
        for task in list(self._tasks):
            task.cancel()

    # --- used by the protocol servers ----------------------------------------

    def send(self, data: bytes) -> None:
        self._outbox += data
        self._ready.set()

    def end(self) -> None:
        self._eof = True
        self._ready.set()

    def fail(self, exc: BaseException) -> None:
        self._error = exc
        self._ready.set()

    def spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the handler's failure ends the connection
                self.fail(exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def url(self, authority: str, target: str) -> str:
        return f"{self._scheme}://{authority}{target}"

    @property
    def transport(self) -> MockTransport:
        return self._transport


class _Server:
    def receive(self, data: bytes) -> None:
        raise NotImplementedError


async def _pieces(body: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, bytes | bytearray):
        if body:
            yield bytes(body)
        return
    async for piece in body:
        if piece:
            yield piece


def _text(value: bytes) -> str:
    return value.decode("latin-1")


class _H11Server(_Server):
    """HTTP/1.1 server side, on h11."""

    def __init__(self, stream: _MockStream) -> None:
        self._stream = stream
        self._conn = h11.Connection(h11.SERVER)
        self._head: h11.Request | None = None
        self._body = bytearray()
        self._busy = False

    def receive(self, data: bytes) -> None:
        self._conn.receive_data(data)
        self._pump()

    def _pump(self) -> None:
        while not self._busy:
            event = self._conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._head, self._body = event, bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._busy = True
                self._stream.spawn(self._answer())
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def _answer(self) -> None:
        head = self._head
        assert head is not None
        headers = HttpHeaders([(_text(k), _text(v)) for k, v in head.headers.raw_items()])
        request = MockRequest(
            _text(head.method),
            self._stream.url(headers.get("host", ""), _text(head.target)),
            headers,
            bytes(self._body),
            "1.1",
        )
        response = await self._stream.transport.respond(request)
        send = self._stream.send
        conn = self._conn
        pairs = [
            (name.encode(), value.encode("latin-1")) for name, value in response.headers.items()
        ]
        if (
            isinstance(response.body, bytes | bytearray)
            and "content-length" not in response.headers
        ):
            pairs.append((b"content-length", str(len(response.body)).encode()))
        send(conn.send(h11.Response(status_code=response.status, headers=pairs)))
        async for piece in _pieces(response.body):
            send(conn.send(h11.Data(data=piece)))
        send(conn.send(h11.EndOfMessage()))
        if conn.our_state is h11.MUST_CLOSE:
            self._stream.end()
            return
        conn.start_next_cycle()
        self._busy = False
        self._pump()


class _H2Server(_Server):
    """HTTP/2 server side, on h2."""

    def __init__(self, stream: _MockStream) -> None:
        self._stream = stream
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self._conn = h2.connection.H2Connection(config)
        self._conn.initiate_connection()
        self._stream.send(self._conn.data_to_send())
        self._requests: dict[int, tuple[list[tuple[bytes, bytes]], bytearray]] = {}
        self._window = asyncio.Event()

    def receive(self, data: bytes) -> None:
        for event in self._conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self._requests[event.stream_id] = (list(event.headers or []), bytearray())
            elif isinstance(event, h2.events.DataReceived):
                self._requests[event.stream_id][1].extend(event.data or b"")
                self._conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._stream.spawn(self._answer(event.stream_id))
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                self._window.set()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._stream.end()
        self._flush()

    def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data:
            self._stream.send(data)

    async def _answer(self, stream_id: int) -> None:
        raw, body = self._requests.pop(stream_id)
        pseudo = {_text(k): _text(v) for k, v in raw if k.startswith(b":")}
        headers = HttpHeaders([(_text(k), _text(v)) for k, v in raw if not k.startswith(b":")])
        request = MockRequest(
            pseudo.get(":method", ""),
            self._stream.url(pseudo.get(":authority", ""), pseudo.get(":path", "/")),
            headers,
            bytes(body),
            "2",
        )
        response = await self._stream.transport.respond(request)
        pairs = [(b":status", str(response.status).encode())] + [
            (name.lower().encode(), value.encode("latin-1"))
            for name, value in response.headers.items()
        ]
        conn = self._conn
        conn.send_headers(stream_id, pairs)
        self._flush()
        async for piece in _pieces(response.body):
            for part in self._frames(piece):
                while conn.local_flow_control_window(stream_id) < len(part):
                    self._window.clear()
                    await self._window.wait()
                conn.send_data(stream_id, part)
                self._flush()
        conn.end_stream(stream_id)
        self._flush()

    def _frames(self, data: bytes) -> Iterator[bytes]:
        size = self._conn.max_outbound_frame_size
        for start in range(0, len(data), size):
            yield data[start : start + size]


async def _mock_factory() -> AsyncIterator[Callable[..., MockTransport]]:
    """``aiosonic_mock(handler, **options)`` -> a :class:`MockTransport` closed after the test."""
    made: list[MockTransport] = []

    def make(handler: Handler, **options: Any) -> MockTransport:
        made.append(MockTransport(handler, **options))
        return made[-1]

    yield make
    for transport in made:
        await transport.cleanup()


try:
    import pytest
except ImportError:  # pragma: no cover - the fixture is for pytest users only
    pass
else:
    #: The pytest fixture (``pytest_plugins = ["aiosonic.testing"]``).
    aiosonic_mock = pytest.fixture(_mock_factory, name="aiosonic_mock")
