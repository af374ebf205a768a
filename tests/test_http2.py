"""HTTP/2 against a real server (hypercorn over TLS, ALPN h2 + http/1.1).

Covers negotiation (h2, fallback to HTTP/1.1, HTTP/2 off), 20+ MiB bodies in
both directions (streamed, checked by hash), multiplexing (many streams on one
connection, a second connection when the server's stream limit is reached),
trailers, per-stream read timeouts and cancellation, and shutdown. The server
logs the client address and HTTP version of every request, so connection
counts are the server's view.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import ssl
import time
from collections.abc import AsyncIterator

import pytest
from conftest import wait_until
from h2_servers import HypercornServer, pattern_chunks, pattern_sha256

import aiosonic
from aiosonic import HTTPClient, HttpResponse, TCPConnector, Timeouts
from aiosonic.exceptions import ConnectorClosed, ReadTimeout

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(20)

MIB = 1024 * 1024


@pytest.fixture
async def server(hypercorn_server, h2_trust) -> HypercornServer:
    return await hypercorn_server()


def h2_client(**connector_options) -> HTTPClient:
    return HTTPClient(TCPConnector(http2=True, **connector_options))


async def fetch(client: HTTPClient, url: str, **options) -> tuple[HttpResponse, bytes]:
    """Request and read the whole body (errors may surface in either step)."""
    response = await client.request(url, **options)
    return response, await response.content()


def count_established(*, local_port: int | None = None, remote_port: int | None = None) -> int:
    """Count ESTABLISHED IPv4 TCP sockets with the given local or remote port."""
    with open("/proc/net/tcp") as table:
        rows = [line.split()[1:4] for line in list(table)[1:]]
    ports = [
        (int(local[-4:], 16), int(remote[-4:], 16)) for local, remote, st in rows if st == "01"
    ]
    return sum((mine == local_port) + (theirs == remote_port) for mine, theirs in ports)


# --- negotiation ---------------------------------------------------------------


@pytest.mark.parametrize("switch", ["client", "connector", "request"])
async def test_get_negotiates_h2(server: HypercornServer, switch: str) -> None:
    if switch == "client":
        client, options = HTTPClient(http2=True), {}
    elif switch == "connector":
        client, options = h2_client(), {}
    else:
        client, options = HTTPClient(), {"http2": True}
    async with client:
        for _ in range(3):
            response = await client.get(f"{server.url}/small", **options)
            assert response.status_code == 200
            assert response.http_version == "2"
            assert response.headers["x-route"] == "small"
            assert await response.text() == "small response over 2"
    # Sequential requests reuse the one connection.
    assert list(server.connections.values()) == ["2"]
    assert len(server.state.requests) == 3


async def test_post_and_json_over_h2(server: HypercornServer) -> None:
    payload = bytes(range(256)) * 1200  # 300 KiB: several DATA frames and window updates
    async with h2_client() as client:
        response = await client.post(f"{server.url}/echo", data=payload)
        assert response.http_version == "2"
        assert await response.content() == payload
        response = await client.post(f"{server.url}/upload", data=b"12345")
        assert await response.json() == {"size": 5, "sha256": hashlib.sha256(b"12345").hexdigest()}
        response = await client.get(f"{server.url}/missing")
        assert response.status_code == 404
        assert await response.content() == b"not found"
    assert list(server.connections.values()) == ["2"]


async def test_user_ssl_context_with_h2_in_its_alpn_gets_h2(
    server: HypercornServer, h2_trust: str
) -> None:
    context = ssl.create_default_context(cafile=h2_trust)
    context.set_alpn_protocols(["h2", "http/1.1"])
    async with HTTPClient() as client:
        response = await client.get(f"{server.url}/small", ssl=context, http2=True)
        assert response.http_version == "2"
        assert await response.text() == "small response over 2"
    assert list(server.connections.values()) == ["2"]


async def _alpn_chosen_with(context: ssl.SSLContext, port: int) -> str | None:
    """Handshake with ``context`` outside aiosonic; return the protocol ALPN chose."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        return writer.get_extra_info("ssl_object").selected_alpn_protocol()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_user_ssl_context_is_never_changed(server: HypercornServer, h2_trust: str) -> None:
    # The server offers h2 and http/1.1; the caller's context offers no ALPN.
    context = ssl.create_default_context(cafile=h2_trust)
    assert await _alpn_chosen_with(context, server.port) is None
    async with HTTPClient() as client:
        response = await client.get(f"{server.url}/small", ssl=context, http2=True)
        # aiosonic offers what the caller's context offers: nothing, so HTTP/1.1.
        assert response.http_version == "1.1"
        assert await response.text() == "small response over 1.1"
    # The context still offers nothing: a later client without HTTP/2, and
    # plain asyncio, see the context the caller built.
    async with HTTPClient() as client:
        response = await client.get(f"{server.url}/small", ssl=context)
        assert response.http_version == "1.1"
        assert await response.text() == "small response over 1.1"
    assert await _alpn_chosen_with(context, server.port) is None
    assert set(server.connections.values()) == {"1.1"}


