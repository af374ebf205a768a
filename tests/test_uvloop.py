"""uvloop, checked on every run: plain HTTP/1.1, HTTPS and HTTP/2 on a uvloop loop.

``make test`` runs the whole suite on uvloop too (``AIOSONIC_TEST_LOOP=uvloop``);
these tests run their own uvloop loop whatever the suite's loop is, so a
default-loop run alone still catches a driver that uvloop cannot drive.
uvloop's transports implement ``asyncio.Transport`` without subclassing it,
and it starts reading only once ``connection_made`` returns.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme
import uvloop
from h2_servers import HypercornServer

import aiosonic
from aiosonic import HTTPClient, TCPConnector, Timeouts

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(20)

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#: Short enough that a driver uvloop never feeds fails fast, not after 30 s.
TIMEOUTS = Timeouts(sock_connect=3, sock_read=3, request_timeout=5)


def on_uvloop(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main()`` on a new uvloop loop and check it really ran there."""

    async def checked() -> Any:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        return await main()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(checked())


async def start_exact_server(ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):  # every request on the connection
                writer.write(RESPONSE)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)


def test_plain_http11_on_uvloop() -> None:
    async def main() -> tuple[int, bytes, str]:
        server = await start_exact_server()
        port = server.sockets[0].getsockname()[1]
        try:
            async with HTTPClient(TCPConnector(timeouts=TIMEOUTS)) as client:
                first = await client.get(f"http://127.0.0.1:{port}/")
                body = await first.content()
                # The same connection again: reads after the first exchange work too.
                second = await client.get(f"http://127.0.0.1:{port}/again")
                assert second.timings.reused_connection
                return first.status_code, body + await second.content(), first.http_version
        finally:
            server.close()

    assert on_uvloop(main) == (200, b"hellohello", "1.1")


def test_https_on_uvloop(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    async def main() -> tuple[int, bytes]:
        server = await start_exact_server(tls_server_context)
        port = server.sockets[0].getsockname()[1]
        try:
            async with HTTPClient(TCPConnector(timeouts=TIMEOUTS)) as client:
                response = await client.get(f"https://localhost:{port}/", ssl=tls_client_context)
                return response.status_code, await response.content()
        finally:
            server.close()

    assert on_uvloop(main) == (200, b"hello")


def test_http2_on_uvloop(h2_cert_files: dict[str, str], tls_ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    context.set_alpn_protocols(["h2", "http/1.1"])  # aiosonic never changes a caller's context

    async def main() -> list[tuple[int, str, bytes]]:
        server = await HypercornServer(h2_cert_files).start()
        try:
            connector = TCPConnector(http2=True, timeouts=TIMEOUTS)
            async with aiosonic.HTTPClient(connector) as client:
                responses = await asyncio.gather(
                    *(client.get(f"{server.url}/small?n={n}", ssl=context) for n in range(5))
                )
                return [(r.status_code, r.http_version, await r.content()) for r in responses]
        finally:
            await server.close()

    results = on_uvloop(main)
    assert [status for status, _, _ in results] == [200] * 5
    assert {version for _, version, _ in results} == {"2"}
