"""TCPConnector: from a pool key to a connection that can carry the request.

The connector picks the pool for an origin, waits for a slot (the
``pool_acquire`` deadline), and when the slot cannot carry the request as it
is, opens a transport: DNS (through :class:`~aiosonic.dns_cache.DNSCache`), TCP,
TLS with SNI and ALPN. DNS + TCP + TLS together are bounded by ``sock_connect``.
Through a proxy, :mod:`aiosonic.tunnel` does the proxy's part (CONNECT, SOCKS5,
TLS inside the tunnel) with this connector's DNS and TCP, under the same deadline.
It also decides at release whether a connection is kept, and tracks leases so
``wait_requests()`` can wait on an event instead of polling.

HTTP semantics (methods, bodies, redirects) live in the client, the protocol
in the drivers; this module only manages connections.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from aiosonic.connection import Connection
from aiosonic.decoders import MAX_CONTENT_ENCODINGS, MAX_DECOMPRESSED_SIZE
from aiosonic.dns_cache import DNSCache
from aiosonic.drivers.http11 import HTTP11Driver
from aiosonic.exceptions import (
    ConnectError,
    ConnectionPoolAcquireTimeout,
    ConnectorClosed,
    ConnectTimeout,
    TLSError,
)
from aiosonic.pools import PoolConfig, SmartPool
from aiosonic.protocols.h11_events import H11Limits
from aiosonic.proxy import Proxy
from aiosonic.resolver import AbstractResolver, DefaultResolver
from aiosonic.timeout import Timeouts, deadline
from aiosonic.tls import TLSContextCache
from aiosonic.tunnel import open_via_proxy
from aiosonic.urls import ParsedURL, PoolKey, parse_url

__all__ = ["TCPConnector"]

DEFAULT_POOL_KEY = ":default"

_P = TypeVar("_P", bound=asyncio.BaseProtocol)


class TCPConnector:
    """Open, pool and recycle connections.

    Args:
        pool_size: Slots of the default pool. A ``dict`` here is taken as
            ``pool_configs`` (newer published releases pass it first).
        timeouts: Default deadlines; a request's own ``timeouts`` override them.
        connection_cls: Slot class; default :class:`aiosonic.connection.Connection`.
        pool_cls: Pool class; default :class:`aiosonic.pools.SmartPool`. Built as
            ``pool_cls(connector, size, connection_cls)``.
        resolver: DNS strategy; default :class:`aiosonic.resolver.DefaultResolver`.
        ttl_dns_cache: How long a DNS answer is cached, in milliseconds.
        use_dns_cache: Cache DNS answers at all.
        conn_max_requests: Requests a connection carries before it is closed.
        pool_configs: ``{"https://host[:port]": PoolConfig, ":default": PoolConfig}``:
            separate pools, with their own limits, per origin. A ``":default"``
            entry replaces ``pool_size`` and ``conn_max_requests``.
        limits: HTTP/1.1 parser limits for every response.
        max_decompressed_size: Most bytes one response body may decode to, in
            bytes, for gzip, deflate and br alike; checked while streaming.
        max_content_encodings: Most codings one ``Content-Encoding`` may chain.

    Raises:
        ValueError: ``max_decompressed_size`` or ``max_content_encodings`` is
            below 1.
    """

    def __init__(
        self,
        pool_size: int | dict[str, PoolConfig] = 25,
        timeouts: Timeouts | None = None,
        connection_cls: Any = None,
        pool_cls: Any = None,
        resolver: AbstractResolver | None = None,
        ttl_dns_cache: int = 10000,
        use_dns_cache: bool = True,
        conn_max_requests: int | None = 100,
        pool_configs: dict[str, PoolConfig] | None = None,
        limits: H11Limits | None = None,
        max_decompressed_size: int = MAX_DECOMPRESSED_SIZE,
        max_content_encodings: int = MAX_CONTENT_ENCODINGS,
    ) -> None:
        if max_decompressed_size < 1 or max_content_encodings < 1:
            raise ValueError(
                f"max_decompressed_size={max_decompressed_size} and "
                f"max_content_encodings={max_content_encodings} must both be at least 1"
            )
        if isinstance(pool_size, dict):
            pool_configs, pool_size = pool_size, 25
        self.timeouts = timeouts or Timeouts()
        self.connection_cls = connection_cls or Connection
        self.pool_cls = pool_cls or SmartPool
        self.resolver = resolver or DefaultResolver()
        self.dns = DNSCache(self.resolver, ttl_dns_cache, use_dns_cache)
        self.conn_max_requests = conn_max_requests
        self.limits = limits
        self.max_decompressed_size = max_decompressed_size
        self.max_content_encodings = max_content_encodings
        self.tls = TLSContextCache()
        configs = dict(pool_configs or {})
        configs.setdefault(
            DEFAULT_POOL_KEY, PoolConfig(size=pool_size, max_conn_requests=conn_max_requests)
        )
        self.pool_configs = {_normalise_pool_name(k): v for k, v in configs.items()}
        self.pools: dict[str, Any] = {}
        self._configs_by_pool: dict[int, PoolConfig] = {}
        # Pools whose acquire() takes the full pool key (ours; a user's may not).
        self._keyed_pools: set[int] = set()
        for name, config in self.pool_configs.items():
            pool = self._build_pool(config)
            self.pools[name] = pool
            self._configs_by_pool[id(pool)] = config
            if _accepts(pool.acquire, "key"):
                self._keyed_pools.add(id(pool))
        self._leased = 0
        self._all_free = asyncio.Event()
        self._all_free.set()
        self._closed = False

    def _build_pool(self, config: PoolConfig) -> Any:
        if self.pool_cls is SmartPool or _accepts(self.pool_cls, "config"):
            return self.pool_cls(self, config.size, self.connection_cls, config=config)
        return self.pool_cls(self, config.size, self.connection_cls)

    def __repr__(self) -> str:
        return (
            f"<TCPConnector [pools={len(self.pools)}, leased={self._leased}, "
            f"closed={self._closed}]>"
        )

    async def __aenter__(self) -> TCPConnector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cleanup()

    @property
    def pool(self) -> Any:
        """The default pool (the one attribute the published package exposed)."""
        return self.pools[DEFAULT_POOL_KEY]

    def pool_for(self, url: ParsedURL) -> tuple[Any, PoolConfig]:
        """Return the pool serving ``url``'s origin and its configuration."""
        pools = self.pools
        if len(pools) > 1:
            name = f"{url.scheme}://{url.host}:{url.port}"
            pool = pools.get(name)
            if pool is not None:
                return pool, self.pool_configs[name]
        return pools[DEFAULT_POOL_KEY], self.pool_configs[DEFAULT_POOL_KEY]

    # --- acquire / release --------------------------------------------------

    async def acquire(
        self, url: ParsedURL, key: PoolKey, timeouts: Timeouts, proxy: Proxy | None = None
    ) -> Connection:
        """Return a connection that can carry a request to ``key`` now.

        Args:
            url: The request URL.
            key: The pool key; ``key.proxy`` is set when ``proxy`` is.
            timeouts: The deadlines of this request.
            proxy: The proxy a new connection goes through, if any.

        Raises:
            ConnectionPoolAcquireTimeout: No slot freed within ``pool_acquire``.
            ConnectTimeout: DNS + TCP + TLS (+ proxy set-up) took longer than
                ``sock_connect``.
            ConnectError: The host did not resolve or refused the connection.
            TLSError: The TLS handshake or certificate check failed.
            ProxyError: The proxy refused the tunnel.
        """
        if self._closed:
            raise ConnectorClosed(f"connector is closed; not sending to {url.url}")
        pool, config = self.pool_for(url)
        async with deadline(
            timeouts.pool_acquire,
            lambda: ConnectionPoolAcquireTimeout(
                f"no free connection within pool_acquire={timeouts.pool_acquire}s ({url.url})"
            ),
        ):
            if id(pool) in self._keyed_pools:
                conn: Connection = await pool.acquire(url.split, key)
            else:
                conn = await pool.acquire(url.split)
        self._leased += 1
        self._all_free.clear()
        conn.pool = pool
        try:
            if conn.is_reusable_for(key) and not _idle_expired(conn, config):
                conn.reused = True
                return conn
            conn.close()  # another key, dead, or idle too long; no-op when unconnected
            conn.reused = False
            async with deadline(
                timeouts.sock_connect,
                lambda: ConnectTimeout(
                    f"no connection within sock_connect={timeouts.sock_connect}s "
                    f"({url.host}:{url.port}{f' via {proxy.key}' if proxy else ''})"
                ),
            ):
                started = time.perf_counter()
                transport, driver, dns_seconds = await self._open(url, key, proxy)
            conn.attach(key, transport, driver)
            conn.connect_timings = (dns_seconds, time.perf_counter() - started - dns_seconds)
            return conn
        except BaseException:
            conn.close()
            self.release(conn)
            raise

    def release(self, conn: Connection) -> None:
        """Give ``conn`` back to its pool, closing it if it must not be reused."""
        pool = conn.pool
        if pool is None:
            return
        conn.pool = None
        config = self._configs_by_pool.get(id(pool))
        max_requests = config.max_conn_requests if config else self.conn_max_requests
        if conn.is_connected and (
            not conn.is_reusable()
            or (max_requests is not None and conn.requests_count >= max_requests)
        ):
            conn.close()
        conn.last_released_time = time.monotonic()
        self._leased -= 1
        if self._leased <= 0:
            self._leased = 0
            self._all_free.set()
        pool.release(conn)

    # --- opening ------------------------------------------------------------

    def ssl_context_for(
        self, url: ParsedURL, verify: bool, ssl_ctx: ssl.SSLContext | None
    ) -> ssl.SSLContext | None:
        """Return the SSL context a connection to ``url`` uses, or None for plaintext."""
        if not url.is_secure:
            return None
        return ssl_ctx if ssl_ctx is not None else self.tls.get(verify)

    async def _open(
        self, url: ParsedURL, key: PoolKey, proxy: Proxy | None = None
    ) -> tuple[asyncio.Transport, HTTP11Driver, float]:
        """Resolve, connect and (for https) handshake; return the DNS time too.

        With a proxy, :func:`aiosonic.tunnel.open_via_proxy` does the proxy's
        part; name resolution and TCP still go through this connector.
        """
        dialer = _Dialer(self.dns)
        ssl_ctx = self.ssl_context_for(url, key.verify, key.ssl)
        limits = self.limits

        def driver_factory() -> HTTP11Driver:
            return HTTP11Driver(limits)

        if proxy is not None:
            proxy_ssl = self.tls.get(key.verify) if proxy.scheme == "https" else None
            transport, driver = await open_via_proxy(
                proxy, url, dialer, driver_factory, ssl_ctx, proxy_ssl, limits
            )
        else:
            transport, driver = await dialer.open_transport(
                url.host,
                url.port,
                driver_factory,
                ssl_ctx,
                url.host if ssl_ctx is not None else None,
            )
        return transport, driver, dialer.dns_seconds

    # --- shutdown -----------------------------------------------------------

    def is_all_free(self) -> bool:
        """Return whether no connection is leased out."""
        return self._leased == 0

    async def wait_free_pool(self) -> bool:
        """Wait until every leased connection is back in its pool."""
        await self._all_free.wait()
        return True

    async def cleanup(self) -> None:
        """Close every pool and the resolver; idempotent."""
        if self._closed:
            return
        self._closed = True
        for pool in self.pools.values():
            await pool.cleanup()
        await self.dns.close()