async def test_fallback_to_http11_when_server_has_no_h2(hypercorn_server, h2_trust) -> None:
    server = await hypercorn_server(alpn_protocols=["http/1.1"])
    async with h2_client() as client:
        response = await client.get(f"{server.url}/small")
        assert response.http_version == "1.1"
        assert await response.text() == "small response over 1.1"
        response = await client.post(f"{server.url}/echo", data=b"over h1" * 1000)
        assert await response.content() == b"over h1" * 1000
    assert set(server.connections.values()) == {"1.1"}


async def test_http2_off_stays_on_http11(server: HypercornServer) -> None:
    async with HTTPClient() as client:
        response = await client.get(f"{server.url}/small")
        assert response.http_version == "1.1"
        assert await response.text() == "small response over 1.1"
    assert list(server.connections.values()) == ["1.1"]


# --- bodies ---------------------------------------------------------------------


async def test_big_download_streamed(server: HypercornServer) -> None:
    # (That an unread body is bounded by the stream window is checked against
    # the scripted server: hypercorn itself buffers a slow reader's response.)
    size = 24 * MIB
    async with h2_client() as client:
        response = await client.get(f"{server.url}/big?size={size}")
        assert response.http_version == "2"
        digest, received, chunks = hashlib.sha256(), 0, 0
        async for chunk in response.read_chunks():
            assert len(chunk) <= 4 * MIB  # pieces as they arrive, not the whole body
            digest.update(chunk)
            received += len(chunk)
            chunks += 1
        assert received == size
        assert chunks >= 6
        assert digest.hexdigest() == pattern_sha256(size)
        assert client.connector.is_all_free()


async def test_big_upload_from_async_iterator(server: HypercornServer) -> None:
    size = 20 * MIB + 12345

    async def body() -> AsyncIterator[bytes]:
        for piece in pattern_chunks(size):
            yield piece

    async with h2_client() as client:
        response = await client.post(f"{server.url}/upload", data=body())
        assert response.http_version == "2"
        assert await response.json() == {"size": size, "sha256": pattern_sha256(size)}
    assert list(server.connections.values()) == ["2"]


@pytest.mark.skipif(
    tuple(int(p) for p in importlib.metadata.version("h2").split(".")[:2]) < (4, 2),
    reason="hypercorn, the server here, runs on the same h2 and sends no trailers with h2 4.1",
)
async def test_trailers(server: HypercornServer) -> None:
    async with h2_client() as client:
        # hypercorn sends trailers only to clients that announce ``te: trailers``.
        response = await client.get(f"{server.url}/trailers", headers={"te": "trailers"})
        assert await response.content() == b"body before trailers"
        expected = hashlib.sha256(b"body before trailers").hexdigest()
        assert response.trailers["x-checksum"] == expected
        assert "x-checksum" not in response.headers


# --- multiplexing ------------------------------------------------------------------


async def test_100_concurrent_requests_share_one_connection(server: HypercornServer) -> None:
    async with h2_client() as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(fetch(client, f"{server.url}/slow?delay=0.3&n={i}") for i in range(100))
        )
        elapsed = time.monotonic() - started
        assert [body for _, body in results] == [b"slow done"] * 100
        assert {response.http_version for response, _ in results} == {"2"}
        assert count_established(local_port=server.port) == 1
    assert len(server.state.requests) == 100
    assert len(server.connections) == 1, server.connections
    assert elapsed < 3, f"100 multiplexed 0.3 s requests took {elapsed:.2f} s"


