"""Tests for where HTTP/1.1 reads land (ReadBuffer, BodySink) and read flow control.

The sans-IO part plays the transport by hand: ask ``buffer()``, write some
bytes at its start, report them with ``advance()``; every split of a body is
tried, as are bodies spread over several segments and reads that run past the
end of the body. The integration part runs the driver (an
``asyncio.BufferedProtocol``) against scripted servers, over TCP and TLS:
bodies larger than any buffer, written in odd pieces, bytes behind a body,
and a slow reader that makes the driver pause and resume the transport.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import warnings
from typing import Any

import pytest
from conftest import RawServer, let_loop_run, read_request

import aiosonic
from aiosonic import TCPConnector, Timeouts
from aiosonic.drivers import h11_receive
from aiosonic.drivers.h11_receive import READ_BUFFER_MAX, READ_BUFFER_MIN, BodySink, ReadBuffer
from aiosonic.drivers.http11 import READ_HIGH_WATER, HTTP11Driver
from aiosonic.exceptions import ReadTimeout, ResponseIncomplete

BODY = bytes(range(256)) * 3 + b"end"


def feed(sink: BodySink, data: bytes, sizes: list[int]) -> bytes:
    """Play the transport: write ``data`` in reads of ``sizes`` (cycled); return the extra."""
    extra = b""
    index = 0
    while data:
        buffer = sink.buffer()
        assert len(buffer) > 0, "an empty buffer would make asyncio fail the connection"
        n = min(len(data), len(buffer), sizes[index % len(sizes)])
        buffer[:n] = data[:n]
        del buffer  # the transport lets go of its view after each read
        extra += sink.advance(n)
        data = data[n:]
        index += 1
    return extra


# --- BodySink -----------------------------------------------------------------


def test_a_body_split_at_any_byte_arrives_whole() -> None:
    for split in range(len(BODY)):
        sink = BodySink(len(BODY))
        assert feed(sink, BODY[:split], [split or 1]) == b""
        assert sink.received == split
        assert feed(sink, BODY[split:], [len(BODY)]) == b""
        assert sink.is_complete
        assert sink.result() == BODY, split


@pytest.mark.parametrize("prefix", [1, 2, 255, len(BODY) - 1])
def test_a_prefix_already_received_comes_first(prefix: int) -> None:
    sink = BodySink(len(BODY), BODY[:prefix])
    assert sink.received == prefix
    assert not sink.is_complete
    assert feed(sink, BODY[prefix:], [7]) == b""
    assert sink.result() == BODY


def test_one_byte_reads() -> None:
    sink = BodySink(len(BODY))
    assert feed(sink, BODY, [1]) == b""
    assert sink.result() == BODY


@pytest.mark.parametrize("segment", [1, 5, 256, len(BODY) - 1, len(BODY)])
@pytest.mark.parametrize("sizes", [[1], [3, 1000], [10_000]])
def test_a_body_longer_than_a_segment_spans_several(
    monkeypatch: pytest.MonkeyPatch, segment: int, sizes: list[int]
) -> None:
    monkeypatch.setattr(h11_receive, "SEGMENT_SIZE", segment)
    sink = BodySink(len(BODY), BODY[:4])
    assert feed(sink, BODY[4:], sizes) == b""
    assert sink.result() == BODY


def test_a_prefix_longer_than_a_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h11_receive, "SEGMENT_SIZE", 10)
    sink = BodySink(len(BODY), BODY[:95])
    assert sink.received == 95
    assert feed(sink, BODY[95:], [64]) == b""
    assert sink.result() == BODY


@pytest.mark.parametrize(("segment", "room"), [(3, 1), (16 * 1024 * 1024, 9)])
def test_bytes_read_past_the_body_are_handed_back(
    monkeypatch: pytest.MonkeyPatch, segment: int, room: int
) -> None:
    monkeypatch.setattr(h11_receive, "SEGMENT_SIZE", segment)
    sink = BodySink(10, b"01")
    # One segment: room for the 8 bytes to come and one more. Segments of 3:
    # the first holds one more byte; the last (1 byte) gets the extra room.
    assert len(sink.buffer()) == room
    tail = b"23456789" + b"HTTP/1.1 200 OK\r\n"
    extra = feed(sink, tail, [len(tail)])
    assert sink.is_complete
    assert extra == b"HTTP/1.1 200 OK\r\n"[: len(extra)]
    assert extra, "a byte after the body went unnoticed"
    # Once complete, only the slack byte is offered, and it is handed back.
    assert len(sink.buffer()) == 1
    assert sink.result() == b"0123456789"


def test_a_body_of_one_byte() -> None:
    sink = BodySink(1)
    assert len(sink.buffer()) == 2
    assert feed(sink, b"x", [1]) == b""
    assert sink.result() == b"x"


def test_result_while_a_view_is_held_still_returns_the_body() -> None:
    sink = BodySink(4)
    held = sink.buffer()
    held[:4] = b"abcd"
    sink.advance(4)
    assert sink.result() == b"abcd"
    held.release()


def test_close_drops_an_abandoned_body() -> None:
    sink = BodySink(100, b"abc")
    sink.close()
    sink.close()
    assert "3 of 100" in repr(sink)


# --- ReadBuffer ---------------------------------------------------------------


def test_the_read_buffer_hands_out_exact_bytes_and_grows_when_reads_fill_it() -> None:
    buffer = ReadBuffer()
    assert len(buffer.view) == READ_BUFFER_MIN
    buffer.view[:3] = b"abc"
    data = buffer.take(3)
    assert data == b"abc" and type(data) is bytes
    assert len(buffer.view) == READ_BUFFER_MIN  # a partial read: no growth
    sizes = []
    for _ in range(5):
        old = buffer.view
        old[:] = b"z" * len(old)
        assert buffer.take(len(old)) == b"z" * len(old)
        sizes.append(len(buffer.view))
    assert sizes[0] == READ_BUFFER_MIN * 4
    assert sizes[-1] == max(sizes) == READ_BUFFER_MAX
    assert "262144 bytes" in repr(buffer)


# --- the driver, against real servers -------------------------------------------

#: The most one read may add to the parser's buffer.
MAX_READ = READ_BUFFER_MAX
BIG = (bytes(range(251)) * 12_600)[: 3 * 1024 * 1024 + 17]  # > PRELOAD_LIMIT, odd size


def big_answer(pieces: list[int], trailer: bytes = b"") -> Any:
    """Answer every request with BIG, written in pieces of the given sizes (cycled)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG + trailer
            index = 0
            while data:
                size = pieces[index % len(pieces)]
                writer.write(data[:size])
                data = data[size:]
                await writer.drain()
                index += 1

    return handler


