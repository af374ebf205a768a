"""Which HTTP/2 connections are shared right now, and who waits for room on them.

An HTTP/1.1 request leases a whole pool slot. An HTTP/2 connection is leased
from its pool once, by the request that opened (or reused) it, and then
shared: later requests to the same pool key take a stream on it while it has
room. :class:`SharedConnections` is the connector's book of those slots:

* ``shared``: slots per key whose HTTP/2 connection is out of its pool;
* ``opening``: a future per key while a connection is being opened for it,
  so requests arriving meanwhile wait for it instead of opening their own;
* ``alpn_h11``: keys whose server picked ``http/1.1``: nothing to share, so
  nobody waits on anyone's connection;
* capacity waiters: requests waiting for a stream to end or a slot to free.

No I/O and no timeouts here; the connector bounds every wait.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiosonic.connection import Connection
    from aiosonic.drivers.http2 import HTTP2Driver
    from aiosonic.urls import PoolKey

__all__ = ["SharedConnections"]

#: Keys remembered as "the server picked http/1.1"; forgotten past this many.
MAX_ALPN_MEMORY = 1024


class SharedConnections:
    """The connector's HTTP/2 slots that are out of their pools, per key."""

    def __init__(self) -> None:
        self.shared: dict[PoolKey, list[Connection]] = {}
        self.opening: dict[PoolKey, asyncio.Future[None]] = {}
        self.alpn_h11: set[PoolKey] = set()
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        slots = sum(len(v) for v in self.shared.values())
        return (
            f"<SharedConnections [keys={len(self.shared)}, slots={slots}, "
            f"opening={len(self.opening)}, waiting={len(self._waiters)}]>"
        )

    def wants(self, key: PoolKey) -> bool:
        """Whether a request for ``key`` should look for a shared connection first."""
        if not key.http2 and not (self.shared and key in self.shared):
            return False  # the HTTP/1.1 hot path: no hashing of the key
        return not self.alpn_h11 or key not in self.alpn_h11

    def has_room(self, key: PoolKey) -> bool:
        """Whether a shared connection to ``key`` can take another stream now."""
        return self._with_room(key) is not None

    def take(self, key: PoolKey) -> Connection | None:
        """Reserve a stream on a shared connection to ``key`` with room, if any."""
        conn = self._with_room(key)
        if conn is not None:
            driver = conn.http2
            assert driver is not None
            driver.reserved += 1
        return conn

    def _with_room(self, key: PoolKey) -> Connection | None:
        for conn in self.shared.get(key, ()):
            driver = conn.http2
            if driver is not None and driver.can_take_stream():
                return conn
        return None

    def add(self, key: PoolKey, conn: Connection) -> None:
        """Share ``conn`` (just leased from its pool) and reserve its first stream."""
        driver = conn.http2
        assert driver is not None
        driver.on_capacity = self.notify
        driver.reserved += 1
        self.shared.setdefault(key, []).append(conn)

    def end_stream(self, conn: Connection, driver: HTTP2Driver) -> bool:
        """Count one stream of ``conn`` ended; return whether it was the last one.

        The last one stops the sharing: the slot goes back to its pool. (The
        reservation counter lives on the driver, which reads it in
        ``can_take_stream``; only this class writes it.)
        """
        driver.reserved -= 1
        if driver.reserved > 0:
            return False
        self.remove(conn)
        return True

    def remove(self, conn: Connection) -> None:
        """Stop sharing ``conn`` (its last stream ended; it goes back to its pool)."""
        key = conn.key
        slots = self.shared.get(key) if key is not None else None
        if slots is not None and conn in slots:
            slots.remove(conn)
            if not slots:
                del self.shared[key]  # type: ignore[arg-type]

    def remember_h11(self, key: PoolKey) -> None:
        """Note that ``key``'s server picked http/1.1 (bounded memory)."""
        if len(self.alpn_h11) >= MAX_ALPN_MEMORY:
            self.alpn_h11.clear()
        self.alpn_h11.add(key)

    def begin_open(self, key: PoolKey) -> asyncio.Future[None]:
        """Mark a connection to ``key`` as being opened; others wait on the future."""
        future = asyncio.get_running_loop().create_future()
        self.opening[key] = future
        return future

    def end_open(
        self, key: PoolKey, future: asyncio.Future[None], exc: BaseException | None
    ) -> None:
        """Settle ``future``: waiters see the opener's error, or look again."""
        del self.opening[key]
        if isinstance(exc, Exception):
            future.set_exception(exc)
            future.exception()  # retrieved, even when nobody waited
        else:
            future.set_result(None)  # opened, or the opener was cancelled

    async def wait(self) -> None:
        """Wait until a stream ends, a slot frees or a connection changes; then look again."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    @property
    def has_waiters(self) -> bool:
        """Whether any request waits for capacity."""
        return bool(self._waiters)

    def notify(self) -> None:
        """Wake every waiting request; each looks again."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close_all(self) -> None:
        """Close every shared connection (GOAWAY, then close) and wake the waiters."""
        for slots in list(self.shared.values()):
            for conn in slots:
                conn.close()
        self.notify()
