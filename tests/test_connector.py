"""Tests for TCPConnector: connection reuse as the server counts it, repr, shutdown.

Every reuse claim is checked from the server side: ``http_server.connections``
counts distinct client connections that carried a request, ``RawServer``
counts accepted TCP connections.
"""

from __future__ import annotations

import asyncio
import dis
import re
import sys
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer, RawServer, let_loop_run, read_request

import aiosonic
from aiosonic import PoolConfig, TCPConnector
from aiosonic.connection import Connection

ECHO_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def echo_response(head: bytes) -> bytes:
    """Answer a request with its own path as the body."""
    path = head.split(b" ", 2)[1]
    return ECHO_HEAD % len(path) + path


async def serve_ok(server: HTTPServer, close: bool = False) -> HTTPServer:
    async def ok(request: web.Request) -> web.Response:
        response = web.Response(body=b"ok")
        if close:
            response.force_close()
        return response

    server.app.router.add_get("/", ok)
    return await server.start()


async def get_body(client: aiosonic.HTTPClient, url: str) -> bytes:
    response = await client.get(url)
    assert response.status_code == 200
    return await response.content()


def recording_connection_cls() -> tuple[type[Connection], list[Connection]]:
    """Return a Connection subclass that remembers its instances, and that list."""
    created: list[Connection] = []

    class RecordingConnection(Connection):
        def __init__(self, connector: Any = None) -> None:
            super().__init__(connector)
            created.append(self)

    return RecordingConnection, created


# --- reuse ----------------------------------------------------------------------


async def test_sequential_requests_reuse_one_connection(http_server: HTTPServer) -> None:
    await serve_ok(http_server)
    async with aiosonic.HTTPClient() as client:
        for _ in range(5):
            assert await get_body(client, http_server.url + "/") == b"ok"
    assert http_server.requests == 5
    assert http_server.connections == 1


async def test_conn_max_requests_closes_a_connection_after_that_many(
    http_server: HTTPServer,
) -> None:
    await serve_ok(http_server)
    connector = TCPConnector(conn_max_requests=3)
    async with aiosonic.HTTPClient(connector) as client:
        for _ in range(10):
            assert await get_body(client, http_server.url + "/") == b"ok"
    assert http_server.requests == 10
    assert http_server.connections == 4  # 3 + 3 + 3 + 1


async def test_connection_close_from_the_server_opens_a_new_connection(
    http_server: HTTPServer,
) -> None:
    await serve_ok(http_server, close=True)
    async with aiosonic.HTTPClient() as client:
        for _ in range(3):
            response = await client.get(http_server.url + "/")
            assert response.headers["Connection"].lower() == "close"
            assert await response.content() == b"ok"
    assert http_server.connections == 3


async def test_an_idle_connection_past_max_conn_idle_ms_is_not_reused(
    http_server: HTTPServer,
) -> None:
    await serve_ok(http_server)
    connector = TCPConnector(pool_configs={":default": PoolConfig(size=5, max_conn_idle_ms=50)})
    async with aiosonic.HTTPClient(connector) as client:
        assert await get_body(client, http_server.url + "/") == b"ok"
        assert await get_body(client, http_server.url + "/") == b"ok"
        assert http_server.connections == 1  # within the idle limit: reused
        # The idle limit is a wall-clock policy: wait past it.
        await asyncio.sleep(0.1)
        assert await get_body(client, http_server.url + "/") == b"ok"
    assert http_server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_replaced_silently(
    raw_server: Any,
) -> None:
    closed = asyncio.Event()

    async def one_response_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(echo_response(await read_request(reader)))
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    server: RawServer = await raw_server(one_response_then_close)
    async with aiosonic.HTTPClient() as client:
        assert await get_body(client, server.url + "/first") == b"/first"
        await closed.wait()
        assert await get_body(client, server.url + "/second") == b"/second"
        assert client.connector.is_all_free()
    assert server.connections == 2


async def test_connections_to_different_origins_are_not_shared(raw_server: Any) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(echo_response(await read_request(reader)))
            await writer.drain()

    first: RawServer = await raw_server(echo)
    second: RawServer = await raw_server(echo)
    async with aiosonic.HTTPClient(TCPConnector(pool_size=1)) as client:
        for _ in range(2):
            assert await get_body(client, first.url + "/a") == b"/a"
            assert await get_body(client, second.url + "/b") == b"/b"
    # One slot shared by two origins: each switch reconnects.
    assert first.connections == 2
    assert second.connections == 2


# --- repr -------------------------------------------------------------------------


