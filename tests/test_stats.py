"""``TCPConnector.stats()`` against real local servers, and the book behind it with fakes.

Counts per origin: idle, leased, waiting, opened, reused, closed, DNS hits and
misses, TLS handshakes; ``repr(connector)`` shows the totals.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest
from conftest import HTTPServer, RawServer, let_loop_run, read_request, wait_until
from h2_servers import HypercornServer

import aiosonic
from aiosonic import TCPConnector
from aiosonic.resolver import AbstractResolver
from aiosonic.stats import ConnectionBook, ConnectorStats, OriginStats, StatsCounts

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(20)


class StaticResolver(AbstractResolver):
    """Resolves every name to 127.0.0.1, counting calls; ``gate`` holds the calls while clear."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        self.calls += 1
        await self.gate.wait()
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


def origin_of(url: str) -> tuple[str, str, int]:
    scheme, rest = url.split("://")
    host, port = rest.rsplit(":", 1)
    return scheme, host, int(port)


async def read(client: aiosonic.HTTPClient, url: str, **options: Any) -> bytes:
    response = await client.get(url, **options)
    return await response.content()


def hello_server(server: HTTPServer) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    server.app.router.add_get("/{tail:.*}", hello)


# --- over HTTP/1.1 ---------------------------------------------------------------


async def test_plain_http_counts_opened_reused_idle(http_server: HTTPServer) -> None:
    hello_server(http_server)
    await http_server.start()
    connector = TCPConnector()
    async with aiosonic.HTTPClient(connector) as client:
        assert connector.stats() == ConnectorStats(origins={})
        for _ in range(3):
            assert await read(client, http_server.url + "/") == b"hello"
        stats = connector.stats()
        origin = origin_of(http_server.url)
        assert stats.origins == {
            origin: OriginStats(
                scheme="http", host="127.0.0.1", port=http_server.port, idle=1, opened=1, reused=2
            )
        }
        assert stats.get(*origin) is stats.origins[origin]
        assert stats.get("http", "other", 80) == OriginStats(scheme="http", host="other", port=80)
        assert (stats.idle, stats.opened, stats.reused, stats.closed) == (1, 1, 2, 0)
        assert repr(stats.origins[origin]) == (
            f"<OriginStats [http://127.0.0.1:{http_server.port}, idle=1, leased=0, waiting=0, "
            "opened=1, reused=2, closed=0, dns hits/misses=0/0, tls=0]>"
        )
        assert repr(stats).startswith("<ConnectorStats [origins=1, idle=1, leased=0, waiting=0,")
        assert "connections: idle=1 opened=1 reused=2 closed=0; waiting=0;" in repr(connector)
    await connector.cleanup()  # a connector passed in is the caller's to close
    assert http_server.connections == 1
    closed = connector.stats()
    assert (closed.idle, closed.opened, closed.reused, closed.closed) == (0, 1, 2, 1)


