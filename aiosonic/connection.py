"""Pool slots (:class:`Connection`) and the leases of one request on them.

A ``Connection`` holds at most one live transport and its driver, and one
explicit :class:`ConnectionState`: NEW (no transport yet), ACTIVE (leased),
IDLE (back in its pool, its transport kept) or CLOSED (back in its pool, its
transport closed; the next lease opens another). Its predicates
(:meth:`~Connection.is_available`, :meth:`~Connection.has_expired`,
:meth:`~Connection.is_idle`) derive from that state and from the driver, as
httpcore's connections do. The pool hands out slots; the connector opens a
transport for one when it cannot carry the request as it is (:meth:`attach`),
and decides at release whether to keep it.

What belongs to one request lives on its lease, never on the slot that many
requests share: whether the transport was reused, the connect timings, the
HTTP/2 stream. An HTTP/1.1 request holds an :class:`HTTP11Lease` of the whole
slot; an HTTP/2 connection is shared, and each request holds an
:class:`HTTP2Stream` lease of one stream on it. Both share :class:`BaseLease`
(the request's facts and timing marks) and offer the surface the connector's
``send`` uses: ``send`` (each serialises and memoises its own head),
``body_stream``, ``limit_reads`` and ``close``; the body stream a lease hands
out gives the lease back to the connector when the body ends.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiosonic.drivers.body import LeaseOwner
from aiosonic.drivers.http2 import H2StreamState, HTTP2Body, HTTP2Driver
from aiosonic.drivers.http11 import HTTP11Body, HTTP11Driver, RequestBody
from aiosonic.exceptions import ConnectionDisconnected
from aiosonic.protocols.h2_headers import check_header_list_size, request_header_list
from aiosonic.protocols.h11_events import ResponseHead
from aiosonic.protocols.h11_request import build_request_head
from aiosonic.tunnel import uses_absolute_form

if TYPE_CHECKING:
    from aiosonic.proxy import Proxy
    from aiosonic.request import Request
    from aiosonic.timeout import deadline
    from aiosonic.urls import Origin, PoolKey

__all__ = [
    "BaseLease",
    "Connection",
    "ConnectionState",
    "HTTP2Stream",
    "HTTP11Lease",
    "http11_head",
]

Driver = HTTP11Driver | HTTP2Driver


class ConnectionState(enum.Enum):
    """Where a pool slot is in its life (the one record of "leased" and "idle")."""

    #: Never leased yet, no transport.
    NEW = "NEW"
    #: Leased: carrying an HTTP/1.1 request, or streams of a shared HTTP/2 connection.
    ACTIVE = "ACTIVE"
    #: Back in its pool with its transport kept for another request.
    IDLE = "IDLE"
    #: Back in its pool with its transport closed; the next lease opens another.
    CLOSED = "CLOSED"


# Module constants: a global lookup on the hot path, not an attribute of the class.
NEW = ConnectionState.NEW
ACTIVE = ConnectionState.ACTIVE
IDLE = ConnectionState.IDLE
CLOSED = ConnectionState.CLOSED


class Connection:
    """One connection slot of a pool.

    Args:
        connector: The connector that owns the pool of this slot.

    Attributes:
        key: What the live transport is bound to (scheme, host, port, TLS
            settings, proxy), or ``None`` when there is no transport.
        origin: ``(scheme, host, port)`` of ``key``; pools group by it.
        state: Where the slot is in its life (see :class:`ConnectionState`).
        pool: The pool the slot was leased from (set by the connector).
        last_released_time: ``time.monotonic()`` of the last release.
    """

    def __init__(self, connector: Any = None) -> None:
        self.connector = connector
        self.key: PoolKey | None = None
        self.origin: Origin | None = None
        self.driver: Driver | None = None
        self.state = NEW
        self.last_released_time: float | None = None
        self.pool: Any = None
        #: (dns, connect incl. TLS) seconds of the last transport opened.
        self.connect_timings: tuple[float, float] = (0.0, 0.0)

    def __repr__(self) -> str:
        if self.driver is None or self.key is None:
            return f"<Connection [{self.state.value}]>"
        scheme, host, port = self.key.scheme, self.key.host, self.key.port
        return (
            f"<Connection ['{scheme}://{host}:{port}', {self.state.value}, "
            f"Request Count: {self.driver.requests_count}]>"
        )

    # --- state --------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """Whether a transport is attached and open."""
        return self.driver is not None and not self.driver.is_closed

    @property
    def requests_count(self) -> int:
        """Requests sent on the current transport."""
        return self.driver.requests_count if self.driver is not None else 0

    @property
    def reused(self) -> bool:
        """Whether the transport carried a request before its latest one (the published attribute).

        Derived, not recorded: whether a given request was reused is a fact
        of its lease (``HTTP11Lease.reused``, ``HTTP2Stream.reused``).
        """
        return self.requests_count > 1

    def is_idle(self) -> bool:
        """Whether the slot is back in its pool with its transport kept."""
        return self.state is IDLE

    def is_available(self) -> bool:
        """Whether this idle slot's transport may carry another request (expiry aside).

        The last exchange ended cleanly (HTTP/1.1), or the connection may
        open another stream (HTTP/2); see :meth:`has_expired` for time and
        for what the server did meanwhile.
        """
        driver = self.driver
        return self.state is IDLE and driver is not None and driver.is_reusable()

    def has_expired(self, max_idle_ms: float | None) -> bool:
        """Whether an idle transport must not be reused: too old, or the server spoke.

        Args:
            max_idle_ms: How long, in milliseconds, a transport may sit idle;
                None: no limit.

        An idle HTTP/1.1 connection with anything to read (EOF, most often) is
        expired too: see ``HTTP11Driver.is_peer_silent``.
        """
        released = self.last_released_time
        if (
            max_idle_ms is not None
            and released is not None
            and (time.monotonic() - released) * 1000 > max_idle_ms
        ):
            return True
        driver = self.driver
        return type(driver) is HTTP11Driver and not driver.is_peer_silent()

    def is_reusable_for(self, key: PoolKey, max_idle_ms: float | None = None) -> bool:
        """Return whether this idle slot can carry a request for ``key`` now.

        The same as ``self.key == key and self.is_available() and not
        self.has_expired(max_idle_ms)``, in one call (the connector asks it
        per request); tests/test_connection_state.py checks they agree.
        """
        driver = self.driver
        if self.key != key or self.state is not IDLE or driver is None:
            return False
        if not driver.is_reusable():
            return False
        released = self.last_released_time
        if (
            max_idle_ms is not None
            and released is not None
            and (time.monotonic() - released) * 1000 > max_idle_ms
        ):
            return False
        return type(driver) is not HTTP11Driver or driver.is_peer_silent()

    def is_reusable(self) -> bool:
        """Return whether the last exchange left the transport fit for another."""
        return self.driver is not None and self.driver.is_reusable()

    def check_in(self, keep: bool) -> bool:
        """Mark the slot back in its pool: IDLE if ``keep`` and fit, else CLOSED.

        Synchronous bookkeeping, no I/O: it returns whether the caller must
        close the transport (kept, or already closed: False).

        Args:
            keep: The owner's rules allow keeping it (not shutting down, under
                the request limit).
        """
        driver = self.driver
        # (A retired slot has no key: see retire().)
        if keep and driver is not None and driver.is_reusable() and self.key is not None:
            self.state = IDLE
            return False
        self.state = CLOSED
        return self.is_connected

    def retire(self) -> None:
        """Never hand this transport out again: close it now if idle, at check-in if leased.

        The connector retires connections whose peer left their host's DNS
        answer. A leased slot's exchange goes on (its lease holds the
        driver); without a key, no request's key matches it, and
        :meth:`check_in` closes it.
        """
        if self.state is ACTIVE:
            self.key = None
        else:
            self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return transport information (``peername``, ``ssl_object``...)."""
        if self.driver is None:
            return default
        return self.driver.get_extra_info(name, default)

    # --- lifetime -----------------------------------------------------------

    @property
    def http2(self) -> HTTP2Driver | None:
        """The HTTP/2 driver when the live transport speaks HTTP/2, else None."""
        driver = self.driver
        return driver if isinstance(driver, HTTP2Driver) else None

    def attach(self, key: PoolKey, transport: asyncio.Transport, driver: Driver) -> None:
        """Bind a freshly opened transport to this slot, closing any previous one."""
        self.close()
        self.key = key
        self.origin = key.origin
        self.driver = driver
        driver.transport = transport

    def close(self) -> None:
        """Close the transport, if any; idempotent.

        A slot in its pool becomes CLOSED; a leased one stays ACTIVE until
        it is given back.
        """
        driver = self.driver
        if driver is not None:
            driver.close()
        self.driver = None
        self.key = None
        self.origin = None
        if self.state is not ACTIVE and self.state is not NEW:
            self.state = CLOSED


