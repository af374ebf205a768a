"""HTTPClient verbs, headers and params, and the HttpResponse surface, against real servers.

Requests are checked on the server side (what aiohttp or a scripted socket
server received); responses are served with exact bytes where framing or
header spelling matters.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import brotli
import pytest
from aiohttp import web
from conftest import HTTPServer, RawServer, read_request
from multidict import CIMultiDictProxy

import aiosonic
from aiosonic.decoders import DECODE_STEP_SIZE, MAX_DECOMPRESSED_SIZE
from aiosonic.exceptions import DecompressionError, HTTPStatusError, InvalidRequest
from aiosonic.response import ResponseJSONError

RawServerFactory = Callable[..., Awaitable[RawServer]]

#: Large enough to exceed the client's preload limit and the driver's read
#: high-water mark, so the body really streams.
LARGE_BODY_SIZE = 8 * 1024 * 1024
BLOCK_SIZE = 64 * 1024


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: CIMultiDictProxy[str]
    body: bytes


async def start_recorder(server: HTTPServer) -> list[Seen]:
    """Answer every method and path with ``ok``, recording each request."""
    seen: list[Seen] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(
            Seen(request.method, request.path, list(request.query.items()), request.headers, body)
        )
        return web.Response(text="ok")

    server.app.router.add_route("*", "/{tail:.*}", record)
    await server.start()
    return seen


async def serve(server: HTTPServer, handler: Callable[..., Awaitable[Any]]) -> str:
    """Serve ``handler`` for GET on every path; return the base URL."""
    server.app.router.add_route("*", "/{tail:.*}", handler)
    await server.start()
    return server.url


def blocks(total: int) -> list[bytes]:
    """``total`` bytes as distinct 64 KiB blocks, so reordering would show."""
    return [bytes([i % 251]) * BLOCK_SIZE for i in range(total // BLOCK_SIZE)]


# --- verbs ------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["get", "head", "options", "delete", "post", "put", "patch"])
async def test_each_verb_sends_its_method(http_server: HTTPServer, verb: str) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await getattr(client, verb)(http_server.url + "/verb")
        body = await response.content()
    assert response.status_code == 200
    assert [(s.method, s.path) for s in seen] == [(verb.upper(), "/verb")]
    # HEAD answers carry Content-Length but never a body.
    assert body == (b"" if verb == "head" else b"ok")
    assert response.request_method == verb.upper()


@pytest.mark.parametrize("verb", ["post", "put", "patch", "delete"])
async def test_body_verbs_send_data(http_server: HTTPServer, verb: str) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await getattr(client, verb)(http_server.url + "/b", data=b"payload")
    assert seen[0].method == verb.upper()
    assert seen[0].body == b"payload"
    assert seen[0].headers["Content-Length"] == "7"


async def test_post_without_data_sends_content_length_zero(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/")
        await client.get(http_server.url + "/")
    assert seen[0].headers.get("Content-Length") == "0"
    # A GET without a body announces none (RFC 9110 §8.6).
    assert "Content-Length" not in seen[1].headers
    assert "Transfer-Encoding" not in seen[1].headers


@pytest.mark.parametrize(
    ("given", "sent"),
    [("get", "GET"), ("post", "POST"), ("Patch", "PATCH"), ("PROPFIND", "PROPFIND")],
)
async def test_request_method_is_sent_upper_case(
    http_server: HTTPServer, given: str, sent: str
) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.request(http_server.url + "/m", method=given)
    assert response.status_code == 200
    assert seen[0].method == sent


async def test_request_defaults_to_get(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.request(http_server.url + "/")
    assert seen[0].method == "GET"


async def test_invalid_method_is_refused_before_sending(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest, match="method"):
            await client.request(http_server.url + "/", method="GET /x HTTP/1.1\r\nX:")
    assert seen == []


async def test_head_of_a_large_resource_reads_no_body(http_server: HTTPServer) -> None:
    body = b"".join(blocks(LARGE_BODY_SIZE))

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body)

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.head(url + "/")
        assert response.headers["Content-Length"] == str(LARGE_BODY_SIZE)
        assert await response.content() == b""
        # No body followed the head: the connection is free and reusable at once.
        assert client.connector.is_all_free()
        again = await client.get(url + "/")
        assert len(await again.content()) == LARGE_BODY_SIZE
    assert http_server.connections == 1


async def test_http2_flag_is_accepted_and_falls_back_to_http11(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(http_server.url + "/", http2=True)
        assert await response.text() == "ok"
    assert response.http_version == "1.1"
    assert seen[0].method == "GET"


async def test_informational_responses_are_skipped(raw_server: RawServerFactory) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
        )
        await writer.drain()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(srv.url + "/")
    assert response.status_code == 200
    assert "Link" not in response.headers
    assert await response.text() == "final"


# --- headers ----------------------------------------------------------------


def _multi_headers() -> aiosonic.HttpHeaders:
    headers = aiosonic.HttpHeaders({"X-One": "1"})
    headers.add("X-Two", "2")
    return headers


@pytest.mark.parametrize(
    "headers",
    [
        {"X-One": "1", "X-Two": "2"},
        [("X-One", "1"), ("X-Two", "2")],
        [["X-One", "1"], ["X-Two", "2"]],
        _multi_headers(),
    ],
    ids=["dict", "tuples", "lists", "HttpHeaders"],
)
async def test_headers_in_every_accepted_shape(http_server: HTTPServer, headers: Any) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(http_server.url + "/", headers=headers)
    assert seen[0].headers.getall("X-One") == ["1"]
    assert seen[0].headers.getall("X-Two") == ["2"]


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Multi", "a"), ("X-Multi", "b")],
        aiosonic.HttpHeaders([("X-Multi", "a"), ("x-multi", "b")]),
    ],
    ids=["tuples", "HttpHeaders"],
)
async def test_repeated_header_names_are_all_sent(http_server: HTTPServer, headers: Any) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(http_server.url + "/", headers=headers)
    assert seen[0].headers.getall("X-Multi") == ["a", "b"]


async def test_default_headers(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(http_server.url + "/")
    headers = seen[0].headers
    assert headers["Host"] == f"127.0.0.1:{http_server.port}"
    assert headers["User-Agent"].startswith("aiosonic/")
    assert headers["Accept"] == "*/*"
    assert headers["Accept-Encoding"] == "gzip, deflate, br"


async def test_caller_headers_override_defaults_case_insensitively(
    http_server: HTTPServer,
) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(
            http_server.url + "/",
            headers={"user-agent": "mine/1.0", "ACCEPT": "text/html", "Accept-Encoding": "gzip"},
        )
    headers = seen[0].headers
    assert headers.getall("User-Agent") == ["mine/1.0"]
    assert headers.getall("Accept") == ["text/html"]
    assert headers.getall("Accept-Encoding") == ["gzip"]


async def test_header_injection_is_refused_before_sending(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest, match="X-Evil"):
            await client.get(http_server.url + "/", headers={"X-Evil": "a\r\nInjected: 1"})
    assert seen == []
    assert http_server.requests == 0


# --- params -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "extra"),
    [
        ({"b": "2", "c": "a b&c=d"}, [("b", "2"), ("c", "a b&c=d")]),
        ([("k", "1"), ("k", "2")], [("k", "1"), ("k", "2")]),
        ([["k", "v"]], [("k", "v")]),
        ({"n": 5}, [("n", "5")]),
    ],
    ids=["dict", "pairs", "lists", "non-str"],
)
async def test_params_are_merged_with_the_url_query(
    http_server: HTTPServer, params: Any, extra: list[tuple[str, str]]
) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(http_server.url + "/p?a=1&x=%20y", params=params)
    assert seen[0].path == "/p"
    assert seen[0].query == [("a", "1"), ("x", " y"), *extra]
    assert response.url.startswith(http_server.url + "/p?a=1&x=%20y&")


async def test_params_without_url_query_and_on_post(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/p", data=b"x", params={"q": "é"})
    assert seen[0].query == [("q", "é")]
    assert seen[0].body == b"x"


async def test_same_url_with_different_params_is_not_cached_wrongly(
    http_server: HTTPServer,
) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(http_server.url + "/p", params={"a": "1"})
        await client.get(http_server.url + "/p", params={"a": "2"})
        await client.get(http_server.url + "/p")
    assert [s.query for s in seen] == [[("a", "1")], [("a", "2")], []]


# --- response metadata ------------------------------------------------------


async def test_response_metadata_from_exact_bytes(raw_server: RawServerFactory) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 201 Created Just Now\r\n"
            b"X-Custom-Case: v1\r\n"
            b"x-multi: a\r\n"
            b"X-Multi: b\r\n"
            b"Content-Length: 2\r\n"
            b"\r\n"
            b"hi"
        )
        await writer.drain()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(srv.url + "/path?q=1")
    assert response.status_code == 201
    assert response.reason == "Created Just Now"
    assert response.http_version == "1.1"
    assert response.url == srv.url + "/path?q=1"
    assert response.ok
    assert isinstance(response.headers, aiosonic.HttpHeaders)
    assert response.headers["x-custom-case"] == "v1"
    assert response.headers["X-CUSTOM-CASE"] == "v1"
    assert response.headers.getall("X-MULTI") == ["a", "b"]
    assert response.raw_headers == [
        (b"X-Custom-Case", b"v1"),
        (b"x-multi", b"a"),
        (b"X-Multi", b"b"),
        (b"Content-Length", b"2"),
    ]
    assert await response.content() == b"hi"
    assert response.history == []


async def test_empty_reason_phrase(raw_server: RawServerFactory) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(srv.url)
    assert response.status_code == 200
    assert response.reason == ""
    assert await response.content() == b""


@pytest.mark.parametrize(
    ("status", "ok"),
    [(200, True), (204, True), (299, True), (301, False), (404, False), (503, False)],
)
async def test_ok_is_true_only_for_2xx(http_server: HTTPServer, status: int, ok: bool) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status)

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
    assert response.status_code == status
    assert response.ok is ok


async def test_raise_for_status(http_server: HTTPServer) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query["s"]), text="body")

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        fine = await client.get(url + "/", params={"s": "200"})
        assert fine.raise_for_status() is fine
        moved = await client.get(url + "/", params={"s": "304"})
        assert moved.raise_for_status() is moved
        missing = await client.get(url + "/", params={"s": "404"})
        with pytest.raises(HTTPStatusError, match="client error 404") as info:
            missing.raise_for_status()
        assert info.value.response is missing
        assert url in str(info.value)
        broken = await client.get(url + "/", params={"s": "503"})
        with pytest.raises(HTTPStatusError, match="server error 503"):
            broken.raise_for_status()
        # The body stays readable after the error.
        assert await broken.text() == "body"


async def test_response_cookies_are_a_simple_cookie(http_server: HTTPServer) -> None:
    async def answer(request: web.Request) -> web.Response:
        response = web.Response(text="c")
        if request.path == "/set":
            response.set_cookie("a", "1")
            response.set_cookie("b", "two", path="/x", httponly=True)
        return response

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        with_cookies = await client.get(url + "/set")
        without = await client.get(url + "/none")
    cookies = with_cookies.cookies
    assert isinstance(cookies, SimpleCookie)
    assert cookies["a"].value == "1"
    assert cookies["b"].value == "two"
    assert cookies["b"]["path"] == "/x"
    assert cookies["b"]["httponly"]
    assert isinstance(without.cookies, SimpleCookie)
    assert len(without.cookies) == 0


# --- text and json ----------------------------------------------------------


RUSSIAN = "Привет, как дела? Это тестовое сообщение на русском языке. " * 4


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain; charset=latin-1", "café déjà".encode("latin-1"), "café déjà"),
        ('text/html; charset="ISO-8859-1"', "señor".encode("latin-1"), "señor"),
        ("text/plain; charset=utf-16", "héllo ☃".encode("utf-16"), "héllo ☃"),
        ("text/plain; charset=UTF-8", "naïve ☃".encode(), "naïve ☃"),
        ("text/plain", "naïve ☃".encode(), "naïve ☃"),
        ("application/octet-stream", RUSSIAN.encode("cp1251"), RUSSIAN),
    ],
    ids=["latin-1", "quoted-iso-8859-1", "utf-16", "utf-8", "no-charset-utf-8", "detected"],
)
async def test_text_uses_charset_or_detects(
    http_server: HTTPServer, content_type: str, body: bytes, expected: str
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": content_type})

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
        assert await response.content() == body
        assert await response.text() == expected


async def test_text_with_explicit_encoding(http_server: HTTPServer) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(
            body="ÿ".encode("latin-1"), headers={"Content-Type": "text/plain; charset=utf-8"}
        )

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
        assert await response.text(encoding="latin-1") == "ÿ"
        # A wrong declared charset does not raise: undecodable bytes become U+FFFD.
        assert await response.text() == "\ufffd"


async def test_json_and_invalid_json(http_server: HTTPServer) -> None:
    async def answer(request: web.Request) -> web.Response:
        if request.path == "/good":
            return web.json_response({"a": [1, 2], "s": "é"})
        return web.Response(body=b"{not json", content_type="application/json")

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        good = await client.get(url + "/good")
        assert await good.json() == {"a": [1, 2], "s": "é"}
        seen: list[bytes] = []

        def decoder(raw: bytes) -> Any:
            seen.append(raw)
            return json.loads(raw)

        assert await good.json(json_decoder=decoder) == {"a": [1, 2], "s": "é"}
        assert seen == [await good.content()]
        bad = await client.get(url + "/bad")
        with pytest.raises(ResponseJSONError, match="invalid JSON") as info:
            await bad.json()
    assert isinstance(info.value, ValueError)
    assert url + "/bad" in str(info.value)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


# --- streaming bodies -------------------------------------------------------


async def test_read_chunks_streams_a_large_chunked_body(http_server: HTTPServer) -> None:
    parts = blocks(LARGE_BODY_SIZE)

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        await response.write_eof()
        return response

    url = await serve(http_server, stream)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/big")
        assert response.headers["Transfer-Encoding"] == "chunked"
        digest = hashlib.sha256()
        sizes: list[int] = []
        async for piece in response.read_chunks():
            digest.update(piece)
            sizes.append(len(piece))
        assert sum(sizes) == LARGE_BODY_SIZE
        assert len(sizes) > 1
        assert 0 not in sizes
        assert digest.digest() == hashlib.sha256(b"".join(parts)).digest()
        # Read to the end, the connection went back to the pool and is reused.
        assert client.connector.is_all_free()
        again = await client.get(url + "/small")
        assert len(await again.content()) == LARGE_BODY_SIZE
    assert http_server.connections == 1


async def test_read_chunks_streams_a_large_content_length_body(http_server: HTTPServer) -> None:
    body = b"".join(blocks(LARGE_BODY_SIZE))

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body)

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/big")
        assert response.headers["Content-Length"] == str(LARGE_BODY_SIZE)
        # Too large to preload: the connection stays leased until read.
        assert not client.connector.is_all_free()
        pieces = [piece async for piece in response.read_chunks()]
        assert len(pieces) > 1
        assert max(len(p) for p in pieces) < LARGE_BODY_SIZE
        assert b"".join(pieces) == body
        assert client.connector.is_all_free()
        assert response.is_consumed


async def test_closing_an_unread_response_frees_its_connection(http_server: HTTPServer) -> None:
    body = b"".join(blocks(2 * 1024 * 1024))

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body)

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        async with await client.get(url + "/") as response:
            assert response.status_code == 200
            assert not client.connector.is_all_free()
        assert response.is_consumed
        assert client.connector.is_all_free()
        # The half-read connection was closed, not pooled: the next request
        # gets a fresh one and a complete body.
        again = await client.get(url + "/")
        assert await again.content() == body
    assert http_server.connections == 2


@pytest.mark.parametrize(
    "status_line",
    [b"HTTP/1.0 200 OK\r\n", b"HTTP/1.1 200 OK\r\nConnection: close\r\n"],
    ids=["http-1.0", "connection-close"],
)
async def test_close_delimited_body(raw_server: RawServerFactory, status_line: bytes) -> None:
    parts = blocks(2 * 1024 * 1024)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(status_line + b"Content-Type: application/octet-stream\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
        # The fixture closes the socket when the handler returns: that ends the body.

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(srv.url + "/")
        assert "Content-Length" not in response.headers
        assert response.http_version == ("1.0" if b"1.0" in status_line else "1.1")
        received = [piece async for piece in response.read_chunks()]
        assert b"".join(received) == b"".join(parts)
        second = await client.get(srv.url + "/")
        assert await second.content() == b"".join(parts)
    # A close-delimited body cannot leave the connection reusable.
    assert srv.connections == 2


async def test_content_after_read_chunks_and_read_chunks_after_content(
    http_server: HTTPServer,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=b"0123456789")

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
        assert await response.content() == b"0123456789"
        assert await response.content() == b"0123456789"
        assert [p async for p in response.read_chunks()] == [b"0123456789"]


# --- content codings --------------------------------------------------------


TEXT = b"".join(b"line %d of a compressible body\n" % i for i in range(20000))


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("br", lambda data: brotli.compress(data, quality=5)),
        ("GZIP", gzip.compress),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "br", "upper-case", "chain"],
)
async def test_compressed_response_is_decoded(
    http_server: HTTPServer, coding: str, encode: Callable[[bytes], bytes]
) -> None:
    encoded = encode(TEXT)
    assert len(encoded) < len(TEXT) // 4

    async def answer(request: web.Request) -> web.Response:
        return web.Response(
            body=encoded, headers={"Content-Encoding": coding, "Content-Type": "text/plain"}
        )

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        for _ in range(2):  # the second head is likely the first's again (remembered)
            response = await client.get(url + "/")
            assert response.headers["Content-Encoding"] == coding
            assert await response.content() == TEXT
            assert (await response.text()).startswith("line 0 of a compressible body\n")


async def test_streamed_gzip_response_is_decoded_incrementally(http_server: HTTPServer) -> None:
    encoded = gzip.compress(TEXT)

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(encoded), 997):
            await response.write(encoded[start : start + 997])
        await response.write_eof()
        return response

    url = await serve(http_server, stream)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
        pieces = [piece async for piece in response.read_chunks()]
    assert len(pieces) > 1
    assert b"".join(pieces) == TEXT


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """A gzip body of ~110 KiB that inflates to 10 MiB past the default cap."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(MAX_DECOMPRESSED_SIZE // len(zeros) + 10)]
    parts.append(compressor.flush())
    return b"".join(parts)


