"""Tests for transport faults, retries and cancellation, against scripted servers.

Each server is a ``raw_server`` handler that sends exact bytes and then
misbehaves in one way (refuses, resets, closes early, sends bytes unasked).
The tests check the exception class and its context, what the server saw
(connections, requests: proving what was or was not replayed), that the pool
is healthy afterwards, and, for a few, that no file descriptor leaked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import RawServer, let_loop_run, open_sockets, read_request

import aiosonic
from aiosonic import TCPConnector
from aiosonic.exceptions import (
    ConnectError,
    ConnectionDisconnected,
    InvalidRequest,
    ResolveError,
    ResponseIncomplete,
)
from aiosonic.resolver import AbstractResolver, ip_literal_answer

ECHO_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def request_path(head: bytes) -> bytes:
    return head.split(b" ", 2)[1]


def echo_response(head: bytes) -> bytes:
    """Answer a request with its own path as the body (the request's id)."""
    path = request_path(head)
    return ECHO_HEAD % len(path) + path


async def stall_forever() -> None:
    await asyncio.Event().wait()


@asynccontextmanager
async def no_fd_leak() -> AsyncIterator[None]:
    """Fail if the block leaves more descriptors open than it started with.

    The block must close every client and server it opens.
    """
    before = open_sockets()
    yield
    await let_loop_run()
    assert open_sockets() == before


class RequestLog:
    """What a scripted server received: one entry per request, per connection."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.connections = 0

    @property
    def methods(self) -> list[bytes]:
        return [head.split(b" ", 1)[0] for head in self.requests]


# --- connection-level faults ---------------------------------------------------


async def test_connection_refused_raises_connect_error_and_leaks_nothing() -> None:
    # A bound socket that never listens: the port is ours, and refuses.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    try:
        async with no_fd_leak(), aiosonic.HTTPClient() as client:
            with pytest.raises(ConnectError) as caught:
                await client.get(f"http://127.0.0.1:{port}/")
            assert client.connector.is_all_free()
    finally:
        blocker.close()
    error = caught.value
    assert isinstance(error, ConnectionError)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert f"127.0.0.1:{port}" in str(error)
    assert error.request_sent is False


async def test_an_invalid_host_raises_resolve_error() -> None:
    async with no_fd_leak(), aiosonic.HTTPClient() as client:
        # RFC 6761 §6.4: .invalid never resolves.
        with pytest.raises(ResolveError) as caught:
            await client.get("http://nothing-here.invalid/")
        assert client.connector.is_all_free()
    assert isinstance(caught.value, ConnectError)
    assert "nothing-here.invalid" in str(caught.value)


async def test_server_closing_without_a_response_raises_connection_disconnected(
    raw_server: Any,
) -> None:
    log = RequestLog()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log.requests.append(await read_request(reader))

    async with no_fd_leak():
        server: RawServer = await raw_server(hang_up)
        async with aiosonic.HTTPClient() as client:
            with pytest.raises(ConnectionDisconnected) as caught:
                await client.get(server.url + "/gone")
            assert client.connector.is_all_free()
        await server.close()
    error = caught.value
    assert type(error) is ConnectionDisconnected
    assert "without a response" in str(error)
    assert "/gone" in str(error)
    assert error.request_sent is True
    assert error.reused_connection is False
    # A fresh connection failing is not retried.
    assert server.connections == 1
    assert len(log.requests) == 1


async def test_server_closing_mid_body_raises_response_incomplete(raw_server: Any) -> None:
    async def short_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()

    async with no_fd_leak():
        server: RawServer = await raw_server(short_body)
        async with aiosonic.HTTPClient() as client:
            with pytest.raises(ResponseIncomplete) as caught:
                await client.get(server.url + "/short")
            assert client.connector.is_all_free()
        await server.close()
    error = caught.value
    assert error.received == 10
    assert error.expected == 100
    assert "10 of 100" in str(error)
    assert "/short" in str(error)
    assert isinstance(error, ConnectionDisconnected)


async def test_server_resetting_mid_body_raises_response_incomplete(raw_server: Any) -> None:
    reset = asyncio.Event()

    async def reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        # Over PRELOAD_LIMIT: request() returns after the head.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        await reset.wait()
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout turns close() into a TCP RST.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with no_fd_leak():
        server: RawServer = await raw_server(reset_mid_body)
        async with aiosonic.HTTPClient() as client:
            response = await client.get(server.url + "/reset")
            assert response.status_code == 200
            reset.set()
            with pytest.raises(ResponseIncomplete) as caught:
                await response.content()
            assert client.connector.is_all_free()
        await server.close()
    error = caught.value
    assert error.expected == 2000000
    assert 0 <= error.received <= 1000
    assert f"after {error.received} of 2000000 body bytes" in str(error)
    assert isinstance(error.__cause__, ConnectionResetError)


async def test_unsolicited_bytes_behind_a_response_stop_its_reuse(raw_server: Any) -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            # A whole extra response nobody asked for, in the same write.
            writer.write(echo_response(head) + ECHO_HEAD % 7 + b"garbage")
            await writer.drain()

    server: RawServer = await raw_server(chatty)
    async with aiosonic.HTTPClient() as client:
        for index in range(3):
            response = await client.get(f"{server.url}/{index}")
            assert await response.content() == f"/{index}".encode()
        assert client.connector.is_all_free()
    assert server.connections == 3


async def test_bytes_arriving_on_an_idle_connection_close_it(raw_server: Any) -> None:
    client_hung_up = asyncio.Event()
    spoken = asyncio.Event()

    async def speaks_unasked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        writer.write(echo_response(head))
        await writer.drain()
        if request_path(head) == b"/first":
            await spoken.wait()
            writer.write(ECHO_HEAD % 7 + b"garbage")
            await writer.drain()
            if await reader.read() == b"":
                client_hung_up.set()
        else:
            await reader.read()

    server: RawServer = await raw_server(speaks_unasked)
    async with aiosonic.HTTPClient() as client:
        assert await (await client.get(server.url + "/first")).content() == b"/first"
        spoken.set()
        # The client drops the connection as soon as it sees the bytes.
        await asyncio.wait_for(client_hung_up.wait(), 5)
        assert await (await client.get(server.url + "/second")).content() == b"/second"
    assert server.connections == 2


# --- retries -------------------------------------------------------------------


def answer_first_then_hang_up(log: RequestLog) -> Any:
    """On every connection: answer the first request only, then read one more and close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log.connections += 1
        head = await read_request(reader)
        log.requests.append(head)
        if log.connections == 1:
            writer.write(echo_response(head))
            await writer.drain()
            log.requests.append(await read_request(reader))
            return  # close with the second request unanswered
        writer.write(echo_response(head))
        await writer.drain()
        await reader.read()

    return handler


async def test_an_idempotent_request_on_a_dead_reused_connection_is_retried_once(
    raw_server: Any,
) -> None:
    log = RequestLog()
    async with no_fd_leak():
        server: RawServer = await raw_server(answer_first_then_hang_up(log))
        async with aiosonic.HTTPClient() as client:
            assert await (await client.get(server.url + "/1")).content() == b"/1"
            assert await (await client.get(server.url + "/2")).content() == b"/2"
            assert client.connector.is_all_free()
        await server.close()
    # /2 went out twice: on the reused connection that died, then on a new one.
    assert [request_path(h) for h in log.requests] == [b"/1", b"/2", b"/2"]
    assert server.connections == 2


async def test_a_retry_that_fails_too_is_not_retried_again(raw_server: Any) -> None:
    log = RequestLog()

    async def answer_once_ever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log.connections += 1
        head = await read_request(reader)
        log.requests.append(head)
        if log.connections == 1:
            writer.write(echo_response(head))
            await writer.drain()
            log.requests.append(await read_request(reader))

    server: RawServer = await raw_server(answer_once_ever)
    async with aiosonic.HTTPClient() as client:
        assert await (await client.get(server.url + "/1")).content() == b"/1"
        with pytest.raises(ConnectionDisconnected) as caught:
            await client.get(server.url + "/2")
        assert client.connector.is_all_free()
    assert caught.value.reused_connection is False  # the error of the retry
    assert [request_path(h) for h in log.requests] == [b"/1", b"/2", b"/2"]
    assert server.connections == 2


async def test_a_post_written_on_a_reused_connection_that_dies_is_not_replayed(
    raw_server: Any,
) -> None:
    log = RequestLog()
    server: RawServer = await raw_server(answer_first_then_hang_up(log))
    async with aiosonic.HTTPClient() as client:
        assert await (await client.get(server.url + "/1")).content() == b"/1"
        with pytest.raises(ConnectionDisconnected) as caught:
            await client.post(server.url + "/2", data=b"pay once")
        assert client.connector.is_all_free()
    error = caught.value
    assert error.request_sent is True
    assert error.reused_connection is True
    assert log.methods == [b"GET", b"POST"]
    assert log.requests[1].endswith(b"\r\n\r\npay once")
    assert server.connections == 1


# --- cancellation --------------------------------------------------------------


class StallingResolver(AbstractResolver):
    """Resolve nothing but IP literals; every name lookup waits forever."""

    def __init__(self) -> None:
        self.stalled = asyncio.Event()

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        answers = ip_literal_answer(host, port)
        if answers is not None:
            return answers
        self.stalled.set()
        await stall_forever()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pass


def echo_or_stall(stalled: asyncio.Event, late_answer: asyncio.Event) -> Any:
    """Echo the path; ``/stall/...`` waits, then answers late; ``/stream/...`` half-streams."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            path = request_path(head)
            if path.startswith(b"/stall/"):
                stalled.set()
                await late_answer.wait()
                writer.write(echo_response(head))  # too late: nobody asked any more
            elif path.startswith(b"/stream/"):
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                writer.write(b"%x\r\n%s\r\n" % (len(path), path))
                await writer.drain()
                await late_answer.wait()
                writer.write(b"0\r\n\r\n")
            else:
                writer.write(echo_response(head))
            await writer.drain()

    return handler


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_while_connecting_leaves_the_pool_usable(raw_server: Any) -> None:
    server: RawServer = await raw_server(echo_or_stall(asyncio.Event(), asyncio.Event()))
    resolver = StallingResolver()
    connector = TCPConnector(pool_size=1, resolver=resolver)
    async with aiosonic.HTTPClient(connector) as client:
        connecting = asyncio.create_task(client.get(f"http://stalled.test:{server.port}/1"))
        await resolver.stalled.wait()
        assert not connector.is_all_free()
        await cancel_and_wait(connecting)
        assert connector.is_all_free()

        response = await client.get(server.url + "/2")
        assert await response.content() == b"/2"
        assert connector.is_all_free()
    assert server.connections == 1


async def test_cancel_while_waiting_for_the_head_never_hands_out_its_response(
    raw_server: Any,
) -> None:
    stalled, late_answer = asyncio.Event(), asyncio.Event()
    server: RawServer = await raw_server(echo_or_stall(stalled, late_answer))
    async with aiosonic.HTTPClient(TCPConnector(pool_size=1)) as client:
        waiting = asyncio.create_task(client.get(server.url + "/stall/1"))
        await stalled.wait()
        await cancel_and_wait(waiting)
        assert client.connector.is_all_free()
        late_answer.set()  # the server now answers the cancelled request

        for index in (2, 3):
            response = await client.get(f"{server.url}/{index}")
            assert await response.content() == f"/{index}".encode()
        assert client.connector.is_all_free()
    assert server.connections == 2


async def test_cancel_while_reading_a_streamed_body_never_hands_out_the_rest(
    raw_server: Any,
) -> None:
    late_answer = asyncio.Event()
    server: RawServer = await raw_server(echo_or_stall(asyncio.Event(), late_answer))
    async with aiosonic.HTTPClient(TCPConnector(pool_size=1)) as client:
        response = await client.get(server.url + "/stream/1")
        first_chunk = asyncio.Event()
        received: list[bytes] = []

        async def read_body() -> None:
            async for chunk in response.read_chunks():
                received.append(chunk)
                first_chunk.set()

        reading = asyncio.create_task(read_body())
        await first_chunk.wait()
        await cancel_and_wait(reading)
        assert received == [b"/stream/1"]
        assert response.is_consumed
        assert client.connector.is_all_free()
        late_answer.set()  # the server now finishes the cancelled body

        response = await client.get(server.url + "/2")
        assert await response.content() == b"/2"
        assert client.connector.is_all_free()
    assert server.connections == 2


async def test_a_closed_streamed_response_frees_its_connection_for_the_next_caller(
    raw_server: Any,
) -> None:
    late_answer = asyncio.Event()
    server: RawServer = await raw_server(echo_or_stall(asyncio.Event(), late_answer))
    async with aiosonic.HTTPClient(TCPConnector(pool_size=1)) as client:
        async with await client.get(server.url + "/stream/1") as response:
            assert response.status_code == 200
        assert client.connector.is_all_free()
        late_answer.set()
        assert await (await client.get(server.url + "/2")).content() == b"/2"
    assert server.connections == 2


async def test_cancel_while_writing_the_body_never_reuses_the_connection(
    raw_server: Any,
) -> None:
    """A request cancelled mid-upload leaves no half-written request in the pool."""
    body_started = asyncio.Event()
    release_reader = asyncio.Event()
    client_closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b"POST" in head.split(b" ", 1)[0]:
            await reader.read(1)  # the body has begun to arrive...
            body_started.set()
            await release_reader.wait()  # ...and the server stops reading it
            # Now drain: the client must have closed this half-written request.
            with contextlib.suppress(ConnectionError):
                while await reader.read(1 << 20):
                    pass
            client_closed.set()
            return
        writer.write(echo_response(head))
        await writer.drain()

    server: RawServer = await raw_server(handler)
    async with aiosonic.HTTPClient(TCPConnector(pool_size=1)) as client:
        # Far more than the socket buffers hold, so the write must wait on drain.
        upload = asyncio.create_task(client.post(server.url + "/up", data=b"x" * (64 << 20)))
        await body_started.wait()
        await let_loop_run(1)  # let the writer reach its drain wait
        await cancel_and_wait(upload)
        assert client.connector.is_all_free()
        release_reader.set()
        # The cancelled upload's connection was closed, not pooled: the server
        # reads to EOF while the client still holds its pool open.
        await asyncio.wait_for(client_closed.wait(), 5)

        response = await client.get(server.url + "/after")
        assert await response.content() == b"/after"
    assert server.connections == 2


async def test_bad_method_and_url_are_refused_before_any_byte(raw_server: Any) -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))

    server: RawServer = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        for method in ("GET /x HTTP/1.1\r\nX:", "GE T", "GET\x00"):
            with pytest.raises(InvalidRequest):
                await client.request(server.url + "/", method=method)
        for path in ("/a\r\nInjected: 1", "/a\nb", "/a\x00b"):
            with pytest.raises(InvalidRequest):
                await client.get(server.url + path)
    assert server.connections == 0
    assert received == []
