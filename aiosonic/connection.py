"""A pool slot (:class:`Connection`) and an HTTP/2 stream lease (:class:`HTTP2Stream`).

A ``Connection`` holds at most one live transport and its driver.

The pool hands out ``Connection`` objects; the connector opens a transport for
a slot when it cannot carry the request as it is (:meth:`attach`), and decides
at release whether to keep it. The protocol itself runs in a driver
(``aiosonic.drivers.http11`` or ``.http2``); this class only routes calls to it
and keeps the slot's identity (its pool key) and bookkeeping (idle time, request
count).

An HTTP/1.1 request leases the slot itself. An HTTP/2 connection is shared: each
request leases an :class:`HTTP2Stream` on the slot instead, with the same
surface the client uses (``body_stream``, ``limit_reads``, ``close``, timings).
The body stream a lease hands out gives the lease back when the body ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiosonic.drivers.body import LeaseOwner
from aiosonic.drivers.http2 import H2StreamState, HTTP2Body, HTTP2Driver
from aiosonic.drivers.http11 import HTTP11Body, HTTP11Driver, RequestBody
from aiosonic.exceptions import ConnectionDisconnected
from aiosonic.protocols.h2_headers import check_header_list_size, request_header_list
from aiosonic.protocols.h11_events import ResponseHead

if TYPE_CHECKING:
    from aiosonic.request import Request
    from aiosonic.timeout import deadline
    from aiosonic.urls import Origin, PoolKey

__all__ = ["Connection", "HTTP2Stream"]

Driver = HTTP11Driver | HTTP2Driver


class Connection:
    """One connection slot of a pool.

    Args:
        connector: The connector that owns the pool of this slot.

    Attributes:
        key: What the live transport is bound to (scheme, host, port, TLS
            settings, proxy), or ``None`` when there is no transport.
        origin: ``(scheme, host, port)`` of ``key``; pools group by it.
        last_released_time: ``time.monotonic()`` of the last release.
        reused: Whether the current request runs on a transport that already
            carried one.
    """

    def __init__(self, connector: Any = None) -> None:
        self.connector = connector
        self.key: PoolKey | None = None
        self.origin: Origin | None = None
        self.driver: Driver | None = None
        self.last_released_time: float | None = None
        self.reused = False
        self.pool: Any = None
        #: (dns, connect incl. TLS) seconds of the last transport opened.
        self.connect_timings: tuple[float, float] = (0.0, 0.0)

    def __repr__(self) -> str:
        if self.driver is None or self.key is None:
            return "<Connection [UNCONNECTED]>"
        state = "CLOSED" if self.driver.is_closed else "OPEN"
        scheme, host, port = self.key.scheme, self.key.host, self.key.port
        return (
            f"<Connection ['{scheme}://{host}:{port}', {state}, "
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

    def is_reusable_for(self, key: PoolKey) -> bool:
        """Return whether the live transport can carry a request for ``key`` now.

        An idle HTTP/1.1 connection is also asked whether the server has
        spoken since (closed it, most often): see ``HTTP11Driver.is_peer_silent``.
        """
        driver = self.driver
        if driver is None or self.key != key or not driver.is_reusable():
            return False
        return type(driver) is not HTTP11Driver or driver.is_peer_silent()

    def is_reusable(self) -> bool:
        """Return whether the last exchange left the transport fit for another."""
        return self.driver is not None and self.driver.is_reusable()

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
        """Close the transport, if any; idempotent."""
        driver = self.driver
        if driver is not None:
            driver.close()
        self.driver = None
        self.key = None
        self.origin = None

    # --- exchange -----------------------------------------------------------

    # Plain methods returning the driver's coroutine: awaiting them costs no
    # coroutine frame of their own (once per request, or per body piece).

    def send_request(
        self,
        head: bytes,
        body: RequestBody,
        method: bytes,
        url: str,
        read_timeout: float | None,
        chunked: bool = False,
    ) -> Coroutine[Any, Any, ResponseHead]:
        """Send one request on the live transport; await the result for the response head.

        Raises:
            ConnectionDisconnected: The slot has no HTTP/1.1 transport (at the call).
        """
        driver = self.driver
        if not isinstance(driver, HTTP11Driver):
            raise ConnectionDisconnected(f"connection slot has no HTTP/1.1 transport ({url})")
        driver.reused = self.reused
        return driver.send_request(head, body, method, url, read_timeout, chunked)

    def limit_reads(self, scope: deadline) -> None:
        """Bound every later read of the exchange in progress by ``scope``, the request's deadline.

        Called when a response is handed out with its body unread: the
        ``request_timeout`` goes on bounding the body, however it is read.
        """
        driver = self.driver
        if isinstance(driver, HTTP11Driver):
            driver.limit_reads(scope)

    def body_stream(self, owner: LeaseOwner, content_length: int | None) -> HTTP11Body:
        """Return the body of the response whose head :meth:`send_request` returned.

        Reading it to the end or closing it gives this slot back to ``owner``.

        Raises:
            ConnectionDisconnected: The slot has no HTTP/1.1 transport.
        """
        driver = self.driver
        if not isinstance(driver, HTTP11Driver):
            raise ConnectionDisconnected("connection closed while reading the response")
        return HTTP11Body(driver, self, owner, content_length)


class HTTP2Stream:
    """One request's lease of a stream on a shared HTTP/2 connection slot.

    Args:
        slot: The pool slot whose driver speaks HTTP/2.
        reused: The connection carried requests before this one.

    Closing a lease resets only its stream (RST_STREAM CANCEL when still open);
    the connection goes on serving the others.
    """

    def __init__(self, slot: Connection, reused: bool) -> None:
        driver = slot.http2
        assert driver is not None
        self.slot = slot
        self.driver = driver
        self.reused = reused
        self.connect_timings = slot.connect_timings
        self.released = False
        self._stream: H2StreamState | None = None

    def __repr__(self) -> str:
        return f"<HTTP2Stream [{self._stream!r} on {self.driver!r}]>"

    def send(
        self, request: Request, read_timeout: float | None
    ) -> Coroutine[Any, Any, ResponseHead]:
        """Send ``request`` on a new stream; await the result for the response head.

        A plain method returning the driver's coroutine: no coroutine frame of
        its own. Errors in sending are raised at the call, inside the caller's
        ``await``.
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
    """Serve ``TCPConnector``, which 0.14 to 0.23 exported from here (PEP 562).

    Imported on first use: :mod:`aiosonic.connectors` imports this module.
    """
    if name == "TCPConnector":
        from aiosonic.connectors import TCPConnector

        return TCPConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
