"""Closing a transport without leaving its socket behind.

asyncio's TLS transport, on ``close()``, sends a ``close_notify`` alert and then
keeps the socket open until the peer answers with its own alert, for up to
``ssl_shutdown_timeout`` (30 s). A server that never answers (many don't)
keeps our socket open that long after the client says it is closed, and even
a prompt answer costs a read and a loop wake-up after we are done.

RFC 9112 §9.8 asks a client to send the closure alert, and lets it close
without waiting for the server's. :func:`close_transport` does exactly that:
``close()`` writes the alert at once (the transport's buffer is empty on an
idle connection), then ``abort()`` releases the socket now, and
``connection_lost`` follows on the next loop turn.
"""

from __future__ import annotations

import asyncio

__all__ = ["close_transport"]


def close_transport(transport: asyncio.Transport) -> None:
    """Close ``transport``: TLS sends its closure alert but does not wait for the peer's."""
    if transport.is_closing():
        return
    transport.close()
    if transport.get_extra_info("sslcontext") is not None:
        # Plain TCP transports close as soon as their buffer is flushed; only
        # TLS ones would wait for the peer.
        transport.abort()
