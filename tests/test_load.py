"""Load, slow-server and end-of-body tests through the client, against scripted servers.

* Load: 1,000 sequential requests while the server drops ~10% of its keep-alive
  connections, and 200 concurrent requests through a pool of 10; every
  response must be the answer to its own request (the server echoes the path),
  and no socket or file descriptor may outlive the client.
* Slow servers: one that drips its head a byte every 100 ms forever, and one
  that accepts and never answers; each must end in its own timeout
  within its deadline.
* End of body: trailers of a chunked response reach ``response.trailers`` and
  leave the connection reusable; ``text()`` and ``json()`` on bytes that do not
  decode follow their documented policy.

Related cases live elsewhere: refused connections, ``.invalid`` names, resets
mid-body and unsolicited responses in ``test_faults.py``; a full backlog, a
silent server after the request and a dripped body in ``test_timeouts.py``.
Every test is bounded by ``asyncio.timeout`` so a regression fails fast.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import RawServer, let_loop_run, open_sockets, read_request

import aiosonic
from aiosonic import TCPConnector, Timeouts
from aiosonic.exceptions import ReadTimeout, RequestTimeout
from aiosonic.response import ResponseJSONError

RawServerFactory = Callable[..., Awaitable[RawServer]]

ECHO_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def request_path(head: bytes) -> bytes:
    return head.split(b" ", 2)[1]


def echo_response(head: bytes, extra_headers: bytes = b"") -> bytes:
    """Answer a request with its own path as the body: the request's id."""
    path = request_path(head)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (
        extra_headers,
        len(path),
        path,
    )


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(echo_response(await read_request(reader)))
        await writer.drain()


# --- load ----------------------------------------------------------------------


class FlakyKeepAlive:
    """Echo every request's path; after ~10% of responses, end the connection.

    Half of those announce it (``Connection: close``); the other half close
    without a word, so the client finds out only when it reuses the socket.
    A seeded RNG makes every run drop the same connections.
    """

    def __init__(self, seed: int, drop_rate: float = 0.10) -> None:
        self.rng = random.Random(seed)
        self.drop_rate = drop_rate
        self.requests = 0
        self.announced_closes = 0
        self.silent_closes = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            self.requests += 1
            roll = self.rng.random()
            if roll < self.drop_rate / 2:
                self.announced_closes += 1
                writer.write(echo_response(head, b"Connection: close\r\n"))
                await writer.drain()
                return
            writer.write(echo_response(head))
            await writer.drain()
            if roll < self.drop_rate:
                self.silent_closes += 1
                return


async def test_sequential_requests_while_the_server_drops_connections_all_match(
    raw_server: RawServerFactory,
) -> None:
    total = 1000
    flaky = FlakyKeepAlive(seed=4)
    server = await raw_server(flaky)
    reused = 0
    async with asyncio.timeout(30), aiosonic.HTTPClient() as client:
        for index in range(total):
            response = await client.get(f"{server.url}/{index}")
            assert response.status_code == 200
            # The body is the path the server saw: this response answers this request.
            assert await response.content() == f"/{index}".encode()
            reused += response.timings.reused_connection
        assert client.connector.is_all_free()
    drops = flaky.announced_closes + flaky.silent_closes
    assert 50 <= drops <= 150
    assert flaky.announced_closes > 0 and flaky.silent_closes > 0
    # The server answered each request once: a GET re-sent after a silent
    # close is one the server never read.
    assert flaky.requests == total
    # A new connection after each drop (none after a drop on the last request),
    # and every response but the first of each connection came on a reused one.
    assert server.connections in (drops, drops + 1)
    assert total - reused == server.connections