async def test_decompression_bomb_is_refused_while_streaming(
    http_server: HTTPServer, gzip_bomb: bytes
) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(gzip_bomb)
        await response.write_eof()
        return response

    url = await serve(http_server, stream)
    decoded = 0
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
        with pytest.raises(DecompressionError, match="max_size"):
            async for piece in response.read_chunks():
                decoded += len(piece)
        # The cap stops inflation within one step of it, and frees the slot.
        assert decoded <= MAX_DECOMPRESSED_SIZE + DECODE_STEP_SIZE
        assert client.connector.is_all_free()
        assert await client.wait_requests(timeout=5)


async def test_decompression_bomb_is_refused_when_preloaded(
    http_server: HTTPServer, gzip_bomb: bytes
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=gzip_bomb, headers={"Content-Encoding": "gzip"})

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        # A body this small on the wire is read inside get(), so the error may
        # surface there or from content(); either way it must surface.
        with pytest.raises(DecompressionError, match="max_size"):
            response = await client.get(url + "/")
            await response.content()
        assert client.connector.is_all_free()


async def test_unknown_content_coding_is_an_error(http_server: HTTPServer) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=b"xx", headers={"Content-Encoding": "zstd-unknown"})

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(DecompressionError, match="zstd-unknown"):
            response = await client.get(url + "/")
            await response.content()