async def test_leased_and_waiting(raw_server: Any) -> None:
    release = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            if b" /held " in head:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
                await writer.drain()
                await release.wait()
                writer.write(b"2\r\ncd\r\n0\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    server: RawServer = await raw_server(serve)
    connector = TCPConnector(pool_size=1)
    origin = origin_of(server.url)
    async with aiosonic.HTTPClient(connector) as client:
        held = await client.get(server.url + "/held")  # the body is not read yet
        second = asyncio.create_task(read(client, server.url + "/next"))
        assert await wait_until(lambda: connector.stats().waiting == 1)
        stats = connector.stats().get(*origin)
        assert (stats.idle, stats.leased, stats.waiting, stats.opened) == (0, 1, 1, 1)
        assert "leased=1; connections: idle=0 opened=1 reused=0 closed=0; waiting=1;" in repr(
            connector
        )
        release.set()
        assert await held.content() == b"abcd"
        assert await second == b"ok"
        stats = connector.stats().get(*origin)
        assert (stats.idle, stats.leased, stats.waiting, stats.opened, stats.reused) == (
            1,
            0,
            0,
            1,
            1,
        )


async def test_https_counts_tls_handshakes(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    server = HTTPServer(ssl_context=tls_server_context)
    hello_server(server)
    await server.start()
    try:
        connector = TCPConnector(conn_max_requests=2)
        async with aiosonic.HTTPClient(connector) as client:
            for _ in range(3):
                assert await read(client, server.url + "/", ssl=tls_client_context) == b"hello"
            stats = connector.stats().get(*origin_of(server.url))
            # Two requests on the first connection (then closed), one on a second.
            assert (stats.opened, stats.tls_handshakes, stats.reused, stats.closed) == (2, 2, 1, 1)
            assert (stats.idle, stats.leased) == (1, 0)
            assert "tls handshakes=2;" in repr(connector)
        assert server.connections == 2
    finally:
        await server.close()


async def test_connection_closed_by_the_server(raw_server: Any) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        # Keep-alive as far as the head says, then the server hangs up.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server: RawServer = await raw_server(serve)
    connector = TCPConnector()
    origin = origin_of(server.url)
    async with aiosonic.HTTPClient(connector) as client:
        assert await read(client, server.url + "/") == b"ok"
        assert await wait_until(lambda: connector.stats().get(*origin).closed == 1)
        stats = connector.stats().get(*origin)
        assert (stats.idle, stats.leased, stats.opened, stats.closed) == (0, 0, 1, 1)
        assert await read(client, server.url + "/") == b"ok"  # a new connection
        assert connector.stats().get(*origin).opened == 2


# --- DNS ---------------------------------------------------------------------------


async def test_dns_miss_then_hit(http_server: HTTPServer) -> None:
    hello_server(http_server)
    await http_server.start()
    resolver = StaticResolver()
    connector = TCPConnector(resolver=resolver, conn_max_requests=1)
    url = f"http://stats.test:{http_server.port}/"
    async with aiosonic.HTTPClient(connector) as client:
        assert await read(client, url) == b"hello"  # resolved: a miss
        assert await read(client, url) == b"hello"  # a new connection, from the cache
        stats = connector.stats()
        one = stats.get("http", "stats.test", http_server.port)
        assert (one.dns_misses, one.dns_hits, one.opened, one.reused) == (1, 1, 2, 0)
        assert (stats.dns_misses, stats.dns_hits) == (1, 1)
        assert "dns: hits=1 misses=1;" in repr(connector)
    assert resolver.calls == 1


async def test_concurrent_connections_share_one_lookup(http_server: HTTPServer) -> None:
    hello_server(http_server)
    await http_server.start()
    resolver = StaticResolver()
    resolver.gate.clear()
    connector = TCPConnector(resolver=resolver, pool_size=5)
    url = f"http://stats.test:{http_server.port}/"
    async with aiosonic.HTTPClient(connector) as client:
        tasks = [asyncio.create_task(read(client, url)) for _ in range(5)]
        await let_loop_run(10)  # every request is at its lookup
        assert resolver.calls == 1
        resolver.gate.set()
        assert await asyncio.gather(*tasks) == [b"hello"] * 5
        stats = connector.stats().get("http", "stats.test", http_server.port)
        assert (stats.opened, stats.dns_misses, stats.dns_hits) == (5, 5, 0)
    assert resolver.calls == 1


# --- HTTP/2 ------------------------------------------------------------------------


async def test_http2_streams_count_as_reused(hypercorn_server: Any, h2_trust: str) -> None:
    server: HypercornServer = await hypercorn_server()
    connector = TCPConnector(http2=True)
    async with aiosonic.HTTPClient(connector) as client:
        bodies = await asyncio.gather(*(read(client, f"{server.url}/small") for _ in range(5)))
        assert len(set(bodies)) == 1
        stats = connector.stats().get(*origin_of(server.url))
        # One connection, one handshake; the four other streams did not cost one.
        assert (stats.opened, stats.tls_handshakes, stats.reused) == (1, 1, 4)
        assert (stats.idle, stats.leased, stats.closed) == (1, 0, 0)
        await read(client, f"{server.url}/small")
        assert connector.stats().get(*origin_of(server.url)).reused == 5
    await connector.cleanup()
    assert len(server.connections) == 1
    assert connector.stats().closed == 1


# --- the book, with fakes ------------------------------------------------------------


class FakeDriver:
    def __init__(self) -> None:
        self.is_closed = False
        self.requests_count = 1


class FakeSlot:
    def __init__(self, idle: bool = True) -> None:
        self.driver: Any = None
        self.idle = idle

    def is_idle(self) -> bool:
        return self.idle


def open_one(
    book: ConnectionBook, origin: tuple[str, str, int], peer: str | None = "127.0.0.1"
) -> tuple[FakeSlot, FakeDriver]:
    slot, driver = FakeSlot(), FakeDriver()
    slot.driver = driver
    book.opened(origin, slot, driver, tls=True, dns_hits=1, dns_misses=0, peer_ip=peer)
    return slot, driver


def test_book_counts_closed_and_reused_once() -> None:
    book = ConnectionBook()
    origin = ("https", "h", 443)
    _, driver = open_one(book, origin)
    driver.requests_count = 3
    assert book.snapshot([]).get(*origin).reused == 2
    driver.is_closed = True
    for _ in range(2):  # read twice: counted once
        stats = book.snapshot([origin, origin]).get(*origin)
        assert (stats.closed, stats.reused, stats.idle, stats.waiting) == (1, 2, 0, 2)
    assert (stats.opened, stats.tls_handshakes, stats.dns_hits) == (1, 1, 1)
    assert repr(book) == "<ConnectionBook [origins=1, live=0]>"


def test_book_leased_and_moved_slots() -> None:
    book = ConnectionBook()
    origin = ("http", "h", 80)
    slot, _ = open_one(book, origin)
    slot.idle = False
    assert book.snapshot([]).get(*origin).leased == 1
    slot.driver = FakeDriver()  # the slot was given another transport
    stats = book.snapshot([]).get(*origin)
    assert (stats.leased, stats.idle) == (0, 0)


def test_book_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiosonic.stats

    monkeypatch.setattr(aiosonic.stats, "MAX_ORIGINS_KEPT", 4)
    book = ConnectionBook()
    drivers = [open_one(book, ("http", f"h{i}", 80))[1] for i in range(4)]
    for driver in drivers[:3]:
        driver.is_closed = True
    open_one(book, ("http", "h4", 80))  # past the bound: closed origins fold into totals
    stats = book.snapshot([])
    assert set(stats.origins) == {("http", "h3", 80), ("http", "h4", 80)}
    assert (stats.opened, stats.closed, stats.dns_hits) == (5, 3, 5)


def test_book_stale_connections() -> None:
    book = ConnectionBook()
    old_slot, _ = open_one(book, ("http", "h", 80), "127.0.0.1")
    new_slot, _ = open_one(book, ("https", "h", 80), "::0001")
    open_one(book, ("http", "h", 80), None)  # through a proxy: never stale
    open_one(book, ("http", "other", 80), "127.0.0.1")
    assert book.stale("h", 80, ["::1"]) == ([old_slot], True)
    assert book.stale("h", 80, ["10.0.0.1"]) == ([old_slot, new_slot], False)
    assert book.stale("h", 81, ["10.0.0.1"]) == ([], False)


def test_stats_counts_fields() -> None:
    assert [name for name in StatsCounts.__dataclass_fields__] == [
        "idle",
        "leased",
        "waiting",
        "opened",
        "reused",
        "closed",
        "dns_hits",
        "dns_misses",
        "tls_handshakes",
        "tls_resumed",
    ]
    with pytest.raises(AttributeError):
        OriginStats(scheme="http", host="h", port=80).idle = 1  # type: ignore[misc]
