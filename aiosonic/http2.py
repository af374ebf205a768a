"""The public HTTP/2 configuration: :class:`Http2Config`, and the limits it is checked against.

A connector takes one :class:`Http2Config` (``TCPConnector(http2_config=...)``)
and every HTTP/2 connection it opens advertises and enforces those windows and
limits. This is the name's home since 1.x (``aiosonic.http2.Http2Config``);
``aiosonic.Http2Config``, ``aiosonic.connectors.Http2Config`` and
``aiosonic.drivers.http2.Http2Config`` are the same class.

What does not live here: the driver that applies the configuration
(:mod:`aiosonic.drivers.http2`), the per-stream state
(:mod:`aiosonic.drivers.h2_stream`) and our changes to ``h2`` itself
(:mod:`aiosonic.drivers.h2_overrides`). Nothing here imports ``h2`` or asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INITIAL_CONNECTION_WINDOW", "MAX_WINDOW", "Http2Config"]

MIB = 1024 * 1024
#: RFC 9113 §6.9.1: the largest window and the connection window at start.
MAX_WINDOW = 2**31 - 1
INITIAL_CONNECTION_WINDOW = 65_535


@dataclass(frozen=True, slots=True)
class Http2Config:
    """HTTP/2 settings of a connector; immutable, hashable and equal by value.

    Args:
        initial_stream_window: Receive window of each stream (bytes buffered
            per stream at most before the server must wait).
        connection_window: Receive window of the whole connection.
        max_frame_size: Largest frame payload we accept.
        max_header_list_size: Largest response header block we accept
            (RFC 9113 §6.5.2 measure); also advertised to the server.
        max_concurrent_streams: Our own cap on streams per connection, below
            the server's SETTINGS_MAX_CONCURRENT_STREAMS; None: the server's.
        prior_knowledge: Speak HTTP/2 (h2c) on ``http://`` URLs without
            negotiation. Off by default: plain-text HTTP/2 only when asked.

    Raises:
        ValueError: A value is outside what RFC 9113 allows (windows, frame
            size) or is not positive.
    """

    initial_stream_window: int = 4 * MIB
    connection_window: int = 16 * MIB
    max_frame_size: int = 64 * 1024
    max_header_list_size: int = 64 * 1024
    max_concurrent_streams: int | None = None
    prior_knowledge: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.initial_stream_window <= MAX_WINDOW:
            raise ValueError(f"initial_stream_window must be 1..2**31-1: {self}")
        if not INITIAL_CONNECTION_WINDOW <= self.connection_window <= MAX_WINDOW:
            raise ValueError(f"connection_window must be 65535..2**31-1: {self}")
        if not 16_384 <= self.max_frame_size <= 2**24 - 1:
            raise ValueError(f"max_frame_size must be 16384..2**24-1: {self}")
        if self.max_header_list_size < 1:
            raise ValueError(f"max_header_list_size must be positive: {self}")
        if self.max_concurrent_streams is not None and self.max_concurrent_streams < 1:
            raise ValueError(f"max_concurrent_streams must be positive: {self}")


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