async def test_repr_of_connection_pool_and_connector_show_state(raw_server: Any) -> None:
    release_body = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            if b" /stream " in head:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
                await release_body.wait()
                writer.write(b"0\r\n\r\n")
            else:
                writer.write(echo_response(head))
            await writer.drain()

    server: RawServer = await raw_server(serve)
    connection_cls, created = recording_connection_cls()
    connector = TCPConnector(pool_size=3, connection_cls=connection_cls)
    client = aiosonic.HTTPClient(connector)
    assert repr(connector) == (
        "<TCPConnector [pools=1, leased=0; connections: idle=0 opened=0 "
        "reused=0 closed=0; waiting=0; dns: hits=0 misses=0; tls handshakes=0; "
        "closed=False]>"
    )
    assert repr(connector.pool) == "<SmartPool [size=3, free=3, connections=0]>"

    assert await get_body(client, server.url + "/1") == b"/1"
    assert await get_body(client, server.url + "/2") == b"/2"
    [conn] = created
    origin = f"http://127.0.0.1:{server.port}"
    assert repr(conn) == f"<Connection ['{origin}', IDLE, Request Count: 2]>"
    assert repr(connector.pool) == "<SmartPool [size=3, free=3, connections=1]>"

    streamed = await client.get(server.url + "/stream")
    assert repr(conn) == f"<Connection ['{origin}', ACTIVE, Request Count: 3]>"
    assert repr(connector) == (
        "<TCPConnector [pools=1, leased=1; connections: idle=0 opened=1 "
        "reused=2 closed=0; waiting=0; dns: hits=0 misses=0; tls handshakes=0; "
        "closed=False]>"
    )
    assert repr(connector.pool) == "<SmartPool [size=3, free=2, connections=1]>"
    assert re.fullmatch(r"<HTTPClient \[active=0, connector=<TCPConnector .*>\]>", repr(client))
    release_body.set()
    assert await streamed.content() == b"ab"
    assert repr(connector) == (
        "<TCPConnector [pools=1, leased=0; connections: idle=1 opened=1 "
        "reused=2 closed=0; waiting=0; dns: hits=0 misses=0; tls handshakes=0; "
        "closed=False]>"
    )

    await client.close()  # the connector was passed in: the caller closes it
    assert repr(connector) == (
        "<TCPConnector [pools=1, leased=0; connections: idle=1 opened=1 "
        "reused=2 closed=0; waiting=0; dns: hits=0 misses=0; tls handshakes=0; "
        "closed=False]>"
    )
    await connector.cleanup()
    assert repr(conn) == "<Connection [CLOSED]>"
    assert repr(connector) == (
        "<TCPConnector [pools=1, leased=0; connections: idle=0 opened=1 "
        "reused=2 closed=1; waiting=0; dns: hits=0 misses=0; tls handshakes=0; "
        "closed=True]>"
    )


async def test_repr_of_an_unconnected_slot() -> None:
    assert repr(Connection()) == "<Connection [NEW]>"


# --- wait_requests and cleanup ----------------------------------------------------


async def test_wait_requests_is_true_at_once_when_idle() -> None:
    async with aiosonic.HTTPClient() as client:
        assert await client.wait_requests(timeout=1) is True


async def test_wait_requests_waits_for_requests_in_flight(raw_server: Any) -> None:
    arrived = 0
    all_arrived = asyncio.Event()
    answer = asyncio.Event()

    async def gated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        while True:
            head = await read_request(reader)
            arrived += 1
            if arrived == 3:
                all_arrived.set()
            await answer.wait()
            writer.write(echo_response(head))
            await writer.drain()

    server: RawServer = await raw_server(gated)
    async with aiosonic.HTTPClient() as client:
        requests = [asyncio.create_task(client.get(f"{server.url}/{i}")) for i in range(3)]
        await all_arrived.wait()
        waiting = asyncio.create_task(client.wait_requests(timeout=5))
        await let_loop_run()
        assert not waiting.done()

        answer.set()
        assert await waiting is True
        assert all(task.done() for task in requests)
        assert [await (await t).content() for t in requests] == [b"/0", b"/1", b"/2"]


async def test_wait_requests_times_out_while_a_streamed_body_is_unread(raw_server: Any) -> None:
    finish = asyncio.Event()

    async def streaming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await finish.wait()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server: RawServer = await raw_server(streaming)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url)
        assert not client.connector.is_all_free()
        assert await client.wait_requests(timeout=0.1) is False

        finish.set()
        assert await response.content() == b"abc"
        assert await client.wait_requests(timeout=1) is True
        assert client.connector.is_all_free()


