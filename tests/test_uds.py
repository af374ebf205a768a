"""``TCPConnector(uds=...)``: every connection goes to a UNIX domain socket.

Against aiohttp.web servers listening on a socket in a temporary directory,
plain and over TLS (the URL's host still names the TLS server).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import aiosonic
from aiosonic.exceptions import ConnectError, InvalidRequest, TLSError


class UnixServer:
    """An aiohttp.web app on a UNIX socket that records each request's Host and peer."""

    def __init__(self, path: Path, ssl_context: ssl.SSLContext | None = None) -> None:
        self.path = path
        self.hosts: list[str] = []
        self.transports: set[int] = set()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self._ssl = ssl_context
        self._runner = web.AppRunner(self.app, access_log=None)

    async def _handle(self, request: web.Request) -> web.Response:
        self.hosts.append(request.headers["Host"])
        self.transports.add(id(request.transport))
        body = await request.read()
        return web.Response(text=f"{request.method} {request.path_qs} {len(body)}")

    async def start(self) -> UnixServer:
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.path), ssl_context=self._ssl).start()
        return self

    async def close(self) -> None:
        await self._runner.cleanup()


@pytest.fixture
async def unix_server(tmp_path: Path) -> AsyncIterator[UnixServer]:
    server = await UnixServer(tmp_path / "app.sock").start()
    yield server
    await server.close()


@pytest.fixture
async def unix_tls_server(
    tmp_path: Path, tls_server_context: ssl.SSLContext
) -> AsyncIterator[UnixServer]:
    server = await UnixServer(tmp_path / "tls.sock", tls_server_context).start()
    yield server
    await server.close()


async def test_requests_go_to_the_socket_with_the_urls_host(unix_server: UnixServer) -> None:
    connector = aiosonic.TCPConnector(uds=str(unix_server.path))
    async with aiosonic.HTTPClient(connector) as client:
        for _ in range(3):
            response = await client.get("http://api.internal/items?x=1")
            assert await response.text() == "GET /items?x=1 0"
        response = await client.post("http://api.internal:8080/up", data=b"x" * 70_000)
        assert await response.text() == "POST /up 70000"
    await connector.cleanup()
    assert unix_server.hosts == ["api.internal"] * 3 + ["api.internal:8080"]
    # Keep-alive works over the socket: one connection per origin (pool key).
    assert len(unix_server.transports) == 2


async def test_https_over_the_socket_checks_the_urls_host(
    unix_tls_server: UnixServer, tls_client_context: ssl.SSLContext
) -> None:
    connector = aiosonic.TCPConnector(uds=str(unix_tls_server.path))
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get("https://localhost/secure", ssl=tls_client_context)
        assert await response.text() == "GET /secure 0"
        # The certificate names localhost and 127.0.0.1, not this host.
        with pytest.raises(TLSError, match="UNIX socket"):
            await client.get("https://example.test/", ssl=tls_client_context)
        assert connector.is_all_free()
    await connector.cleanup()


async def test_a_missing_socket_is_a_connect_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nobody-here.sock"
    connector = aiosonic.TCPConnector(uds=str(path))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ConnectError, match=r"through the UNIX socket .*nobody-here\.sock"):
            await client.get("http://svc/")
        assert connector.is_all_free()
    await connector.cleanup()


async def test_uds_refuses_a_proxy_and_ignores_the_environments(
    unix_server: UnixServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = aiosonic.TCPConnector(uds=str(unix_server.path))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(
            InvalidRequest, match=r"cannot go through <Proxy http://127\.0\.0\.1:9>"
        ):
            await client.get("http://svc/", proxy=aiosonic.Proxy("http://127.0.0.1:9"))
        assert connector.is_all_free()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with aiosonic.HTTPClient(connector, trust_env=True) as client:
        assert await (await client.get("http://svc/env")).text() == "GET /env 0"
    await connector.cleanup()
