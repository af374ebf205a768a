"""TCPConnector: from a pool key to a connection that can carry the request.

The connector picks the pool for an origin, waits for a slot (the
``pool_acquire`` deadline), and when the slot cannot carry the request as it
is, has its :class:`~aiosonic.opening.ConnectionOpener` open a connection:
DNS (through the connector's :class:`~aiosonic.dns_cache.DNSCache`), TCP, TLS
with SNI and ALPN, a proxy tunnel or a custom backend's stream, and the
driver for what was negotiated. How that is done lives in
:mod:`aiosonic.opening`; the ``sock_connect`` deadline around all of it
lives here. The connector also decides at release whether a connection is
kept (synchronously: ``Connection.check_in`` says whether to close it), and
tracks leases so ``wait_requests()`` can wait on an event instead of
polling. It records each connection it opens in a
:class:`~aiosonic.stats.ConnectionBook` (for ``stats()``, at no cost per
request), and takes out of reuse the connections whose peer address left
their host's DNS answer when the cache refreshes it.

An HTTP/1.1 request leases a whole slot (:class:`~aiosonic.connection.HTTP11Lease`).
HTTP/2 connections sit in the same pools. A request leases a *stream*
(:class:`~aiosonic.connection.HTTP2Stream`) on a connection that has room for
one; the connection's slot stays leased from its pool while any stream is
open, and goes back when the last one ends. When no connection has room, a
request opens one within the pool's size, and requests that arrive while a
connection to their key is being opened wait for it instead of opening their
own. The wait for stream capacity is bounded by ``pool_acquire``.

:meth:`TCPConnector.send` is the one call the client makes per attempt:
request in, response out (as httpx 1.0's ``Transport.send``). It acquires a
lease, lets the lease send (each lease kind serialises its own head), reads a
small body at once, records the timing marks and gives the lease back on
error. HTTP semantics (redirects, auth, cookies, retries) live in the client,
the protocol in the drivers.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from aiosonic._published import PublishedConnectorAttributes
from aiosonic.backends import NetworkBackend, NetworkBackendInterface
from aiosonic.connection import ACTIVE, Connection, HTTP2Stream, HTTP11Lease, http11_head
from aiosonic.connector_tracking import OpenWebSocket, OpenWebSockets, SlotWaiters
from aiosonic.decoders import MAX_CONTENT_ENCODINGS, MAX_DECOMPRESSED_SIZE, DecodeLimits
from aiosonic.dns_cache import AnswerListener, DNSCache
from aiosonic.drivers.http2 import Http2Config, HTTP2Driver
from aiosonic.drivers.http11 import HTTP11Driver
from aiosonic.exceptions import (
    ConnectionPoolAcquireTimeout,
    ConnectorClosed,
    ConnectTimeout,
)
from aiosonic.h2_sharing import SharedConnections
from aiosonic.happy_eyeballs import DEFAULT_DELAY, check_delay
from aiosonic.leaks import OwnedTransports, Site, creation_site
from aiosonic.opening import ConnectionOpener, OpenedConnection
from aiosonic.pools import Pool, PoolConfig, PublishedPoolAdapter, SmartPool, as_pool
from aiosonic.protocols.h11_events import H11Limits
from aiosonic.protocols.websocket import CLOSE_GOING_AWAY
from aiosonic.proxy import Proxy
from aiosonic.request import Request, SendOptions
from aiosonic.resolver import AbstractResolver, DefaultResolver
from aiosonic.response import DecodingLimits, HttpResponse
from aiosonic.stats import ConnectionBook, ConnectorStats
from aiosonic.tcp_helpers import SocketOptions
from aiosonic.timeout import Timeouts, deadline
from aiosonic.tls import SHARED_CONTEXTS, ClientCert
from aiosonic.tls_sessions import TLSSessions
from aiosonic.urls import ParsedURL, PoolKey, parse_url

__all__ = ["PRELOAD_LIMIT", "Http2Config", "OpenWebSocket", "TCPConnector"]

DEFAULT_POOL_KEY = ":default"
#: Pool keys a connector remembers (see ``TCPConnector._pool_keys``); URLs
#: repeat in real workloads, and a full memo is simply cleared.
POOL_KEY_MEMO_SIZE = 512
#: Bodies up to this size are read inside ``send()`` so the connection is
#: released at once; larger or unknown-length bodies are streamed on demand.
PRELOAD_LIMIT = 1024 * 1024
#: How many unread responses a pool-wait message names (with where each was made).
UNREAD_SITES_SHOWN = 3

logger = logging.getLogger(__name__)

_P = TypeVar("_P", bound=asyncio.BaseProtocol)


class TCPConnector(PublishedConnectorAttributes):
    """Open, pool and recycle connections.

    Args:
        pool_size: Slots of the default pool. A ``dict`` here is taken as
            ``pool_configs`` (newer published releases pass it first).
        timeouts: Default deadlines; a request's own ``timeouts`` override them.
        connection_cls: Slot class; default :class:`aiosonic.connection.Connection`.
        pool_cls: Pool class; default :class:`aiosonic.pools.SmartPool`. One
            that implements :class:`aiosonic.pools.Pool` (a subclass of
            :class:`~aiosonic.pools.BasePool` does) is built as
            ``pool_cls(connector, size, connection_cls, config=config)``; one
            written for the published contract, as ``pool_cls(connector, size,
            connection_cls)``, and driven through an adapter.
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
        http2: Negotiate HTTP/2 (ALPN ``h2``, falling back to ``http/1.1``)
            for every ``https`` request; a request's ``http2=True`` does it
            for that request only. ``http://`` uses HTTP/2 only with
            ``http2_config.prior_knowledge``. Not through proxies.
        http2_config: Windows, limits and h2c of HTTP/2 connections.
        happy_eyeballs_delay: Seconds between the starts of connection attempts
            to a host's addresses (RFC 8305); ``None`` tries them one at a time.
        socket_options: TCP options of every new connection (keepalive,
            ``TCP_NODELAY``, interface, local address).
        uds: Path of a UNIX domain socket every connection goes to, instead
            of the URL's host and port (as in the published 1.x). The URL
            still gives the ``Host`` header, the pools, and for ``https`` the
            TLS server name. Not with proxies; the environment's proxies
            (``trust_env``) are not used.
        network_backend: Where connections come from: a
            :class:`aiosonic.backends.NetworkBackendInterface` whose
            ``connect(host, port)`` returns streams (recording, routing to
            UNIX sockets, serving from memory). The connector does TLS on the
            stream (``start_tls``) and drives HTTP/1.1 or HTTP/2 over it. The
            default (None, or a plain :class:`~aiosonic.backends.NetworkBackend`)
            is the connector's own fast path: its DNS cache, Happy Eyeballs,
            socket options and asyncio transports. Not with ``uds`` or proxies.
        tls_session_resumption: Offer a new connection the TLS session of the
            last one with the same pool key (same origin and TLS settings),
            so the server can skip the certificate exchange and key
            agreement. Only with aiosonic's own contexts (``verify``,
            ``cert``, :func:`aiosonic.tls.get_default_ssl_context`); a
            plain :class:`ssl.SSLContext` passed as ``ssl=`` is used as it
            is, without. Not through proxies. ``stats()`` counts
            ``tls_resumed``.

    Raises:
        ValueError: ``max_decompressed_size`` or ``max_content_encodings`` is
            below 1, or ``happy_eyeballs_delay`` is negative.
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
        http2: bool = False,
        http2_config: Http2Config | None = None,
        happy_eyeballs_delay: float | None = DEFAULT_DELAY,
        socket_options: SocketOptions | None = None,
        uds: str | None = None,
        network_backend: NetworkBackendInterface | None = None,
        tls_session_resumption: bool = True,
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
        # Held weakly: a refresh timer keeps the cache alive, and it must not
        # keep a forgotten connector (and its sockets) alive with it.
        self.dns.on_answer = _dns_follower(weakref.ref(self))
        self._book = ConnectionBook()
        self.conn_max_requests = conn_max_requests
        self.max_decompressed_size = max_decompressed_size
        self.max_content_encodings = max_content_encodings
        # The shared contexts, and this connector's sessions per pool key.
        self.tls = TLSSessions(SHARED_CONTEXTS, tls_session_resumption)
        self._pool_keys: dict[str, tuple[SendOptions, PoolKey]] = {}
        self._http2 = http2
        self._http2_config = http2_config or Http2Config()
        self.uds = uds
        if type(network_backend) is NetworkBackend:
            network_backend = None  # the default: the connector's own fast path
        if network_backend is not None and uds is not None:
            raise ValueError(
                "pass uds= or network_backend= (aiosonic.backends.UnixSocketBackend "
                "maps origins to sockets), not both"
            )
        # New connections: it reads dns, tls, http2, http2_config and uds from
        # here at each open, and owns the settings only opening reads (see the
        # properties below).
        self._opener = ConnectionOpener(
            self, socket_options, check_delay(happy_eyeballs_delay), network_backend, limits
        )
        self._shared = SharedConnections()
        configs = dict(pool_configs or {})
        configs.setdefault(
            DEFAULT_POOL_KEY, PoolConfig(size=pool_size, max_conn_requests=conn_max_requests)
        )
        self.pool_configs = {_normalise_pool_name(k): v for k, v in configs.items()}
        #: The pools, as the connector drives them (a published-style pool
        #: class is wrapped once here; see aiosonic.pools.as_pool).
        self.pools: dict[str, Pool] = {}
        self._configs_by_pool: dict[int, PoolConfig] = {}
        for name, config in self.pool_configs.items():
            pool = as_pool(self.pool_cls, self, config, self.connection_cls)
            self.pools[name] = pool
            self._configs_by_pool[id(pool)] = config
        # URL -> (options, pool key) of the last request sent to it: building a
        # PoolKey (and a proxy's credential digest) per request costs about
        # three times this lookup, which hits when the options are equal (the
        # client's default SendOptions are one object). Only send() reads it;
        # tests/test_connector.py checks it against pool_key().
        self._leased = 0
        # Set when the last lease comes back; made only while wait_free_pool()
        # waits, so a request toggles no Event (two calls each way) at low load.
        self._all_free: asyncio.Event | None = None
        self._closed = False
        # Tasks waiting for a slot: close() fails them, stats() counts them.
        self._waiting = SlotWaiters()
        # Leases held by responses handed out unread: id -> (pool, url, where made).
        self._unread: dict[int, tuple[Any, str, str]] = {}
        # Who made this connector and where, for the warning if it is
        # collected unclosed; the finalizer that closes its sockets then is
        # set up with the first connection (a client that never connects
        # costs nothing). One attribute for both: CPython 3.11 keeps an
        # instance's attributes inline (fast to read) only up to 30 of them,
        # and the connector is read on every request.
        self._made_by: tuple[str, Site] = ("TCPConnector", creation_site())
        self._owned: OwnedTransports | None = None
        # WebSockets opened through this connector and still open. They are in
        # no pool; cleanup() closes them (1001), wait_websockets() waits for them.
        self._websockets = OpenWebSockets()

    def __repr__(self) -> str:
        totals = self.stats()
        websockets = f"websockets={len(self._websockets)}; " if self._websockets else ""
        return (
            f"<TCPConnector [pools={len(self.pools)}, leased={self._leased}; connections: "
            f"idle={totals.idle} opened={totals.opened} reused={totals.reused} "
            f"closed={totals.closed}; waiting={totals.waiting}; dns: hits={totals.dns_hits} "
            f"misses={totals.dns_misses}; tls handshakes={totals.tls_handshakes}; "
            f"{websockets}closed={self._closed}]>"
        )

    def stats(self) -> ConnectorStats:
        """Return connection counts per origin, and their totals.

        Computed now from the connector's book and its pools; keeping the
        book costs nothing per request (see :mod:`aiosonic.stats`). A
        connection closed by the server counts as closed from the first
        read after it is gone.

        Returns:
            The totals, and an :class:`~aiosonic.stats.OriginStats` per
            ``(scheme, host, port)`` in ``origins``.
        """
        return self._book.snapshot(self._waiting.origins())

    def name_owner(self, what: str) -> None:
        """Name who made this connector in the ResourceWarning of a forgotten close.

        ``HTTPClient`` says so for the connector it makes itself: the user
        made a client, not a connector.
        """
        self._made_by = (what, self._made_by[1])

    async def __aenter__(self) -> TCPConnector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cleanup()

    # The settings only opening reads live on the opener (one home each, so an
    # assignment here takes effect with the next connection); none is read
    # per request.

    # The two settings that shape pool keys: assigning one forgets the memoised
    # keys, so the next request, even to a URL already used, gets its own.

    @property
    def http2(self) -> bool:
        """Whether HTTP/2 is offered on every request (``http2=``)."""
        return self._http2

    @http2.setter
    def http2(self, value: bool) -> None:
        self._http2 = value
        self._pool_keys.clear()

    @property
    def http2_config(self) -> Http2Config:
        """HTTP/2 windows, limits and h2c of new connections (``http2_config=``)."""
        return self._http2_config

    @http2_config.setter
    def http2_config(self, value: Http2Config) -> None:
        self._http2_config = value
        self._pool_keys.clear()

    @property
    def socket_options(self) -> SocketOptions | None:
        """TCP options of every new connection (``socket_options=``)."""
        return self._opener.socket_options

    @socket_options.setter
    def socket_options(self, value: SocketOptions | None) -> None:
        self._opener.socket_options = value

    @property
    def happy_eyeballs_delay(self) -> float | None:
        """Seconds between connection attempts to a host's addresses (``happy_eyeballs_delay=``)."""
        return self._opener.happy_eyeballs_delay

    @happy_eyeballs_delay.setter
    def happy_eyeballs_delay(self, value: float | None) -> None:
        self._opener.happy_eyeballs_delay = value

    @property
    def network_backend(self) -> NetworkBackendInterface | None:
        """The custom backend connections go through, or None (``network_backend=``)."""
        return self._opener.network_backend

    @network_backend.setter
    def network_backend(self, value: NetworkBackendInterface | None) -> None:
        self._opener.network_backend = value

    @property
    def limits(self) -> H11Limits | None:
        """HTTP/1.1 parser limits of every response (``limits=``)."""
        return self._opener.limits

    @limits.setter
    def limits(self, value: H11Limits | None) -> None:
        self._opener.limits = value

    @property
    def pool(self) -> Any:
        """The default pool, as ``pool_cls`` built it (the published package's attribute)."""
        pool = self.pools[DEFAULT_POOL_KEY]
        return pool.wrapped if isinstance(pool, PublishedPoolAdapter) else pool

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
        self,
        url: ParsedURL,
        key: PoolKey,
        timeouts: Timeouts,
        proxy: Proxy | None = None,
        scope: deadline | None = None,
    ) -> HTTP11Lease | HTTP2Stream:
        """Return a lease that can carry a request to ``key`` now: a slot's, or an HTTP/2 stream's.

        Args:
            url: The request URL.
            key: The pool key; ``key.proxy`` is set when ``proxy`` is.
            timeouts: The deadlines of this request.
            proxy: The proxy a new connection goes through, if any.
            scope: The request's whole deadline: while this waits for a slot,
                its error names what holds the pool.

        Raises:
            ConnectorClosed: The connector was closed, before or while this
                waited for a slot (``request_sent`` is False).
            ConnectionPoolAcquireTimeout: No slot (or HTTP/2 stream) within ``pool_acquire``.
            ConnectTimeout: DNS + TCP + TLS (+ proxy set-up) over ``sock_connect``.
            ConnectError: The host did not resolve or refused the connection.
            TLSError: The TLS handshake or certificate check failed.
            ProxyError: The proxy refused the tunnel.
        """
        taken = self._lease_nowait(url, key, timeouts)
        if isinstance(taken, HTTP11Lease):
            return taken
        return await self._acquire(url, key, timeouts, proxy, scope, taken)

    def _lease_nowait(
        self, url: ParsedURL, key: PoolKey, timeouts: Timeouts
    ) -> HTTP11Lease | Connection | None:
        """Do :meth:`acquire`'s common case at once, without a coroutine.

        When the one pool has a slot free now (nobody waits) and no HTTP/2
        sharing or ``pool_acquire`` deadline is involved, take it: return an
        HTTP/1.1 lease if its connection is fit for ``key``, else the slot
        itself, leased, for :meth:`_acquire` to connect. Otherwise return
        None, with nothing taken.
        """
        if (
            self._closed
            or timeouts.pool_acquire is not None
            or key.http2
            or self._shared.shared
            or len(self.pools) != 1
        ):
            return None
        pool = self.pools[DEFAULT_POOL_KEY]
        conn: Connection | None = pool.acquire_nowait(url.split, key)
        if conn is None:
            return None
        self._leased += 1  # _lease_count(+1), inline
        conn.pool = pool
        try:
            # With key.http2 False, a connection filed under key speaks HTTP/1.1.
            if conn.is_reusable_for(key, self.pool_configs[DEFAULT_POOL_KEY].max_conn_idle_ms):
                conn.state = ACTIVE
                return HTTP11Lease(conn, True)
        except BaseException:
            self._give_back_failed(conn)
            raise
        return conn

    def _give_back_failed(self, conn: Connection) -> None:
        """Close a leased slot whose lease could not be made, and give it back."""
        conn.state = ACTIVE  # whatever failed, the slot is leased until given back
        conn.close()
        self._lease_count(-1)
        self._return_slot(conn)

    async def _acquire(
        self,
        url: ParsedURL,
        key: PoolKey,
        timeouts: Timeouts,
        proxy: Proxy | None,
        scope: deadline | None,
        taken: Connection | None,
    ) -> HTTP11Lease | HTTP2Stream:
        """Do the rest of :meth:`acquire`: wait for a slot unless ``taken``, and connect it."""
        if taken is not None:  # leased by _lease_nowait() from the one pool
            conn = taken
            config = self.pool_configs[DEFAULT_POOL_KEY]
            shared = False
        else:
            if self._closed:
                raise ConnectorClosed(f"the client was closed; not sending to {url.url}")
            if len(self.pools) == 1:  # pool_for(), inline
                pool, config = self.pools[DEFAULT_POOL_KEY], self.pool_configs[DEFAULT_POOL_KEY]
            else:
                pool, config = self.pool_for(url)
            shared = (key.http2 or bool(self._shared.shared)) and self._shared.wants(key)
            if shared or timeouts.pool_acquire is not None:
                conn, on_shared = await self._wait_for_slot(pool, url, key, timeouts, shared, scope)
                if on_shared:
                    self._lease_count(+1)
                    return HTTP2Stream(conn, reused=True)
            else:  # no scope, and our pool often has a slot free (no coroutine)
                free = pool.acquire_nowait(url.split, key)
                if free is not None:
                    conn = free
                else:
                    conn, _ = await self._wait_for_slot(pool, url, key, timeouts, False, scope)
            self._lease_count(+1)
            conn.pool = pool
        try:
            reused = conn.is_reusable_for(key, config.max_conn_idle_ms)
            conn.state = ACTIVE
            if reused:
                pass
            elif shared:
                opening = self._shared.begin_open(key)
                error: BaseException | None = None
                try:
                    await self._connect(conn, url, key, timeouts, proxy)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    self._shared.end_open(key, opening, error)
            else:
                await self._connect(conn, url, key, timeouts, proxy)
            if not isinstance(conn.driver, HTTP2Driver):  # conn.http2 is None, inline
                return HTTP11Lease(conn, reused)
            self._shared.add(key, conn)
            return HTTP2Stream(conn, reused)
        except BaseException:
            self._give_back_failed(conn)
            raise

    def pool_key(self, url: ParsedURL, options: SendOptions) -> PoolKey:
        """Return the pool key of ``url`` sent with ``options``: all that shapes its connection.

        HTTP/2 may be negotiated when asked for (by the request or this
        connector) on ``https``, or on ``http`` with prior knowledge; never
        through a proxy.
        """
        proxy = options.proxy
        secure = url.scheme in ("https", "wss")  # url.is_secure, inline
        return PoolKey(
            url.scheme,
            url.host,
            url.port,
            options.verify,
            options.ssl if secure else None,
            proxy.pool_id if proxy is not None else None,
            proxy is None
            and (options.http2 or self._http2)
            and (secure or self._http2_config.prior_knowledge),
        )

    def _remember_pool_key(self, url: ParsedURL, options: SendOptions) -> PoolKey:
        """Compute :meth:`pool_key` and keep it in the memo (bounded: cleared when full)."""
        memo = self._pool_keys
        if len(memo) >= POOL_KEY_MEMO_SIZE:
            memo.clear()
        key = self.pool_key(url, options)
        memo[url.url] = (options, key)
        return key

    async def send(
        self, request: Request, options: SendOptions, scope: deadline | None = None
    ) -> HttpResponse:
        """Send ``request`` once and return its response (head, and body stream or body).

        Acquires a lease (an HTTP/1.1 slot or an HTTP/2 stream), which sends
        the head and body; a body of known length up to :data:`PRELOAD_LIMIT`
        is read at once (unless ``options.stream``) and the lease given back,
        a larger one is left to the response's body stream, which gives it
        back when read or closed. The lease records the timing marks. On any
        error the lease is closed and given back before the error propagates
        (retrying is the caller's: :func:`aiosonic.retry.send_with_retry`).

        Args:
            request: The request, as the client prepared it.
            options: How to send it; ``options.proxy`` is the proxy chosen.
            scope: The request's whole deadline; a streamed body's reads stay
                bounded by it after this returns.

        Raises:
            NetworkError: See :meth:`acquire` and the drivers; the error's
                ``request_sent``, ``reused_connection`` and ``unprocessed``
                say whether a retry is safe.
        """
        url = request.url
        timeouts = options.timeouts
        proxy = options.proxy
        # pool_key(), memoised (see _pool_keys).
        known = self._pool_keys.get(url.url)
        if known is not None and known[0] == options:  # the same object, mostly: no __eq__
            key = known[1]
        else:
            key = self._remember_pool_key(url, options)
        h11_head = None
        if not key.http2:
            # HTTP/1.1 for sure: serialise the head now, so a request that
            # cannot be written fails before a connection is opened.
            # (http11_head()'s memo, inline: the hot path.)
            h11_head = request.serialized if proxy is None else None
            if h11_head is None:
                h11_head = http11_head(request, proxy)
        started = time.perf_counter()
        # acquire(), inline: no coroutine when a pooled connection is ready.
        taken = self._lease_nowait(url, key, timeouts)
        lease: HTTP11Lease | HTTP2Stream
        if isinstance(taken, HTTP11Lease):
            lease = taken
        else:
            lease = await self._acquire(url, key, timeouts, proxy, scope, taken)
        acquired = time.perf_counter()
        try:
            head = await lease.send(request, proxy, timeouts.sock_read, h11_head)
        except BaseException:
            lease.close()
            self.release(lease)
            raise
        lease.started, lease.acquired, lease.head_at = started, acquired, time.perf_counter()
        length = head.content_length
        body = lease.body_stream(self, length)
        raw = lease.body_done = None
        if not head.has_body or (
            not options.stream and length is not None and length <= PRELOAD_LIMIT
        ):
            raw = body.read_all_nowait()
            if raw is None:  # not all here yet: wait for it
                raw = await body.read_all()
            lease.body_done = time.perf_counter()
        elif scope is not None:
            # Streamed: request_timeout goes on bounding its reads.
            lease.limit_reads(scope)
        limits: DecodingLimits = self
        if options.max_decompressed_size is not None:  # the client's or the request's own
            limits = DecodeLimits(options.max_decompressed_size, self.max_content_encodings)
        return HttpResponse(head, url.url, request.method, body, limits, raw, lease)

    async def _wait_for_slot(
        self,
        pool: Any,
        url: ParsedURL,
        key: PoolKey,
        timeouts: Timeouts,
        shared: bool,
        scope: deadline | None = None,
    ) -> tuple[Connection, bool]:
        """Wait for a slot, or a stream on a shared connection, within ``pool_acquire``.

        While it waits, ``close()`` fails the wait with ConnectorClosed, and a
        timeout (``pool_acquire``, or the request's whole ``scope``) says what
        holds the pool: see :meth:`describe_pool`.
        """
        task = asyncio.current_task()
        assert task is not None  # deadline scopes need a task too
        cancelling = task.cancelling()
        self._waiting.enter(task, key)
        if scope is not None:
            scope.waiting_on = lambda: f"waiting for a connection slot: {self.describe_pool(pool)}"
        if logger.isEnabledFor(logging.DEBUG) and pool.free_conns() <= 0:
            logger.debug("%s waits for a connection slot: %s", url.url, self.describe_pool(pool))
        try:
            with deadline(
                timeouts.pool_acquire,
                lambda: ConnectionPoolAcquireTimeout(
                    f"no free connection within pool_acquire={timeouts.pool_acquire}s "
                    f"({url.url}): {self.describe_pool(pool)}"
                ),
            ):
                if shared:
                    taken = await self._wait_for_room(pool, url, key)
                else:
                    taken = await self._pool_acquire(pool, url, key), False
        except asyncio.CancelledError:
            # Cancelled by close(), and no other cancellation pending: ours.
            if self._waiting.cancelled_by_close(task) and task.uncancel() <= cancelling:
                raise ConnectorClosed(
                    f"the client was closed while this request waited for a "
                    f"connection slot; not sending to {url.url}"
                ) from None
            raise
        finally:
            self._waiting.leave(task)
        if scope is not None:
            # Kept on failure: the scope's own error, raised as it unwinds, says it.
            scope.waiting_on = None
        return taken

    def describe_pool(self, pool: Any) -> str:
        """Say what holds ``pool``: leased slots, and how many by unread responses (and where).

        Returns:
            E.g. ``"1 of 1 slots leased, 1 of them by responses whose body
            was not read (http://h/big made at app.py:12 in main)"``.
        """
        size = getattr(pool, "pool_size", None)
        leased = size - pool.free_conns() if size is not None else "?"
        unread = [(url, site) for (held, url, site) in self._unread.values() if held is pool]
        text = f"{leased} of {size if size is not None else '?'} slots leased"
        if not unread:
            return f"{text}, none by a response whose body was not read"
        shown = "; ".join(f"{url} made at {site}" for url, site in unread[:UNREAD_SITES_SHOWN])
        more = ", ..." if len(unread) > UNREAD_SITES_SHOWN else ""
        return (
            f"{text}, {len(unread)} of them by responses whose body was not read "
            f"({shown}{more}); read or close them (async with) to free their slots"
        )

    def note_unread(self, lease: HTTP11Lease | HTTP2Stream, url: str, site: str) -> None:
        """Record that a response handed out unread holds ``lease`` (for :meth:`describe_pool`)."""
        self._unread[id(lease)] = (lease.slot.pool, url, site)

    def _pool_acquire(self, pool: Pool, url: ParsedURL, key: PoolKey) -> Awaitable[Connection]:
        return pool.acquire(url.split, key)

    async def _wait_for_room(
        self, pool: Any, url: ParsedURL, key: PoolKey
    ) -> tuple[Connection, bool]:
        """Return ``(shared slot with a stream reserved, True)`` or ``(pool slot, False)``.

        Requests wait for a connection being opened to their key rather than
        open another, and for a stream to end when the pool has no free slot.
        """
        shared = self._shared
        while True:
            taken = shared.take(key)
            if taken is not None:
                return taken, True
            opening = shared.opening.get(key)
            if opening is not None:
                await asyncio.shield(opening)  # its failure is ours too
                continue
            if shared.shared.get(key) and pool.free_conns() <= 0:
                await shared.wait()
                continue
            conn = await self._pool_acquire(pool, url, key)
            if key not in shared.opening and not shared.has_room(key):
                return conn, False
            pool.release(conn)  # room appeared while we waited for the slot

    async def _connect(
        self,
        conn: Connection,
        url: ParsedURL,
        key: PoolKey,
        timeouts: Timeouts,
        proxy: Proxy | None,
    ) -> None:
        """Open a transport for slot ``conn`` (closing any it had) under ``sock_connect``."""
        conn.close()  # another key, dead, or idle too long; no-op when unconnected
        # Plain asyncio.timeout: once per new connection, so its loop timer
        # costs nothing measurable (the per-request scopes are deadline's).
        scope = asyncio.timeout(timeouts.sock_connect)
        try:
            async with scope:
                started = time.perf_counter()
                opened = await self._opener.open(url, key, proxy)
        except TimeoutError as exc:
            if not scope.expired():
                raise  # not ours: a narrower deadline's
            raise ConnectTimeout(
                f"no connection within sock_connect={timeouts.sock_connect}s "
                f"({url.host}:{url.port}{f' via {proxy.key}' if proxy else ''})"
            ) from exc
        driver = opened.driver
        conn.attach(key, opened.transport, driver)
        owned = self._owned
        if owned is None:
            owned = self._owned = OwnedTransports(self, *self._made_by)
        owned.add(driver)
        dns_seconds = opened.dns_seconds
        conn.connect_timings = (dns_seconds, time.perf_counter() - started - dns_seconds)
        self._record(conn, url, opened)
        if isinstance(driver, HTTP11Driver) and key.http2 and url.is_secure:
            self._shared.remember_h11(key)

    def _record(self, conn: Connection, url: ParsedURL, opened: OpenedConnection) -> None:
        """Note a new connection in the book, and keep its host's DNS answer fresh."""
        remote = opened.driver.addresses[0]
        self._book.opened(
            (url.scheme, url.host, url.port),
            conn,
            opened.driver,
            tls=url.is_secure,
            tls_resumed=opened.tls_resumed,
            dns_hits=opened.dns_hits,
            dns_misses=opened.dns_misses,
            peer_ip=remote[0] if opened.dialed_host and remote is not None else None,
        )
        # Only a direct TCP connection's peer is an address of the URL's host.
        if opened.dialed_host:
            self.dns.keep_fresh(url.host, url.port)

    def _follow_dns(self, host: str, port: int, answers: list[dict[str, Any]]) -> bool:
        """Take out of reuse the connections to ``host`` at addresses no longer in ``answers``.

        Called by the DNS cache each time it stores an answer (a lookup, or
        the refresh of an expired answer). An idle connection is closed now;
        one in use finishes its exchange and is closed when it comes back.

        Returns:
            Whether connections to ``host``:``port`` remain: the cache then
            refreshes the answer when it expires.
        """
        stale, kept = self._book.stale(host, port, [str(answer["host"]) for answer in answers])
        for conn in stale:
            logger.debug("%r: its peer left the DNS answer for %s:%d; not reused", conn, host, port)
            if conn.http2 is not None:
                self._shared.remove(conn)  # no new streams on it
            conn.retire()
        return kept

    def _lease_count(self, delta: int) -> None:
        leased = self._leased = max(self._leased + delta, 0)
        if leased == 0:
            self._wake_all_free()

    def _wake_all_free(self) -> None:
        """Wake wait_free_pool(), if it waits: no lease is out."""
        event = self._all_free
        if event is not None:
            self._all_free = None
            event.set()

    def release(self, conn: HTTP11Lease | HTTP2Stream | Connection) -> None:
        """Take back a lease (once; idempotent), closing what must not be reused.

        An HTTP/1.1 lease gives its slot back to the pool. An HTTP/2 lease
        resets its stream unless it ended; the slot goes back when its last
        stream does. A leased slot itself is taken too, as the published
        connector took it.
        """
        if isinstance(conn, HTTP11Lease):
            if conn.released:
                return
            conn.released = True
            slot = conn.slot
        elif isinstance(conn, HTTP2Stream):
            self._release_stream(conn)
            return
        elif conn.state is ACTIVE:
            slot = conn
        else:
            return
        if self._unread:  # a response handed out unread held it (note_unread)
            self._unread.pop(id(conn), None)
        leased = self._leased = max(self._leased - 1, 0)  # _lease_count(-1), inline
        if leased == 0 and self._all_free is not None:
            self._wake_all_free()
        self._return_slot(slot)

    def _release_stream(self, lease: HTTP2Stream) -> None:
        if lease.released:
            return
        lease.released = True
        if self._unread:
            self._unread.pop(id(lease), None)
        lease.close()  # resets the stream unless it ended
        self._lease_count(-1)
        slot = lease.slot
        if self._shared.end_stream(slot, lease.driver):
            self._return_slot(slot)
        self._shared.notify()

    def _return_slot(self, conn: Connection) -> None:
        """Hand a leased slot back to its pool, closing its transport if it must not be reused.

        Whether to keep it is decided synchronously (:meth:`Connection.check_in`);
        only then is the transport closed.
        """
        if conn.state is not ACTIVE:
            return
        pool = conn.pool
        config = self._configs_by_pool.get(id(pool))
        max_requests = config.max_conn_requests if config else self.conn_max_requests
        # max_conn_requests recycles HTTP/1.1 connections; an HTTP/2 server
        # that wants to recycle one says so with GOAWAY.
        keep = not self._closed and (
            max_requests is None or conn.requests_count < max_requests or conn.http2 is not None
        )
        if conn.check_in(keep):
            conn.close()
        conn.last_released_time = time.monotonic()
        pool.release(conn)
        if self._shared.has_waiters:
            self._shared.notify()

    # --- opening ---------------------------------------------------------

    def context_with_cert(self, verify: bool, http2: bool, cert: ClientCert) -> ssl.SSLContext:
        """Return the shared SSL context that presents ``cert`` (one per configuration).

        The client uses it as the request's ``ssl=`` context, so the pool key
        (which holds the context) keeps connections of different
        certificates apart, and shares those of the same one.
        """
        return self._opener.context_with_cert(verify, http2, cert)

    def ssl_context_for(
        self, url: ParsedURL, verify: bool, ssl_ctx: ssl.SSLContext | None
    ) -> ssl.SSLContext | None:
        """Return the SSL context a connection to ``url`` uses, or None for plaintext."""
        return self._opener.ssl_context_for(url, verify, ssl_ctx)

    async def open_websocket_transport(
        self,
        url: ParsedURL,
        ssl_ctx: ssl.SSLContext | None,
        factory: Callable[[], _P],
        proxy: Proxy | None = None,
    ) -> tuple[asyncio.Transport, _P]:
        """Open a socket for a WebSocket with this connector's DNS cache, dialer and TLS.

        Never pooled, never reused for HTTP; the caller bounds the call
        (``sock_connect``). Arguments and errors: see
        :meth:`aiosonic.opening.ConnectionOpener.open_websocket_transport`;
        also ``ConnectorClosed`` once the connector is closed.
        """
        if self._closed:
            raise ConnectorClosed(f"the client was closed; not connecting to {url.url}")
        return await self._opener.open_websocket_transport(url, ssl_ctx, factory, proxy)

    def track_websocket(self, websocket: OpenWebSocket) -> None:
        """Count ``websocket`` as open until :meth:`forget_websocket`; cleanup() closes it.

        Raises:
            ConnectorClosed: The connector was closed while the WebSocket was
                being opened; the caller closes it.
        """
        if self._closed:
            raise ConnectorClosed(f"the client was closed while {websocket!r} was being opened")
        self._websockets.add(websocket)

    def forget_websocket(self, websocket: OpenWebSocket) -> None:
        """Stop counting ``websocket`` (it ended); idempotent."""
        self._websockets.discard(websocket)

    @property
    def open_websockets(self) -> int:
        """How many WebSockets opened through this connector are still open."""
        return len(self._websockets)

    async def wait_websockets(self) -> None:
        """Wait until every WebSocket opened through this connector has ended."""
        await self._websockets.wait()

    # --- shutdown -----------------------------------------------------------

    def is_all_free(self) -> bool:
        """Return whether no connection is leased out."""
        return self._leased == 0

    async def wait_free_pool(self) -> bool:
        """Wait until every leased connection is back in its pool."""
        while self._leased:
            event = self._all_free
            if event is None:
                event = self._all_free = asyncio.Event()
            await event.wait()
        return True

    async def cleanup(self) -> None:
        """Close the connector: idle connections now, leased ones as they come back; idempotent.

        A request or response in flight finishes: its connection closes when
        it is released (the body read, the response closed or collected).
        A request still waiting for a pool slot raises ConnectorClosed, and
        so does every request made afterwards. A pool class without
        ``close_idle()`` (a user's) is cleaned up at once, as before.

        Every WebSocket still open is closed with 1001 (going away), all at
        once, each waiting at most its ``close_timeout`` for the server's
        close frame before its transport is dropped.
        """
        if self._closed:
            return
        self._closed = True
        if self._owned is not None:
            self._owned.disarm()
        self._waiting.cancel_all()
        await self._websockets.close_all(CLOSE_GOING_AWAY)
        for pool in self.pools.values():
            await pool.close_idle()
        await self.dns.close()


def _dns_follower(connector: weakref.ref[TCPConnector]) -> AnswerListener:
    """``DNSCache.on_answer`` for ``connector``, without a reference to it."""

    def follow(host: str, port: int, answers: list[dict[str, Any]]) -> bool:
        alive = connector()
        return alive is not None and alive._follow_dns(host, port, answers)

    return follow


def _normalise_pool_name(name: str) -> str:
    """``https://Host`` -> ``https://host:443``; ``:default`` stays."""
    if name == DEFAULT_POOL_KEY:
        return name
    url = parse_url(name if "://" in name else f"http://{name}")
    return f"{url.scheme}://{url.host}:{url.port}"


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
