"""Connection pools: which connection slot a request gets, and when it waits.

A pool holds at most ``pool_size`` connection objects ("slots"); each slot may
or may not have a live transport. Pools know nothing of HTTP: the connector
asks a slot whether it can carry the request (its key, ``is_available()``,
``has_expired()``) and opens a transport when it cannot. The ``pool_acquire``
deadline is applied by the connector around :meth:`Pool.acquire`, so user-written pools get it too.

The contract the connector drives is :class:`Pool`, a ``typing.Protocol``;
:class:`SmartPool` and :class:`CyclicQueuePool` implement it, and a subclass of
:class:`BasePool` does by inheriting. A pool written for the published aiosonic
(:class:`PublishedPool`: ``acquire(urlparsed=None)``, ``release(conn)``,
``free_conns()``, ``is_all_free()``, ``cleanup()``, built as
``pool_cls(connector, pool_size, connection_cls)``) is driven through one small
adapter, :class:`PublishedPoolAdapter`, chosen once, when the connector builds
the pool (:func:`as_pool`).
"""

from __future__ import annotations

import asyncio
import inspect
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import ParseResult, SplitResult

__all__ = [
    "BasePool",
    "CyclicQueuePool",
    "Http2MultiplexPool",
    "Pool",
    "PoolConfig",
    "PublishedPool",
    "PublishedPoolAdapter",
    "SmartPool",
    "WsPool",
    "as_pool",
]

URLParts = ParseResult | SplitResult


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Limits of one pool; immutable, hashable and equal by value.

    Args:
        size: Connection slots in the pool.
        max_conn_requests: Requests a connection carries before it is closed;
            ``None`` for no limit.
        max_conn_idle_ms: Milliseconds a connection may sit idle in the pool
            before it is closed instead of reused; ``None`` for no limit.
    """

    size: int = 25
    max_conn_requests: int | None = 100
    max_conn_idle_ms: int | None = 60_000

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"PoolConfig.size must be >= 1, got {self.size}")


def origin_of(urlparsed: URLParts | None) -> tuple[str, str, int] | None:
    """Return ``(scheme, host, port)`` of a parsed URL, the pool's preference key."""
    if urlparsed is None:
        return None
    scheme = urlparsed.scheme
    port = urlparsed.port or (443 if scheme in ("https", "wss") else 80)
    return (scheme, (urlparsed.hostname or "").lower(), port)


@runtime_checkable
class Pool(Protocol):
    """What the connector needs of a pool; ours implement it.

    A pool class is built as ``pool_cls(connector, pool_size, connection_cls,
    config=config)``. Slots are whatever ``connection_cls(connector)`` builds.

    Attributes:
        pool_size: How many slots the pool holds at most.
    """

    pool_size: int

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Wait for a free slot and return it, preferring one already bound to ``key``.

        Args:
            urlparsed: The request URL, for pools that group by origin.
            key: The connector's full pool key (origin, TLS settings, proxy).
        """
        ...

    def acquire_nowait(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Return what :meth:`acquire` would if a slot is free now, else None."""
        ...

    def release(self, conn: Any) -> None:
        """Take back a slot handed out by acquire."""
        ...

    def free_conns(self) -> int:
        """Return the number of slots not in use."""
        ...

    def is_all_free(self) -> bool:
        """Return whether no slot is in use."""
        ...

    async def close_idle(self) -> None:
        """Close the connections of the slots not in use (the client is closing)."""
        ...

    async def cleanup(self) -> None:
        """Close every connection; the pool is not used afterwards."""
        ...


class PublishedPool(Protocol):
    """The pool contract the published aiosonic documented (five methods)."""

    async def acquire(self, urlparsed: URLParts | None = None) -> Any:
        """Wait for a free slot and return it."""
        ...

    def release(self, conn: Any) -> Any:
        """Take back a slot."""
        ...

    def free_conns(self) -> int:
        """Return the number of slots not in use."""
        ...

    def is_all_free(self) -> bool:
        """Return whether no slot is in use."""
        ...

    async def cleanup(self) -> None:
        """Close every connection."""
        ...


