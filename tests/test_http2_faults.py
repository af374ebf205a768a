"""HTTP/2 faults, against a scripted server (``h2`` server side, prior knowledge).

Each script misbehaves in one way: RST_STREAM, REFUSED_STREAM, GOAWAY with
streams in flight, a zero flow-control window, SETTINGS lowered mid-connection,
an abrupt close, malformed frames, silence. Each test checks the exception
class and its attributes, or the transparent retry as the server saw it
(which connection answered what, with which body), that nothing hangs, that
the pool is free afterwards and that the client's own frames were valid (the
server's ``h2`` raises on any violation; ``conn.errors`` stays empty).
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from functools import partial

import hpack
import pytest
from conftest import read_request, wait_until
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from h2_servers import H2ScriptConn, H2ScriptServer, answer_all, h2_tls_context

import aiosonic
from aiosonic import HTTPClient, HttpResponse, TCPConnector, Timeouts
from aiosonic.exceptions import (
    ConnectionDisconnected,
    HttpParsingError,
    NetworkError,
    ReadTimeout,
    RemoteProtocolError,
    StreamReset,
)

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(10)
MIB = 1024 * 1024


def pk_client(**connector_options) -> HTTPClient:
    """A client speaking HTTP/2 with prior knowledge on http:// URLs."""
    config = aiosonic.Http2Config(prior_knowledge=True, **connector_options.pop("h2", {}))
    return HTTPClient(TCPConnector(http2=True, http2_config=config, **connector_options))


async def fetch(client: HTTPClient, url: str, **options) -> tuple[HttpResponse, bytes]:
    response = await client.request(url, **options)
    return response, await asyncio.wait_for(response.content(), 5)


async def expect(exc_type: type[BaseException], coro) -> BaseException:
    """Await ``coro`` (bounded) and return the ``exc_type`` it must raise."""
    with pytest.raises(exc_type) as info:
        await asyncio.wait_for(coro, 5)
    return info.value


def frame(kind: int, flags: int, stream_id: int, payload: bytes, length=None) -> bytes:
    """A raw HTTP/2 frame; ``length`` may lie about the payload."""
    size = len(payload) if length is None else length
    return struct.pack(">IBBI", size, kind, flags, stream_id)[1:] + payload


def assert_clean(server: H2ScriptServer) -> None:
    """The client never broke the protocol on any connection."""
    assert [conn.errors for conn in server.conns] == [[] for _ in server.conns]


def first_then(first, rest=answer_all):
    """A script: connection 0 runs ``first``, later connections run ``rest``."""

    async def script(conn: H2ScriptConn) -> None:
        await (first if conn.index == 0 else rest)(conn)

    return script


# --- normal operation, prior knowledge ---------------------------------------------


async def test_prior_knowledge_get_post_and_goaway_on_cleanup(h2_server) -> None:
    server = await h2_server(answer_all)
    client = pk_client()
    response, body = await fetch(client, f"{server.url}/get")
    assert (response.status_code, response.http_version, body) == (200, "2", b"/get")
    payload = bytes(range(256)) * 400
    _, body = await fetch(client, f"{server.url}/post", method="POST", data=payload)
    assert body == b"/post"
    conn = server.conns[0]
    assert [r.headers[":method"] for r in conn.requests.values()] == ["GET", "POST"]
    assert conn.requests[3].body == payload
    assert conn.requests[1].headers[":authority"] == f"127.0.0.1:{server.port}"
    assert client.connector.is_all_free()
    await client.connector.cleanup()
    await conn.wait_closed(2)
    assert conn.goaway is not None and conn.goaway.error_code == ErrorCodes.NO_ERROR
    assert len(server.conns) == 1
    assert_clean(server)


async def test_http_url_without_prior_knowledge_speaks_http11(raw_server) -> None:
    seen: list[bytes] = []

    async def handler(reader, writer) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh1")
        await writer.drain()

    server = await raw_server(handler)
    async with HTTPClient(TCPConnector(http2=True)) as client:
        response, body = await fetch(client, f"{server.url}/plain")
        assert (response.http_version, body) == ("1.1", b"h1")
    assert seen[0].startswith(b"GET /plain HTTP/1.1\r\n")


