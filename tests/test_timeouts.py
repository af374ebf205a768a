"""Tests for the four deadlines of Timeouts, each firing in its own layer.

* ``sock_connect`` -> ``ConnectTimeout``: DNS + TCP connect (connector);
* ``sock_read`` -> ``ReadTimeout``: each wait for server bytes (driver);
* ``pool_acquire`` -> ``ConnectionPoolAcquireTimeout``: waiting for a slot;
* ``request_timeout`` -> ``RequestTimeout``: ``request()`` as a whole.

Servers stall by waiting on an event nobody sets; the only wall-clock waits
are the deadlines under test (a few tenths of a second), a server that drips
bytes on a fixed period and two that answer late on purpose (the latency one
deadline must cut and another must not). After each timeout the same client
must serve a request to a healthy server, and the connector must end with
nothing leased.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import RawServer, open_sockets, read_request

import aiosonic
from aiosonic import TCPConnector, Timeouts
from aiosonic.exceptions import (
    AiosonicError,
    BaseTimeout,
    ConnectionPoolAcquireTimeout,
    ConnectTimeout,
    ReadTimeout,
    RequestTimeout,
)
from aiosonic.resolver import AbstractResolver, ip_literal_answer

#: Bound on each wait for a deadline under test (those are 0.2-0.6 s): one
#: that fires late or never fails here instead of at the 30/60 s defaults.
GUARD_S = 3

ECHO_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def echo_response(head: bytes) -> bytes:
    path = head.split(b" ", 2)[1]
    return ECHO_HEAD % len(path) + path


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(echo_response(await read_request(reader)))
        await writer.drain()


async def stall_forever() -> None:
    await asyncio.Event().wait()


@asynccontextmanager
async def bounded(limit_s: float = GUARD_S) -> AsyncIterator[None]:
    """Cut the block after ``limit_s`` with a bare TimeoutError (no aiosonic class).

    A deadline under test that fails to fire then fails the test quickly, and
    ``pytest.raises(SomeTimeout)`` around this block does not mistake the
    guard's error for the one expected.
    """
    async with asyncio.timeout(limit_s):
        yield


async def assert_healthy(client: aiosonic.HTTPClient, good: RawServer) -> None:
    """The pool still serves a good server, and nothing stays leased."""
    response = await client.get(good.url + "/healthy")
    assert await response.content() == b"/healthy"
    assert client.connector.is_all_free()


def check_timeout_error(error: BaseException, cls: type[BaseTimeout]) -> None:
    assert type(error) is cls
    assert isinstance(error, asyncio.TimeoutError)
    assert isinstance(error, TimeoutError)
    assert isinstance(error, AiosonicError)


class StallingResolver(AbstractResolver):
    """Resolve ``good.test`` to 127.0.0.1; never answer for any other name."""

    def __init__(self) -> None:
        self.stalled = asyncio.Event()
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        self.lookups.append(host)
        if host == "good.test":
            answers = ip_literal_answer("127.0.0.1", port)
            assert answers is not None
            return answers
        self.stalled.set()
        await stall_forever()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pass


# --- sock_connect ------------------------------------------------------------------


@pytest.fixture
async def full_backlog() -> Any:
    """A listening socket that never accepts, with its accept queue already full.

    Linux keeps ``backlog + 1`` handshaken connections for an unaccepted
    listener and drops further SYNs, so a new connect() hangs in SYN retries.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    loop = asyncio.get_running_loop()
    fillers: list[socket.socket] = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        fillers.append(filler)
        filler.connect_ex(address)
    probe = socket.socket()
    probe.setblocking(False)
    fillers.append(probe)
    try:
        await asyncio.wait_for(loop.sock_connect(probe, address), 0.2)
    except TimeoutError:
        pass
    else:
        pytest.skip("this kernel accepted a connection past a full backlog")
    yield address
    for filler in fillers:
        filler.close()
    listener.close()


