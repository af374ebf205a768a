"""A pool slot: :class:`Connection` holds at most one live transport and its driver.

The pool hands out ``Connection`` objects; the connector opens a transport for
a slot when it cannot carry the request as it is (:meth:`attach`), and decides
at release whether to keep it. The protocol itself runs in a driver
(``aiosonic.drivers.http11``); this class only routes calls to it and keeps the
slot's identity (its pool key) and bookkeeping (idle time, request count).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiosonic.drivers.http11 import HTTP11Driver, RequestBody
from aiosonic.exceptions import ConnectionDisconnected
from aiosonic.protocols.h11_events import Data, EndOfMessage, InformationalResponse, ResponseHead

if TYPE_CHECKING:
    from aiosonic.urls import Origin, PoolKey

__all__ = ["Connection"]


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
        self.driver: HTTP11Driver | None = None
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
        """Return whether the live transport can carry a request for ``key`` now."""
        driver = self.driver
        return driver is not None and self.key == key and driver.is_reusable()

    def is_reusable(self) -> bool:
        """Return whether the last exchange left the transport fit for another."""
        return self.driver is not None and self.driver.is_reusable()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return transport information (``peername``, ``ssl_object``...)."""
        if self.driver is None:
            return default
        return self.driver.get_extra_info(name, default)

    # --- lifetime -----------------------------------------------------------

    def attach(self, key: PoolKey, transport: asyncio.Transport, driver: HTTP11Driver) -> None:
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

    async def send_request(
        self,
        head: bytes,
        body: RequestBody,
        method: bytes,
        url: str,
        read_timeout: float | None,
        chunked: bool = False,
    ) -> ResponseHead:
        """Send one request on the live transport and return the response head."""
        driver = self.driver
        if driver is None:
            raise ConnectionDisconnected(f"connection slot has no transport ({url})")
        driver.reused = self.reused
        return await driver.send_request(head, body, method, url, read_timeout, chunked)

    async def next_event(self) -> ResponseHead | InformationalResponse | Data | EndOfMessage:
        """Return the next event of the response in progress."""
        driver = self.driver
        if driver is None:
            raise ConnectionDisconnected("connection closed while reading the response")
        return await driver.next_event()