SMALL_CAP = 256 * 1024
SMALL_BOMB_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


def serve_encoded_once(body: bytes, coding: str, *, chunked: bool) -> Any:
    """Answer one request with ``body`` under ``coding``; a chunked body never ends."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n" % coding.encode()
        if chunked:
            # No last chunk: only a cap checked while streaming can end this.
            writer.write(
                head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body)
            )
        else:
            writer.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        await reader.read()

    return handler


@pytest.mark.parametrize("chunked", [True, False], ids=["streamed", "preloaded"])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
async def test_connector_max_decompressed_size_caps_a_bomb(
    raw_server: RawServerFactory, coding: str, chunked: bool
) -> None:
    # 4 MiB of zeros, a few KiB on the wire: 16 times the cap.
    bomb = SMALL_BOMB_ENCODERS[coding](bytes(16 * SMALL_CAP))
    srv = await raw_server(serve_encoded_once(bomb, coding, chunked=chunked))
    connector = aiosonic.TCPConnector(max_decompressed_size=SMALL_CAP)
    decoded = 0
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(DecompressionError, match=f"max_size={SMALL_CAP}"):
            async with asyncio.timeout(5):
                response = await client.get(srv.url + "/")
                async for piece in response.read_chunks():
                    decoded += len(piece)
        assert decoded <= SMALL_CAP
        assert connector.is_all_free()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
async def test_connector_max_decompressed_size_admits_a_body_of_exactly_that_size(
    raw_server: RawServerFactory, coding: str
) -> None:
    body = bytes(SMALL_CAP)
    srv = await raw_server(
        serve_encoded_once(SMALL_BOMB_ENCODERS[coding](body), coding, chunked=False)
    )
    async with aiosonic.HTTPClient(
        aiosonic.TCPConnector(max_decompressed_size=SMALL_CAP)
    ) as client:
        response = await client.get(srv.url + "/")
        assert await response.content() == body


@pytest.mark.parametrize(("limit", "accepted"), [(2, False), (3, True)])
async def test_connector_max_content_encodings_bounds_the_chain(
    raw_server: RawServerFactory, limit: int, accepted: bool
) -> None:
    body = gzip.compress(gzip.compress(gzip.compress(b"three layers")))
    srv = await raw_server(serve_encoded_once(body, "gzip, gzip, gzip", chunked=False))
    connector = aiosonic.TCPConnector(max_content_encodings=limit)
    async with aiosonic.HTTPClient(connector) as client:
        if accepted:
            response = await client.get(srv.url + "/")
            assert await response.content() == b"three layers"
        else:
            with pytest.raises(DecompressionError, match=r"3 codings.*max_content_encodings=2"):
                response = await client.get(srv.url + "/")
                await response.content()
        assert connector.is_all_free()


@pytest.mark.parametrize(
    "kwargs", [{"max_decompressed_size": 0}, {"max_content_encodings": 0}], ids=["size", "count"]
)
def test_connector_refuses_decompression_limits_below_one(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must both be at least 1"):
        aiosonic.TCPConnector(**kwargs)


# --- wait_requests ----------------------------------------------------------


async def test_wait_requests_true_when_idle_false_while_in_flight(
    http_server: HTTPServer,
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        entered.set()
        await release.wait()
        return web.Response(text="done")

    url = await serve(http_server, slow)
    async with aiosonic.HTTPClient() as client:
        assert await client.wait_requests(timeout=1) is True
        task = asyncio.create_task(client.get(url + "/slow"))
        await entered.wait()
        assert await client.wait_requests(timeout=0.05) is False
        release.set()
        response = await task
        assert await response.text() == "done"
        assert await client.wait_requests(timeout=5) is True


async def test_wait_requests_waits_for_an_unread_streamed_body(http_server: HTTPServer) -> None:
    body = b"".join(blocks(2 * 1024 * 1024))

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body)

    url = await serve(http_server, answer)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(url + "/")
        # request() returned, but the unread body still holds the connection.
        assert await client.wait_requests(timeout=0.05) is False
        waiter = asyncio.create_task(client.wait_requests(timeout=5))
        assert await response.content() == body
        assert await waiter is True