async def test_sock_connect_bounds_a_tcp_connect_that_never_completes(
    full_backlog: tuple[str, int], raw_server: Any
) -> None:
    good = await raw_server(echo)
    host, port = full_backlog
    fds_before = open_sockets()
    connector = TCPConnector(timeouts=Timeouts(sock_connect=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ConnectTimeout) as caught:
            async with bounded():
                await client.get(f"http://{host}:{port}/")
        check_timeout_error(caught.value, ConnectTimeout)
        assert "sock_connect=0.3" in str(caught.value)
        assert f"{host}:{port}" in str(caught.value)
        assert connector.is_all_free()
        # The abandoned connect attempt's socket is closed at once.
        assert open_sockets() == fds_before
        await assert_healthy(client, good)


async def test_sock_connect_includes_dns_resolution(raw_server: Any) -> None:
    good = await raw_server(echo)
    resolver = StallingResolver()
    connector = TCPConnector(resolver=resolver, timeouts=Timeouts(sock_connect=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ConnectTimeout) as caught:
            async with bounded():
                await client.get("http://stalled.test/")
        check_timeout_error(caught.value, ConnectTimeout)
        assert "stalled.test:80" in str(caught.value)
        assert resolver.lookups == ["stalled.test"]
        response = await client.get(f"http://good.test:{good.port}/by-name")
        assert await response.content() == b"/by-name"
        await assert_healthy(client, good)


# --- sock_read ---------------------------------------------------------------------


async def test_sock_read_bounds_the_wait_for_the_response_head(raw_server: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await stall_forever()

    silent_server = await raw_server(silent)
    good = await raw_server(echo)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ReadTimeout) as caught:
            async with bounded():
                await client.get(silent_server.url + "/head")
        check_timeout_error(caught.value, ReadTimeout)
        assert "sock_read=0.3" in str(caught.value)
        assert "/head" in str(caught.value)
        await assert_healthy(client, good)
    assert silent_server.connections == 1  # a timeout is not retried


async def test_sock_read_bounds_a_wait_in_the_middle_of_a_preloaded_body(
    raw_server: Any,
) -> None:
    async def half_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()
        await stall_forever()

    stalling = await raw_server(half_body)
    good = await raw_server(echo)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ReadTimeout) as caught:
            async with bounded():
                await client.get(stalling.url)
        check_timeout_error(caught.value, ReadTimeout)
        await assert_healthy(client, good)


async def test_sock_read_bounds_a_wait_in_the_middle_of_a_streamed_body(
    raw_server: Any,
) -> None:
    async def half_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await stall_forever()

    stalling = await raw_server(half_stream)
    good = await raw_server(echo)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(stalling.url)
        chunks = []
        with pytest.raises(ReadTimeout) as caught:
            async with bounded():
                async for chunk in response.read_chunks():
                    chunks.append(chunk)
        assert chunks == [b"hello"]
        check_timeout_error(caught.value, ReadTimeout)
        assert response.is_consumed
        await assert_healthy(client, good)


async def dripping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Announce an 8-byte body, then send it one byte per 100 ms."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
    for byte in b"drip-ok!":
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(bytes([byte]))
    await writer.drain()
    await reader.read()


async def test_sock_read_is_per_wait_so_a_slow_drip_does_not_time_out(raw_server: Any) -> None:
    server = await raw_server(dripping)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.5))
    async with aiosonic.HTTPClient(connector) as client:
        start = time.monotonic()
        response = await client.get(server.url + "/slow")
        assert await response.content() == b"drip-ok!"
        # The whole body took longer than sock_read: each wait was bounded alone.
        assert time.monotonic() - start > 0.5
        assert connector.is_all_free()


async def test_request_timeout_bounds_a_drip_that_sock_read_never_catches(
    raw_server: Any,
) -> None:
    server = await raw_server(dripping)
    good = await raw_server(echo)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.5, request_timeout=0.6))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(RequestTimeout) as caught:
            async with bounded():
                # The 8-byte body is preloaded inside request(), so under its deadline.
                await client.get(server.url + "/slow")
        check_timeout_error(caught.value, RequestTimeout)
        assert "request_timeout=0.6" in str(caught.value)
        await assert_healthy(client, good)