class BaseLease:
    """What one request holds, and that request's facts: shared by both lease kinds.

    Args:
        slot: The leased slot (HTTP/1.1) or the slot of the shared connection (HTTP/2).
        reused: The transport carried requests before this one.

    Attributes:
        slot: As given.
        driver: The slot's driver.
        reused: The transport carried requests before this one.
        connect_timings: ``(dns, connect)`` seconds of opening the transport.
        released: The connector took the lease back.
        started, acquired, head_at, body_done: The request's
            ``time.perf_counter()`` marks, set by the connector's ``send`` as
            it goes (see ``aiosonic.response.Marks``); ``body_done`` is None
            while the body is unread.

    A subclass adds ``send(request, proxy, read_timeout, head=None)`` (send
    the head and body; await the result for the response head), ``body_stream``,
    ``limit_reads`` and ``close``.
    """

    __slots__ = (
        "acquired",
        "body_done",
        "connect_timings",
        "driver",
        "head_at",
        "released",
        "reused",
        "slot",
        "started",
    )
    # Set by the connector's send (the slots stay unset until then: no store per lease here).
    started: float
    acquired: float
    head_at: float
    body_done: float | None

    def __init__(self, slot: Connection, reused: bool) -> None:
        self.slot = slot
        # The connector checked which driver it is (no typing.cast: a call per request).
        self.driver: Any = slot.driver
        self.reused = reused
        self.connect_timings = slot.connect_timings
        self.released = False