class ConcurrencyMeter:
    """Echo every request's path, and count the connections open at once.

    No answer goes out until ``expected`` connections are open, so the test
    proves the client both fills its pool and never goes past it.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.open = 0
        self.peak = 0
        self.requests = 0
        self.full = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.open >= self.expected:
            self.full.set()
        try:
            while True:
                head = await read_request(reader)
                self.requests += 1
                await self.full.wait()
                writer.write(echo_response(head))
                await writer.drain()
        finally:
            self.open -= 1


async def test_concurrent_requests_share_a_pool_of_ten_and_leave_no_descriptor(
    raw_server: RawServerFactory,
) -> None:
    pool_size, total = 10, 200
    before = open_sockets()
    meter = ConcurrencyMeter(expected=pool_size)
    server = await raw_server(meter)
    async with aiosonic.HTTPClient(TCPConnector(pool_size=pool_size)) as client:

        async def fetch(index: int) -> bytes:
            response = await client.get(f"{server.url}/{index}")
            return await response.content()

        async with asyncio.timeout(20):
            bodies = await asyncio.gather(*(fetch(index) for index in range(total)))
        assert bodies == [f"/{index}".encode() for index in range(total)]
        assert meter.requests == total
        assert meter.peak == pool_size
        assert server.connections == pool_size
        assert client.connector.is_all_free()
    await server.close()
    await let_loop_run()
    assert meter.open == 0
    assert open_sockets() == before


# --- slow servers --------------------------------------------------------------


async def test_a_head_dripped_forever_ends_in_request_timeout(
    raw_server: RawServerFactory,
) -> None:
    hung_up = asyncio.Event()

    async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        try:
            while True:  # each byte arrives well within sock_read
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, RuntimeError):
            # asyncio raises ConnectionError once the client is gone; uvloop
            # raises RuntimeError for a write to a transport closed meanwhile.
            hung_up.set()

    slow = await raw_server(slowloris)
    good = await raw_server(echo)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.5, request_timeout=0.8))
    async with aiosonic.HTTPClient(connector) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match=r"request_timeout=0\.8"):
            async with asyncio.timeout(3):
                await client.get(slow.url + "/drip")
        # (asyncio may run a timer up to its clock resolution early)
        assert 0.79 <= time.monotonic() - started < 2
        # The half-read connection was dropped, not pooled.
        async with asyncio.timeout(3):
            await hung_up.wait()
        response = await client.get(good.url + "/healthy")
        assert await response.content() == b"/healthy"
        assert connector.is_all_free()


async def test_a_server_that_accepts_and_never_answers_ends_in_read_timeout(
    raw_server: RawServerFactory,
) -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.wait_closed()  # reads nothing, answers nothing

    silent = await raw_server(deaf)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.3, request_timeout=5))
    async with aiosonic.HTTPClient(connector) as client:
        started = time.monotonic()
        with pytest.raises(ReadTimeout, match=r"sock_read=0\.3"):
            async with asyncio.timeout(3):
                await client.get(silent.url + "/nobody-home")
        assert 0.3 <= time.monotonic() - started < 1.5
        assert connector.is_all_free()
    assert silent.connections == 1  # a timeout is not retried


# --- end of body ---------------------------------------------------------------


TRAILED_BODY = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Count\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc123\r\nx-count: 2\r\n\r\n"
)


async def test_trailers_reach_the_response_and_keep_the_connection(
    raw_server: RawServerFactory,
) -> None:
    async def trailed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            writer.write(TRAILED_BODY if b" /trailed" in head else echo_response(head))
            await writer.drain()

    server = await raw_server(trailed)
    async with asyncio.timeout(5), aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/trailed")
        assert dict(response.trailers) == {}  # nothing read yet
        assert await response.content() == b"hello world"
        assert response.trailers["x-checksum"] == "abc123"
        assert response.trailers["X-Count"] == "2"
        assert "Trailer" in response.headers and "X-Checksum" not in response.headers

        streamed = await client.get(server.url + "/trailed")
        assert b"".join([chunk async for chunk in streamed.read_chunks()]) == b"hello world"
        assert streamed.trailers.getall("x-checksum") == ["abc123"]

        after = await client.get(server.url + "/after")
        assert await after.content() == b"/after"
        assert after.timings.reused_connection
        assert client.connector.is_all_free()
    assert server.connections == 1


def serve_exact(response: bytes) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(response)
            await writer.drain()

    return handler


def text_response(body: bytes, content_type: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        content_type,
        len(body),
        body,
    )


async def test_text_replaces_undecodable_bytes_unless_told_to_be_strict(
    raw_server: RawServerFactory,
) -> None:
    # A lone continuation byte and a truncated 3-byte sequence: not UTF-8.
    body = b"caf\xc3\xa9 \x80 end \xe2\x82"
    server = await raw_server(serve_exact(text_response(body, b"text/plain; charset=utf-8")))
    async with asyncio.timeout(5), aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/")
        assert await response.text() == "café \ufffd end \ufffd"
        assert await response.text(errors="ignore") == "café  end "
        with pytest.raises(UnicodeDecodeError):
            await response.text(errors="strict")


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b'{"a": 1} trailing', b'{"a": "\xff\xfe"}', b"\x00\x00\x00"],
    ids=["empty", "garbage", "trailing-data", "invalid-utf-8", "nul-bytes"],
)
async def test_json_on_an_invalid_body_raises_response_json_error(
    raw_server: RawServerFactory, body: bytes
) -> None:
    server = await raw_server(serve_exact(text_response(body, b"application/json")))
    async with asyncio.timeout(5), aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/doc")
        with pytest.raises(ResponseJSONError, match="invalid JSON") as caught:
            await response.json()
        assert server.url + "/doc" in str(caught.value)
        assert isinstance(caught.value.__cause__, ValueError)
        assert client.connector.is_all_free()