@pytest.mark.parametrize("pieces", [[1 << 30], [1, 4096, 65537], [300_000, 7]])
async def test_a_large_body_read_in_place_arrives_whole_and_keeps_the_connection(
    raw_server: Any, pieces: list[int]
) -> None:
    server: RawServer = await raw_server(big_answer(pieces))
    async with aiosonic.HTTPClient() as client:
        for _ in range(2):
            response = await client.get(server.url + "/big")
            driver = response.stream._driver  # type: ignore[union-attr]
            assert isinstance(driver, HTTP11Driver)
            assert await response.content() == BIG
            assert driver.transport is not None
            assert driver.transport.get_protocol() is driver
            assert driver._sink is None  # the next read goes to the read buffer
        assert client.connector.is_all_free()
    assert server.connections == 1


async def test_a_large_body_over_tls(
    raw_server: Any, tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    server: RawServer = await raw_server(big_answer([1 << 30]), tls_server_context)
    async with aiosonic.HTTPClient() as client:
        for _ in range(2):
            response = await client.get(
                server.url.replace("127.0.0.1", "localhost") + "/big", ssl=tls_client_context
            )
            assert await response.content() == BIG
    assert server.connections == 1


async def test_bytes_behind_a_large_body_stop_its_reuse(raw_server: Any) -> None:
    # The extra response comes in the same write as the end of the body.
    server: RawServer = await raw_server(
        big_answer([1 << 30], b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage")
    )
    async with aiosonic.HTTPClient() as client:
        for _ in range(2):
            response = await client.get(server.url + "/big")
            assert await response.content() == BIG
        assert client.connector.is_all_free()
    assert server.connections == 2


async def test_a_large_body_cut_short_raises_response_incomplete(raw_server: Any) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG[:-5])
        await writer.drain()

    server: RawServer = await raw_server(short)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/short")
        with pytest.raises(ResponseIncomplete) as caught:
            await response.content()
        assert client.connector.is_all_free()
    assert caught.value.received == len(BIG) - 5
    assert caught.value.expected == len(BIG)


async def test_sock_read_bounds_a_stall_inside_a_body_read_in_place(raw_server: Any) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG[:-5])
        await writer.drain()
        await asyncio.Event().wait()

    server: RawServer = await raw_server(stall)
    connector = TCPConnector(timeouts=Timeouts(sock_read=0.3))
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(server.url + "/stall")
        with pytest.raises(ReadTimeout):
            await asyncio.wait_for(response.content(), 5)
        assert connector.is_all_free()