class HTTP11Lease(BaseLease):
    """One HTTP/1.1 request's lease of a whole pool slot.

    It writes the request head as HTTP/1.1 wants it: origin-form, memoised
    on the request (``Request.serialized``), or absolute-form for an HTTP
    proxy (RFC 9112 §3.2.2), which is never memoised: the same request may
    go direct or through another proxy.
    """

    __slots__ = ()
    driver: HTTP11Driver

    def __repr__(self) -> str:
        state = "RELEASED" if self.released else "HELD"
        return f"<HTTP11Lease [{state}, reused={self.reused}, {self.slot!r}]>"

    @property
    def remote_addr(self) -> tuple[str, int] | None:
        """``(host, port)`` the transport is connected to (None: unknown)."""
        return self.driver.addresses[0]

    @property
    def local_addr(self) -> tuple[str, int] | None:
        """``(host, port)`` of this end of the transport (None: unknown)."""
        return self.driver.addresses[1]

    # Plain methods returning the driver's coroutine: awaiting them costs no
    # coroutine frame of their own.

    def send(
        self,
        request: Request,
        proxy: Proxy | None,
        read_timeout: float | None,
        head: bytes | None = None,
    ) -> Coroutine[Any, Any, ResponseHead]:
        """Send ``request`` on the leased transport; await the result for the response head.

        Args:
            request: The request.
            proxy: The proxy the connection goes through, or None.
            read_timeout: ``sock_read`` seconds per wait, or None.
            head: Its head as :func:`http11_head` made it already, or None.
        """
        if head is None:
            head = http11_head(request, proxy)
        driver = self.driver
        driver.reused = self.reused  # told in the driver's errors (one exchange at a time)
        return driver.send_request(
            head,
            request.body,
            request.method.encode(),
            request.url.url,
            read_timeout,
            request.chunked,
        )

    def limit_reads(self, scope: deadline) -> None:
        """Bound every later read of the exchange in progress by ``scope``, the request's deadline.

        Called when a response is handed out with its body unread: the
        ``request_timeout`` goes on bounding the body, however it is read.
        """
        self.driver.limit_reads(scope)

    def body_stream(self, owner: LeaseOwner, content_length: int | None) -> HTTP11Body:
        """Return the body of the response whose head :meth:`send` returned.

        Reading it to the end or closing it gives this lease back to ``owner``.
        """
        return HTTP11Body(self.driver, self, owner, content_length)

    def close(self) -> None:
        """Close the slot's transport (a half-read exchange must not be reused)."""
        self.slot.close()


def http11_head(request: Request, proxy: Proxy | None) -> bytes:
    """Serialise ``request``'s HTTP/1.1 head (this validates it too).

    Origin-form, memoised on the request (``Request.serialized``); for an
    HTTP proxy, absolute-form (:func:`absolute_form_head`), never memoised.

    Raises:
        InvalidRequest: The method, target or a header cannot be sent.
    """
    url = request.url
    if proxy is not None and uses_absolute_form(proxy, url):
        return absolute_form_head(request, proxy)
    head = request.serialized
    if head is None:
        head = request.serialized = build_request_head(request.method, url.target, request.headers)
    return head


