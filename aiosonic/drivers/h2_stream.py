"""One HTTP/2 stream as the driver keeps it: its state, and the ``sock_read`` timer of its waits.

:class:`H2StreamState` is one stream's receive queue, waiters and
flow-control counters inside :class:`~aiosonic.drivers.http2.HTTP2Driver`;
:class:`ReadDeadlines` keeps the ``sock_read`` deadlines of a connection's
waits on one :class:`~aiosonic.timer.LazyTimer`, and fails a stream's wait
through :meth:`H2StreamState.expire`. The two call each other, so they live
together.

What does not live here: the user's configuration
(:class:`aiosonic.http2.Http2Config`), the driver's connection-wide flow
control and the errors it fails streams with (:mod:`aiosonic.drivers.http2`),
and sending request bodies (:mod:`aiosonic.drivers.h2_upload`).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import TYPE_CHECKING

from aiosonic.exceptions import ReadTimeout
from aiosonic.protocols.h11_events import Data, EndOfMessage, ResponseHead
from aiosonic.timer import LazyTimer

if TYPE_CHECKING:
    from aiosonic.timeout import deadline

__all__ = ["H2StreamState", "ReadDeadlines", "StreamEvent"]

#: What a stream's queue holds: its response head, body pieces, and the end.
StreamEvent = ResponseHead | Data | EndOfMessage


class ReadDeadlines:
    """The ``sock_read`` deadlines of every wait on one connection's streams, on one timer.

    A timer per wait (``call_later``, then ``cancel``) costs a handle and two
    heap operations per request. Here a wait only records its deadline and
    asks the connection's :class:`~aiosonic.timer.LazyTimer` to fire by
    then; a wait that ends early does not move it: when it fires it fails
    the waits that are due and watches the earliest left, so it fires about
    once per ``sock_read`` period.

    Args:
        loop: The connection's event loop.
    """

    __slots__ = ("_timer", "_waits", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: waiter -> (deadline, stream, what is awaited), in start order.
        self._waits: dict[asyncio.Future[None], tuple[float, H2StreamState, str]] = {}
        self._timer = LazyTimer(loop, self._expire_due)

    def __repr__(self) -> str:
        return f"<ReadDeadlines [waits={len(self._waits)}, next={self._timer.at}]>"

    def add(self, waiter: asyncio.Future[None], stream: H2StreamState, wanted: str) -> None:
        """Fail ``waiter`` with ReadTimeout unless it is done (or discarded) by its deadline."""
        timeout = stream.read_timeout
        when = self.loop.time() + timeout if timeout is not None else math.inf
        scope = stream.request_scope
        if scope is not None:  # a streamed body: request_timeout bounds it too
            when = min(when, scope.expires_at or math.inf)
        self._waits[waiter] = (when, stream, wanted)
        self._timer.fire_by(when)

    def discard(self, waiter: asyncio.Future[None]) -> None:
        """Forget ``waiter`` (it finished); the timer stays armed."""
        self._waits.pop(waiter, None)

    def close(self) -> None:
        """Cancel the timer (the waits themselves are failed by their streams)."""
        self._timer.cancel()

    def _expire_due(self, now: float) -> float:
        """Fail the waits due at ``now``; return the earliest deadline left."""
        earliest = math.inf
        for waiter, (when, stream, wanted) in list(self._waits.items()):
            if when <= now:
                del self._waits[waiter]
                stream.expire(waiter, wanted, now)
            elif when < earliest:
                earliest = when
        return earliest


class H2StreamState:
    """One stream's receive queue, waiters and flow-control counters.

    The stream owns its waits: for data (:meth:`wait_data`) and for send
    window (:meth:`wait_window`), each bounded by ``sock_read`` through the
    connection's :class:`ReadDeadlines`. A failure (:meth:`fail`) wakes both.
    Facts of one request live here, never on the connection its streams share:
    ``reused`` (the connection carried requests before this one) goes into
    this stream's errors, and the client's retry rules read it there.
    """

    __slots__ = (
        "deadlines",
        "error",
        "events",
        "id",
        "local_ended",
        "method",
        "read_timeout",
        "remote_ended",
        "request_scope",
        "reused",
        "trailers",
        "unacked",
        "upload",
        "url",
        "waiter",
        "window_waiter",
    )

    def __init__(
        self,
        stream_id: int,
        method: str,
        url: str,
        read_timeout: float | None,
        deadlines: ReadDeadlines,
        reused: bool = False,
    ) -> None:
        self.id = stream_id
        self.method = method
        self.url = url
        self.read_timeout = read_timeout
        self.deadlines = deadlines
        self.reused = reused
        # (event, flow-controlled length) pairs, oldest first.
        self.events: deque[tuple[StreamEvent, int]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.window_waiter: asyncio.Future[None] | None = None
        self.error: BaseException | None = None
        self.trailers: list[tuple[bytes, bytes]] = []
        self.unacked = 0  # consumed bytes not yet handed back in WINDOW_UPDATE
        self.local_ended = False
        self.remote_ended = False
        #: The task sending the request body, if there is one.
        self.upload: asyncio.Task[None] | None = None
        #: The request's whole deadline, once its response is handed out
        #: unread (``HTTP2Stream.limit_reads``); request() bounds the rest.
        self.request_scope: deadline | None = None

    def __repr__(self) -> str:
        state = "ERROR" if self.error else ("ENDED" if self.remote_ended else "OPEN")
        return f"<H2StreamState [{self.id}, {state}, queued={len(self.events)}]>"

    async def wait_data(self) -> None:
        """Wait for an event on this stream (or its failure), bounded by sock_read."""
        deadlines = self.deadlines
        waiter = self.waiter = deadlines.loop.create_future()
        if self.read_timeout is not None or self.request_scope is not None:
            deadlines.add(waiter, self, "data")
        try:
            await waiter
        finally:
            deadlines.discard(waiter)
            if self.waiter is waiter:
                self.waiter = None

    async def wait_window(self) -> None:
        """Wait for send window on this stream (or its failure), bounded by sock_read."""
        deadlines = self.deadlines
        waiter = self.window_waiter = deadlines.loop.create_future()
        if self.read_timeout is not None or self.request_scope is not None:
            deadlines.add(waiter, self, "window to send")
        try:
            await waiter
        finally:
            deadlines.discard(waiter)
            if self.window_waiter is waiter:
                self.window_waiter = None

    def expire(self, waiter: asyncio.Future[None], wanted: str, now: float) -> None:
        """Fail ``waiter``: ``sock_read`` or the request's deadline ran out at ``now``.

        Called by :class:`ReadDeadlines` when the wait's deadline passed.
        """
        if waiter.done():
            return
        scope = self.request_scope
        at = scope.expires_at if scope is not None else None
        if scope is not None and at is not None and now >= at:
            scope.waiting_on = lambda: f"waiting for {wanted} on stream {self.id}"
            waiter.set_exception(scope.make_error())
        else:
            waiter.set_exception(
                ReadTimeout(
                    f"no {wanted} from the server within sock_read={self.read_timeout}s "
                    f"on stream {self.id} ({self.url})"
                )
            )

    def wake(self) -> None:
        """Wake the reader: an event arrived."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wake_window(self) -> None:
        """Wake the sender: the window may have opened, or the stream ended."""
        waiter = self.window_waiter
        if waiter is not None:
            self.window_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        """Record the stream's first error and wake both sides."""
        if self.error is None:
            self.error = exc
        self.wake()
        self.wake_window()

    def take_body(self) -> tuple[bytes, int] | None:
        """Dequeue the rest of the body and its flow-controlled length, if all of it is here.

        None (nothing dequeued) until ``EndOfMessage`` is queued, and when it
        carries trailers.
        """
        events = self.events
        if not events:
            return None
        last = events[-1][0]
        if type(last) is not EndOfMessage or last.trailers:
            return None
        parts = [event.data for event, _ in events if type(event) is Data]
        flow_length = sum(length for _, length in events)
        events.clear()
        return (parts[0] if len(parts) == 1 else b"".join(parts)), flow_length

    def raise_if_failed(self) -> None:
        """Raise the stream's error, if it has one."""
        if self.error is not None:
            raise self.error
