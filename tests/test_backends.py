"""Network backends (aiosonic.backends): the default one on its own, custom ones under a connector.

The seed's ``RecordingBackend`` (the httpx 1.0 networking design), written
for aiosonic's names, records the bytes both ways of HTTP/1.1 and HTTP/2
exchanges; ``UnixSocketBackend`` routes an origin to a UNIX socket. Every
server is real: aiohttp.web over TCP and over a UNIX socket, hypercorn over
TLS for HTTP/2, and scripted raw servers for faults.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer, wait_until
from h2_servers import HypercornServer

import aiosonic
from aiosonic import Timeouts
from aiosonic.backends import (
    NetworkBackend,
    NetworkBackendInterface,
    NetworkStream,
    NetworkStreamInterface,
    UnixSocketBackend,
)
from aiosonic.exceptions import (
    AiosonicError,
    ConnectError,
    ConnectTimeout,
    InvalidRequest,
    ReadTimeout,
)

pytest_plugins = ["h2_servers"]


# --- the seed's example, with aiosonic's names --------------------------------


class RecordingBackend(NetworkBackendInterface):
    """Log every byte in and out, delegating connections to the default backend."""

    def __init__(self) -> None:
        self._backend = NetworkBackend()
        self.log: list[str] = []
        self.streams: list[RecordingStream] = []

    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        stream = RecordingStream(await self._backend.connect(host, port), self.log)
        self.streams.append(stream)
        return stream


class RecordingStream(NetworkStreamInterface):
    def __init__(self, stream: NetworkStreamInterface, log: list[str]) -> None:
        self._stream = stream
        self._log = log
        self.closed = False

    async def read(self, max_bytes: int | None = None) -> bytes:
        data = await self._stream.read(max_bytes)
        self._log.extend("<<< " + line for line in data.decode("ascii", "replace").splitlines())
        return data

    async def write(self, data: bytes) -> None:
        self._log.extend(">>> " + line for line in data.decode("ascii", "replace").splitlines())
        await self._stream.write(data)

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str | None = None) -> None:
        await self._stream.start_tls(ctx, hostname)

    def get_extra_info(self, key: str) -> Any:
        return self._stream.get_extra_info(key)

    async def close(self) -> None:
        self.closed = True
        await self._stream.close()


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.Response(text=f"{request.method} {request.path} {len(body)}")


@pytest.fixture
async def app(http_server: HTTPServer) -> HTTPServer:
    http_server.app.router.add_route("*", "/{tail:.*}", _echo)
    return await http_server.start()


async def test_recording_backend_shows_the_bytes_both_ways(app: HTTPServer) -> None:
    backend = RecordingBackend()
    connector = aiosonic.TCPConnector(network_backend=backend)
    async with aiosonic.HTTPClient(connector) as client:
        assert await (await client.get(app.url + "/a")).text() == "GET /a 0"
        big = b"x" * 600_000  # more than the adapter's write high-water mark
        assert await (await client.post(app.url + "/b", data=big)).text() == "POST /b 600000"
    await connector.cleanup()
    assert ">>> GET /a HTTP/1.1" in backend.log
    assert "<<< HTTP/1.1 200 OK" in backend.log
    assert ">>> POST /b HTTP/1.1" in backend.log
    # Keep-alive over the adapter: one stream carried both requests, and is
    # closed by the connector's cleanup (in a task, as asyncio closes sockets).
    assert len(backend.streams) == 1
    assert await wait_until(lambda: backend.streams[0].closed)
    assert app.connections == 1


async def test_recording_backend_over_tls_with_http2(hypercorn_server: Any, h2_trust: str) -> None:
    server: HypercornServer = await hypercorn_server()
    backend = RecordingBackend()
    connector = aiosonic.TCPConnector(network_backend=backend, http2=True)
    async with aiosonic.HTTPClient(connector) as client:
        responses = await asyncio.gather(*(client.get(server.url + "/small") for _ in range(5)))
        assert {r.http_version for r in responses} == {"2"}
        assert [await r.text() for r in responses] == ["small response over 2"] * 5
    await connector.cleanup()
    # TLS ran in the inner stream, so the recording above it shows the
    # HTTP/2 preface in clear; five requests shared one HTTP/2 connection.
    assert len(backend.streams) == 1
    assert ">>> PRI * HTTP/2.0" in backend.log


async def test_the_default_backend_on_its_own(app: HTTPServer) -> None:
    net = NetworkBackend()
    assert repr(net) == "<NetworkBackend [asyncio]>"
    request = b"GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    async with await net.connect("127.0.0.1", app.port) as stream:
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{app.port}"]>'
        assert stream.get_extra_info("server_addr")[1] == app.port
        assert stream.get_extra_info("socket") is not None
        await stream.write(request)
        parts = []
        while part := await stream.read():
            parts.append(part)
    assert b"".join(parts).startswith(b"HTTP/1.1 200 OK")
    assert b"".join(parts).endswith(b"GET /raw 0")
    assert repr(stream).endswith("CLOSED]>")
    with pytest.raises(ConnectError, match="closed stream"):
        await stream.read()


async def test_default_stream_start_tls(
    hypercorn_server: Any, h2_trust: str, tls_client_context: ssl.SSLContext
) -> None:
    server: HypercornServer = await hypercorn_server()
    stream = await NetworkBackend().connect("127.0.0.1", server.port)
    try:
        await stream.start_tls(tls_client_context, "localhost")
        assert stream.get_extra_info("ssl_object") is not None
        assert repr(stream).endswith(" TLS]>")
        await stream.write(b"GET /small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert (await stream.read()).startswith(b"HTTP/1.1 200")
    finally:
        await stream.close()


def test_a_plain_default_backend_keeps_the_fast_path() -> None:
    connector = aiosonic.TCPConnector(network_backend=NetworkBackend())
    assert connector.network_backend is None  # the dialer and real transports


def test_backend_with_uds_or_a_proxy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        aiosonic.TCPConnector(uds=str(tmp_path / "s"), network_backend=RecordingBackend())


async def test_backend_with_a_proxy_is_refused(app: HTTPServer) -> None:
    connector = aiosonic.TCPConnector(network_backend=RecordingBackend())
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(InvalidRequest, match="proxies need the default backend"):
            await client.get(app.url, proxy=aiosonic.Proxy("http://127.0.0.1:9"))
        assert connector.is_all_free()
    await connector.cleanup()


# --- UnixSocketBackend -------------------------------------------------------------


@pytest.fixture
async def unix_app(tmp_path: Path) -> AsyncIterator[Path]:
    runner = web.AppRunner(web.Application(), access_log=None)
    runner.app.router.add_route("*", "/{tail:.*}", _echo)
    await runner.setup()
    path = tmp_path / "api.sock"
    await web.UnixSite(runner, str(path)).start()
    yield path
    await runner.cleanup()


async def test_unix_socket_backend_routes_one_origin(
    unix_app: Path, app: HTTPServer, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.sock")
    backend = UnixSocketBackend({"api.internal:80": str(unix_app), "gone.internal": missing})
    connector = aiosonic.TCPConnector(network_backend=backend)
    async with aiosonic.HTTPClient(connector) as client:
        assert await (await client.get("http://api.internal/x")).text() == "GET /x 0"
        # Other origins fall back to TCP.
        assert await (await client.get(app.url + "/y")).text() == "GET /y 0"
        with pytest.raises(ConnectError, match="UNIX socket"):
            await client.get("http://gone.internal/")
    await connector.cleanup()


# --- faults and timeouts -------------------------------------------------------------


class StallingBackend(NetworkBackendInterface):
    """connect() never finishes: sock_connect must bound it."""

    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class SilentStream(NetworkStreamInterface):
    """Takes every write and never answers, until closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def read(self, max_bytes: int | None = None) -> bytes:
        await self.closed.wait()
        return b""

    async def write(self, data: bytes) -> None:
        pass

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str | None = None) -> None:
        raise ssl.SSLError(1, "no TLS here")

    def get_extra_info(self, key: str) -> Any:
        return None

    async def close(self) -> None:
        self.closed.set()


