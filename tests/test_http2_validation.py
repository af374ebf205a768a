"""Malformed response header blocks over HTTP/2 (RFC 9113 §8.2, §8.3), end to end.

``h2``'s own validation of received fields is off (``protocols.h2_headers``
does it in one pass); each case here is one rule it used to enforce. A
scripted server (``h2`` server side, prior knowledge) answers with raw bytes:
the head, trailers or a 1xx block breaks the rule. The request must fail with
``RemoteProtocolError`` (an ``HttpParsingError``), the connection must end with
GOAWAY(PROTOCOL_ERROR) as before, and the next request must work on a new one.
"""

from __future__ import annotations

import asyncio
import struct

import hpack
import pytest
from h2.errors import ErrorCodes
from h2_servers import H2ScriptConn, answer_all

import aiosonic
from aiosonic import HTTPClient, TCPConnector, Timeouts
from aiosonic.exceptions import HttpParsingError, RemoteProtocolError

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(10)

OK = [(b":status", b"200")]
BAD_HEADS = {
    "uppercase-name": [*OK, (b"X-Upper", b"v")],
    "space-in-name": [*OK, (b"x y", b"v")],
    "colon-in-name": [*OK, (b"x:y", b"v")],
    "non-ascii-name": [*OK, (b"caf\xc3\xa9", b"v")],
    "empty-name": [*OK, (b"", b"v")],
    "cr-lf-in-value": [*OK, (b"x", b"a\r\nset-cookie: evil=1")],
    "lf-in-value": [*OK, (b"x", b"a\nb")],
    "nul-in-value": [*OK, (b"x", b"a\x00b")],
    "leading-space": [*OK, (b"x", b" v")],
    "trailing-tab": [*OK, (b"x", b"v\t")],
    "connection": [*OK, (b"connection", b"close")],
    "transfer-encoding": [*OK, (b"transfer-encoding", b"chunked")],
    "keep-alive": [*OK, (b"keep-alive", b"timeout=5")],
    "upgrade": [*OK, (b"upgrade", b"h2c")],
    "proxy-connection": [*OK, (b"proxy-connection", b"close")],
    "te-not-trailers": [*OK, (b"te", b"gzip")],
    "status-after-field": [(b"x", b"v"), *OK],
    "status-twice": [*OK, *OK],
    "request-pseudo-header": [*OK, (b":path", b"/")],
    "unknown-pseudo-header": [*OK, (b":foo", b"bar")],
    "no-status": [(b"content-type", b"text/plain")],
}


def frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return struct.pack(">IBBI", len(payload), kind, flags, stream_id)[1:] + payload


def headers_frame(stream_id: int, fields: list[tuple[bytes, bytes]], end: bool) -> bytes:
    """HEADERS with END_HEADERS (and END_STREAM), coded by a fresh HPACK encoder."""
    block = hpack.Encoder().encode(fields)
    return frame(0x1, 0x4 | (0x1 if end else 0), stream_id, block)


def pk_client() -> HTTPClient:
    config = aiosonic.Http2Config(prior_knowledge=True)
    timeouts = Timeouts(sock_connect=2, sock_read=2)
    return HTTPClient(TCPConnector(http2=True, http2_config=config, timeouts=timeouts))


async def expect_protocol_error(h2_server, send_bad) -> RemoteProtocolError:
    """Serve one bad answer on connection 0; check the error, the GOAWAY and recovery."""

    async def script(conn: H2ScriptConn) -> None:
        if conn.index:
            await answer_all(conn)
            return
        request = await conn.next_request()
        send_bad(conn, request.stream_id)
        await conn.wait_closed()

    server = await h2_server(script)
    async with pk_client() as client:
        with pytest.raises(RemoteProtocolError) as info:
            response = await asyncio.wait_for(client.get(f"{server.url}/bad"), 5)
            await asyncio.wait_for(response.content(), 5)
        assert isinstance(info.value, HttpParsingError)
        await server.conns[0].wait_closed(2)
        goaway = server.conns[0].goaway
        assert goaway is not None and goaway.error_code == ErrorCodes.PROTOCOL_ERROR
        response = await client.get(f"{server.url}/ok")
        assert await response.content() == b"/ok"
        assert client.connector.is_all_free()
    assert len(server.conns) == 2
    return info.value


@pytest.mark.parametrize("case", list(BAD_HEADS))
async def test_malformed_response_head_is_a_protocol_error(h2_server, case: str) -> None:
    def send_bad(conn: H2ScriptConn, stream_id: int) -> None:
        conn.write_raw(headers_frame(stream_id, BAD_HEADS[case], end=True))

    exc = await expect_protocol_error(h2_server, send_bad)
    assert "broke HTTP/2" in str(exc)


@pytest.mark.parametrize(
    "trailers",
    [[(b":status", b"200")], [(b"X-Checksum", b"1")], [(b"x-checksum", b"1\r\n")]],
    ids=["pseudo-header", "uppercase-name", "crlf-in-value"],
)
async def test_malformed_trailers_are_a_protocol_error(h2_server, trailers) -> None:
    def send_bad(conn: H2ScriptConn, stream_id: int) -> None:
        conn.write_raw(
            headers_frame(stream_id, OK, end=False)
            + frame(0x0, 0, stream_id, b"body")
            + headers_frame(stream_id, trailers, end=True)
        )

    await expect_protocol_error(h2_server, send_bad)


async def test_malformed_informational_head_is_a_protocol_error(h2_server) -> None:
    def send_bad(conn: H2ScriptConn, stream_id: int) -> None:
        early_hints = [(b":status", b"103"), (b"Link", b"</s.css>; rel=preload")]
        conn.write_raw(
            headers_frame(stream_id, early_hints, end=False)
            + headers_frame(stream_id, [*OK, (b"content-length", b"0")], end=True)
        )

    await expect_protocol_error(h2_server, send_bad)


async def test_valid_fields_pass_and_cookie_fields_are_joined_last(h2_server) -> None:
    async def script(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        fields = [
            (b":status", b"200"),
            (b"cookie", b"a=1"),
            (b"x-empty", b""),
            (b"x-inner-space", b"a b\tc"),
            (b"cookie", b"b=2"),
            (b"te", b"Trailers"),
            (b"content-length", b"2"),
        ]
        conn.write_raw(
            headers_frame(request.stream_id, fields, end=False)
            + frame(0x0, 0x1, request.stream_id, b"ok")
        )
        await conn.wait_closed()

    server = await h2_server(script)
    async with pk_client() as client:
        response = await client.get(f"{server.url}/")
        assert await response.content() == b"ok"
        assert response.raw_headers == [
            (b"x-empty", b""),
            (b"x-inner-space", b"a b\tc"),
            (b"te", b"Trailers"),
            (b"content-length", b"2"),
            (b"cookie", b"a=1; b=2"),
        ]
