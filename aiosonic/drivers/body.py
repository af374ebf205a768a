"""A response body as a stream: what the HTTP/1.1 and HTTP/2 body objects share.

Each driver hands out one body object per response
(:class:`~aiosonic.drivers.http11.HTTP11Body`,
:class:`~aiosonic.drivers.http2.HTTP2Body`). It yields the body's raw pieces
(transfer coding removed, content coding kept: decompression is the
response's), reads the whole body in one call (:meth:`BaseBodyStream.read_all`),
and gives its lease back to the lease's owner (the connector) exactly once:
when the body ends, or when it is closed early. Closed early, it closes its
lease first (the connection for HTTP/1.1, only the stream for HTTP/2), so a
half-read exchange is never reused.

This is httpcore's ``HTTP11ConnectionByteStream`` and ``PoolByteStream`` in
one object: one allocation per response instead of two.

The protocols differ only inside the subclasses: where the next event comes
from, and the fast ways to take the whole body (:meth:`BaseBodyStream.read_all_nowait`,
and HTTP/1.1's in-place read of a Content-Length body).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from typing import Any, Protocol

from aiosonic.exceptions import HttpParsingError
from aiosonic.protocols.h11_events import Data, EndOfMessage, InformationalResponse, ResponseHead

__all__ = ["BaseBodyStream", "Lease", "LeaseOwner"]

#: What a driver's ``next_event`` may return while a body is read.
BodyEvent = ResponseHead | InformationalResponse | Data | EndOfMessage


class Lease(Protocol):
    """What a body knows of the lease it ends: a slot, or an HTTP/2 stream lease."""

    def close(self) -> None:
        """Close the connection (HTTP/1.1) or reset the stream (HTTP/2); idempotent."""


class LeaseOwner(Protocol):
    """Who takes a lease back (the connector)."""

    def release(self, lease: Any, /) -> None:
        """Take ``lease`` back; keep its connection only if the exchange ended cleanly."""

    def note_unread(self, lease: Any, url: str, site: str, /) -> None:
        """Record that a response handed out unread holds ``lease`` (made at ``site``)."""


class BaseBodyStream:
    """The body of one response: raw pieces, the whole of it, and its lease's release.

    Args:
        lease: What carried the exchange; closed if the body is closed early.
        owner: Takes the lease back, once.
        content_length: The length the head declared, or None.

    Attributes:
        content_length: The length the head declared, or None.
        trailers: The trailer fields, once the body ended (chunked HTTP/1.1, HTTP/2).
        is_released: The body ended or was closed: the lease went back.
    """

    __slots__ = ("_lease", "_owner", "content_length", "is_released", "trailers")

    def __init__(self, lease: Lease, owner: LeaseOwner, content_length: int | None) -> None:
        self._lease = lease
        self._owner = owner
        self.content_length = content_length
        self.is_released = False
        self.trailers: list[tuple[bytes, bytes]] | tuple[()] = ()

    def __repr__(self) -> str:
        state = "RELEASED" if self.is_released else "OPEN"
        return f"<{type(self).__name__} [{state}, {self.url}]>"

    @property
    def url(self) -> str:
        """The request URL, for error messages."""
        raise NotImplementedError

    def _next_event(self) -> Coroutine[Any, Any, BodyEvent]:
        """Return (a coroutine for) the driver's next event of this response."""
        raise NotImplementedError

    # --- reading ------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the raw body pieces; stopping early (``aclose()``) closes the lease."""
        return self._pieces()

    async def _pieces(self) -> AsyncGenerator[bytes, None]:
        try:
            while (piece := await self.next_piece()) is not None:
                yield piece
        finally:
            self.close()  # nothing to do once the body ended

    async def next_piece(self) -> bytes | None:
        """Return the next raw piece of the body, or None at its end (or once released).

        The end releases the lease; an error or a cancellation closes it
        first, so a half-read exchange never goes back to the pool.

        Raises:
            HttpParsingError: The driver gave an event that has no place in a body.
        """
        if self.is_released:
            return None
        try:
            event = await self._next_event()
        except BaseException:
            self.close()
            raise
        if type(event) is Data:
            return event.data
        if type(event) is EndOfMessage:
            self.trailers = event.trailers
            self._release()
            return None
        self.close()
        raise HttpParsingError(f"unexpected {type(event).__name__} in body ({self.url})")

    def read_all_nowait(self) -> bytes | None:
        """Return the rest of the body and release the lease, if all of it is here already.

        The same as reading the pieces to the end, in one step and without
        waiting; None (nothing consumed) when some of the body is still to
        come, or when the protocol has no such shortcut for this body.
        """
        return None

    async def read_all(self) -> bytes:
        """Read the rest of the body and return it in one piece (``b""`` once released).

        The plain way: the pieces of :meth:`next_piece`, joined. Subclasses
        may do it faster; tests check that they agree with this.
        """
        parts: list[bytes] = []
        while (piece := await self.next_piece()) is not None:
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def discard(self, limit: int) -> None:
        """Read and drop the rest of the body so its connection can be reused.

        A body longer than ``limit`` bytes is cheaper to drop with its
        connection (its stream, for HTTP/2): reading stops there and the
        lease is closed.
        """
        if self.is_released:
            return
        length = self.content_length
        if length is not None and length > limit:
            self.close()
            return
        received = 0
        pieces = self._pieces()
        try:
            async for piece in pieces:
                received += len(piece)
                if received > limit:
                    break
        finally:
            await pieces.aclose()  # stopping early closed the lease

    # --- lifetime -----------------------------------------------------------

    def note_unread(self, url: str, site: str) -> None:
        """Tell the owner that a response handed out unread at ``site`` holds the lease."""
        if not self.is_released:
            self._owner.note_unread(self._lease, url, site)

    async def aclose(self) -> None:
        """Stop reading and release the lease, closing it if the body did not end."""
        self.close()

    def close(self) -> None:
        """:meth:`aclose` without a coroutine (for finalizers); idempotent."""
        if not self.is_released:
            self._lease.close()
            self._release()

    def _release(self) -> None:
        self.is_released = True
        self._owner.release(self._lease)