async def test_cleanup_closes_pooled_sockets_and_is_idempotent(raw_server: Any) -> None:
    peer_saw_eof = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(echo_response(await read_request(reader)))
        await writer.drain()
        if await reader.read() == b"":
            peer_saw_eof.set()

    server: RawServer = await raw_server(serve)
    connection_cls, created = recording_connection_cls()
    connector = TCPConnector(connection_cls=connection_cls)
    client = aiosonic.HTTPClient(connector)
    assert await get_body(client, server.url + "/x") == b"/x"
    [conn] = created
    assert conn.is_connected
    assert not peer_saw_eof.is_set()

    await connector.cleanup()
    await asyncio.wait_for(peer_saw_eof.wait(), 5)
    assert not conn.is_connected
    assert repr(connector).endswith("closed=True]>")

    await connector.cleanup()
    await client.close()
    assert not conn.is_connected


async def test_client_context_manager_closes_its_own_connector(http_server: HTTPServer) -> None:
    await serve_ok(http_server)
    async with aiosonic.HTTPClient() as client:
        assert await get_body(client, http_server.url + "/") == b"ok"
        conn = client.connector.pool._all[0]
        assert conn.is_connected
    assert not conn.is_connected
    assert repr(client.connector).endswith("closed=True]>")


async def test_client_leaves_a_passed_connector_to_its_owner(http_server: HTTPServer) -> None:
    # As in 1.x: a connector passed in may be shared, so the client never closes it.
    await serve_ok(http_server)
    connection_cls, created = recording_connection_cls()
    connector = TCPConnector(connection_cls=connection_cls)
    async with aiosonic.HTTPClient(connector) as client:
        assert await get_body(client, http_server.url + "/") == b"ok"
    await client.aclose()
    await client.shutdown()
    assert created[0].is_connected
    assert repr(connector).endswith("closed=False]>")
    async with aiosonic.HTTPClient(connector) as other:  # a second client shares it
        assert await get_body(other, http_server.url + "/") == b"ok"
    assert len(created) == 1
    await connector.cleanup()
    assert not created[0].is_connected


async def test_request_after_close_raises_connector_closed(http_server):
    from aiohttp import web

    import aiosonic
    from aiosonic.exceptions import ConnectorClosed

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    http_server.app.router.add_get("/", ok)
    await http_server.start()
    client = aiosonic.HTTPClient()
    await client.close()
    with pytest.raises(ConnectorClosed):
        await client.get(http_server.url + "/")
    assert http_server.requests == 0


@pytest.mark.parametrize("http2", [False, True])
@pytest.mark.parametrize("verify", [True, False])
@pytest.mark.parametrize(
    "url", ["http://a.test/x", "https://a.test/x", "https://a.test:8443/y", "http://b.test/"]
)
async def test_send_memoises_the_pool_key_that_pool_key_computes(
    url: str, verify: bool, http2: bool
) -> None:
    # send() looks the pool key up in a memo instead of building one per
    # request; whatever it finds there is what pool_key() says.
    from aiosonic.proxy import Proxy
    from aiosonic.request import SendOptions, build_request
    from aiosonic.timeout import Timeouts
    from aiosonic.urls import parse_url

    connector = TCPConnector(uds="/nonexistent/aiosonic-test.sock")
    proxy = Proxy("http://user:pw@proxy.test:3128")
    for chosen in (None, proxy):
        options = SendOptions(verify, None, Timeouts(sock_connect=0.01), chosen, http2)
        request = build_request("GET", parse_url(url), None, None, None, None, False)
        with pytest.raises(aiosonic.exceptions.AiosonicError):
            await connector.send(request, options)  # fails to connect; the key is kept
        memoised = connector._pool_keys[request.url.url]
        assert memoised == (options, connector.pool_key(request.url, options))
    await connector.cleanup()


async def test_a_connector_keeps_its_instance_attributes_inline_on_cpython_3_11(
    http_server: HTTPServer,
) -> None:
    """At most 29 instance attributes: a class's shared keys hold 29 on
    CPython 3.11, and from the 30th on it stops keeping them inline, so every
    read of one (the connector is read on every request) costs a dictionary
    lookup (~1.5k instructions per request, measured with `make callgrind`).
    Fold new state into an object of its own (see
    aiosonic/connector_tracking.py, aiosonic/opening.py)."""
    server = await serve_ok(http_server)
    connector = TCPConnector()
    try:
        async with aiosonic.HTTPClient(connector) as client:
            assert await get_body(client, server.url + "/") == b"ok"  # lazy attributes too
        if sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11):

            def read(c: TCPConnector) -> bool:
                return c._closed

            for _ in range(1000):  # past the warm-up of the adaptive interpreter
                read(connector)
            specialised = dis.Bytecode(read, adaptive=True).dis()
            assert "LOAD_ATTR_INSTANCE_VALUE" in specialised, specialised
        # Last: vars() makes the instance's dict, and its values are no longer inline.
        assert len(vars(connector)) <= 29, sorted(vars(connector))
    finally:
        await connector.cleanup()