class SilentBackend(NetworkBackendInterface):
    def __init__(self) -> None:
        self.streams: list[SilentStream] = []

    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        self.streams.append(SilentStream())
        return self.streams[-1]


class BrokenStream(SilentStream):
    async def read(self, max_bytes: int | None = None) -> bytes:
        raise OSError(104, "connection reset by the stream")


class BrokenBackend(SilentBackend):
    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        self.streams.append(BrokenStream())
        return self.streams[-1]


async def test_sock_connect_bounds_a_backends_connect() -> None:
    connector = aiosonic.TCPConnector(
        network_backend=StallingBackend(), timeouts=Timeouts(sock_connect=0.2)
    )
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ConnectTimeout):
            await client.get("http://svc/")
        assert connector.is_all_free()
    await connector.cleanup()


async def test_sock_read_bounds_a_silent_stream_and_closes_it() -> None:
    backend = SilentBackend()
    connector = aiosonic.TCPConnector(network_backend=backend, timeouts=Timeouts(sock_read=0.2))
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ReadTimeout):
            await client.get("http://svc/")
        assert connector.is_all_free()
    await connector.cleanup()
    await asyncio.wait_for(backend.streams[0].closed.wait(), 2)


async def test_a_failing_stream_is_an_aiosonic_error() -> None:
    backend = BrokenBackend()
    connector = aiosonic.TCPConnector(network_backend=backend)
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(AiosonicError, match=r"closed|reset"):
            await client.get("http://svc/")
        assert connector.is_all_free()
    await connector.cleanup()


async def test_tls_failure_on_a_stream_is_a_tls_error_and_closes_it() -> None:
    backend = SilentBackend()
    connector = aiosonic.TCPConnector(network_backend=backend)
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(aiosonic.exceptions.TLSError):
            await client.get("https://svc/")
    await connector.cleanup()
    assert backend.streams[0].closed.is_set()


def test_stream_interface_names_are_promised() -> None:
    assert aiosonic.NetworkBackend is NetworkBackend
    assert aiosonic.NetworkStream is NetworkStream
    assert aiosonic.NetworkBackendInterface is NetworkBackendInterface
    assert aiosonic.NetworkStreamInterface is NetworkStreamInterface
