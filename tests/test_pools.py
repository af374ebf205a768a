"""Tests for the connection pools: SmartPool, CyclicQueuePool and a user-written one.

The first half drives the pools directly with a fake slot class (no sockets):
the pools only read ``origin``, ``is_connected`` and ``last_released_time``
from a slot and call ``close()`` on it. The second half runs them behind a
real ``HTTPClient`` against servers on 127.0.0.1 and counts what the server
sees.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from conftest import RawServer, let_loop_run, read_request

import aiosonic
from aiosonic import CyclicQueuePool, PoolConfig, SmartPool, TCPConnector
from aiosonic.urls import Origin, parse_url


class FakeSlot:
    """The smallest slot a pool can manage: no transport, just the attributes it reads."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector
        self.origin: Origin | None = None
        self.is_connected = False
        self.last_released_time: float | None = None
        self.close_calls = 0

    def connect_to(self, url: str, released_at: float = 0.0) -> None:
        """Pretend a live transport to ``url``'s origin is attached."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = Origin(parts.scheme, parts.hostname or "", port)
        self.is_connected = True
        self.last_released_time = released_at

    def close(self) -> None:
        self.close_calls += 1
        self.is_connected = False
        self.origin = None


# --- SmartPool, unit level ---------------------------------------------------


async def test_smart_pool_counts_free_slots_and_creates_them_lazily() -> None:
    pool = SmartPool(None, 3, FakeSlot)
    assert pool.free_conns() == 3
    assert pool.is_all_free()
    assert repr(pool) == "<SmartPool [size=3, free=3, connections=0]>"

    first = await pool.acquire()
    second = await pool.acquire()
    assert isinstance(first, FakeSlot)
    assert first is not second
    assert pool.free_conns() == 1
    assert not pool.is_all_free()
    assert repr(pool) == "<SmartPool [size=3, free=1, connections=2]>"

    pool.release(first)
    assert pool.free_conns() == 2
    pool.release(second)
    assert pool.free_conns() == 3
    assert pool.is_all_free()
    # Releasing did not create or drop slots.
    assert repr(pool) == "<SmartPool [size=3, free=3, connections=2]>"


async def test_smart_pool_prefers_an_idle_connection_to_the_same_origin() -> None:
    pool = SmartPool(None, 4, FakeSlot)
    to_a = await pool.acquire(urlsplit("http://a.test/"))
    to_b = await pool.acquire(urlsplit("http://b.test/"))
    to_a.connect_to("http://a.test/", released_at=1.0)
    to_b.connect_to("http://b.test/", released_at=2.0)
    pool.release(to_a)
    pool.release(to_b)

    # Unused slots are still available, yet the warm connection wins; the
    # origin match ignores host case and an explicit default port.
    assert await pool.acquire(urlsplit("http://A.TEST:80/other")) is to_a
    assert await pool.acquire(urlsplit("http://b.test/x")) is to_b
    assert pool.free_conns() == 2


async def test_smart_pool_origin_includes_scheme_and_port() -> None:
    pool = SmartPool(None, 3, FakeSlot)
    slot = await pool.acquire(urlsplit("http://a.test/"))
    slot.connect_to("http://a.test/")
    pool.release(slot)

    assert await pool.acquire(urlsplit("https://a.test/")) is not slot
    assert await pool.acquire(urlsplit("http://a.test:8080/")) is not slot
    assert await pool.acquire(urlsplit("http://a.test/")) is slot


async def test_smart_pool_opens_a_new_slot_before_taking_another_origins_connection() -> None:
    pool = SmartPool(None, 2, FakeSlot)
    to_a = await pool.acquire(urlsplit("http://a.test/"))
    to_a.connect_to("http://a.test/")
    pool.release(to_a)

    fresh = await pool.acquire(urlsplit("http://b.test/"))
    assert fresh is not to_a
    assert not fresh.is_connected


async def test_smart_pool_reuses_an_unconnected_slot_then_the_least_recently_released() -> None:
    pool = SmartPool(None, 3, FakeSlot)
    to_a = await pool.acquire()
    to_b = await pool.acquire()
    dead = await pool.acquire()
    to_a.connect_to("http://a.test/", released_at=20.0)
    to_b.connect_to("http://b.test/", released_at=10.0)
    pool.release(to_a)
    pool.release(to_b)
    pool.release(dead)  # not connected: filed under "no origin"

    assert await pool.acquire(urlsplit("http://c.test/")) is dead
    # Full, no match, no unconnected slot: the oldest release goes first.
    assert await pool.acquire(urlsplit("http://c.test/")) is to_b
    assert await pool.acquire(urlsplit("http://c.test/")) is to_a
    assert pool.free_conns() == 0


async def test_smart_pool_release_of_a_closed_connection_does_not_match_its_old_origin() -> None:
    pool = SmartPool(None, 2, FakeSlot)
    slot = await pool.acquire()
    other = await pool.acquire()
    slot.connect_to("http://a.test/")
    slot.close()  # died while leased
    pool.release(slot)
    other.connect_to("http://a.test/", released_at=5.0)
    pool.release(other)

    assert await pool.acquire(urlsplit("http://a.test/")) is other


async def test_smart_pool_waits_for_a_release_when_every_slot_is_leased() -> None:
    pool = SmartPool(None, 1, FakeSlot)
    only = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await let_loop_run()
    assert not waiter.done()

    pool.release(only)
    assert await waiter is only
    assert pool.free_conns() == 0


async def test_smart_pool_serves_waiters_first_come_first_served() -> None:
    pool = SmartPool(None, 1, FakeSlot)
    only = await pool.acquire()
    first = asyncio.create_task(pool.acquire())
    await let_loop_run()
    second = asyncio.create_task(pool.acquire())
    await let_loop_run()
    # While others wait, a newcomer does not jump the queue, even with the fast path.
    assert pool.acquire_nowait() is None
    pool.release(only)
    assert await first is only
    assert not second.done()
    pool.release(only)
    assert await second is only


@pytest.mark.parametrize("when", ["waiting", "handed_a_slot"])
async def test_a_cancelled_waiter_never_loses_a_slot(when: str) -> None:
    pool = SmartPool(None, 1, FakeSlot)
    only = await pool.acquire()
    cancelled = asyncio.create_task(pool.acquire())
    await let_loop_run()
    after = asyncio.create_task(pool.acquire())
    await let_loop_run()
    if when == "handed_a_slot":
        pool.release(only)  # the slot goes to the first waiter...
        cancelled.cancel()  # ...which is cancelled before it runs: it must pass it on
    else:
        cancelled.cancel()
        await let_loop_run()
        pool.release(only)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await asyncio.wait_for(after, 5) is only  # a lost slot would hang here
    pool.release(only)
    assert pool.free_conns() == 1
    assert pool.acquire_nowait() is only


async def test_smart_pool_cleanup_closes_idle_and_leased_slots() -> None:
    pool = SmartPool(None, 3, FakeSlot)
    idle = await pool.acquire()
    leased = await pool.acquire()
    idle.connect_to("http://a.test/")
    pool.release(idle)
    leased.connect_to("http://a.test/")

    await pool.cleanup()
    assert idle.close_calls == 1
    assert leased.close_calls == 1
    assert not idle.is_connected and not leased.is_connected

    # A connection handed back after cleanup is closed, not kept.
    leased.connect_to("http://a.test/")
    pool.release(leased)
    assert not leased.is_connected
    assert leased.close_calls == 2


# --- CyclicQueuePool, unit level ---------------------------------------------


async def test_cyclic_pool_creates_every_slot_up_front() -> None:
    owner = object()
    pool = CyclicQueuePool(owner, 3, FakeSlot)
    assert pool.free_conns() == 3
    assert pool.is_all_free()
    assert repr(pool) == "<CyclicQueuePool [size=3, free=3, connections=3]>"

    slot = await pool.acquire()
    assert slot.connector is owner  # built as connection_cls(connector)
    assert pool.free_conns() == 2
    assert not pool.is_all_free()
    pool.release(slot)
    assert pool.is_all_free()


async def test_cyclic_pool_rotates_through_its_slots_whatever_the_origin() -> None:
    pool = CyclicQueuePool(None, 3, FakeSlot)
    seen = []
    for index in range(6):
        slot = await pool.acquire(urlsplit(f"http://host{index % 2}.test/"))
        slot.connect_to("http://host0.test/")
        seen.append(slot)
        pool.release(slot)

    assert len({id(slot) for slot in seen[:3]}) == 3
    assert seen[3:] == seen[:3]


async def test_cyclic_pool_waits_for_a_release_when_empty() -> None:
    pool = CyclicQueuePool(None, 1, FakeSlot)
    only = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await let_loop_run()
    assert not waiter.done()

    pool.release(only)
    assert await waiter is only


async def test_cyclic_pool_cleanup_closes_idle_and_leased_slots() -> None:
    pool = CyclicQueuePool(None, 2, FakeSlot)
    leased = await pool.acquire()
    idle = await pool.acquire()
    pool.release(idle)
    leased.connect_to("http://a.test/")
    idle.connect_to("http://a.test/")

    await pool.cleanup()
    assert leased.close_calls == idle.close_calls == 1
    assert not leased.is_connected and not idle.is_connected

    # A connection handed back after cleanup is closed, not kept.
    leased.connect_to("http://a.test/")
    pool.release(leased)
    assert not leased.is_connected
    assert leased.close_calls == 2


# --- through the client -------------------------------------------------------


def add_echo_route(server: Any) -> dict[str, int]:
    """Serve ``/{id}`` with the id as body; track requests in flight on the server."""
    stats = {"in_flight": 0, "max_in_flight": 0}

    async def echo(request: web.Request) -> web.Response:
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            # Yield once so concurrent requests overlap inside the handler.
            await let_loop_run(1)
            return web.Response(body=request.match_info["id"].encode())
        finally:
            stats["in_flight"] -= 1

    server.app.router.add_get("/{id}", echo)
    return stats


@pytest.mark.parametrize("pool_cls", [SmartPool, CyclicQueuePool])
async def test_pool_serves_50_concurrent_requests_on_at_most_5_connections(
    http_server: Any, pool_cls: type
) -> None:
    stats = add_echo_route(http_server)
    await http_server.start()
    connector = TCPConnector(pool_size=5, pool_cls=pool_cls)
    assert type(connector.pool) is pool_cls

    async with aiosonic.HTTPClient(connector) as client:

        async def fetch(index: int) -> bytes:
            response = await client.get(f"{http_server.url}/{index}")
            assert response.status_code == 200
            return await response.content()

        bodies = await asyncio.gather(*(fetch(i) for i in range(50)))
        assert bodies == [str(i).encode() for i in range(50)]
        assert connector.is_all_free()
        assert connector.pool.is_all_free()

    assert http_server.requests == 50
    assert 1 <= http_server.connections <= 5
    assert stats["max_in_flight"] <= 5


async def start_echo(raw_server: Any) -> RawServer:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            path = head.split(b" ", 2)[1]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))
            await writer.drain()

    return await raw_server(echo)


class StackPool:
    """A user-written pool: LIFO slots, only the five methods and the published constructor."""

    def __init__(self, connector: Any, pool_size: int, connection_cls: Any) -> None:
        self.slots = [connection_cls(connector) for _ in range(pool_size)]
        self._free: asyncio.LifoQueue[Any] = asyncio.LifoQueue()
        for slot in self.slots:
            self._free.put_nowait(slot)
        self.acquired = 0
        self.released = 0
        self.cleaned = False

    async def acquire(self, urlparsed: Any = None) -> Any:
        slot = await self._free.get()
        self.acquired += 1
        return slot

    def release(self, conn: Any) -> None:
        self.released += 1
        self._free.put_nowait(conn)

    def free_conns(self) -> int:
        return self._free.qsize()

    def is_all_free(self) -> bool:
        return self._free.qsize() == len(self.slots)

    async def cleanup(self) -> None:
        self.cleaned = True
        for slot in self.slots:
            slot.close()


async def test_a_user_written_pool_class_works_as_pool_cls(raw_server: Any) -> None:
    server = await start_echo(raw_server)
    connector = TCPConnector(pool_size=2, pool_cls=StackPool)
    pool = connector.pool
    assert isinstance(pool, StackPool)
    assert len(pool.slots) == 2

    # The connector is ours, not the client's: leaving its block cleans it up.
    async with connector, aiosonic.HTTPClient(connector) as client:

        async def fetch(index: int) -> bytes:
            return await (await client.get(f"{server.url}/{index}")).content()

        bodies = await asyncio.gather(*(fetch(i) for i in range(10)))
        assert bodies == [f"/{i}".encode() for i in range(10)]
        assert pool.acquired == pool.released == 10
        assert pool.is_all_free()
        assert connector.is_all_free()
        assert any(slot.is_connected for slot in pool.slots)

    assert server.connections <= 2
    assert pool.cleaned
    assert not any(slot.is_connected for slot in pool.slots)


async def fetch_concurrently(client: aiosonic.HTTPClient, base: str, count: int) -> list[bytes]:
    async def fetch(index: int) -> bytes:
        return await (await client.get(f"{base}/{index}")).content()

    return await asyncio.gather(*(fetch(i) for i in range(count)))


async def test_pool_configs_give_an_origin_its_own_limit(raw_server: Any) -> None:
    limited = await start_echo(raw_server)
    other = await start_echo(raw_server)
    connector = TCPConnector(
        pool_configs={
            f"http://127.0.0.1:{limited.port}": PoolConfig(size=2),
            ":default": PoolConfig(size=5),
        }
    )
    limited_pool, limited_config = connector.pool_for(parse_url(limited.url))
    default_pool, default_config = connector.pool_for(parse_url(other.url))
    assert limited_pool is not default_pool
    assert limited_config == PoolConfig(size=2)
    assert default_config == PoolConfig(size=5)

    async with aiosonic.HTTPClient(connector) as client:
        limited_bodies, other_bodies = await asyncio.gather(
            fetch_concurrently(client, limited.url, 10),
            fetch_concurrently(client, other.url, 10),
        )
    assert limited_bodies == [f"/{i}".encode() for i in range(10)]
    assert other_bodies == limited_bodies
    assert limited.connections == 2
    assert other.connections == 5


async def test_a_dict_passed_first_is_taken_as_pool_configs(raw_server: Any) -> None:
    limited = await start_echo(raw_server)
    other = await start_echo(raw_server)
    connector = TCPConnector({f"http://127.0.0.1:{limited.port}": PoolConfig(size=2)})
    assert connector.pool_for(parse_url(limited.url))[1] == PoolConfig(size=2)
    # The default pool keeps the default size (25).
    assert connector.pool_for(parse_url(other.url))[1].size == 25

    async with aiosonic.HTTPClient(connector) as client:
        await asyncio.gather(
            fetch_concurrently(client, limited.url, 10),
            fetch_concurrently(client, other.url, 10),
        )
    assert limited.connections == 2
    assert other.connections == 10


class OldOverridePool(SmartPool):
    """A SmartPool subclass written to the old docs: ``acquire`` without ``key``."""

    seen: list[Any]

    async def acquire(self, urlparsed: Any = None) -> Any:  # type: ignore[override]
        self.seen = [*getattr(self, "seen", []), urlparsed]
        return await super().acquire(urlparsed)


class KeyedOwnPool(StackPool):
    """Implements the Pool protocol without subclassing: it gets the full key."""

    def __init__(self, connector: Any, pool_size: int, connection_cls: Any, config: Any) -> None:
        super().__init__(connector, pool_size, connection_cls)
        self.pool_size = pool_size
        self.config = config
        self.keys: list[Any] = []

    async def acquire(self, urlparsed: Any = None, key: Any = None) -> Any:
        self.keys.append(key)
        return await super().acquire(urlparsed)

    def acquire_nowait(self, urlparsed: Any = None, key: Any = None) -> Any:
        return None

    async def close_idle(self) -> None:
        await self.cleanup()


def test_the_adapter_is_chosen_once_per_pool_class() -> None:
    from aiosonic.pools import PublishedPoolAdapter

    assert type(TCPConnector(pool_cls=SmartPool).pools[":default"]) is SmartPool
    assert type(TCPConnector(pool_cls=CyclicQueuePool).pools[":default"]) is CyclicQueuePool
    for cls in (StackPool, OldOverridePool):
        connector = TCPConnector(pool_size=2, pool_cls=cls)
        driven = connector.pools[":default"]
        assert isinstance(driven, PublishedPoolAdapter), cls
        assert type(connector.pool) is cls  # the published attribute: the user's object
        assert repr(driven) == f"<PublishedPoolAdapter [{connector.pool!r}]>"
    keyed = TCPConnector(pool_size=2, pool_cls=KeyedOwnPool)
    assert type(keyed.pools[":default"]) is KeyedOwnPool
    assert keyed.pool.config == keyed.pool_configs[":default"]  # built with config=


@pytest.mark.parametrize("pool_cls", [OldOverridePool, KeyedOwnPool])
async def test_user_pools_of_either_contract_carry_requests(
    raw_server: Any, pool_cls: type
) -> None:
    server = await start_echo(raw_server)
    connector = TCPConnector(pool_size=2, pool_cls=pool_cls)
    async with aiosonic.HTTPClient(connector) as client:
        bodies = await fetch_concurrently(client, server.url, 6)
    assert bodies == [f"/{i}".encode() for i in range(6)]
    pool = connector.pool
    if pool_cls is KeyedOwnPool:
        assert len(pool.keys) == 6 and all(key.port == server.port for key in pool.keys)
    else:
        assert len(pool.seen) == 6  # the old signature was called, without a key
    assert server.connections <= 2