async def test_second_connection_when_server_limits_streams(hypercorn_server, h2_trust) -> None:
    server = await hypercorn_server(h2_max_concurrent_streams=10)
    async with h2_client() as client:
        await fetch(client, f"{server.url}/small")  # learn the server's SETTINGS
        results = await asyncio.gather(
            *(fetch(client, f"{server.url}/slow?delay=0.3&n={i}") for i in range(40))
        )
        assert [body for _, body in results] == [b"slow done"] * 40
    assert 2 <= len(server.connections) <= 4, server.connections
    assert set(server.connections.values()) == {"2"}


async def test_read_timeout_on_one_stream_others_succeed(server: HypercornServer) -> None:
    async with h2_client(timeouts=Timeouts(sock_read=0.3)) as client:
        await fetch(client, f"{server.url}/small")
        started = time.monotonic()
        no_head, stalled_body, quick = await asyncio.gather(
            fetch(client, f"{server.url}/slow?delay=5"),
            fetch(client, f"{server.url}/slow?delay=5&head=1"),
            fetch(client, f"{server.url}/slow?delay=0.1"),
            return_exceptions=True,
        )
        assert time.monotonic() - started < 2
        assert isinstance(no_head, ReadTimeout), repr(no_head)
        assert isinstance(stalled_body, ReadTimeout), repr(stalled_body)
        assert not isinstance(quick, BaseException), repr(quick)
        assert quick[1] == b"slow done"
        # The connection still carries new requests, and the timed-out streams
        # were reset (the server's app saw its clients go away).
        _, body = await fetch(client, f"{server.url}/small")
        assert body == b"small response over 2"
        assert await wait_until(lambda: len(server.state.disconnects) == 2)
        assert client.connector.is_all_free()
    assert len(server.connections) == 1, server.connections


async def test_cancelled_request_leaves_others_running(server: HypercornServer) -> None:
    async with h2_client() as client:
        await fetch(client, f"{server.url}/small")
        doomed = asyncio.create_task(fetch(client, f"{server.url}/slow?delay=5"))
        others = [
            asyncio.create_task(fetch(client, f"{server.url}/slow?delay=0.3&n={i}"))
            for i in range(3)
        ]
        assert await wait_until(lambda: len(server.state.requests) == 5)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        results = await asyncio.gather(*others)
        assert [body for _, body in results] == [b"slow done"] * 3
        # RST_STREAM reached the server: its handler saw the disconnect.
        assert await wait_until(lambda: server.state.disconnects == ["/slow"])
        _, body = await fetch(client, f"{server.url}/small")
        assert body == b"small response over 2"
        assert await client.wait_requests(timeout=2)
        assert client.connector.is_all_free()
    assert len(server.connections) == 1, server.connections


async def test_wait_requests_then_close(server: HypercornServer) -> None:
    client = h2_client()
    tasks = [
        asyncio.create_task(fetch(client, f"{server.url}/slow?delay=0.2&n={i}")) for i in range(5)
    ]
    assert await wait_until(lambda: len(server.state.requests) == 5)
    assert count_established(local_port=server.port) == 1
    assert await client.wait_requests(timeout=5)
    assert all(task.done() for task in tasks)
    assert [task.result()[1] for task in tasks] == [b"slow done"] * 5
    assert client.connector.is_all_free()
    await client.connector.cleanup()  # passed in, so closing it is the caller's job
    # The client's socket and the server's side of it are gone.
    assert await wait_until(lambda: count_established(remote_port=server.port) == 0)
    assert await wait_until(lambda: count_established(local_port=server.port) == 0)
    with pytest.raises(ConnectorClosed):
        await client.get(f"{server.url}/small")
    assert len(server.state.requests) == 5


def test_http2_config_is_public() -> None:
    config = aiosonic.Http2Config(prior_knowledge=True, max_concurrent_streams=5)
    assert config.prior_knowledge is True
    assert config.max_concurrent_streams == 5
    assert aiosonic.Http2Config().prior_knowledge is False
    with pytest.raises(AttributeError):
        config.prior_knowledge = False  # type: ignore[misc]