def absolute_form_head(request: Request, proxy: Proxy) -> bytes:
    """Serialise ``request`` for an HTTP proxy: absolute-form target (RFC 9112 §3.2.2).

    ``Proxy-Authorization`` is added unless the caller set one.
    """
    headers = request.headers
    credentials = proxy.authorization_header()
    if credentials is not None and request.header("Proxy-Authorization") is None:
        headers = [*headers, ("Proxy-Authorization", credentials)]
    return build_request_head(request.method, request.url.url, headers)


class HTTP2Stream(BaseLease):
    """One request's lease of a stream on a shared HTTP/2 connection slot.

    Closing a lease resets only its stream (RST_STREAM CANCEL when still open);
    the connection goes on serving the others. Its header block is memoised
    on the request (``Request.h2_headers``).
    """

    __slots__ = ("_stream",)
    driver: HTTP2Driver

    def __init__(self, slot: Connection, reused: bool) -> None:
        assert slot.http2 is not None
        BaseLease.__init__(self, slot, reused)
        self._stream: H2StreamState | None = None

    def __repr__(self) -> str:
        return f"<HTTP2Stream [{self._stream!r} on {self.driver!r}]>"

    @property
    def remote_addr(self) -> tuple[str, int] | None:
        """``(host, port)`` the connection is connected to (None: unknown)."""
        return self.driver.addresses[0]

    @property
    def local_addr(self) -> tuple[str, int] | None:
        """``(host, port)`` of this end of the connection (None: unknown)."""
        return self.driver.addresses[1]

    def send(
        self,
        request: Request,
        proxy: Proxy | None,
        read_timeout: float | None,
        head: bytes | None = None,
    ) -> Coroutine[Any, Any, ResponseHead]:
        """Send ``request`` on a new stream; await the result for the response head.

        A plain method returning the driver's coroutine: no coroutine frame of
        its own. Errors in sending are raised at the call, inside the caller's
        ``await``. ``proxy`` is always None (HTTP/2 does not go through
        proxies), and ``head`` unused (the server picked HTTP/2).
        """
        url = request.url
        driver = self.driver
        headers = request.h2_headers
        if headers is None:
            headers = request.h2_headers = request_header_list(
                request.method,
                url.scheme,
                f"{url.host}:{url.port}" if ":" not in url.host else f"[{url.host}]:{url.port}",
                url.target,
                request.headers,
            )
        limit = driver.peer_max_header_list_size
        if limit is not None:
            check_header_list_size(headers, limit)
        self._stream = stream = driver.open_stream(
            headers, request.body, request.method, url.url, read_timeout, self.reused
        )
        return driver.response_head(stream)

    def open_with_headers(
        self,
        headers: list[tuple[bytes, bytes]],
        body: RequestBody,
        method: str,
        url: str,
    ) -> Coroutine[Any, Any, ResponseHead]:
        """Open a stream with ``headers`` as they are; await the result for the response head.

        For a request the client does not build (an RFC 8441 extended
        CONNECT): no read deadline, as a WebSocket may be quiet for long.
        """
        driver = self.driver
        self._stream = stream = driver.open_stream(headers, body, method, url, None, self.reused)
        return driver.response_head(stream)

    @property
    def stream(self) -> H2StreamState | None:
        """The stream this lease opened, until it is closed."""
        return self._stream

    def body_stream(self, owner: LeaseOwner, content_length: int | None) -> HTTP2Body:
        """Return the body of the response whose head :meth:`send` returned.

        Reading it to the end or closing it gives this lease back to ``owner``.

        Raises:
            ConnectionDisconnected: No stream is open on this lease.
        """
        stream = self._stream
        if stream is None:
            raise ConnectionDisconnected("no HTTP/2 stream open on this lease")
        return HTTP2Body(self.driver, stream, self, owner, content_length)

    def limit_reads(self, scope: deadline) -> None:
        """Bound every later wait of this stream by ``scope``, the request's deadline.

        Called when a response is handed out with its body unread: the
        ``request_timeout`` goes on bounding the body, however it is read.
        """
        stream = self._stream
        if stream is not None and scope.expires_at is not None:
            stream.request_scope = scope

    def close(self) -> None:
        """Forget the stream, resetting it if the response was not read to its end."""
        stream = self._stream
        if stream is not None:
            self._stream = None
            self.driver.abandon(stream)


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
