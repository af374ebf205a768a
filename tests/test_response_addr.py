"""``Response.remote_addr`` and ``Response.local_addr`` over HTTP/1.1, HTTPS and HTTP/2.

Each is checked against the server's own view of the connection (the client
address it logged), and stays readable after the connection is gone.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer
from h2_servers import HypercornServer

import aiosonic
from aiosonic import HttpResponse, TCPConnector
from aiosonic.testing import MockResponse, MockTransport

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(20)


async def _peer(request: web.Request) -> web.Response:
    transport = request.transport
    assert transport is not None
    host, port = transport.get_extra_info("peername")[:2]
    return web.Response(text=f"{host}:{port}")


def check(response: HttpResponse, body: str, server_port: int) -> None:
    assert response.remote_addr == ("127.0.0.1", server_port)
    local = response.local_addr
    assert local is not None and local[0] == "127.0.0.1" and local[1] != server_port
    assert body == f"{local[0]}:{local[1]}"  # what the server saw


async def test_http11(http_server: HTTPServer) -> None:
    http_server.app.router.add_get("/", _peer)
    await http_server.start()
    # One request per connection: each response keeps its own addresses.
    async with aiosonic.HTTPClient(TCPConnector(conn_max_requests=1)) as client:
        first = await client.get(http_server.url + "/")
        check(first, await first.text(), http_server.port)
        second = await client.get(http_server.url + "/")
        check(second, await second.text(), http_server.port)
        assert first.local_addr != second.local_addr
        # The first connection is closed by now; its response still says where it went.
        assert first.remote_addr == ("127.0.0.1", http_server.port)


async def test_https(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    server = HTTPServer(ssl_context=tls_server_context)
    server.app.router.add_get("/", _peer)
    await server.start()
    try:
        async with aiosonic.HTTPClient() as client:
            response = await client.get(server.url + "/", ssl=tls_client_context)
            check(response, await response.text(), server.port)
            again = await client.get(server.url + "/", ssl=tls_client_context)
            await again.text()
            assert again.local_addr == response.local_addr  # the same, reused, connection
    finally:
        await server.close()


async def test_http2(hypercorn_server: Any, h2_trust: str) -> None:
    server: HypercornServer = await hypercorn_server()
    async with aiosonic.HTTPClient(TCPConnector(http2=True)) as client:
        responses = await asyncio.gather(*(client.get(f"{server.url}/small") for _ in range(3)))
        for response in responses:
            await response.content()
        assert {response.http_version for response in responses} == {"2"}
        assert {response.remote_addr for response in responses} == {("127.0.0.1", server.port)}
        [local] = {response.local_addr for response in responses}
        assert local in server.connections  # the server's view of the one connection


async def test_unknown_for_the_mock_and_a_hand_built_response() -> None:
    transport = MockTransport(lambda request: MockResponse(200, body=b"ok"))
    async with aiosonic.HTTPClient(transport) as client:
        response = await client.get("http://mocked.test/")
        assert await response.text() == "ok"
        assert (response.remote_addr, response.local_addr) == (None, None)
    assert (HttpResponse().remote_addr, HttpResponse().local_addr) == (None, None)