class PublishedPoolAdapter:
    """Drive a :class:`PublishedPool` through the :class:`Pool` contract.

    Its ``acquire`` gets no key (it picks by origin or not at all), it has no
    free slot to hand out without waiting, and closing the client cleans it up
    whole, as the published package did.

    Args:
        pool: The user's pool.

    Attributes:
        wrapped: The user's pool, as built.
    """

    __slots__ = ("pool_size", "wrapped")

    def __init__(self, pool: PublishedPool) -> None:
        self.wrapped = pool
        self.pool_size: int = getattr(pool, "pool_size", 0) or 0

    def __repr__(self) -> str:
        return f"<PublishedPoolAdapter [{self.wrapped!r}]>"

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Wait for a slot of the wrapped pool (``key`` is not its business)."""
        return await self.wrapped.acquire(urlparsed)

    def acquire_nowait(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Return None: a published pool can only be waited on."""
        return None

    def release(self, conn: Any) -> None:
        """Give ``conn`` back to the wrapped pool."""
        self.wrapped.release(conn)

    def free_conns(self) -> int:
        """Return the wrapped pool's free slots."""
        return self.wrapped.free_conns()

    def is_all_free(self) -> bool:
        """Return whether the wrapped pool has every slot free."""
        return self.wrapped.is_all_free()

    async def close_idle(self) -> None:
        """Clean the wrapped pool up whole: it cannot tell idle slots from leased ones."""
        await self.wrapped.cleanup()

    async def cleanup(self) -> None:
        """Clean the wrapped pool up."""
        await self.wrapped.cleanup()


def as_pool(pool_cls: Any, connector: Any, config: PoolConfig, connection_cls: Any) -> Pool:
    """Build a pool of ``pool_cls`` and return what the connector drives.

    Called once per pool, when the connector is built. A class whose
    constructor takes ``config`` is given it. A pool that implements
    :class:`Pool` (ours, subclasses of :class:`BasePool` that keep the
    documented ``acquire`` signature, or any class with the same methods) is
    used as it is; one written to the published contract (an ``acquire``
    without ``key``) is wrapped in a :class:`PublishedPoolAdapter`. Our own
    classes are known, so a cold start never inspects a signature.
    """
    if pool_cls in (SmartPool, CyclicQueuePool):
        ours: Pool = pool_cls(connector, config.size, connection_cls, config=config)
        return ours
    pool: Any
    if _takes(pool_cls, "config"):
        pool = pool_cls(connector, config.size, connection_cls, config=config)
    else:
        pool = pool_cls(connector, config.size, connection_cls)
    if isinstance(pool, Pool) and _takes(pool.acquire, "key"):
        return pool
    return PublishedPoolAdapter(pool)


def _takes(function: Any, parameter: str) -> bool:
    """Whether a user's pool class (or its ``acquire``) accepts ``parameter``; asked once."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return parameter in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


class BasePool(ABC):
    """Shared bookkeeping of the built-in pools.

    Args:
        connector: The owning connector; passed to each new connection.
        pool_size: Maximum number of connection slots.
        connection_cls: Builds a slot as ``connection_cls(connector)``.
        config: Optional full configuration (size is taken from it if given).
    """

    def __init__(
        self,
        connector: Any,
        pool_size: int,
        connection_cls: Any,
        config: PoolConfig | None = None,
    ) -> None:
        self.connector = connector
        self.config = config or PoolConfig(size=pool_size)
        self.pool_size = self.config.size
        self.connection_cls = connection_cls
        self._all: list[Any] = []
        self._closed = False
        self._init_slots()

    @abstractmethod
    def _init_slots(self) -> None:
        """Set up the pool's own structure once the shared state exists."""

    # The published pools kept their connector's settings on themselves; ours
    # read them from the connector. Only code written against those pools uses
    # these, so the defaults are imported when asked for (this module imports
    # nothing from aiosonic otherwise). They stay settable, as the published
    # attributes were, for subclasses that assign them.
    _timeouts: Any = None
    _http2_config: Any = None

    @property
    def conf(self) -> PoolConfig:
        """The published name of :attr:`config`."""
        return self.config

    @conf.setter
    def conf(self, value: PoolConfig) -> None:
        self.config = value

    @property
    def timeouts(self) -> Any:
        """The connector's ``Timeouts`` (the default one when the connector has none)."""
        found = self._timeouts or getattr(self.connector, "timeouts", None)
        if found is None:
            from aiosonic.timeout import Timeouts

            found = Timeouts()
        return found

    @timeouts.setter
    def timeouts(self, value: Any) -> None:
        self._timeouts = value

    @property
    def http2_config(self) -> Any:
        """The connector's ``Http2Config`` (the default one when the connector has none)."""
        found = self._http2_config or getattr(self.connector, "http2_config", None)
        if found is None:
            from aiosonic.http2 import Http2Config

            found = Http2Config()
        return found

    @http2_config.setter
    def http2_config(self, value: Any) -> None:
        self._http2_config = value

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} [size={self.pool_size}, free={self.free_conns()}, "
            f"connections={len(self._all)}]>"
        )

    def _new_slot(self) -> Any:
        conn = self.connection_cls(self.connector)
        self._all.append(conn)
        return conn

    @abstractmethod
    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Wait for and return a connection slot (preferring one for ``urlparsed``).

        Args:
            urlparsed: The request URL; a pool may prefer its origin.
            key: The connector's full pool key; a pool may prefer a slot bound to it.
        """

    def acquire_nowait(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Return what acquire() would if it need not wait, else None (here: always None)."""
        return None

    @abstractmethod
    def release(self, conn: Any) -> None:
        """Give a slot back to the pool."""

    @abstractmethod
    def free_conns(self) -> int:
        """Return the number of slots not in use."""

    def is_all_free(self) -> bool:
        """Return whether no slot is in use."""
        return self.free_conns() == self.pool_size

    async def close_idle(self) -> None:
        """Close the connections of free slots (here: all of them; ours know which are free)."""
        await self.cleanup()

    async def cleanup(self) -> None:
        """Close every connection; the pool cannot be used afterwards."""
        self._closed = True
        for conn in self._all:
            conn.close()


