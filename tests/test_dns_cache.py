"""Tests for aiosonic.dns_cache: expiry, single flight, errors, eviction, close."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

import aiosonic.dns_cache as dns_cache_module
from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ResolveError
from aiosonic.resolver import AbstractResolver, ThreadedResolver


class FakeClock:
    """A monotonic clock in seconds that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += ms / 1000


class CountingResolver(AbstractResolver):
    """A real resolver that answers from a table and counts its calls.

    With ``hold`` set, each call reports itself through ``started`` and then
    waits for ``release``, so a test can act while a lookup is in flight.
    ``failures`` calls fail before the table is used.
    """

    def __init__(self, *, hold: bool = False, failures: int = 0) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.hold = hold
        self.failures = failures
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.closed = 0

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        self.calls.append((host, port, family))
        call = len(self.calls)
        self.started.set()
        if self.hold:
            await self.release.wait()
        if self.failures:
            self.failures -= 1
            raise ResolveError(f"cannot resolve {host}:{port}: test failure #{call}")
        return [
            {
                "hostname": host,
                "host": f"127.0.0.{call}",
                "port": port,
                "family": socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
        ]

    async def close(self) -> None:
        self.closed += 1


async def joined(cache: DNSCache, host: str, port: int) -> asyncio.Task[list[dict[str, Any]]]:
    """Start a lookup and return once it is waiting inside ``lookup()``.

    ``entered`` is set just before ``lookup()`` is called; the lookup then
    runs without yielding until it waits for the shared call, so by the time
    this coroutine wakes up the new task has joined the flight.
    """
    entered = asyncio.Event()

    async def run() -> list[dict[str, Any]]:
        entered.set()
        return await cache.lookup(host, port)

    task = asyncio.create_task(run())
    await entered.wait()
    return task


def test_public_names() -> None:
    assert dns_cache_module.__all__ == ["DNSCache"]


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="ttl_ms"):
        DNSCache(CountingResolver(), ttl_ms=-1)
    with pytest.raises(ValueError, match="max_entries"):
        DNSCache(CountingResolver(), max_entries=0)


async def test_answers_are_cached_until_ttl() -> None:
    clock = FakeClock()
    resolver = CountingResolver()
    cache = DNSCache(resolver, ttl_ms=500, clock=clock)
    first = await cache.lookup("example.test", 80)
    clock.advance_ms(499)
    assert await cache.lookup("example.test", 80) == first
    assert len(resolver.calls) == 1
    clock.advance_ms(1)
    renewed = await cache.lookup("example.test", 80)
    assert len(resolver.calls) == 2
    assert renewed[0]["host"] == "127.0.0.2"
    # The renewed answer gets a fresh ttl from the time it was stored.
    clock.advance_ms(499)
    assert await cache.lookup("example.test", 80) == renewed
    assert len(resolver.calls) == 2


async def test_no_ttl_keeps_answers() -> None:
    clock = FakeClock()
    resolver = CountingResolver()
    cache = DNSCache(resolver, ttl_ms=None, clock=clock)
    await cache.lookup("example.test", 80)
    clock.advance_ms(10**12)
    await cache.lookup("example.test", 80)
    assert len(resolver.calls) == 1
    assert "ttl: forever" in repr(cache)


@pytest.mark.parametrize("settings", [{"enabled": False}, {"ttl_ms": 0}])
async def test_caching_off(settings: dict[str, Any]) -> None:
    resolver = CountingResolver()
    cache = DNSCache(resolver, clock=FakeClock(), **settings)
    await cache.lookup("example.test", 80)
    await cache.lookup("example.test", 80)
    assert len(resolver.calls) == 2
    assert "entries: 0/" in repr(cache)


async def test_key_includes_port_and_family() -> None:
    resolver = CountingResolver()
    cache = DNSCache(resolver, clock=FakeClock())
    await cache.lookup("example.test", 80)
    await cache.lookup("example.test", 443)
    await cache.lookup("example.test", 80, socket.AF_INET)
    await cache.lookup("example.test", 80)
    assert resolver.calls == [
        ("example.test", 80, socket.AF_UNSPEC),
        ("example.test", 443, socket.AF_UNSPEC),
        ("example.test", 80, socket.AF_INET),
    ]


async def test_returned_answers_do_not_alias_the_cache() -> None:
    cache = DNSCache(CountingResolver(), clock=FakeClock())
    answers = await cache.lookup("example.test", 80)
    answers[0]["host"] = "10.9.9.9"
    answers.append({})
    again = await cache.lookup("example.test", 80)
    assert [answer["host"] for answer in again] == ["127.0.0.1"]


async def test_concurrent_lookups_share_one_call() -> None:
    resolver = CountingResolver(hold=True)
    # ttl 0: nothing is cached, so only single flight can save calls.
    cache = DNSCache(resolver, ttl_ms=0, clock=FakeClock())
    first = await joined(cache, "example.test", 80)
    await resolver.started.wait()
    others = [await joined(cache, "example.test", 80) for _ in range(3)]
    assert "in flight: 1" in repr(cache)
    resolver.release.set()
    results = await asyncio.gather(first, *others)
    assert len(resolver.calls) == 1
    assert all(result == results[0] for result in results)
    # Each caller gets its own copy: one changing it cannot touch another.
    assert len({id(result) for result in results}) == len(results)
    assert len({id(result[0]) for result in results}) == len(results)
    assert "in flight: 0" in repr(cache)
    # Once the flight has landed, a new lookup asks again.
    await cache.lookup("example.test", 80)
    assert len(resolver.calls) == 2


