"""A slot's one explicit state, the predicates derived from it, and leases, without sockets.

A ``Connection`` is NEW until leased, ACTIVE while leased, then IDLE or
CLOSED as ``check_in`` decides (synchronously: it returns whether the caller
must close the transport). ``is_idle``, ``is_available`` and ``has_expired``
read that state and the driver. Per-request facts live on the lease, and the
connector takes a lease back once, however often it is released.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from aiosonic.connection import Connection, ConnectionState, HTTP11Lease
from aiosonic.connectors import TCPConnector
from aiosonic.urls import PoolKey

KEY = PoolKey("http", "h.test", 80, True, None, None)
OTHER = PoolKey("http", "other.test", 80, True, None, None)


class FakeDriver:
    """What a slot asks of its driver (a stand-in for HTTP11Driver/HTTP2Driver)."""

    def __init__(self, reusable: bool = True) -> None:
        self.reusable = reusable
        self.is_closed = False
        self.requests_count = 1
        self.transport: Any = None

    def is_reusable(self) -> bool:
        return self.reusable and not self.is_closed

    def close(self) -> None:
        self.is_closed = True


def connected(reusable: bool = True) -> tuple[Connection, FakeDriver]:
    conn = Connection()
    driver = FakeDriver(reusable)
    conn.attach(KEY, None, driver)  # type: ignore[arg-type]
    conn.state = ConnectionState.ACTIVE  # as the connector leases it
    return conn, driver


def test_a_new_slot_is_neither_idle_nor_available() -> None:
    conn = Connection()
    assert conn.state is ConnectionState.NEW
    assert repr(conn) == "<Connection [NEW]>"
    assert not conn.is_idle() and not conn.is_available()
    conn.close()  # nothing to close: still NEW
    assert conn.state is ConnectionState.NEW


def test_check_in_keeps_a_fit_transport_idle() -> None:
    conn, driver = connected()
    assert repr(conn) == "<Connection ['http://h.test:80', ACTIVE, Request Count: 1]>"
    assert not conn.is_available()  # leased: not for another request
    assert conn.check_in(keep=True) is False  # nothing to close
    assert conn.state is ConnectionState.IDLE
    assert repr(conn) == "<Connection ['http://h.test:80', IDLE, Request Count: 1]>"
    assert conn.is_idle() and conn.is_available() and not conn.has_expired(None)
    assert conn.is_reusable_for(KEY) and not conn.is_reusable_for(OTHER)
    assert not driver.is_closed


@pytest.mark.parametrize(("keep", "reusable"), [(False, True), (True, False)])
def test_check_in_closes_what_must_not_be_kept(keep: bool, reusable: bool) -> None:
    conn, driver = connected(reusable)
    assert conn.check_in(keep) is True  # the caller closes it
    assert conn.state is ConnectionState.CLOSED
    assert not driver.is_closed  # check_in decides; it does no I/O
    conn.close()
    assert conn.check_in(True) is False  # closed already: nothing left to close
    assert repr(conn) == "<Connection [CLOSED]>"


def test_a_transport_idle_too_long_has_expired() -> None:
    conn, _ = connected()
    conn.check_in(keep=True)
    conn.last_released_time = time.monotonic() - 2.0
    assert conn.has_expired(1000) and not conn.has_expired(5000) and not conn.has_expired(None)
    assert conn.is_available()  # expiry is its own question


def test_closing_a_leased_slot_leaves_it_active_until_given_back() -> None:
    conn, driver = connected()
    conn.close()
    assert driver.is_closed and conn.state is ConnectionState.ACTIVE
    idle, _ = connected()
    idle.check_in(keep=True)
    idle.close()  # the pool closes an idle one
    assert idle.state is ConnectionState.CLOSED and not idle.is_available()


def test_reused_is_a_fact_of_each_lease_not_of_the_slot() -> None:
    conn, driver = connected()
    first, second = HTTP11Lease(conn, reused=False), HTTP11Lease(conn, reused=True)
    assert (first.reused, second.reused) == (False, True)
    assert first.connect_timings == conn.connect_timings
    assert repr(first).startswith("<HTTP11Lease [HELD, reused=False, <Connection [")
    driver.requests_count = 2
    assert conn.reused  # the published attribute, derived from the request count


async def test_the_connector_takes_a_lease_back_once() -> None:
    connector = TCPConnector(pool_size=2)
    pool = connector.pools[":default"]
    slot = pool.acquire_nowait(None, KEY)
    driver = FakeDriver()
    slot.attach(KEY, None, driver)
    slot.pool, slot.state = pool, ConnectionState.ACTIVE
    connector._lease_count(+1)
    lease = HTTP11Lease(slot, reused=False)
    assert pool.free_conns() == 1 and not connector.is_all_free()
    connector.release(lease)
    assert lease.released and slot.state is ConnectionState.IDLE
    assert pool.free_conns() == 2 and connector.is_all_free()
    connector.release(lease)  # again: nothing happens
    connector.release(slot)  # the slot itself, as published: not leased, nothing happens
    assert pool.free_conns() == 2 and slot.state is ConnectionState.IDLE
    assert not driver.is_closed  # kept for the next request
    await connector.cleanup()
    assert driver.is_closed and slot.state is ConnectionState.CLOSED


@pytest.mark.parametrize("state", list(ConnectionState))
@pytest.mark.parametrize("reusable", [True, False])
@pytest.mark.parametrize("key", [KEY, OTHER])
@pytest.mark.parametrize(("idle_seconds", "max_idle_ms"), [(0, None), (0, 1000), (5, 1000)])
def test_is_reusable_for_agrees_with_the_predicates_it_joins(
    state: ConnectionState,
    reusable: bool,
    key: PoolKey,
    idle_seconds: float,
    max_idle_ms: float | None,
) -> None:
    # is_reusable_for() is the connector's one call per request: the same
    # answer as key equality, is_available() and has_expired(), asked apart.
    conn, _ = connected(reusable)
    conn.state = state
    conn.last_released_time = time.monotonic() - idle_seconds
    plain = conn.key == key and conn.is_available() and not conn.has_expired(max_idle_ms)
    assert conn.is_reusable_for(key, max_idle_ms) is plain
