"""Tests for ConnectionOpener: one home per setting, what a new connection reports, repr.

The opener reads ``dns``, ``tls``, ``http2``, ``http2_config`` and ``uds`` from
its connector at each open, and owns ``socket_options``,
``happy_eyeballs_delay``, ``network_backend`` and ``limits`` (the connector's
attributes of those names are properties onto it): an assignment on the
connector after construction must take effect with the next connection.
Servers are in-process, on 127.0.0.1 or a UNIX socket in a temporary directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer
from h2_servers import H2ScriptConn

import aiosonic
from aiosonic import Http2Config, TCPConnector
from aiosonic.backends import NetworkBackend, NetworkBackendInterface, NetworkStreamInterface
from aiosonic.drivers.http11 import HTTP11Driver
from aiosonic.exceptions import RemoteProtocolError
from aiosonic.opening import ConnectionOpener, OpenedConnection
from aiosonic.protocols.h11_events import H11Limits
from aiosonic.tcp_helpers import SocketOptions
from aiosonic.urls import PoolKey, parse_url

pytest_plugins = ["h2_servers"]


class CountingBackend(NetworkBackendInterface):
    """The default backend's streams, with the ``(host, port)`` of each connect."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    def __repr__(self) -> str:
        return f"<CountingBackend [connects={len(self.connects)}]>"

    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        self.connects.append((host, port))
        return await NetworkBackend().connect(host, port)


async def serve_ok(server: HTTPServer) -> HTTPServer:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=b"ok")

    server.app.router.add_get("/", ok)
    return await server.start()


def plain_key(host: str, port: int) -> PoolKey:
    return PoolKey("http", host, port, True, None, None, False)


async def test_repr_shows_the_openers_settings_and_the_connectors() -> None:
    connector = TCPConnector(happy_eyeballs_delay=None)
    opener = connector._opener
    assert isinstance(opener, ConnectionOpener)
    assert repr(opener) == (
        "<ConnectionOpener [backend=default, uds=None, happy_eyeballs=off, "
        "socket_options=None, http2=off, h2c=off, "
        "tls=<TLSSessions [resumption=on, keys=0, sessions=0]>]>"
    )
    await connector.cleanup()


async def test_an_assignment_on_the_connector_reaches_the_opener() -> None:
    connector = TCPConnector()
    opener = connector._opener
    options = SocketOptions(tcp_keepalive=30)
    backend = CountingBackend()
    limits = H11Limits()
    # Owned by the opener: the connector's attributes are properties onto it.
    connector.socket_options = options
    connector.happy_eyeballs_delay = 0.1
    connector.network_backend = backend
    connector.limits = limits
    assert opener.socket_options is options and connector.socket_options is options
    assert opener.happy_eyeballs_delay == 0.1 == connector.happy_eyeballs_delay
    assert opener.network_backend is backend and connector.network_backend is backend
    assert opener.limits is limits and connector.limits is limits
    # Read from the connector at each open: its plain attributes.
    connector.uds = "/run/app.sock"
    connector.http2 = True
    connector.http2_config = Http2Config(prior_knowledge=True)
    assert repr(opener) == (
        "<ConnectionOpener [backend=<CountingBackend [connects=0]>, uds='/run/app.sock', "
        f"happy_eyeballs=0.1s, socket_options={options!r}, http2=on, h2c=prior knowledge, "
        "tls=<TLSSessions [resumption=on, keys=0, sessions=0]>]>"
    )
    await connector.cleanup()


async def test_a_backend_assigned_after_construction_carries_the_next_connection(
    http_server: HTTPServer,
) -> None:
    server = await serve_ok(http_server)
    connector = TCPConnector()
    backend = CountingBackend()
    connector.network_backend = backend
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(server.url + "/")
        assert await response.content() == b"ok"
    assert backend.connects == [("127.0.0.1", server.port)]


async def test_an_http2_config_assigned_after_construction_shapes_the_next_connection(
    h2_server: Any,
) -> None:
    async def script(conn: H2ScriptConn) -> None:
        while request := await conn.next_request(timeout=30):
            conn.send_headers(request.stream_id, 200, [], False)
            await conn.send_data(request.stream_id, b"h2c")

    server = await h2_server(script)
    connector = TCPConnector(http2=True)
    connector.http2_config = Http2Config(prior_knowledge=True)  # h2c from now on
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(f"{server.url}/")
        assert response.http_version == "2"
        assert await response.content() == b"h2c"


async def test_open_reports_what_it_found_out(http_server: HTTPServer) -> None:
    server = await serve_ok(http_server)
    connector = TCPConnector()
    url = parse_url(server.url + "/")
    opened = await connector._opener.open(url, plain_key(url.host, url.port))
    try:
        assert isinstance(opened, OpenedConnection)
        assert isinstance(opened.driver, HTTP11Driver)
        assert opened.dialed_host is True  # direct TCP: the peer is the host's address
        assert opened.tls_resumed is False
        assert opened.dns_seconds >= 0.0
        transport = opened.transport
        remote, local = opened.driver.addresses
        assert remote == ("127.0.0.1", server.port) == transport.get_extra_info("peername")[:2]
        assert local == transport.get_extra_info("sockname")[:2]
    finally:
        opened.driver.close()
        await connector.cleanup()


async def test_open_over_a_unix_socket_is_not_the_hosts_address(tmp_path: Path) -> None:
    accepted = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # until the client closes
        writer.close()

    path = tmp_path / "app.sock"
    unix = await asyncio.start_unix_server(hold, str(path))
    connector = TCPConnector(uds=str(path))
    url = parse_url("http://api.internal/")
    try:
        opened = await connector._opener.open(url, plain_key(url.host, url.port))
        await accepted.wait()
        assert opened.dialed_host is False  # the socket, not one of api.internal's addresses
        assert opened.dns_hits == opened.dns_misses == 0
        assert opened.driver.addresses[0] is None  # a UNIX peer has no (host, port)
        opened.driver.close()
    finally:
        await connector.cleanup()
        unix.close()
        await unix.wait_closed()


async def test_the_connector_delegates_its_opening_methods() -> None:
    connector = TCPConnector()
    assert connector.ssl_context_for(parse_url("http://h/"), True, None) is None
    shared = connector.ssl_context_for(parse_url("https://h/"), True, None)
    assert shared is connector._opener.ssl_context_for(parse_url("https://h/"), True, None)
    assert shared is not None
    await connector.cleanup()


async def test_http2_settings_assigned_later_reach_a_url_already_used(
    http_server: HTTPServer,
) -> None:
    """The memoised pool key of a URL is forgotten when http2/http2_config change."""
    server = await serve_ok(http_server)
    connector = TCPConnector()
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(server.url + "/")
        assert response.http_version == "1.1" and await response.content() == b"ok"
        connector.http2 = True
        connector.http2_config = Http2Config(prior_knowledge=True)
        # h2c now: a new connection with the HTTP/2 preface, which this
        # HTTP/1.1-only server refuses; the pooled HTTP/1.1 one is not used.
        with pytest.raises(RemoteProtocolError, match="speaking HTTP/2"):
            await client.get(server.url + "/")