class SmartPool(BasePool):
    """A pool that prefers an idle connection to the requested origin.

    Slots are created lazily. On acquire, an idle live connection with the
    exact pool key is taken first (same origin, TLS settings and proxy), then
    one to the same ``(scheme, host, port)``, then a never-used slot, then the
    least recently released other connection (which the connector will close
    and reopen for the new origin).
    """

    def _init_slots(self) -> None:
        # Slots neither leased nor promised to a waiter, and the FIFO of waiters.
        # (asyncio.Semaphore, but a free slot costs no coroutine and no scan.)
        self._available = self.pool_size
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Idle connections grouped by pool key (or origin); None: no transport.
        # A bucket emptied by the fast path stays (it is refilled at once on a
        # busy pool); the slow path (_choose) drops empty ones.
        self._idle: dict[Any, deque[Any]] = {}
        self._idle_count = 0
        self._spare = self.pool_size  # slots not created yet

    def _take(self, bucket_key: Any) -> Any:
        bucket = self._idle[bucket_key]
        conn = bucket.pop()  # most recently released: the warmest socket
        if not bucket:
            del self._idle[bucket_key]
        self._idle_count -= 1
        return conn

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Wait for a free slot and return the best connection for the request.

        Args:
            urlparsed: The target URL; idle connections to its origin win.
            key: The connector's full pool key (origin, TLS settings, proxy);
                an idle connection with exactly this key wins over all.
        """
        if self._available > 0 and not self._waiters:
            self._available -= 1
        else:
            await self._wait_for_slot()
        return self._choose(urlparsed, key)

    def acquire_nowait(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Return what acquire() would if a slot is free now and nobody waits, else None.

        The connector's fast path: no coroutine when no wait is needed.
        """
        if self._available <= 0 or self._waiters:
            return None
        self._available -= 1
        if key is not None:
            bucket = self._idle.get(key)
            if bucket:  # _choose(), its first case inline
                self._idle_count -= 1
                return bucket.pop()  # most recently released: the warmest socket
        return self._choose(urlparsed, key)

    def _choose(self, urlparsed: URLParts | None, key: Any) -> Any:
        """Take the best slot for the request (a slot is already counted out)."""
        idle = self._idle
        if key is not None and idle.get(key):
            return self._take(key)
        for empty in [k for k, bucket in idle.items() if not bucket]:
            del idle[empty]
        origin = origin_of(urlparsed)
        if origin is not None:
            for bucket_key in idle:
                # With a full key, a connection filed under another full key of
                # the same origin (other TLS settings or proxy) cannot carry the
                # request: taking it would only close it, so a spare slot wins.
                if bucket_key is not None and (
                    bucket_key == origin
                    or (key is None and getattr(bucket_key, "origin", None) == origin)
                ):
                    return self._take(bucket_key)
        if self._spare:
            self._spare -= 1
            return self._new_slot()
        if idle.get(None):
            return self._take(None)
        # Take the least recently released connection of any origin; the
        # connector closes it and opens one for the new origin.
        oldest = min(idle, key=lambda k: idle[k][0].last_released_time or 0.0)
        bucket = idle[oldest]
        conn = bucket.popleft()
        if not bucket:
            del idle[oldest]
        self._idle_count -= 1
        return conn

    def release(self, conn: Any) -> None:
        """Return ``conn`` to the idle set of its key and free a slot."""
        if getattr(conn, "is_connected", False):
            bucket_key = getattr(conn, "key", None) or getattr(conn, "origin", None)
        else:
            bucket_key = None
        bucket = self._idle.get(bucket_key)
        if bucket is None:
            bucket = self._idle[bucket_key] = deque()
        bucket.append(conn)
        self._idle_count += 1
        if self._waiters:
            self._hand_over()
        else:
            self._available += 1
        if self._closed:
            conn.close()

    async def _wait_for_slot(self) -> None:
        """Queue until a release hands this caller its slot."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._hand_over()  # given a slot as we were cancelled: pass it on
            raise
        finally:
            if waiter in self._waiters:  # cancelled before its turn (a rare path)
                self._waiters.remove(waiter)

    def _hand_over(self) -> None:
        """Give a freed slot to the first live waiter, else count it available."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._available += 1

    def free_conns(self) -> int:
        """Return the number of slots not in use."""
        return self._idle_count + self._spare

    async def close_idle(self) -> None:
        """Close the connections not leased now; leased ones are left to finish."""
        for bucket in self._idle.values():
            for conn in bucket:
                conn.close()


