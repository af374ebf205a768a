"""Connections that follow DNS: a pooled connection whose peer left its host's answer is not reused.

Two servers on one port, at 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback
on Linux), each answering with its own address. A resolver whose answer the
test changes stands for the DNS. The check runs when the cache refreshes an
answer (in the background, as it expires, while connections to the host
remain), never per request.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import let_loop_run, read_request, wait_until

import aiosonic
from aiosonic import TCPConnector
from aiosonic.dns_cache import DNSCache
from aiosonic.resolver import AbstractResolver

pytestmark = pytest.mark.timeout(20)

#: The cache's TTL in these tests, in ms: refreshes come quickly.
TTL_MS = 50


class SwitchableResolver(AbstractResolver):
    """Answers ``address`` for every name; each call sets ``called[n]`` (n = calls so far)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls = 0
        self.called: dict[int, asyncio.Event] = {}

    def call(self, n: int) -> asyncio.Event:
        """The event set by the n-th call."""
        return self.called.setdefault(n, asyncio.Event())

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        self.calls += 1
        self.call(self.calls).set()
        return [
            {
                "hostname": host,
                "host": self.address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


class Twins:
    """Servers at 127.0.0.1 and 127.0.0.2 on one port; ``/held`` waits for ``release``."""

    def __init__(self) -> None:
        self.port = 0
        self.servers: list[asyncio.Server] = []
        self.release = asyncio.Event()
        self.held = asyncio.Event()
        #: address -> connections that ended (EOF from the client)
        self.ended: dict[str, int] = {"127.0.0.1": 0, "127.0.0.2": 0}
        self.ended_event = asyncio.Event()

    async def start(self) -> Twins:
        for address in ("127.0.0.1", "127.0.0.2"):
            server = await asyncio.start_server(
                lambda r, w, a=address: self._serve(a, r, w), address, self.port
            )
            self.port = server.sockets[0].getsockname()[1]
            self.servers.append(server)
        return self

    async def _serve(
        self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await read_request(reader)
                body = address.encode()
                if b" /held " in head:
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    writer.write(b"%x\r\n%s\r\n" % (len(body), body))
                    await writer.drain()
                    self.held.set()
                    await self.release.wait()
                    writer.write(b"4\r\n-end\r\n0\r\n\r\n")
                else:
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                    writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.ended[address] += 1
            self.ended_event.set()
        finally:
            writer.close()

    async def wait_ended(self, address: str, count: int = 1) -> None:
        while self.ended[address] < count:
            self.ended_event.clear()
            await asyncio.wait_for(self.ended_event.wait(), 5)

    async def close(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def twins() -> AsyncIterator[Twins]:
    servers = await Twins().start()
    yield servers
    servers.release.set()
    await servers.close()


async def text(client: aiosonic.HTTPClient, url: str) -> str:
    response = await client.get(url)
    return await response.text()


async def test_idle_connection_to_an_address_that_left_the_answer_is_closed(
    twins: Twins,
) -> None:
    resolver = SwitchableResolver("127.0.0.1")
    connector = TCPConnector(resolver=resolver, ttl_dns_cache=TTL_MS)
    url = f"http://follow.test:{twins.port}/"
    async with aiosonic.HTTPClient(connector) as client:
        assert await text(client, url) == "127.0.0.1"
        assert await text(client, url) == "127.0.0.1"  # reused while the answer holds
        assert connector.stats().opened == 1

        resolver.address = "127.0.0.2"
        await asyncio.wait_for(resolver.call(2).wait(), 5)  # the refresh, as the answer expired
        await twins.wait_ended("127.0.0.1")  # the idle connection was closed at once
        assert connector.stats().idle == 0

        response = await client.get(url)
        assert await response.text() == "127.0.0.2"
        assert response.remote_addr == ("127.0.0.2", twins.port)
        stats = connector.stats().get("http", "follow.test", twins.port)
        assert (stats.opened, stats.closed, stats.reused, stats.idle) == (2, 1, 1, 1)
    await connector.cleanup()


async def test_an_unchanged_answer_keeps_the_connection(twins: Twins) -> None:
    resolver = SwitchableResolver("127.0.0.1")
    connector = TCPConnector(resolver=resolver, ttl_dns_cache=TTL_MS)
    url = f"http://follow.test:{twins.port}/"
    async with aiosonic.HTTPClient(connector) as client:
        assert await text(client, url) == "127.0.0.1"
        await asyncio.wait_for(resolver.call(3).wait(), 5)  # refreshed twice, same answer
        assert await text(client, url) == "127.0.0.1"
        stats = connector.stats()
        assert (stats.opened, stats.reused, stats.closed) == (1, 1, 0)
    await connector.cleanup()
    assert twins.ended["127.0.0.2"] == 0


async def test_connection_in_use_finishes_then_closes(twins: Twins) -> None:
    resolver = SwitchableResolver("127.0.0.1")
    connector = TCPConnector(resolver=resolver, ttl_dns_cache=TTL_MS)
    url = f"http://follow.test:{twins.port}/"
    async with aiosonic.HTTPClient(connector) as client:
        held = await client.get(url + "held")  # its body is still coming
        await twins.held.wait()
        resolver.address = "127.0.0.2"
        await asyncio.wait_for(resolver.call(2).wait(), 5)
        await let_loop_run()  # the answer is stored and followed
        assert twins.ended["127.0.0.1"] == 0  # not cut mid-response
        twins.release.set()
        assert await held.text() == "127.0.0.1-end"
        await twins.wait_ended("127.0.0.1")  # closed when it came back, not pooled
        assert await text(client, url) == "127.0.0.2"
        stats = connector.stats()
        assert (stats.opened, stats.closed, stats.reused) == (2, 1, 0)
    await connector.cleanup()


async def test_refreshes_stop_when_no_connection_is_left(twins: Twins) -> None:
    resolver = SwitchableResolver("127.0.0.1")
    connector = TCPConnector(resolver=resolver, ttl_dns_cache=TTL_MS)
    async with aiosonic.HTTPClient(connector) as client:
        assert await text(client, f"http://follow.test:{twins.port}/") == "127.0.0.1"
        resolver.address = "127.0.0.2"
        await asyncio.wait_for(resolver.call(2).wait(), 5)
        await twins.wait_ended("127.0.0.1")
        assert "refreshing: 0" in repr(connector.dns)  # nothing left to follow
    await connector.cleanup()
    assert resolver.calls == 2


async def test_dns_cache_refreshes_only_while_asked() -> None:
    resolver = SwitchableResolver("10.0.0.1")
    answers: list[tuple[str, int, list[str]]] = []
    keep = [True, False]

    def on_answer(host: str, port: int, found: list[dict[str, Any]]) -> bool:
        answers.append((host, port, [answer["host"] for answer in found]))
        return keep.pop(0)

    async with DNSCache(resolver, ttl_ms=TTL_MS) as cache:
        cache.on_answer = on_answer
        await cache.lookup("a.test", 80)
        assert "refreshing: 1" in repr(cache)
        resolver.address = "10.0.0.2"
        await asyncio.wait_for(resolver.call(2).wait(), 5)
        await let_loop_run()
        assert answers == [("a.test", 80, ["10.0.0.1"]), ("a.test", 80, ["10.0.0.2"])]
        assert "refreshing: 0" in repr(cache)
        assert cache.cache_state("a.test", 80) == "hit"
        assert cache.cache_state("b.test", 80) == "miss"
        assert cache.cache_state("127.0.0.1", 80) == "literal"
        cache.keep_fresh("a.test", 80)  # asked again (a new connection): refreshed again
        assert "refreshing: 1" in repr(cache)
    assert "refreshing: 0" in repr(cache)  # close() cancelled it


# --- HTTP/2 (h2c with prior knowledge, scripted servers) ---------------------------


async def h2_twins(script: Any) -> list[Any]:
    """Scripted HTTP/2 servers at 127.0.0.1 and 127.0.0.2 on one port."""
    from h2_servers import H2ScriptServer

    first = await H2ScriptServer(script, None, None).start()
    second = H2ScriptServer(script, None, None)
    second._server = await asyncio.start_server(second._serve, "127.0.0.2", first.port)
    second.port = first.port
    return [first, second]


def h2_connector(resolver: AbstractResolver) -> TCPConnector:
    return TCPConnector(
        resolver=resolver,
        ttl_dns_cache=TTL_MS,
        http2=True,
        http2_config=aiosonic.Http2Config(prior_knowledge=True),
    )


async def test_http2_stream_in_flight_finishes_and_new_streams_go_to_the_new_address() -> None:
    from h2_servers import answer_all

    release = asyncio.Event()

    async def script(conn: Any) -> None:
        request = await conn.next_request()
        if request.path == "/held":
            await release.wait()
        await conn.respond(request.stream_id, request.path.encode())
        await answer_all(conn)

    servers = await h2_twins(script)
    resolver = SwitchableResolver("127.0.0.1")
    connector = h2_connector(resolver)
    url = f"http://follow.test:{servers[0].port}"
    try:
        async with aiosonic.HTTPClient(connector) as client:
            held = asyncio.create_task(client.get(url + "/held"))
            assert await wait_until(lambda: bool(servers[0].conns and servers[0].requests))
            resolver.address = "127.0.0.2"
            await asyncio.wait_for(resolver.call(2).wait(), 5)
            await let_loop_run()
            response = await client.get(url + "/next")  # not on the retired connection
            assert await response.text() == "/next"
            assert response.remote_addr == ("127.0.0.2", servers[0].port)
            assert not servers[0].conns[0].closed.is_set()  # the held stream goes on
            release.set()
            held_response = await held
            assert await held_response.text() == "/held"
            await servers[0].conns[0].wait_closed(5)  # closed when its last stream ended
            assert [len(server.conns) for server in servers] == [1, 1]
            stats = connector.stats()
            assert (stats.opened, stats.closed, stats.idle) == (2, 1, 1)
    finally:
        await connector.cleanup()
        for server in servers:
            await server.close()


async def test_a_forgotten_connector_is_collected_while_its_answer_is_kept_fresh(
    twins: Twins,
) -> None:
    resolver = SwitchableResolver("127.0.0.1")

    async def forget() -> weakref.ref[TCPConnector]:
        connector = TCPConnector(resolver=resolver, ttl_dns_cache=60_000)
        client = aiosonic.HTTPClient(connector)
        assert await text(client, f"http://follow.test:{twins.port}/") == "127.0.0.1"
        assert "refreshing: 1" in repr(connector.dns)  # a timer holds the cache
        return weakref.ref(connector)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        forgotten = await forget()
        gc.collect()
        assert forgotten() is None  # the cache's timer did not keep it alive
        await twins.wait_ended("127.0.0.1")  # and its socket was closed
    assert [w for w in caught if issubclass(w.category, ResourceWarning)]
