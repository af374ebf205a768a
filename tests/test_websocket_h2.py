"""WebSockets over HTTP/2 (RFC 8441 extended CONNECT) against hypercorn.

hypercorn serves an ASGI app over TLS with ALPN h2 + http/1.1 and sends
SETTINGS_ENABLE_CONNECT_PROTOCOL=1. A connector with ``http2=True`` opens a
WebSocket as a stream of its HTTP/2 connection to the origin, sharing it with
HTTP requests; the app records the HTTP version and the client address of
every WebSocket, so "one connection" is the server's view. Without HTTP/2
(ALPN http/1.1, or a connector without ``http2``) the upgrade is HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import h2.settings
import hypercorn.protocol.h2
import pytest
from conftest import wait_until
from h2_servers import HypercornServer
from hypercorn.asyncio import serve

import aiosonic
from aiosonic import TCPConnector, WebSocketClient
from aiosonic.drivers.h2_websocket import H2WebSocketDriver
from aiosonic.drivers.websocket import WebSocketDriver
from aiosonic.exceptions import WebSocketHandshakeError

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(30)


class WSApp:
    """An ASGI app: WebSocket echo on any path but ``/refuse``; ``GET`` answers ``ok``.

    Sending ``close-me`` makes it close with 4001. It records, per WebSocket,
    the HTTP version, client address, path, subprotocols offered and the
    close code it received.
    """

    def __init__(self) -> None:
        self.sockets: list[dict[str, Any]] = []
        self.http_clients: list[tuple[str, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http":
            self.http_clients.append(tuple(scope["client"]))
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await self._websocket(scope, receive, send)

    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen: dict[str, Any] = {
            "http_version": scope["http_version"],
            "client": tuple(scope["client"]),
            "path": scope["path"],
            "subprotocols": list(scope["subprotocols"]),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "close_code": None,
        }
        self.sockets.append(seen)
        await receive()  # websocket.connect
        if scope["path"] == "/refuse":
            await send({"type": "websocket.close", "code": 1008})
            return
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[-1] if offered else None})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                seen["close_code"] = message.get("code")
                return
            if message.get("text") == "close-me":
                await send({"type": "websocket.close", "code": 4001, "reason": "asked to"})
                continue
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})


class WSServer(HypercornServer):
    """hypercorn's config and port as :class:`HypercornServer` has them, serving :class:`WSApp`.

    Started by the ``ws_h2_server`` fixture (TLS, ALPN h2 + http/1.1 unless told).
    """

    def __init__(self, files: dict[str, str], **options: Any) -> None:
        super().__init__(files, **options)
        self.app = WSApp()

    @property
    def ws_url(self) -> str:
        return f"wss://localhost:{self.port}"


@pytest.fixture
async def ws_h2_server(
    h2_cert_files: dict[str, str], h2_trust: str
) -> AsyncIterator[Callable[..., Awaitable[WSServer]]]:
    servers: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def make(**options: Any) -> WSServer:
        server = WSServer(h2_cert_files, **options)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        server.port = sock.getsockname()[1]
        server.config.bind = [f"fd://{sock.detach()}"]
        stop = asyncio.Event()
        task = asyncio.create_task(serve(server.app, server.config, shutdown_trigger=stop.wait))
        servers.append((stop, task))
        return server

    yield make
    for stop, task in servers:
        stop.set()
        await asyncio.wait_for(task, 5)


def h2_ws_client() -> WebSocketClient:
    return WebSocketClient(TCPConnector(http2=True))


async def test_wss_opens_as_a_stream_of_the_http2_connection(
    ws_h2_server: Callable[..., Awaitable[WSServer]],
) -> None:
    server = await ws_h2_server()
    connector = TCPConnector(http2=True)
    async with aiosonic.HTTPClient(connector) as http:
        response = await http.get(f"https://localhost:{server.port}/")
        assert response.http_version == "2" and await response.content() == b"ok"
        ws = WebSocketClient(connector)
        conn = await ws.connect(f"{server.ws_url}/chat?x=1", headers={"X-Token": "t"})
        assert type(conn.conn) is H2WebSocketDriver
        assert conn.conn.transport is not None
        assert conn.conn.transport.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        await conn.send_text("over h2")
        assert await conn.receive_text(timeout=5) == "over h2"
        big = bytes(range(256)) * 4096 * 3  # 3 MiB: past the 64 KiB default stream window
        await conn.send_bytes(big)
        assert await conn.receive_bytes(timeout=10) == big
        second = await ws.connect(f"{server.ws_url}/other")
        await second.send_text("two")
        assert await second.receive_text(timeout=5) == "two"
        again = await http.get(f"https://localhost:{server.port}/")
        await again.content()
        await conn.close()
        await second.close()
        assert conn.close_code == 1000 and second.close_code == 1000  # the server's replies
        assert await wait_until(lambda: all(s["close_code"] for s in server.app.sockets))
        # The HTTP/2 connection outlived both WebSockets: it still serves requests.
        last = await http.get(f"https://localhost:{server.port}/")
        assert await last.content() == b"ok"
        await ws.close()
    await connector.cleanup()
    first, other = server.app.sockets
    assert first["http_version"] == "2" and first["path"] == "/chat"
    assert first["headers"]["x-token"] == "t"
    assert "sec-websocket-key" not in first["headers"]  # RFC 8441 §5: no key over HTTP/2
    # One TCP connection carried the requests and both WebSockets.
    assert {first["client"], other["client"], *server.app.http_clients} == {first["client"]}


async def test_server_close_ends_the_stream_and_frees_the_lease(
    ws_h2_server: Callable[..., Awaitable[WSServer]],
) -> None:
    server = await ws_h2_server()
    async with h2_ws_client() as client:
        conn = await client.connect(server.ws_url + "/")
        assert type(conn.conn) is H2WebSocketDriver
        assert not client.connector.is_all_free()  # the stream holds a lease
        await conn.send_text("close-me")
        assert [message async for message in conn] == []
        assert conn.close_code == 4001 and conn.close_reason == "asked to"
        assert await client.wait_requests(timeout=5)
        assert await wait_until(client.connector.is_all_free)
        assert client.connector.open_websockets == 0


async def test_client_close_sends_going_away_over_http2(
    ws_h2_server: Callable[..., Awaitable[WSServer]],
) -> None:
    server = await ws_h2_server()
    client = h2_ws_client()
    conn = await client.connect(server.ws_url + "/")
    await conn.send_text("hi")
    assert await conn.receive_text(timeout=5) == "hi"
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.close()
    # The close handshake (milliseconds), not close_timeout (10 s by default); 5 s
    # leaves room for a stalled CI machine and still tells the two apart.
    assert loop.time() - started < 5
    assert not conn.connected
    # hypercorn reports 1006 to the app for any close over HTTP/2, so the
    # server's view is its close reply, which echoes our code (RFC 6455 §5.5.1).
    assert conn.close_code == 1001
    assert await wait_until(lambda: server.app.sockets[0]["close_code"] is not None)


async def test_subprotocol_over_http2(ws_h2_server: Callable[..., Awaitable[WSServer]]) -> None:
    server = await ws_h2_server()
    async with h2_ws_client() as client:
        conn = await client.connect(server.ws_url + "/", subprotocols=["chat", "json"])
        assert type(conn.conn) is H2WebSocketDriver
        assert conn.subprotocol == "json"
    assert server.app.sockets[0]["subprotocols"] == ["chat", "json"]


async def test_refused_extended_connect_carries_the_status(
    ws_h2_server: Callable[..., Awaitable[WSServer]],
) -> None:
    server = await ws_h2_server()
    async with h2_ws_client() as client:
        with pytest.raises(WebSocketHandshakeError, match="extended CONNECT with 403") as info:
            await client.connect(server.ws_url + "/refuse")
        assert info.value.status_code == 403
        assert await wait_until(client.connector.is_all_free)
        assert repr(client) == "<WebSocketClient [open=0]>"


async def test_http11_when_the_server_has_no_http2(
    ws_h2_server: Callable[..., Awaitable[WSServer]],
) -> None:
    server = await ws_h2_server(alpn_protocols=["http/1.1"])
    async with h2_ws_client() as client:
        conn = await client.connect(server.ws_url + "/")
        assert _over_http11(conn.conn)
        await conn.send_text("over 1.1")
        assert await conn.receive_text(timeout=5) == "over 1.1"
        assert client.connector.is_all_free()  # the probing HTTP/1.1 connection went back
    assert server.app.sockets[0]["http_version"] == "1.1"


async def test_http11_when_the_connector_has_no_http2(
    ws_h2_server: Callable[..., Awaitable[WSServer]],
) -> None:
    server = await ws_h2_server()
    async with WebSocketClient() as client:
        conn = await client.connect(server.ws_url + "/")
        assert _over_http11(conn.conn)
        await conn.send_text("default")
        assert await conn.receive_text(timeout=5) == "default"
    assert server.app.sockets[0]["http_version"] == "1.1"


async def test_compression_keeps_http11(ws_h2_server: Callable[..., Awaitable[WSServer]]) -> None:
    server = await ws_h2_server()
    async with h2_ws_client() as client:
        conn = await client.connect(server.ws_url + "/", compression=True)
        assert _over_http11(conn.conn)
        assert conn.conn.extensions == ["permessage-deflate"]
    assert server.app.sockets[0]["http_version"] == "1.1"


async def test_http11_when_the_http2_server_does_not_enable_connect_protocol(
    ws_h2_server: Callable[..., Awaitable[WSServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441 §3): the HTTP/1.1 upgrade."""
    real = h2.settings.Settings

    def without_extended_connect(client: bool, initial_values: dict[Any, int]) -> Any:
        values = dict(initial_values)
        values.pop(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, None)
        return real(client=client, initial_values=values)

    monkeypatch.setattr(hypercorn.protocol.h2.h2.settings, "Settings", without_extended_connect)
    server = await ws_h2_server()
    connector = TCPConnector(http2=True)
    async with aiosonic.HTTPClient(connector) as http:
        response = await http.get(f"https://localhost:{server.port}/")
        assert response.http_version == "2"
        await response.content()
        async with WebSocketClient(connector) as client:
            conn = await client.connect(server.ws_url + "/")
            assert _over_http11(conn.conn)
            await conn.send_text("fallback")
            assert await conn.receive_text(timeout=5) == "fallback"
            assert connector.is_all_free()  # the HTTP/2 stream lease went back
    await connector.cleanup()
    assert server.app.sockets[0]["http_version"] == "1.1"


def _over_http11(driver: object) -> bool:
    """Whether ``driver`` is the HTTP/1.1 upgrade's (of whichever read style), not RFC 8441's."""
    return isinstance(driver, WebSocketDriver) and not isinstance(driver, H2WebSocketDriver)
