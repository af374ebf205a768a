"""Tests for SSEClient (aiosonic.sse_client) against real servers.

An ``aiohttp.web`` event-stream endpoint (``http_server``) for ordinary
streams and POST bodies; scripted servers (``raw_server``) for exact bytes:
a connection dropped mid-event, ``retry:``, 204, wrong types and statuses,
silence past ``sock_read``, and lines past the size limits. Reconnections
are observed on the server side (the requests it receives), not by timing,
except where the wait itself is what is tested.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer, RawServer, let_loop_run, read_request
from h2_servers import H2ScriptConn

from aiosonic import Http2Config, HTTPClient, SSEClient, TCPConnector, Timeouts
from aiosonic.exceptions import (
    AiosonicError,
    ConnectError,
    RequestTimeout,
    ResponseIncomplete,
    SSEConnectionError,
    SSEParsingError,
)
from aiosonic.protocols.sse import SSEEvent, SSELimits
from aiosonic.sse_client import SSEConnection
from aiosonic.sse_config import RequestConfig

pytest_plugins = ["h2_servers"]

MakeRaw = Callable[..., Awaitable[RawServer]]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n"
)
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
# Each test runs well under this; a wrong wait (3 s default retry) would not.
LIMIT = 5


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def ev(
    data: str, event: str | None = None, id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return {"data": data, "event": event, "id": id, "retry": retry}


def header(request: bytes, name: bytes) -> bytes | None:
    """Return the value of header ``name`` in a raw request head (None if absent)."""
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


class Script:
    """A raw handler that answers the n-th request with the n-th step.

    Requests on a kept-alive connection are read in turn, as on new ones.
    Each step gets ``(reader, writer, request)``; the requests are kept in order.
    """

    def __init__(self, *steps: Callable[..., Awaitable[None]]) -> None:
        self.steps = list(steps)
        self.requests: list[bytes] = []
        self.arrivals: list[float] = []
        self.closed = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            request = await read_request(reader)  # IncompleteReadError at EOF ends this
            self.arrivals.append(time.monotonic())
            self.requests.append(request)
            step = self.steps[len(self.requests) - 1]
            await step(reader, writer, request)


def send(*parts: bytes, then: str = "end") -> Callable[..., Awaitable[None]]:
    """A step: write ``parts``, then ``end`` (the last chunk), ``drop`` (abort the
    connection), ``hold`` (until the client hangs up) or ``none`` (a whole response)."""

    async def step(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        writer.write(b"".join(parts))
        await writer.drain()
        if then == "end":
            writer.write(LAST_CHUNK)
            await writer.drain()
        elif then == "drop":
            writer.transport.abort()
        elif then == "hold":
            await reader.read()
            writer.close()

    return step


@asynccontextmanager
async def sse_client(**timeouts: Any) -> AsyncIterator[SSEClient]:
    connector = TCPConnector(timeouts=Timeouts(**timeouts)) if timeouts else None
    async with HTTPClient(connector) as http, SSEClient(http) as sse:
        yield sse


async def collect(connection: SSEConnection) -> list[SSEEvent]:
    return [event async for event in connection]


# --- the two forms, iteration --------------------------------------------------------


async def _stream_handler(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.headers["X-Seen-Accept"] = request.headers.get("Accept", "")
    await response.prepare(request)
    await response.write(b': hello\n\nid: 1\nevent: add\ndata: {"n": 1}\n\n')
    await response.write(b"data: line one\ndata: line two\n\n")
    await response.write(b"id: 2\nretry: 20\ndata: last\r\n\r\n")
    return response


async def test_await_form_iterates_events(http_server: HTTPServer) -> None:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return await _stream_handler(request)

    http_server.app.router.add_get("/events", handler)
    await http_server.start()
    async with sse_client() as sse:
        connection = await sse.connect(f"{http_server.url}/events", reconnect=False)
        assert isinstance(connection, SSEConnection)
        events = await asyncio.wait_for(collect(connection), LIMIT)
    assert events == [
        ev('{"n": 1}', "add", "1"),
        ev("line one\nline two"),
        ev("last", id="2", retry=20),
    ]
    assert connection.is_closed
    assert connection.last_event_id == "2"
    assert seen[0]["Accept"] == "text/event-stream"
    assert seen[0]["Cache-Control"] == "no-cache"
    assert "Last-Event-ID" not in seen[0]


async def test_context_manager_form_closes_the_stream_on_exit(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"data: a\n\n"), then="hold"))
    server = await raw_server(script)
    async with HTTPClient() as http:
        async with SSEClient(http).connect(server.url) as connection:
            assert await asyncio.wait_for(anext(connection), LIMIT) == ev("a")
            assert not http.connector.is_all_free()
        assert connection.is_closed
        assert connection.response is None
        assert http.connector.is_all_free()
        # Iterating a closed connection ends at once.
        assert await collect(connection) == []
    await asyncio.wait_for(server.close(), LIMIT)  # the handler saw the hang-up


async def test_sse_client_closes_the_http_client_it_made(http_server: HTTPServer) -> None:
    http_server.app.router.add_get("/events", _stream_handler)
    await http_server.start()
    async with SSEClient() as sse:
        async with sse.connect(f"{http_server.url}/events", reconnect=False) as connection:
            assert (await anext(connection))["data"] == '{"n": 1}'
        http = sse._client
    assert repr(sse).startswith("<SSEClient [<HTTPClient")
    with pytest.raises(AiosonicError):  # closed: no new requests
        await http.get(f"{http_server.url}/events")


async def test_breaking_out_keeps_the_rest_of_a_read(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"data: a\n\ndata: b\n\ndata: c\n\n")))
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url, reconnect=False) as connection:
        async for event in connection:
            assert event == ev("a")
            break
        assert await asyncio.wait_for(collect(connection), LIMIT) == [ev("b"), ev("c")]


async def test_repr_shows_state(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"id: 4\ndata: a\n\n"), then="hold"))
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url) as connection:
        await anext(connection)
        assert repr(connection) == (
            f"<SSEConnection [{server.url}, open, last_event_id='4', reconnects=0]>"
        )
    assert repr(connection).endswith("closed, last_event_id='4', reconnects=0]>")


# --- POST bodies ---------------------------------------------------------------------


async def test_post_json_body_is_sent_and_re_sent_on_reconnection(
    http_server: HTTPServer,
) -> None:
    received: list[tuple[str, bytes, str | None]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received.append((request.method, body, request.headers.get("Last-Event-ID")))
        if len(received) > 1:
            return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        answer = json.loads(body)["prompt"].upper()
        await response.write(f"id: 9\ndata: {answer}\n\n".encode())
        return response

    http_server.app.router.add_post("/chat", handler)
    await http_server.start()
    async with sse_client() as sse:
        connection = await sse.connect(
            f"{http_server.url}/chat", method="POST", json={"prompt": "hi"}, retry_delay=0
        )
        events = await asyncio.wait_for(collect(connection), LIMIT)
    assert events == [ev("HI", id="9")]
    body = b'{"prompt": "hi"}'
    assert received == [("POST", body, None), ("POST", body, "9")]


async def test_request_config_carries_the_request(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"data: ok\n\n")))
    server = await raw_server(script)
    async with HTTPClient() as http, SSEClient(http) as sse:
        pending = sse.connect(
            server.url + "/s",
            method="PUT",
            headers=[("X-Token", "t"), ("accept", "text/event-stream;q=1")],
            params={"a": 1},
            data=b"payload",
            reconnect=False,
        )
        config = pending._config
        assert isinstance(config, RequestConfig)
        assert (config.method, config.url, config.data, config.params) == (
            "PUT",
            server.url + "/s",
            b"payload",
            {"a": 1},
        )
        assert config.headers == {
            "X-Token": "t",
            "accept": "text/event-stream;q=1",
            "Cache-Control": "no-cache",
        }
        copy = config.with_headers_copy()
        copy.headers["X"] = "y"
        assert "X" not in config.headers
        async with pending as connection:
            assert await asyncio.wait_for(collect(connection), LIMIT) == [ev("ok")]
    request = script.requests[0]
    assert request.startswith(b"PUT /s?a=1 HTTP/1.1\r\n")
    assert request.endswith(b"\r\n\r\npayload")
    assert header(request, b"x-token") == b"t"
    assert request.lower().count(b"\r\naccept:") == 1  # the caller's, not a second one


# --- reconnection --------------------------------------------------------------------


async def test_reconnects_with_last_event_id_after_a_drop(raw_server: MakeRaw) -> None:
    script = Script(
        # The connection drops in the middle of an event: it is never dispatched.
        send(
            HEAD,
            chunk(b"id: 1\ndata: a\n\n"),
            chunk(b"id: 2\ndata: b\n\nid: 3\ndata: par"),
            then="drop",
        ),
        send(HEAD, chunk(b"data: c\n\n")),
        send(NO_CONTENT, then="none"),
    )
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url, retry_delay=0) as connection:
        events = await asyncio.wait_for(collect(connection), LIMIT)
        assert connection.is_closed  # 204: the server said stop
    assert events == [ev("a", id="1"), ev("b", id="2"), ev("c")]
    assert [header(r, b"last-event-id") for r in script.requests] == [None, b"2", b"2"]
    assert repr(connection).endswith("last_event_id='2', reconnects=1]>")


async def test_a_given_last_event_id_resumes_the_stream(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"data: a\n\n")), send(NO_CONTENT, then="none"))
    server = await raw_server(script)
    async with sse_client() as sse:
        pending = sse.connect(server.url, headers={"last-event-id": "41"}, retry_delay=0)
        async with pending as connection:
            assert connection.last_event_id == "41"
            assert await asyncio.wait_for(collect(connection), LIMIT) == [ev("a")]
    assert [header(r, b"last-event-id") for r in script.requests] == [b"41", b"41"]
    assert all(r.lower().count(b"last-event-id") == 1 for r in script.requests)


async def test_an_empty_id_stops_sending_last_event_id(raw_server: MakeRaw) -> None:
    script = Script(
        send(HEAD, chunk(b"id: 1\ndata: a\n\n")),
        send(HEAD, chunk(b"id\ndata: b\n\n")),
        send(NO_CONTENT, then="none"),
    )
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url, retry_delay=0) as connection:
        events = await asyncio.wait_for(collect(connection), LIMIT)
    assert events == [ev("a", id="1"), ev("b", id="")]
    assert [header(r, b"last-event-id") for r in script.requests] == [None, b"1", None]


async def test_server_retry_is_honoured(raw_server: MakeRaw) -> None:
    ended: list[float] = []

    async def first(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        writer.write(HEAD + chunk(b"retry: 50\ndata: a\n\n") + LAST_CHUNK)
        await writer.drain()
        ended.append(time.monotonic())

    script = Script(first, send(NO_CONTENT, then="none"))
    server = await raw_server(script)
    # Were the server's retry: ignored, the 10 s delay would outlast LIMIT.
    async with sse_client() as sse, sse.connect(server.url, retry_delay=10_000) as connection:
        events = await asyncio.wait_for(collect(connection), LIMIT)
        assert connection.retry_delay == 50
    assert events == [ev("a", retry=50)]
    waited = script.arrivals[1] - ended[0]
    assert 0.045 <= waited < 2, waited


async def test_server_retry_is_bounded_by_max_retry_delay(raw_server: MakeRaw) -> None:
    script = Script(
        send(HEAD, chunk(b"retry: 86400000\n\ndata: a\n\n")), send(NO_CONTENT, then="none")
    )
    server = await raw_server(script)
    async with sse_client() as sse:
        pending = sse.connect(server.url, max_retry_delay=20)
        async with pending as connection:
            events = await asyncio.wait_for(collect(connection), LIMIT)
            assert connection.retry_delay == 20
    assert events == [ev("a")]
    assert len(script.requests) == 2


async def test_a_stream_silent_past_sock_read_is_reconnected(raw_server: MakeRaw) -> None:
    script = Script(
        send(HEAD, chunk(b"id: 7\ndata: a\n\n"), then="hold"), send(NO_CONTENT, then="none")
    )
    server = await raw_server(script)
    async with (
        sse_client(sock_read=0.3) as sse,
        sse.connect(server.url, retry_delay=0) as connection,
    ):
        events = await asyncio.wait_for(collect(connection), LIMIT)
    assert events == [ev("a", id="7")]
    assert header(script.requests[1], b"last-event-id") == b"7"


async def test_the_stream_is_not_bounded_by_request_timeout(raw_server: MakeRaw) -> None:
    # request_timeout=0.1 would end both the head wait and the stream: each of
    # the two pauses outlasts it (that is the point of the sleeps).
    async def slow(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        await asyncio.sleep(0.2)
        writer.write(HEAD)
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(chunk(b"data: late\n\n") + LAST_CHUNK)
        await writer.drain()

    server = await raw_server(Script(slow, send(then="hold")))
    async with sse_client(request_timeout=0.1) as sse:
        connection = await asyncio.wait_for(sse.connect(server.url, reconnect=False), LIMIT)
        assert await asyncio.wait_for(collect(connection), LIMIT) == [ev("late")]
        # The client's other requests keep their request_timeout (the server
        # never answers this one; the guard fails a timeout that does not fire).
        with pytest.raises(RequestTimeout):
            async with asyncio.timeout(LIMIT):
                await sse._client.get(server.url)


async def test_reconnection_answered_with_an_error_status_raises(raw_server: MakeRaw) -> None:
    unavailable = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
    script = Script(send(HEAD, chunk(b"data: a\n\n")), send(unavailable, then="none"))
    server = await raw_server(script)
    received = []
    async with sse_client() as sse:
        async with sse.connect(server.url, retry_delay=0) as connection:
            with pytest.raises(SSEConnectionError) as error:
                async for event in connection:
                    received.append(event)
        assert sse._client.connector.is_all_free()
    assert received == [ev("a")]
    assert str(error.value) == (
        f"event stream {server.url}/ answered 503 Service Unavailable; expected 2xx with"
        " Content-Type text/event-stream (body starts b'busy')"
    )


async def test_an_id_that_cannot_be_a_header_value_stops_reconnection(
    raw_server: MakeRaw,
) -> None:
    script = Script(send(HEAD, chunk(b"id: a\x01b\ndata: x\n\n")))
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url, retry_delay=0) as connection:
        assert await anext(connection) == ev("x", id="a\x01b")
        with pytest.raises(SSEConnectionError) as error:
            await asyncio.wait_for(anext(connection), LIMIT)
        assert connection.is_closed
    assert str(error.value) == (
        f"cannot reconnect to {server.url}/: its last event ID 'a\\x01b' cannot be sent"
        " as a Last-Event-ID header"
    )
    assert len(script.requests) == 1


async def test_a_cancelled_reconnection_is_taken_up_again(raw_server: MakeRaw) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def stalled(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        started.set()
        await release.wait()
        writer.close()  # the client gave up on this one already

    script = Script(
        send(HEAD, chunk(b"id: 1\ndata: a\n\n")),
        stalled,
        send(HEAD, chunk(b"data: b\n\n")),
        send(NO_CONTENT, then="none"),
    )
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url, retry_delay=0) as connection:
        assert await anext(connection) == ev("a", id="1")
        waiting = asyncio.ensure_future(anext(connection))
        await asyncio.wait_for(started.wait(), LIMIT)
        waiting.cancel()  # as a caller's timeout would, mid-reconnection
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        assert not connection.is_closed
        assert await asyncio.wait_for(collect(connection), LIMIT) == [ev("b")]
    assert [header(r, b"last-event-id") for r in script.requests] == [None, b"1", b"1", b"1"]


async def test_drop_without_reconnect_raises_with_the_cause(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"data: a\n\ndata: b"), then="drop"))
    server = await raw_server(script)
    async with sse_client() as sse, sse.connect(server.url, reconnect=False) as connection:
        assert await anext(connection) == ev("a")
        with pytest.raises(SSEConnectionError, match=r"event stream from .* dropped: ") as error:
            await asyncio.wait_for(anext(connection), LIMIT)
    assert isinstance(error.value.__cause__, ResponseIncomplete)
    assert len(script.requests) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_without_reconnect_raises() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/events"
    async with sse_client() as sse:
        with pytest.raises(
            SSEConnectionError, match=f"could not connect to event stream {url}: "
        ) as error:
            await sse.connect(url, reconnect=False)
    assert isinstance(error.value.__cause__, ConnectError)


async def test_reconnect_attempts_run_out(raw_server: MakeRaw) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/events"
    async with sse_client() as sse:
        with pytest.raises(SSEConnectionError) as error:
            await asyncio.wait_for(sse.connect(url, retry_delay=0, max_reconnect_attempts=3), LIMIT)
    assert f"gave up on event stream {url} after 3 failed attempt(s) in a row" in str(error.value)
    assert "(max_reconnect_attempts=3)" in str(error.value)
    assert isinstance(error.value.__cause__, ConnectError)


async def test_http2_stream_reconnects_on_the_same_connection(h2_server: Any) -> None:
    async def script(conn: H2ScriptConn) -> None:
        first = await conn.next_request()
        conn.send_headers(first.stream_id, 200, [("content-type", "text/event-stream")])
        await conn.send_data(first.stream_id, b"id: 1\ndata: a\n\n", end=False)
        await conn.send_data(first.stream_id, b"data: b\n\n")  # and END_STREAM
        second = await conn.next_request()
        conn.send_headers(second.stream_id, 204, end=True)
        await conn.wait_closed()

    server = await h2_server(script)
    config = Http2Config(prior_knowledge=True)
    connector = TCPConnector(http2=True, http2_config=config)
    async with HTTPClient(connector) as http, SSEClient(http) as sse:
        async with sse.connect(server.url + "/h2", retry_delay=0) as connection:
            events = await asyncio.wait_for(collect(connection), LIMIT)
        assert http.connector.is_all_free()
    assert events == [ev("a", id="1"), ev("b")]
    first, second = server.requests
    assert first.headers["accept"] == "text/event-stream"
    assert "last-event-id" not in first.headers
    assert second.headers["last-event-id"] == "1"
    assert len(server.conns) == 1


# --- refused streams -----------------------------------------------------------------


async def test_204_on_the_first_request_raises(raw_server: MakeRaw) -> None:
    server = await raw_server(Script(send(NO_CONTENT, then="none")))
    async with sse_client() as sse:
        with pytest.raises(SSEConnectionError, match=r"answered 204 No Content \(no event"):
            await sse.connect(server.url)


async def test_wrong_content_type_raises(http_server: HTTPServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="not a stream")

    http_server.app.router.add_get("/events", handler)
    await http_server.start()
    async with sse_client() as sse:
        with pytest.raises(SSEConnectionError) as error:
            await sse.connect(f"{http_server.url}/events")
        assert sse._client.connector.is_all_free()
    assert str(error.value) == (
        f"event stream {http_server.url}/events answered Content-Type"
        " 'text/plain; charset=utf-8'; expected 2xx with Content-Type text/event-stream"
        " (body starts b'not a stream')"
    )


async def test_error_status_raises(http_server: HTTPServer) -> None:
    await http_server.start()  # no route: 404
    async with sse_client() as sse:
        with pytest.raises(SSEConnectionError, match="answered 404 Not Found; expected 2xx"):
            await sse.connect(f"{http_server.url}/missing")


async def test_content_type_parameters_and_case_are_accepted(raw_server: MakeRaw) -> None:
    head = HEAD.replace(b"text/event-stream", b"Text/Event-Stream; charset=utf-8")
    server = await raw_server(Script(send(head, chunk(b"data: a\n\n"))))
    async with sse_client() as sse, sse.connect(server.url, reconnect=False) as connection:
        assert await asyncio.wait_for(collect(connection), LIMIT) == [ev("a")]


# --- limits --------------------------------------------------------------------------


async def test_a_line_past_the_limit_raises_and_closes(raw_server: MakeRaw) -> None:
    script = Script(send(HEAD, chunk(b"data: ok\n\n"), chunk(b"data: " + b"x" * 100), then="hold"))
    server = await raw_server(script)
    async with sse_client() as sse:
        pending = sse.connect(server.url, limits=SSELimits(max_line_size=50))
        async with pending as connection:
            assert await anext(connection) == ev("ok")
            with pytest.raises(SSEParsingError) as error:
                await asyncio.wait_for(anext(connection), LIMIT)
            assert connection.is_closed
            assert sse._client.connector.is_all_free()
    message = str(error.value)
    assert message.startswith("event-stream line longer than max_line_size=50 bytes (106 bytes")
    assert message.endswith(f"({server.url}/)")
    assert len(script.requests) == 1  # never reconnected
    await let_loop_run()


async def test_event_data_past_the_limit_raises(raw_server: MakeRaw) -> None:
    lines = b"".join(b"data: %d\n" % i for i in range(100))
    server = await raw_server(Script(send(HEAD, chunk(lines), then="hold")))
    async with sse_client() as sse:
        pending = sse.connect(server.url, limits=SSELimits(max_event_data_size=64))
        async with pending as connection:
            with pytest.raises(SSEParsingError, match="max_event_data_size=64 bytes"):
                await asyncio.wait_for(anext(connection), LIMIT)


# --- the public surface --------------------------------------------------------------


def test_published_paths_and_bases() -> None:
    import aiosonic.exceptions
    import aiosonic.sse_client
    import aiosonic.sse_config

    assert aiosonic.SSEClient is aiosonic.sse_client.SSEClient
    assert aiosonic.sse_client.RequestConfig is aiosonic.sse_config.RequestConfig
    assert aiosonic.SSEConnectionError is aiosonic.exceptions.SSEConnectionError
    for cls in (aiosonic.SSEConnectionError, aiosonic.SSEParsingError):
        assert issubclass(cls, aiosonic.AiosonicError)
    config = RequestConfig("GET", "http://h/")
    assert (config.reconnect, config.retry_delay, config.keep_connection) == (True, 3000, False)
    assert (config.headers, config.request_kwargs, config.max_reconnect_attempts) == ({}, {}, None)