class _Dialer:
    """DNS (through the cache) and TCP (+TLS) for one new connection.

    Implements :class:`aiosonic.tunnel.Dialer`; records the time spent in DNS
    for the response's timings.
    """

    __slots__ = ("_dns", "dns_seconds")

    def __init__(self, dns: DNSCache) -> None:
        self._dns = dns
        self.dns_seconds = 0.0

    async def _lookup(self, host: str, port: int) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            return await self._dns.lookup(host, port, socket.AF_UNSPEC)
        finally:
            self.dns_seconds += time.perf_counter() - started

    async def resolve_address(self, host: str, port: int) -> str:
        """Resolve ``host`` to its first address."""
        answers = await self._lookup(host, port)
        return str(answers[0]["host"])

    async def open_transport(
        self,
        host: str,
        port: int,
        factory: Callable[[], _P],
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> tuple[asyncio.Transport, _P]:
        """Resolve ``host`` and connect to each address in turn until one answers.

        Raises:
            ConnectError: Every address refused or was unreachable.
            TLSError: The TLS handshake or certificate check failed.
        """
        loop = asyncio.get_running_loop()
        answers = await self._lookup(host, port)
        errors: list[OSError] = []
        for answer in answers:
            try:
                return await loop.create_connection(
                    factory,
                    host=answer["host"],
                    port=answer["port"],
                    family=answer["family"],
                    proto=answer["proto"],
                    flags=answer["flags"],
                    ssl=ssl_ctx,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=None,
                )
            except ssl.SSLError as exc:
                raise _tls_error(host, port, exc) from exc
            except OSError as exc:
                errors.append(exc)
        last = errors[-1] if errors else None
        raise ConnectError(
            f"cannot connect to {host}:{port} ({len(errors)} address(es) tried): {last}"
        ) from last


def _tls_error(host: str, port: int, exc: ssl.SSLError) -> TLSError:
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return TLSError(f"TLS handshake with {host}:{port} failed: {reason}")


def _normalise_pool_name(name: str) -> str:
    """``https://Host`` -> ``https://host:443``; ``:default`` stays."""
    if name == DEFAULT_POOL_KEY:
        return name
    url = parse_url(name if "://" in name else f"http://{name}")
    return f"{url.scheme}://{url.host}:{url.port}"


def _accepts(func: Any, parameter: str) -> bool:
    """Whether ``func`` (a callable or class) takes a parameter of that name."""
    try:
        return parameter in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _idle_expired(conn: Connection, config: PoolConfig) -> bool:
    """Whether a pooled connection sat idle longer than ``max_conn_idle_ms``."""
    idle_ms = config.max_conn_idle_ms
    released = conn.last_released_time
    return (
        idle_ms is not None
        and released is not None
        and (time.monotonic() - released) * 1000 > idle_ms
    )
