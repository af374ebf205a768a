"""The published HttpResponse and HTTPClient surface that drop-in users rely on.

* ``HttpResponse()`` built by hand (how published users mocked responses):
  ``body``, ``response_initial`` and ``headers`` set by the test answer
  ``status_code``, ``content()``, ``text()`` and ``json()``.
* ``response_initial``, ``chunked``, ``elapsed``, ``links``, ``iter_bytes()``
  and ``iter_lines()`` on responses from a scripted server (exact bytes).
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from conftest import RawServer, read_request

import aiosonic
from aiosonic import HttpResponse, TCPConnector
from aiosonic.exceptions import StreamConsumed
from aiosonic.protocols.links import parse_link_header

pytest_plugins = ["h2_servers"]

RawServerFactory = Callable[..., Awaitable[RawServer]]


def length_response(body: bytes, head: bytes = b"HTTP/1.1 200 OK\r\n", extra: bytes = b"") -> bytes:
    return head + b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n" + body


def chunked_response(pieces: list[bytes], extra: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra + b"\r\n" + body


async def serve_each(raw_server: RawServerFactory, answers: list[bytes]) -> RawServer:
    """A keep-alive server that answers its n-th request with ``answers[n]``."""
    queue = list(answers)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while queue:
            await read_request(reader)
            writer.write(queue.pop(0))
            await writer.drain()
        await reader.read()

    return await raw_server(serve)


# --- 1. HttpResponse() built by hand -----------------------------------------


async def test_hand_built_response_answers_from_what_the_test_set() -> None:
    response = HttpResponse()
    response.body = b'{"name": "sonic", "n": 1}'
    response.response_initial = {"version": "1.1", "code": "201", "reason": "Created"}
    response.headers.update({"Content-Type": "application/json"})
    assert response.status_code == 201
    assert response.ok
    assert response.reason == "Created"
    assert response.http_version == "1.1"
    assert await response.content() == b'{"name": "sonic", "n": 1}'
    assert await response.text() == '{"name": "sonic", "n": 1}'
    assert await response.json() == {"name": "sonic", "n": 1}
    assert [chunk async for chunk in response.read_chunks()] == [response.body]


async def test_hand_built_response_reads_charset_and_links_from_the_headers_set() -> None:
    response = HttpResponse()
    response.response_initial = {"code": 200}  # an int code, no reason
    response.body = "caf\xe9".encode("latin-1")
    response.headers.update(
        {"content-type": "text/plain; charset=latin-1", "Link": '<https://h/p2>; rel="next"'}
    )
    assert response.status_code == 200
    assert response.reason == "OK"  # the standard phrase, as published
    assert await response.text() == "caf\xe9"
    assert response.links == {"next": {"url": "https://h/p2", "rel": "next"}}
    assert [line async for line in response.iter_lines()] == ["caf\xe9"]


async def test_hand_built_response_initial_filled_in_place_and_headers_assigned() -> None:
    response = HttpResponse()
    with pytest.raises(KeyError):  # no status yet, as published
        _ = response.status_code
    response.response_initial["code"] = "404"
    response.headers = {"content-type": "text/plain"}
    assert response.status_code == 404
    assert response.reason == "Not Found"
    assert not response.ok
    assert await response.content() == b""  # no body set
    assert response.elapsed == timedelta(0)
    assert response.chunked is False
    response.chunked = True
    assert response.chunked is True


def test_hand_built_response_construction_is_cheap() -> None:
    # Every argument is optional; the defaults say "not from the network".
    response = HttpResponse()
    assert isinstance(response, HttpResponse)
    assert repr(response) == "<HttpResponse [no status, , body unread]>"
    assert response.url == ""
    assert response.method == response.request_method == ""
    assert response.history == []
    assert response.raw_headers == []
    assert response.response_initial == {}
    response.response_initial = {"version": "1.1", "code": "200", "reason": "OK"}
    response.body = b"x"
    assert repr(response) == "<HttpResponse [200 OK, , body read]>"


# --- 2. the published attributes on real responses ---------------------------


async def test_response_initial_gives_the_status_line_as_str(raw_server: RawServerFactory) -> None:
    server = await serve_each(
        raw_server,
        [
            length_response(b"made", head=b"HTTP/1.1 201 Created\r\n"),
            length_response(b"", head=b"HTTP/1.0 204 \r\n"),
        ],
    )
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/")
        assert response.response_initial == {"version": "1.1", "code": "201", "reason": "Created"}
        # From now on the dict is the source, as it was in the published class.
        response.response_initial["code"] = "202"
        assert response.status_code == 202
        response.status_code = 203
        assert response.response_initial["code"] == "203"
        assert response.status_code == 203
        other = await client.get(server.url + "/")
        assert other.reason == ""
        assert other.response_initial == {"version": "1.0", "code": "204", "reason": ""}
        assert other.reason == ""  # as sent, still: no phrase made up for a real response
        assert other.status_code == 204
        assert other.http_version == "1.0"


async def test_chunked_says_how_the_body_was_framed(raw_server: RawServerFactory) -> None:
    server = await serve_each(
        raw_server, [chunked_response([b"ab", b"c"]), length_response(b"abc")]
    )
    async with aiosonic.HTTPClient() as client:
        first = await client.get(server.url + "/")
        assert first.chunked is True
        assert await first.content() == b"abc"
        second = await client.get(server.url + "/")
        assert second.chunked is False
        assert second.body == b"abc"  # preloaded, as published


async def test_elapsed_is_the_time_until_the_response(raw_server: RawServerFactory) -> None:
    server = await serve_each(raw_server, [length_response(b"ok")])
    async with aiosonic.HTTPClient() as client:
        before = time.perf_counter()
        response = await client.get(server.url + "/")
        spent = time.perf_counter() - before
    assert isinstance(response.elapsed, timedelta)
    assert timedelta(0) < response.elapsed <= timedelta(seconds=spent)


async def test_links_are_parsed_from_every_link_header(raw_server: RawServerFactory) -> None:
    extra = (
        b'Link: <https://api.example/items?page=2&x=a,b>; rel="next"; title="two, of them"\r\n'
        b"Link: <https://api.example/items?page=9>; rel=last, </style.css>; REL=preload\r\n"
        b"Link: <https://api.example/norel>\r\n"
    )
    server = await serve_each(raw_server, [length_response(b"", extra=extra)])
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/")
    assert response.links == {
        "next": {
            "url": "https://api.example/items?page=2&x=a,b",
            "rel": "next",
            "title": "two, of them",
        },
        "last": {"url": "https://api.example/items?page=9", "rel": "last"},
        "preload": {"url": "/style.css", "rel": "preload"},
        "https://api.example/norel": {"url": "https://api.example/norel"},
    }


async def test_no_link_header_gives_no_links(raw_server: RawServerFactory) -> None:
    server = await serve_each(raw_server, [length_response(b"")])
    async with aiosonic.HTTPClient() as client:
        assert (await client.get(server.url + "/")).links == {}


LINK_CASES = [
    ("", []),
    ("<a>", [{"url": "a"}]),
    ('<a>;rel="x\\"y";Title=T', [{"url": "a", "rel": 'x"y', "title": "T"}]),
    (
        "  < a > ; rel = next ,<b>;rel=prev",
        [{"url": "a", "rel": "next"}, {"url": "b", "rel": "prev"}],
    ),
    ("<a>; rel=first; rel=second", [{"url": "a", "rel": "first"}]),  # RFC 8288 §3.3
    ("<a>; url=evil", [{"url": "a"}]),  # a parameter cannot replace the target
    ("garbage, <b>; hreflang", [{"url": "b", "hreflang": ""}]),
    ("<unterminated; rel=x", []),
    ('<a>; title="unterminated, <b>', [{"url": "a", "title": '"unterminated, <b>'}]),
]


@pytest.mark.parametrize(("value", "expected"), LINK_CASES)
def test_parse_link_header(value: str, expected: list[dict[str, str]]) -> None:
    assert parse_link_header(value) == expected


async def test_iter_bytes_yields_the_decoded_body(raw_server: RawServerFactory) -> None:
    packed = gzip.compress(b"hello, " * 1000)
    pieces = [packed[:10], packed[10:500], packed[500:]]
    server = await serve_each(raw_server, [chunked_response(pieces, b"Content-Encoding: gzip\r\n")])
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/")
        assert b"".join([chunk async for chunk in response.iter_bytes()]) == b"hello, " * 1000
        assert response.is_consumed
        with pytest.raises(StreamConsumed):
            _ = [chunk async for chunk in response.iter_bytes()]


async def test_iter_lines_splits_across_chunks(raw_server: RawServerFactory) -> None:
    text = "first\r\nsecond line\n\nthird: caf\u00e9 \u20ac\nlast without end".encode()
    # Cut inside "\r\n" and inside the 3-byte euro sign.
    cut_crlf = text.index(b"\r\n") + 1
    cut_euro = text.index("\u20ac".encode()) + 1
    pieces = [text[:cut_crlf], text[cut_crlf:cut_euro], text[cut_euro:]]
    server = await serve_each(
        raw_server, [chunked_response(pieces, b"Content-Type: text/plain; charset=utf-8\r\n")]
    )
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/")
        lines = [line async for line in response.iter_lines()]
    assert lines == ["first", "second line", "", "third: caf\u00e9 \u20ac", "last without end"]


async def test_iter_lines_on_a_preloaded_body(raw_server: RawServerFactory) -> None:
    server = await serve_each(raw_server, [length_response(b"a\nb\n")])
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/")
        assert [line async for line in response.iter_lines()] == ["a", "b"]


# --- 3. shutdown() / aclose() and connector ownership ------------------------


@pytest.mark.parametrize("closer", ["close", "aclose", "shutdown"])
async def test_client_closes_the_connector_it_made(
    raw_server: RawServerFactory, closer: str
) -> None:
    hung_up = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(length_response(b"ok"))
        await reader.read()  # EOF: the client closed its pooled connection
        hung_up.set()

    server = await raw_server(serve)
    client = aiosonic.HTTPClient()
    assert await (await client.get(server.url + "/")).content() == b"ok"
    await getattr(client, closer)()
    await asyncio.wait_for(hung_up.wait(), 5)
    assert repr(client.connector).endswith("closed=True]>")
    await getattr(client, closer)()  # idempotent


async def test_client_leaves_a_passed_connector_open(raw_server: RawServerFactory) -> None:
    server = await serve_each(raw_server, [length_response(b"1"), length_response(b"2")])
    async with TCPConnector() as connector:
        client = aiosonic.HTTPClient(connector)
        assert await (await client.get(server.url + "/")).content() == b"1"
        await client.shutdown()
        await client.aclose()
        # Still usable, on the same pooled connection.
        other = aiosonic.HTTPClient(connector)
        assert await (await other.get(server.url + "/")).content() == b"2"
        assert server.connections == 1
    assert repr(connector).endswith("closed=True]>")


# --- 4. stream() -------------------------------------------------------------


async def test_stream_does_not_preload_a_small_body(raw_server: RawServerFactory) -> None:
    server = await serve_each(raw_server, [length_response(b"small"), length_response(b"next")])
    async with aiosonic.HTTPClient() as client:
        async with client.stream("GET", server.url + "/") as response:
            assert response.status_code == 200
            assert not response.is_consumed
            assert response.body == b""  # not read yet
            assert not client.connector.is_all_free()
            assert [chunk async for chunk in response.iter_bytes()] == [b"small"]
        assert client.connector.is_all_free()
        # Read to the end, so the connection was kept.
        assert await (await client.get(server.url + "/")).content() == b"next"
        assert server.connections == 1


async def test_stream_exit_releases_an_unread_response(raw_server: RawServerFactory) -> None:
    hung_up = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        await reader.read()
        hung_up.set()

    server = await raw_server(serve)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(LookupError):
            async with client.stream("GET", server.url + "/", headers={"X-A": "1"}) as response:
                assert response.status_code == 200
                raise LookupError("the caller's own error")
        assert response.is_consumed
        assert client.connector.is_all_free()
        # The half-read body's connection is closed, never reused.
        await asyncio.wait_for(hung_up.wait(), 5)


async def test_stream_keeps_a_body_less_response_reusable(raw_server: RawServerFactory) -> None:
    server = await serve_each(
        raw_server, [b"HTTP/1.1 204 No Content\r\n\r\n", length_response(b"again")]
    )
    async with aiosonic.HTTPClient() as client:
        async with client.stream("DELETE", server.url + "/") as response:
            assert response.status_code == 204
        assert await (await client.get(server.url + "/")).content() == b"again"
        assert server.connections == 1


async def test_request_stream_true_without_the_context_manager(
    raw_server: RawServerFactory,
) -> None:
    server = await serve_each(raw_server, [length_response(b"abc")])
    async with aiosonic.HTTPClient() as client:
        response = await client.request(server.url + "/", stream=True)
        assert not response.is_consumed
        assert await response.content() == b"abc"
        assert client.connector.is_all_free()


async def test_stream_over_http2_reads_on_demand_and_frees_the_stream(h2_server) -> None:
    from test_http2_faults import pk_client

    async def script(conn) -> None:
        for _ in range(2):
            request = await conn.next_request()
            await conn.respond(request.stream_id, b"h2 body")

    server = await h2_server(script)
    client = pk_client()
    async with client.connector, client:  # the connector was passed in: close it too
        async with client.stream("GET", server.url + "/") as response:
            assert response.http_version == "2"
            assert not response.is_consumed
            assert b"".join([c async for c in response.iter_bytes()]) == b"h2 body"
        assert client.connector.is_all_free()
        assert await (await client.get(server.url + "/")).content() == b"h2 body"
    assert len(server.conns) == 1
