"""Pick the driver of a new TLS connection from the ALPN result.

``loop.create_connection`` needs its protocol before the handshake, but which
protocol the server speaks is known only after it. :class:`ALPNNegotiator`
is the placeholder: asyncio calls ``connection_made`` once the handshake is
done, and there it reads the negotiated protocol, builds the HTTP/2 or the
HTTP/1.1 driver and hands the transport over (``set_protocol``) before any
byte of application data is delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from aiosonic.drivers.http2 import HTTP2Driver
from aiosonic.drivers.http11 import HTTP11Driver

__all__ = ["ALPNNegotiator", "ALPN_H11", "ALPN_H2_AND_H11"]

#: What a connection with HTTP/2 enabled offers, most preferred first.
ALPN_H2_AND_H11 = ("h2", "http/1.1")
ALPN_H11 = ("http/1.1",)


class ALPNNegotiator(asyncio.Protocol):
    """Choose a driver once the TLS handshake has picked the protocol.

    Args:
        make_h2: Builds the HTTP/2 driver.
        make_h11: Builds the HTTP/1.1 driver.
    """

    def __init__(
        self, make_h2: Callable[[], HTTP2Driver], make_h11: Callable[[], HTTP11Driver]
    ) -> None:
        self._make_h2 = make_h2
        self._make_h11 = make_h11
        self.driver: HTTP2Driver | HTTP11Driver | None = None

    def __repr__(self) -> str:
        return f"<ALPNNegotiator [driver={self.driver!r}]>"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast("asyncio.Transport", transport)
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        driver = self._make_h2() if chosen == "h2" else self._make_h11()
        self.driver = driver
        transport.set_protocol(driver)
        driver.connection_made(transport)

    # Nothing reaches these once the driver took over; forward just in case.
    def data_received(self, data: bytes) -> None:
        if self.driver is not None:
            self.driver.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.driver is not None:
            self.driver.connection_lost(exc)