async def test_a_slow_reader_pauses_the_transport_and_resumes_it(raw_server: Any) -> None:
    size = 2 * READ_HIGH_WATER + 123
    body = (bytes(range(256)) * (size // 256 + 1))[:size]

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body)
        await writer.drain()
        await reader.read()

    server: RawServer = await raw_server(flood)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/flood")
        driver = response.stream._driver  # type: ignore[union-attr]
        assert isinstance(driver, HTTP11Driver)
        # Nobody reads the body: the driver must stop the transport.
        for _ in range(10_000):
            if driver._read_paused:
                break
            await let_loop_run(1)
        assert driver._read_paused
        assert not driver.transport.is_reading()  # type: ignore[union-attr]
        buffered = driver._parser.buffered
        assert READ_HIGH_WATER < buffered <= READ_HIGH_WATER + MAX_READ
        received = bytearray()
        async for chunk in response.read_chunks():
            received += chunk
            assert driver._parser.buffered <= READ_HIGH_WATER + MAX_READ
        assert received == body
        assert not driver._read_paused
        assert client.connector.is_all_free()


async def test_a_response_dropped_unread_warns_and_frees_its_connection(raw_server: Any) -> None:
    server: RawServer = await raw_server(big_answer([1 << 30]))
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/big")
        assert not response.is_consumed  # larger than PRELOAD_LIMIT: handed out unread
        driver = response.stream._driver  # type: ignore[union-attr]
        assert isinstance(driver, HTTP11Driver)
        assert not client.connector.is_all_free()
        with pytest.warns(ResourceWarning, match="unread response body"):
            del response
            gc.collect()
        assert client.connector.is_all_free()
        assert driver.is_closed  # half-read: never reused
        # A response read to its end leaves nothing to warn about.
        small = await client.get(server.url + "/big")
        assert await small.content() == BIG
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            del small
            gc.collect()


async def test_timings_of_a_preloaded_and_a_streamed_response(raw_server: Any) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            body = b"small" if b"/small" in head else BIG
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()

    server: RawServer = await raw_server(answer)
    async with aiosonic.HTTPClient() as client:
        first = await client.get(server.url + "/small")
        timings = first.timings
        assert timings is first.timings  # built once
        assert not timings.reused_connection
        assert timings.connect > 0 and timings.dns >= 0 and timings.pool_acquire >= 0
        assert timings.wait_head > 0
        assert timings.body is not None and timings.body >= 0  # preloaded
        streamed = await client.get(server.url + "/big")
        assert streamed.timings.reused_connection
        assert streamed.timings.dns == streamed.timings.connect == 0.0
        assert streamed.timings.body is None  # not read inside request()
        assert await streamed.content() == BIG
        assert await first.content() == b"small"
