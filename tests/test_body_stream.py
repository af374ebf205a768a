"""Body streams: the fast ways to take a whole body agree with reading it piece by piece.

``BaseBodyStream.read_all`` (the pieces of ``next_piece``, joined) is the plain
reference. The speed tricks are ``read_all_nowait`` (a body that is all
buffered, taken in one step) and HTTP/1.1's ``read_all`` (a Content-Length
body read into one buffer as it arrives). For every framing, sent whole and
in awkward pieces, they must return the same bytes and trailers, and leave the
connection as the plain way does (kept or closed). The release rules (once,
idempotently; an error or an early close closes the lease) are checked on a
fake driver without sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from conftest import RawServer, let_loop_run, read_request
from h2_servers import H2ScriptConn

import aiosonic
from aiosonic import HTTPClient, TCPConnector
from aiosonic.drivers.body import BaseBodyStream, BodyEvent
from aiosonic.drivers.http2 import HTTP2Body
from aiosonic.drivers.http11 import HTTP11Body
from aiosonic.exceptions import HttpParsingError, ReadTimeout
from aiosonic.protocols.h11_events import Data, EndOfMessage, ResponseHead

pytest_plugins = ["h2_servers"]

RawServerFactory = Callable[..., Awaitable[RawServer]]
BODY = bytes(range(256)) * 300 + b"end"  # 76803 bytes: more than one read


def length_answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def chunked_answer(body: bytes) -> bytes:
    pieces = [body[i : i + 5000] for i in range(0, len(body), 5000)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + framed
        + b"0\r\nX-Checksum: abc\r\n\r\n"
    )


def close_answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body


FRAMINGS = {"length": length_answer, "chunked": chunked_answer, "close": close_answer}
#: How the server cuts its answer into writes: whole, and in odd sizes.
SPLITS = {"whole": [1 << 30], "odd": [1, 7, 4093, 65537]}


async def answering(
    raw_server: RawServerFactory, answer: bytes, sizes: list[int], all_first: asyncio.Event
) -> RawServer:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            data, index = answer, 0
            while data:
                writer.write(data[: sizes[index % len(sizes)]])
                data = data[sizes[index % len(sizes)] :]
                await writer.drain()
                index += 1
            all_first.set()
            if answer.startswith(b"HTTP/1.1 200 OK\r\nConnection: close"):
                return

    return await raw_server(serve)


async def take(stream: HTTP11Body | HTTP2Body, way: str) -> bytes:
    """Read the whole body the way named."""
    if way == "plain":
        return await BaseBodyStream.read_all(stream)
    if way == "pieces":
        return b"".join([piece async for piece in stream])
    if way == "nowait":
        taken = stream.read_all_nowait()
        return taken if taken is not None else await stream.read_all()
    return await stream.read_all()


WAYS = ["plain", "pieces", "fast", "nowait"]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("framing", FRAMINGS)
async def test_http11_ways_of_taking_a_body_agree(
    raw_server: RawServerFactory, framing: str, split: str
) -> None:
    outcomes = []
    for way in WAYS:
        sent = asyncio.Event()
        server = await answering(raw_server, FRAMINGS[framing](BODY), SPLITS[split], sent)
        async with HTTPClient() as client:
            response = await client.request(server.url + "/", stream=True)
            stream = response.stream
            assert isinstance(stream, HTTP11Body)
            if way == "nowait":
                await sent.wait()  # give the whole answer a chance to be buffered
                await let_loop_run(1)
            body = await take(stream, way)
            assert stream.is_released and response.is_consumed
            assert client.connector.is_all_free()
            again = await client.get(server.url + "/")
            outcomes.append((way, body, list(stream.trailers), await again.content()))
        outcomes[-1] += (server.connections,)
    plain = outcomes[0][1:]
    assert plain[0] == BODY
    for outcome in outcomes[1:]:
        assert outcome[1:] == plain, f"{outcome[0]} differs from the plain way"
    if framing == "chunked":
        assert plain[1] == [(b"X-Checksum", b"abc")]


async def test_http11_read_all_nowait_takes_a_buffered_body_only(
    raw_server: RawServerFactory,
) -> None:
    sent = asyncio.Event()
    server = await answering(raw_server, length_answer(BODY), [1 << 30], sent)
    async with HTTPClient() as client:
        response = await client.request(server.url + "/", stream=True)
        stream = response.stream
        assert isinstance(stream, HTTP11Body)
        while (taken := stream.read_all_nowait()) is None:
            assert not stream.is_released  # nothing consumed while incomplete
            await let_loop_run(1)
        assert taken == BODY
        assert stream.read_all_nowait() is None and await stream.read_all() == b""
        assert client.connector.is_all_free()
    assert server.connections == 1


def pk_client() -> HTTPClient:
    config = aiosonic.Http2Config(prior_knowledge=True)
    return HTTPClient(TCPConnector(http2=True, http2_config=config))


@pytest.mark.parametrize("trailers", [False, True])
async def test_http2_ways_of_taking_a_body_agree(h2_server: Any, trailers: bool) -> None:
    async def script(conn: H2ScriptConn) -> None:
        while request := await conn.next_request(timeout=30):
            conn.send_headers(request.stream_id, 200, [], False)
            await conn.send_data(request.stream_id, BODY, end=not trailers)
            if trailers:
                conn.h2.send_headers(request.stream_id, [("x-checksum", "abc")], end_stream=True)
                conn.flush()

    server = await h2_server(script)
    outcomes = []
    async with pk_client() as client:
        for way in WAYS:
            response = await client.request(f"{server.url}/", stream=True)
            stream = response.stream
            assert isinstance(stream, HTTP2Body)
            body = await take(stream, way)
            assert stream.is_released and client.connector.is_all_free()
            outcomes.append((body, list(stream.trailers)))
    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert outcomes[0][0] == BODY
    assert outcomes[0][1] == ([(b"x-checksum", b"abc")] if trailers else [])
    assert len(server.conns) == 1 and server.conns[0].resets == {}


# --- the release rules, on a fake driver ----------------------------------------


class FakeOwner:
    def __init__(self) -> None:
        self.released: list[object] = []
        self.unread: list[tuple[object, str, str]] = []

    def release(self, lease: object, /) -> None:
        self.released.append(lease)

    def note_unread(self, lease: object, url: str, site: str, /) -> None:
        self.unread.append((lease, url, site))


class FakeLease:
    closed = 0

    def close(self) -> None:
        self.closed += 1


class ScriptedBody(BaseBodyStream):
    """A body whose driver returns ``events`` in turn (an exception is raised)."""

    __slots__ = ("events",)

    def __init__(self, events: list[Any], owner: FakeOwner, lease: FakeLease) -> None:
        BaseBodyStream.__init__(self, lease, owner, None)
        self.events = events

    @property
    def url(self) -> str:
        return "http://h/x"

    def _next_event(self) -> Coroutine[Any, Any, BodyEvent]:
        async def next_one() -> BodyEvent:
            event = self.events.pop(0)
            if isinstance(event, BaseException):
                raise event
            return event  # type: ignore[no-any-return]

        return next_one()


def scripted(events: list[Any]) -> tuple[ScriptedBody, FakeOwner, FakeLease]:
    owner, lease = FakeOwner(), FakeLease()
    return ScriptedBody(events, owner, lease), owner, lease


async def test_reading_to_the_end_releases_once_and_keeps_the_lease_open() -> None:
    stream, owner, lease = scripted([Data(b"ab"), Data(b"c"), EndOfMessage([(b"t", b"1")])])
    assert repr(stream) == "<ScriptedBody [OPEN, http://h/x]>"
    assert await stream.read_all() == b"abc"
    assert stream.trailers == [(b"t", b"1")]
    assert owner.released == [lease] and lease.closed == 0
    assert repr(stream) == "<ScriptedBody [RELEASED, http://h/x]>"
    stream.close()
    await stream.aclose()
    assert await stream.read_all() == b"" and stream.read_all_nowait() is None
    assert owner.released == [lease] and lease.closed == 0


async def test_closing_early_closes_the_lease_then_releases_once() -> None:
    stream, owner, lease = scripted([Data(b"ab"), Data(b"c"), EndOfMessage([])])
    pieces = aiter(stream)
    assert await anext(pieces) == b"ab"
    await pieces.aclose()  # type: ignore[attr-defined]
    assert lease.closed == 1 and owner.released == [lease]
    await stream.aclose()
    assert lease.closed == 1 and owner.released == [lease]


@pytest.mark.parametrize("error", [ReadTimeout("slow"), asyncio.CancelledError()])
async def test_an_error_while_reading_closes_the_lease(error: BaseException) -> None:
    stream, owner, lease = scripted([Data(b"ab"), error])
    with pytest.raises(type(error)):
        await stream.read_all()
    assert lease.closed == 1 and owner.released == [lease]


async def test_an_event_out_of_place_closes_and_names_the_url() -> None:
    head = ResponseHead(200, b"OK", "1.1", [], True, None, False, False, b"")
    stream, owner, lease = scripted([head])
    with pytest.raises(HttpParsingError, match=r"unexpected ResponseHead in body \(http://h/x\)"):
        await stream.read_all()
    assert lease.closed == 1 and owner.released == [lease]


@pytest.mark.parametrize(
    ("length", "pieces", "closed"),
    [
        (None, [b"x" * 10, b"y" * 10], 0),  # short: read to the end, the lease kept
        (None, [b"x" * 60, b"y" * 60], 1),  # past the limit: stop and close
        (500, [b"x" * 10], 1),  # declared too long: closed unread
    ],
)
async def test_discard_reads_a_short_body_and_closes_a_long_one(
    length: int | None, pieces: list[bytes], closed: int
) -> None:
    stream, owner, lease = scripted([*map(Data, pieces), EndOfMessage([])])
    stream.content_length = length
    await stream.discard(100)
    assert lease.closed == closed and owner.released == [lease]


async def test_note_unread_tells_the_owner_until_released() -> None:
    stream, owner, lease = scripted([EndOfMessage([])])
    stream.note_unread("http://h/x", "app.py:1 in main")
    assert owner.unread == [(lease, "http://h/x", "app.py:1 in main")]
    await stream.read_all()
    stream.note_unread("http://h/x", "app.py:2 in main")
    assert len(owner.unread) == 1
