"""Bare LF line endings through the client (RFC 9112 §2.2), against scripted servers.

The parser's rules are tested byte by byte in ``tests/test_h11_response.py``;
here a ``raw_server`` sends the exact bytes and the client must finish at once:
a complete response is returned as soon as it is in (never after ``sock_read``),
and a rejected one fails as soon as the bad bytes are in, quoting them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import RawServer, read_request

import aiosonic
from aiosonic import TCPConnector, Timeouts
from aiosonic.exceptions import HttpParsingError

# Long enough that reaching it means the client waited for bytes it did not need.
SOCK_READ = 2.0
# Well under SOCK_READ: a loaded test machine still answers a local request in this.
AT_ONCE = 1.0
BARE_LF = b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"


def client() -> aiosonic.HTTPClient:
    return aiosonic.HTTPClient(TCPConnector(timeouts=Timeouts(sock_read=SOCK_READ)))


async def test_bare_lf_response_then_close(raw_server: Any) -> None:
    async def reply_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(BARE_LF)
        await writer.drain()

    server: RawServer = await raw_server(reply_and_close)
    async with client() as http:
        response = await http.get(server.url + "/lf")
        assert response.status_code == 200
        assert response.headers["content-length"] == "5"
        assert await response.text() == "hello"
        assert http.connector.is_all_free()


async def test_bare_lf_response_on_an_open_connection_returns_at_once_and_is_reused(
    raw_server: Any,
) -> None:
    async def keep_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for body in (b"first", b"again"):
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\nContent-Length: 5\r\n\n" + body)
            await writer.drain()
        await reader.read()  # hold the connection until the client closes it

    server: RawServer = await raw_server(keep_open)
    async with client() as http:
        for body in ("first", "again"):
            start = time.monotonic()
            response = await http.get(server.url + "/" + body)
            assert await response.text() == body
            assert time.monotonic() - start < AT_ONCE
    assert server.connections == 1


async def test_bare_lf_after_a_chunk_size_fails_at_once_quoting_the_bytes(raw_server: Any) -> None:
    async def bad_chunk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello")
        await writer.drain()
        await reader.read()

    server: RawServer = await raw_server(bad_chunk)
    async with client() as http:
        start = time.monotonic()
        with pytest.raises(HttpParsingError) as caught:
            response = await http.get(server.url + "/chunks")
            await response.content()
        assert time.monotonic() - start < AT_ONCE
        assert http.connector.is_all_free()
    assert "chunk size line" in str(caught.value)
    assert r"'5\n'" in str(caught.value)
    assert "/chunks" in str(caught.value)


async def test_bare_cr_in_a_head_fails_at_once_quoting_the_bytes(raw_server: Any) -> None:
    async def bare_cr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-A: b\rc")
        await writer.drain()
        await reader.read()

    server: RawServer = await raw_server(bare_cr)
    async with client() as http:
        start = time.monotonic()
        with pytest.raises(HttpParsingError) as caught:
            await http.get(server.url + "/cr")
        assert time.monotonic() - start < AT_ONCE
    assert "bare CR" in str(caught.value)
    assert r"X-A: b\rc" in str(caught.value)