async def test_tls_alpn_h2_to_scripted_server(h2_server, h2_cert_files, h2_trust) -> None:
    server = await h2_server(answer_all, ssl_context=h2_tls_context(h2_cert_files))
    async with HTTPClient(TCPConnector(http2=True)) as client:
        response, body = await fetch(client, f"https://127.0.0.1:{server.port}/tls")
        assert (response.http_version, body) == ("2", b"/tls")
    assert server.conns[0].requests[1].headers[":scheme"] == "https"
    assert_clean(server)


# --- RST_STREAM ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [ErrorCodes.INTERNAL_ERROR, ErrorCodes.CANCEL, ErrorCodes.ENHANCE_YOUR_CALM]
)
async def test_rst_stream_raises_stream_reset(h2_server, code: ErrorCodes) -> None:
    async def script(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        conn.reset(request.stream_id, code)
        await answer_all(conn)

    server = await h2_server(script)
    async with pk_client() as client:
        exc = await expect(StreamReset, fetch(client, f"{server.url}/reset"))
        assert isinstance(exc, NetworkError)
        assert exc.error_code == code
        assert exc.unprocessed is False
        assert [r.path for r in server.requests] == ["/reset"]  # not replayed
        # Only the stream died: the connection carries the next request.
        _, body = await fetch(client, f"{server.url}/next")
        assert body == b"/next"
        assert client.connector.is_all_free()
    assert len(server.conns) == 1
    assert_clean(server)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_refused_stream_is_retried(h2_server, method: str) -> None:
    async def refuse_first(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        conn.reset(request.stream_id, ErrorCodes.REFUSED_STREAM)
        await answer_all(conn)

    server = await h2_server(first_then(refuse_first))
    data = b"refused body " * 1000 if method == "POST" else None
    async with pk_client() as client:
        response, body = await fetch(client, f"{server.url}/r", method=method, data=data)
        assert (response.status_code, body) == (200, b"/r")
        assert client.connector.is_all_free()
    attempts = server.requests
    assert [r.path for r in attempts] == ["/r", "/r"]
    assert all(r.ended and bytes(r.body) == (data or b"") for r in attempts)
    assert_clean(server)


async def test_always_refused_surfaces_as_unprocessed(h2_server) -> None:
    async def refuse_all(conn: H2ScriptConn) -> None:
        while True:
            request = await conn.next_request()
            conn.reset(request.stream_id, ErrorCodes.REFUSED_STREAM)

    server = await h2_server(refuse_all)
    async with pk_client() as client:
        exc = await expect(NetworkError, fetch(client, f"{server.url}/x", method="POST", data=b"p"))
        assert exc.unprocessed is True
        assert getattr(exc, "error_code", ErrorCodes.REFUSED_STREAM) == ErrorCodes.REFUSED_STREAM
        assert client.connector.is_all_free()
    assert 2 <= len(server.requests) <= 5, "retried, but a bounded number of times"


async def test_rst_no_error_after_full_response_keeps_response(h2_server) -> None:
    # RFC 9113 §8.1: a server may answer before the request body ended and then
    # stop the upload with RST_STREAM(NO_ERROR); the client keeps the response.
    async def script(conn: H2ScriptConn) -> None:
        await conn.wait_until(lambda: 1 in conn.requests)
        await conn.respond(1, b"early answer", status=413)
        conn.reset(1, ErrorCodes.NO_ERROR)
        await answer_all(conn)

    pulled: list[int] = []

    async def slow_body():
        for piece in range(50):
            pulled.append(piece)
            yield b"u" * 1000
            await asyncio.sleep(0.02)  # a slow producer: the upload outlives the answer

    server = await h2_server(script)
    async with pk_client() as client:
        response, body = await fetch(client, f"{server.url}/up", method="POST", data=slow_body())
        assert (response.status_code, body) == (413, b"early answer")
        # The stream is closed: the rest of the upload is neither read nor sent.
        assert len(pulled) < 40, f"read {len(pulled)} of 50 body pieces after RST_STREAM"
        _, body = await fetch(client, f"{server.url}/after")
        assert body == b"/after"
        assert client.connector.is_all_free()
    assert len(server.conns) == 1


# --- GOAWAY -----------------------------------------------------------------------


async def test_goaway_retries_streams_above_last_stream_id(h2_server) -> None:
    async def goaway_after_three(conn: H2ScriptConn) -> None:
        warm = await conn.next_request()
        await conn.respond(warm.stream_id, b"warm")
        await conn.wait_until(lambda: len(conn.order) == 4)
        first = min(conn.order[1:])
        conn.goaway_frame(ErrorCodes.NO_ERROR, last_stream_id=first)
        await conn.respond(first, conn.requests[first].path.encode())
        await conn.wait_closed()

    server = await h2_server(first_then(goaway_after_three))
    async with pk_client() as client:
        await fetch(client, f"{server.url}/warm")
        results = await asyncio.gather(
            fetch(client, f"{server.url}/a"),
            fetch(client, f"{server.url}/b"),
            fetch(client, f"{server.url}/c", method="POST", data=b"post body" * 100),
        )
        assert [body for _, body in results] == [b"/a", b"/b", b"/c"]
        # The GOAWAY'd connection is closed once its last stream is done.
        await server.conns[0].wait_closed(2)
        assert client.connector.is_all_free()
    assert len(server.conns) == 2
    first, second = server.conns
    answered_first = first.requests[min(first.order[1:])].path
    retried = {r.path: bytes(r.body) for r in second.requests.values()}
    assert sorted([answered_first, *retried]) == ["/a", "/b", "/c"]
    if "/c" in retried:
        assert retried["/c"] == b"post body" * 100
    assert_clean(server)


async def test_goaway_on_idle_connection_moves_to_new_one(h2_server) -> None:
    async def once_then_goaway(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        await conn.respond(request.stream_id, b"one")
        conn.goaway_frame(ErrorCodes.NO_ERROR, last_stream_id=request.stream_id)
        await conn.wait_closed()

    server = await h2_server(first_then(once_then_goaway))
    async with pk_client() as client:
        assert (await fetch(client, f"{server.url}/1"))[1] == b"one"
        # The client closes the idle connection once it sees GOAWAY.
        await server.conns[0].wait_closed(2)
        assert (await fetch(client, f"{server.url}/2"))[1] == b"/2"
    assert len(server.conns) == 2
    assert [r.path for r in server.conns[1].requests.values()] == ["/2"]


async def test_goaway_zero_every_time_exhausts_retries(h2_server) -> None:
    async def goaway_zero(conn: H2ScriptConn) -> None:
        await conn.wait_until(lambda: bool(conn.requests))
        conn.goaway_frame(ErrorCodes.NO_ERROR, last_stream_id=0)
        await conn.wait_closed()

    server = await h2_server(goaway_zero)
    async with pk_client() as client:
        exc = await expect(NetworkError, fetch(client, f"{server.url}/g", method="POST", data=b"x"))
        assert exc.unprocessed is True
        assert client.connector.is_all_free()
    assert 2 <= len(server.conns) <= 5, f"{len(server.conns)} connections"


async def test_goaway_error_after_stream_processed_is_not_retried(h2_server) -> None:
    async def die_processing(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        conn.goaway_frame(ErrorCodes.INTERNAL_ERROR, last_stream_id=request.stream_id)
        conn.abort()

    server = await h2_server(die_processing)
    async with pk_client() as client:
        post = fetch(client, f"{server.url}/p", method="POST", data=b"once")
        exc = await expect(ConnectionDisconnected, post)
        assert exc.unprocessed is False
        assert exc.request_sent is True
        assert client.connector.is_all_free()
    assert len(server.conns) == 1


# --- connection loss and protocol errors --------------------------------------------------


async def test_abrupt_close_fails_each_open_stream(h2_server) -> None:
    async def half_answer_then_abort(conn: H2ScriptConn) -> None:
        warm = await conn.next_request()
        await conn.respond(warm.stream_id, b"warm")
        await conn.wait_until(lambda: len(conn.order) == 3)
        conn.send_headers(conn.order[1], 200, [("content-length", "100")])
        await conn.send_data(conn.order[1], b"partial", end=False)
        await conn.ping_round_trip()  # the client has read the head and the partial body
        conn.abort()

    server = await h2_server(first_then(half_answer_then_abort))
    async with pk_client() as client:
        await fetch(client, f"{server.url}/warm")
        posts = (fetch(client, f"{server.url}/{i}", method="POST", data=b"d") for i in range(2))
        results = await asyncio.wait_for(asyncio.gather(*posts, return_exceptions=True), 5)
        for exc in results:
            assert isinstance(exc, ConnectionDisconnected), repr(exc)
            assert exc.request_sent is True
            assert "processed" in str(exc)
        assert client.connector.is_all_free()
    assert len(server.conns) == 1, "POSTs are not replayed"


def _headers_without_status(conn: H2ScriptConn, stream_id: int) -> bytes:
    block = hpack.Encoder().encode([("content-type", "text/plain")])
    return frame(0x1, 0x4, stream_id, block)  # HEADERS, END_HEADERS


MALFORMED = {
    "settings-bad-length": lambda conn, sid: frame(0x4, 0, 0, b"\x00" * 5),
    "data-on-stream-0": lambda conn, sid: frame(0x0, 0, 0, b"data"),
    # Longer than the 64 KiB SETTINGS_MAX_FRAME_SIZE the client advertises.
    "oversized-frame": lambda conn, sid: frame(0x0, 0, sid, bytes(1 << 20)),
    # The same, but only the 9-byte header arrives: detectable without the payload.
    "oversized-frame-header-only": lambda conn, sid: frame(0x0, 0, sid, b"", length=2**24 - 1),
    "headers-without-status": _headers_without_status,
    "connection-window-update-zero": lambda conn, sid: frame(0x8, 0, 0, b"\x00" * 4),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_frame_raises_remote_protocol_error(h2_server, kind: str) -> None:
    async def send_garbage(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        conn.write_raw(MALFORMED[kind](conn, request.stream_id))
        await conn.wait_closed()

    server = await h2_server(first_then(send_garbage))
    # Short deadlines: a client that misses the violation fails fast, with a timeout.
    async with pk_client(timeouts=Timeouts(sock_connect=2, sock_read=2)) as client:
        exc = await expect(RemoteProtocolError, fetch(client, f"{server.url}/bad"))
        assert isinstance(exc, HttpParsingError)
        # The broken connection is dropped; a new one serves the next request.
        await server.conns[0].wait_closed(2)
        goaway = server.conns[0].goaway
        assert goaway is None or goaway.error_code != ErrorCodes.NO_ERROR
        assert (await fetch(client, f"{server.url}/ok"))[1] == b"/ok"
        assert client.connector.is_all_free()
    assert len(server.conns) == 2


async def test_http11_answer_to_prior_knowledge_is_protocol_error(raw_server) -> None:
    async def handler(reader, writer) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read(100)

    server = await raw_server(handler)
    async with pk_client(timeouts=Timeouts(sock_connect=2, sock_read=2)) as client:
        await expect(RemoteProtocolError, fetch(client, f"{server.url}/"))
        assert client.connector.is_all_free()


# --- flow control and SETTINGS -------------------------------------------------------


async def test_zero_window_then_window_update(h2_server) -> None:
    size = 200_000
    paused_bytes: list[int] = []

    async def zero_window(conn: H2ScriptConn) -> None:
        warm = await conn.next_request()
        await conn.respond(warm.stream_id, b"warm")
        await conn.wait_until(lambda: len(conn.requests) == 2)
        upload = max(conn.requests)
        # A time to watch for DATA that must not come: no event marks "would have
        # sent by now". A correct client passes however short this is.
        await asyncio.sleep(0.3)
        paused_bytes.append(len(conn.requests[upload].body))
        conn.window_update(size, upload)
        request = await conn.next_request()
        await conn.respond(request.stream_id, hashlib.sha256(request.body).hexdigest().encode())
        await answer_all(conn)

    server = await h2_server(zero_window, settings={SettingCodes.INITIAL_WINDOW_SIZE: 0})
    payload = bytes(i % 253 for i in range(size))
    async with pk_client() as client:
        await fetch(client, f"{server.url}/warm")  # the client now knows the window is 0
        _, body = await fetch(client, f"{server.url}/up", method="POST", data=payload)
        assert body == hashlib.sha256(payload).hexdigest().encode()
    assert paused_bytes == [0], "DATA sent into a zero window"
    assert len(server.conns) == 1
    assert_clean(server)


async def test_unread_body_is_bounded_by_stream_window(h2_server) -> None:
    size, window = 8 * MIB, 1 * MIB
    payload = bytes(range(256)) * (size // 256)

    async def big_answer(conn: H2ScriptConn) -> None:
        request = await conn.next_request()
        conn.send_headers(request.stream_id, 200, [("content-length", str(size))])
        await conn.send_data(request.stream_id, payload)  # waits for window credit
        await answer_all(conn)

    server = await h2_server(big_answer)
    async with pk_client(h2={"initial_stream_window": window}) as client:
        response = await client.get(f"{server.url}/big")
        conn = server.conns[0]

        def server_stalled_or_done() -> bool:
            return conn.sent.get(1, 0) == size or conn.h2.local_flow_control_window(1) == 0

        # Nobody reads: the server may send one window, then waits for credit.
        assert await wait_until(server_stalled_or_done)
        # Credit the client hands back for frames it has read (it must not, unread)
        # reaches the server before the second ACK, and reopens the flow.
        await conn.ping_round_trip()
        await conn.ping_round_trip()
        stalled = conn.sent[1]
        digest = hashlib.sha256()
        async for chunk in response.read_chunks():
            digest.update(chunk)
        assert digest.digest() == hashlib.sha256(payload).digest()
    assert window // 2 <= stalled <= window * 3 // 2, f"{stalled} bytes sent to a stalled reader"
    assert_clean(server)


async def test_settings_lowered_mid_connection_are_obeyed(h2_server) -> None:
    async def lower_limit(conn: H2ScriptConn) -> None:
        warm = await conn.next_request()
        conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 1})
        await conn.wait_until(lambda: conn.settings_acked >= 2)
        conn.max_open_streams = 0  # count from the moment the limit applies
        await conn.respond(warm.stream_id, b"warm")
        await answer_all(conn, delay=0.05)

    server = await h2_server(first_then(lower_limit, partial(answer_all, delay=0.05)))
    async with pk_client() as client:
        await fetch(client, f"{server.url}/warm")
        results = await asyncio.gather(*(fetch(client, f"{server.url}/{i}") for i in range(6)))
        assert [body for _, body in results] == [f"/{i}".encode() for i in range(6)]
        assert client.connector.is_all_free()
    assert server.conns[0].max_open_streams <= 1
    assert_clean(server)


async def test_own_max_concurrent_streams_cap(h2_server) -> None:
    server = await h2_server(partial(answer_all, delay=0.1))
    async with pk_client(h2={"max_concurrent_streams": 2}) as client:
        await fetch(client, f"{server.url}/warm")
        results = await asyncio.gather(*(fetch(client, f"{server.url}/{i}") for i in range(6)))
        assert [body for _, body in results] == [f"/{i}".encode() for i in range(6)]
    assert all(conn.max_open_streams <= 2 for conn in server.conns)
    assert sum(len(conn.requests) for conn in server.conns) == 7
    assert_clean(server)


# --- silence and cancellation --------------------------------------------------------


async def test_read_timeout_when_server_is_silent(h2_server) -> None:
    async def never_answer(conn: H2ScriptConn) -> None:
        await conn.wait_closed(30)

    server = await h2_server(never_answer)
    async with pk_client(timeouts=Timeouts(sock_read=0.3)) as client:
        await expect(ReadTimeout, fetch(client, f"{server.url}/silent"))
        conn = server.conns[0]
        # The stream is given up: reset, or the whole connection closed.
        await conn.wait_until(lambda: 1 in conn.resets or conn.closed.is_set(), 2)
        assert client.connector.is_all_free()


async def test_cancel_sends_rst_cancel_and_connection_survives(h2_server) -> None:
    async def script(conn: H2ScriptConn) -> None:
        while request := await conn.next_request(timeout=30):
            if request.path != "/hang":
                await conn.respond(request.stream_id, request.path.encode())

    server = await h2_server(script)
    async with pk_client() as client:
        await fetch(client, f"{server.url}/warm")
        task = asyncio.create_task(fetch(client, f"{server.url}/hang"))
        conn = server.conns[0]
        await conn.wait_until(lambda: len(conn.order) == 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        hung = conn.order[1]
        await conn.wait_until(lambda: hung in conn.resets, 2)
        assert conn.resets[hung] == ErrorCodes.CANCEL
        assert (await fetch(client, f"{server.url}/after"))[1] == b"/after"
        assert client.connector.is_all_free()
    assert len(server.conns) == 1
    assert_clean(server)


async def test_lost_connection_tells_each_stream_whether_it_was_reused(h2_server) -> None:
    """A fresh stream and a reused one on a dropped connection keep their own flag.

    The first request opened the connection (fresh): its failure is final. The
    second took a stream on it while the first was in flight (reused): it is
    re-sent once, on a new connection. The flag was once written on the shared
    driver, so the fresh request failed as reused and was re-sent too.
    """

    async def take_two_then_abort(conn: H2ScriptConn) -> None:
        await conn.wait_until(lambda: len(conn.order) == 2)
        conn.abort()

    server = await h2_server(first_then(take_two_then_abort))
    async with pk_client() as client:
        fresh = asyncio.create_task(fetch(client, f"{server.url}/fresh"))
        await asyncio.wait_for(server_has_requests(server, 1), 5)
        reused = asyncio.create_task(fetch(client, f"{server.url}/reused"))
        exc = await expect(ConnectionDisconnected, fresh)
        assert exc.reused_connection is False
        assert exc.request_sent is True
        assert (await asyncio.wait_for(reused, 5))[1] == b"/reused"
        assert client.connector.is_all_free()
    assert [[r.path for r in conn.requests.values()] for conn in server.conns] == [
        ["/fresh", "/reused"],
        ["/reused"],
    ]


async def server_has_requests(server: H2ScriptServer, count: int) -> None:
    """Wait until connection 0 of ``server`` has ``count`` complete requests."""
    conn = await server.conn(0)
    await conn.wait_until(lambda: len(conn.order) >= count)


@pytest.mark.parametrize(
    ("first", "named"),
    [
        (frame(0x6, 0, 0, b"pingpong"), "PING"),
        (frame(0x4, 0x1, 0, b""), "a SETTINGS acknowledgement"),
        (frame(0x8, 0, 0, struct.pack(">I", 1000)), "WINDOW_UPDATE"),
    ],
)
async def test_first_frame_not_settings_is_protocol_error(h2_server, first, named) -> None:
    """RFC 9113 §3.4: the server's preface is a SETTINGS frame; anything else first is
    a connection error (h2 accepts it). The server below then answers normally."""
    server = await h2_server(answer_all, before_settings=first)
    async with pk_client(timeouts=Timeouts(sock_connect=2, sock_read=2)) as client:
        exc = await expect(RemoteProtocolError, fetch(client, f"{server.url}/p"))
        assert f"first frame was {named}" in str(exc)
        assert "RFC 9113 §3.4" in str(exc)
        await server.conns[0].wait_closed(2)
        goaway = server.conns[0].goaway
        assert goaway is not None and goaway.error_code == ErrorCodes.PROTOCOL_ERROR
        assert client.connector.is_all_free()
    assert [conn.requests for conn in server.conns] == [{}], "no request went out"
