"""Shared fixtures: real servers on 127.0.0.1, port 0, started in-process.

* ``http_server``: an ``aiohttp.web`` app (ordinary behaviour), with
  ``server.app`` exposed so tests add routes before ``await server.start()``.
  Counts connections that carried a request in ``server.connections``.
* ``raw_server``: a scripted asyncio server; the test supplies a coroutine
  ``handler(reader, writer)`` that sends exact bytes.
* ``tls_certs``: a trustme CA and a server certificate for ``localhost`` and
  ``127.0.0.1``.

The event loop is asyncio's default, or uvloop's with ``AIOSONIC_TEST_LOOP=uvloop``
(``make test`` runs the suite once on each). Every async test checks that the
loop it runs on is the one asked for, so a run cannot fall back silently.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme
from aiohttp import web

# The mock transport's fixture (aiosonic_mock), loaded as users load it.
pytest_plugins = ["aiosonic.testing"]

#: Which event loop the suite runs on: "asyncio" (default) or "uvloop".
TEST_LOOP = os.environ.get("AIOSONIC_TEST_LOOP", "asyncio")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_LOOP == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif TEST_LOOP != "asyncio":
        raise pytest.UsageError(f"AIOSONIC_TEST_LOOP must be asyncio or uvloop, not {TEST_LOOP!r}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {TEST_LOOP}" + (", no sockets (unit run)" if NO_SOCKETS else "")


#: ``make unit`` sets this: the tests it picks must not open a socket, and any
#: attempt fails, so "unit" stays true of them.
NO_SOCKETS = os.environ.get("AIOSONIC_TEST_NO_SOCKETS") == "1"


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    if not NO_SOCKETS:
        return

    real = socket.socket

    class NoNetworkSocket(real):  # type: ignore[misc, valid-type]
        """Refuses IP sockets; a loop's self-pipe (an AF_UNIX pair) stays allowed."""

        def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
            if family in (-1, socket.AF_INET, socket.AF_INET6):
                raise AssertionError("a unit test opened a socket; move it out of UNIT_TESTS")
            super().__init__(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", NoNetworkSocket)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Fail an async test that runs on another loop than the one asked for."""
    function = getattr(item, "obj", None)
    if asyncio.iscoroutinefunction(function):

        async def checked(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            is_uvloop = type(loop).__module__.startswith("uvloop")
            assert is_uvloop == (TEST_LOOP == "uvloop"), f"runs on {loop!r}, not {TEST_LOOP}"
            return await function(*args, **kwargs)

        functools.update_wrapper(checked, function)
        item.obj = checked  # type: ignore[attr-defined]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class HTTPServer:
    """An aiohttp.web server on 127.0.0.1 with connection counting."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = web.Application()
        self.ssl_context = ssl_context
        self.peers: set[Any] = set()
        self.requests = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> HTTPServer:
        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            self.requests += 1
            transport = request.transport
            if transport is not None:
                self.peers.add(transport.get_extra_info("peername"))
            return await handler(request)

        self.app.middlewares.append(count)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def connections(self) -> int:
        """Distinct client connections that sent at least one request."""
        return len(self.peers)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def let_loop_run(times: int = 5) -> None:
    """Give every ready task and callback ``times`` loop turns (no wall-clock wait).

    Transport closes and task wake-ups happen on the next iteration; this lets
    them happen before a test looks.
    """
    for _ in range(times):
        await asyncio.sleep(0)


def open_sockets() -> int:
    """Count this process's open sockets (from ``/proc/self/fd``).

    Sockets only: an event loop may open other descriptors of its own lazily
    (uvloop, through libuv, keeps one on ``/dev/null`` once a server listens),
    and those live as long as the loop, not a connection.
    """
    count = 0
    for entry in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{entry}").startswith("socket:")
        except OSError:  # the descriptor of the listing itself, closed by now
            continue
    return count


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` every 10 ms until it holds or ``timeout`` passes; return its last value.

    For state that no event announces (a peer's socket table, a server's log);
    where an event exists, wait on it instead.
    """
    end = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.01)
    return True


class RawServer:
    """A scripted TCP server: ``handler(reader, writer)`` runs per connection."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.received: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.add(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._writers.discard(writer)
            writer.close()

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # Closing the transports ends handlers blocked on reads cleanly, in
            # a turn or two of the loop; cancel those still running after that
            # (handlers that stall on purpose: a sleep, an event never set).
            for writer in list(self._writers):
                writer.transport.abort()
            if self._tasks:
                _, pending = await asyncio.wait(list(self._tasks), timeout=0.2)
                for task in pending:
                    task.cancel()
            await self._server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one request head (and a Content-Length body) from ``reader``."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    server = HTTPServer()
    yield server
    await server.close()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def make(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(handler, ssl_context)
        servers.append(server)
        return await server.start()

    yield make
    for server in servers:
        await server.close()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    cert = tls_ca.issue_cert("localhost", "127.0.0.1", "::1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="session")
def tls_client_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    return context