# --- pool_acquire ------------------------------------------------------------------


async def test_pool_acquire_times_out_while_the_only_connection_is_held(
    raw_server: Any,
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            if b" /stream " in head:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
                await writer.drain()
                await stall_forever()
            writer.write(echo_response(head))
            await writer.drain()

    server = await raw_server(serve)
    connector = TCPConnector(pool_size=1, timeouts=Timeouts(pool_acquire=0.2))
    async with aiosonic.HTTPClient(connector) as client:
        held = await client.get(server.url + "/stream")
        assert not connector.is_all_free()
        with pytest.raises(ConnectionPoolAcquireTimeout) as caught:
            async with bounded():
                await client.get(server.url + "/waiting")
        check_timeout_error(caught.value, ConnectionPoolAcquireTimeout)
        assert "pool_acquire=0.2" in str(caught.value)
        assert server.connections == 1

        await held.aclose()
        assert connector.is_all_free()
        await assert_healthy(client, server)
    assert server.connections == 2


# --- request_timeout ---------------------------------------------------------------


async def test_request_timeout_bounds_the_whole_request(raw_server: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await stall_forever()

    silent_server = await raw_server(silent)
    good = await raw_server(echo)
    connector = TCPConnector(timeouts=Timeouts(sock_read=10, request_timeout=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(RequestTimeout) as caught:
            async with bounded():
                await client.get(silent_server.url + "/whole")
        check_timeout_error(caught.value, RequestTimeout)
        assert "/whole" in str(caught.value)
        await assert_healthy(client, good)


async def test_request_timeout_covers_connecting_too() -> None:
    resolver = StallingResolver()
    connector = TCPConnector(
        resolver=resolver, timeouts=Timeouts(sock_connect=10, request_timeout=0.3)
    )
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(RequestTimeout):
            async with bounded():
                await client.get("http://stalled.test/")
        assert connector.is_all_free()


# --- per-request overrides -------------------------------------------------------


async def test_per_request_timeouts_override_the_connectors(raw_server: Any) -> None:
    async def slow_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            if b" /slow " in head:
                await asyncio.sleep(0.4)  # the latency under test: past 0.2 s, within 2 s
            writer.write(echo_response(head))
            await writer.drain()

    server = await raw_server(slow_head)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.2))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ReadTimeout):
            async with bounded():
                await client.get(server.url + "/slow")
        relaxed = Timeouts(sock_read=2)
        response = await client.get(server.url + "/slow", timeouts=relaxed)
        assert await response.content() == b"/slow"
        await assert_healthy(client, server)


async def test_a_shorter_per_request_sock_read_applies_on_a_reused_connection(
    raw_server: Any,
) -> None:
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(echo_response(await read_request(reader)))
        await writer.drain()
        await read_request(reader)
        await stall_forever()

    server = await raw_server(answer_once)
    async with aiosonic.HTTPClient() as client:  # default sock_read: 30 s
        response = await client.get(server.url + "/first")
        assert await response.content() == b"/first"
        with pytest.raises(ReadTimeout):
            async with bounded():
                await client.get(server.url + "/second", timeouts=Timeouts(sock_read=0.3))
        assert server.connections == 1
        assert client.connector.is_all_free()


async def test_no_sock_read_on_a_reused_connection_is_not_cut_by_an_earlier_one(
    raw_server: Any,
) -> None:
    async def slow_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(echo_response(await read_request(reader)))
        await writer.drain()
        head = await read_request(reader)
        await asyncio.sleep(0.5)  # the latency under test: past the first request's 0.2 s
        writer.write(echo_response(head))
        await writer.drain()
        await reader.read()

    server = await raw_server(slow_second)
    async with aiosonic.HTTPClient() as client:
        first = await client.get(server.url + "/first", timeouts=Timeouts(sock_read=0.2))
        assert await first.content() == b"/first"
        second = await client.get(server.url + "/second", timeouts=Timeouts(sock_read=None))
        assert await second.content() == b"/second"
    assert server.connections == 1