async def test_error_reaches_every_waiter_and_is_not_cached() -> None:
    resolver = CountingResolver(hold=True, failures=1)
    cache = DNSCache(resolver, clock=FakeClock())
    first = await joined(cache, "example.test", 80)
    await resolver.started.wait()
    second = await joined(cache, "example.test", 80)
    resolver.release.set()
    for task in (first, second):
        with pytest.raises(ResolveError, match=r"example\.test:80: test failure #1"):
            await task
    assert len(resolver.calls) == 1
    assert "entries: 0/" in repr(cache)
    answers = await cache.lookup("example.test", 80)
    assert len(resolver.calls) == 2
    assert answers[0]["host"] == "127.0.0.2"


async def test_cancelling_the_first_caller_spares_the_others() -> None:
    resolver = CountingResolver(hold=True)
    cache = DNSCache(resolver, clock=FakeClock())
    first = await joined(cache, "example.test", 80)
    await resolver.started.wait()
    second = await joined(cache, "example.test", 80)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    resolver.release.set()
    answers = await second
    assert answers[0]["host"] == "127.0.0.1"
    assert len(resolver.calls) == 1
    # The shared answer was cached even though its first caller left.
    assert await cache.lookup("example.test", 80) == answers
    assert len(resolver.calls) == 1


async def test_cancelling_the_first_caller_still_delivers_the_error() -> None:
    resolver = CountingResolver(hold=True, failures=1)
    cache = DNSCache(resolver, clock=FakeClock())
    first = await joined(cache, "example.test", 80)
    await resolver.started.wait()
    second = await joined(cache, "example.test", 80)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    resolver.release.set()
    with pytest.raises(ResolveError, match="test failure #1"):
        await second


async def test_oldest_entry_is_evicted() -> None:
    resolver = CountingResolver()
    cache = DNSCache(resolver, max_entries=2, clock=FakeClock())
    for host in ("a.test", "b.test", "c.test"):
        await cache.lookup(host, 80)
    assert "entries: 2/2" in repr(cache)
    await cache.lookup("b.test", 80)
    await cache.lookup("c.test", 80)
    assert len(resolver.calls) == 3
    await cache.lookup("a.test", 80)  # evicted: asked again
    assert len(resolver.calls) == 4
    assert resolver.calls[-1][0] == "a.test"


async def test_each_entry_expires_on_its_own() -> None:
    clock = FakeClock()
    resolver = CountingResolver()
    cache = DNSCache(resolver, ttl_ms=10, clock=clock)
    await cache.lookup("a.test", 80)
    clock.advance_ms(5)
    await cache.lookup("b.test", 80)
    clock.advance_ms(5)
    renewed = await cache.lookup("a.test", 80)
    assert renewed[0]["host"] == "127.0.0.3"
    await cache.lookup("b.test", 80)
    assert [call[0] for call in resolver.calls] == ["a.test", "b.test", "a.test"]


@pytest.mark.parametrize(
    ("host", "address"), [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1")]
)
async def test_literals_bypass_resolver_and_cache(host: str, address: str) -> None:
    resolver = CountingResolver()
    cache = DNSCache(resolver, clock=FakeClock())
    answers = await cache.lookup(host, 8080)
    assert [answer["host"] for answer in answers] == [address]
    assert answers[0]["port"] == 8080
    assert resolver.calls == []
    assert "entries: 0/" in repr(cache)


async def test_literal_of_other_family_is_refused() -> None:
    cache = DNSCache(CountingResolver(), clock=FakeClock())
    with pytest.raises(ResolveError, match=r"127\.0\.0\.1:80"):
        await cache.lookup("127.0.0.1", 80, socket.AF_INET6)


async def test_invalidate_and_clear() -> None:
    resolver = CountingResolver()
    cache = DNSCache(resolver, clock=FakeClock())
    await cache.lookup("a.test", 80)
    await cache.lookup("a.test", 80, socket.AF_INET)
    await cache.lookup("a.test", 443)
    await cache.lookup("b.test", 80)
    cache.invalidate("a.test", 80)
    assert "entries: 2/" in repr(cache)
    await cache.lookup("a.test", 443)
    await cache.lookup("b.test", 80)
    assert len(resolver.calls) == 4
    await cache.lookup("a.test", 80)
    assert len(resolver.calls) == 5
    cache.clear()
    assert "entries: 0/" in repr(cache)
    await cache.lookup("b.test", 80)
    assert len(resolver.calls) == 6


async def test_repr_shows_state() -> None:
    cache = DNSCache(CountingResolver(), ttl_ms=2500, max_entries=8, clock=FakeClock())
    await cache.lookup("a.test", 80)
    text = repr(cache)
    assert text.startswith("<DNSCache [enabled, entries: 1/8, ttl: 2500ms, in flight: 0")


async def test_close_closes_resolver_once() -> None:
    resolver = CountingResolver()
    async with DNSCache(resolver, clock=FakeClock()) as cache:
        await cache.lookup("a.test", 80)
    assert resolver.closed == 1
    await cache.close()
    assert resolver.closed == 1
    assert "closed" in repr(cache)
    with pytest.raises(ResolveError, match=r"a\.test:80.*closed"):
        await cache.lookup("a.test", 80)


async def test_close_fails_waiting_lookups_with_resolve_error() -> None:
    resolver = CountingResolver(hold=True)
    cache = DNSCache(resolver, clock=FakeClock())
    waiting = await joined(cache, "a.test", 80)
    await resolver.started.wait()
    await cache.close()
    with pytest.raises(ResolveError, match=r"a\.test:80.*closed"):
        await waiting
    assert resolver.closed == 1


async def test_with_the_system_resolver() -> None:
    async with DNSCache(ThreadedResolver()) as cache:
        answers = await cache.lookup("localhost", 80, socket.AF_INET)
        assert "127.0.0.1" in [answer["host"] for answer in answers]
        assert await cache.lookup("localhost", 80, socket.AF_INET) == answers