class CyclicQueuePool(BasePool):
    """A FIFO ring of slots handed out in rotation, whatever the origin."""

    def _init_slots(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(self.pool_size):
            self._queue.put_nowait(self._new_slot())

    @property
    def pool(self) -> asyncio.Queue[Any]:
        """The queue of free slots (0.14 to 0.20 exposed it under this name); do not change it."""
        return self._queue

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Wait for and return the next slot in rotation (whatever the URL or key)."""
        return await self._queue.get()

    def release(self, conn: Any) -> None:
        """Put ``conn`` at the back of the ring."""
        self._queue.put_nowait(conn)
        if self._closed:
            conn.close()

    def free_conns(self) -> int:
        """Return the number of slots not in use."""
        return self._queue.qsize()

    async def close_idle(self) -> None:
        """Close the connections not leased now; leased ones are left to finish."""
        queue = self._queue
        for _ in range(queue.qsize()):  # the ring keeps its order
            conn = queue.get_nowait()
            conn.close()
            queue.put_nowait(conn)


class Http2MultiplexPool(SmartPool):
    """The pool the published ``TCPConnector(http2=True)`` chose; here a :class:`SmartPool`.

    Ours shares an HTTP/2 connection among concurrent requests in the
    connector, whatever the pool (:mod:`aiosonic.h2_sharing`), so passing
    ``pool_cls=Http2MultiplexPool`` works and behaves as the default pool.
    """


class WsPool(BasePool):
    """A pool that pools nothing: each acquire gets a new slot (the published ``WsPool``).

    The published WebSocket client built its connector with it, so that no
    WebSocket connection was ever handed to an HTTP request. aiosonic's
    WebSocket client no longer needs it (a WebSocket never enters a pool);
    it is kept for code that builds ``TCPConnector(pool_cls=WsPool)``. A
    released slot is closed, never reused.
    """

    def _init_slots(self) -> None:
        self._leased = 0

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        """Return a new slot."""
        self._leased += 1
        return self.connection_cls(self.connector)

    def release(self, conn: Any) -> None:
        """Close ``conn``: it is not kept."""
        self._leased = max(self._leased - 1, 0)
        conn.close()

    def free_conns(self) -> int:
        """Return the slots not in use (a new one is always free)."""
        return max(self.pool_size - self._leased, 0)


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
