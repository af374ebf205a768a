"""Request bodies on HTTP/2 streams: DATA within the flow-control windows.

:class:`BodySender` is the sending half of
:class:`~aiosonic.drivers.http2.HTTP2Driver`: each body goes out from a task of
its stream (:meth:`BodySender.start`) as fast as the stream's and the
connection's windows allow; it waits (bounded by ``sock_read``, through the
stream) for WINDOW_UPDATE, and for the transport's buffer to drain when the
transport pauses writing. The driver owns the ``h2`` connection and the
transport; it tells the sender when writing pauses and resumes.

Not here: the body types and the walk over a streamed body, shared with the
HTTP/1.1 driver (:mod:`aiosonic.request`), and the stream's waits
(:mod:`aiosonic.drivers.h2_stream`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import h2.connection

from aiosonic.drivers.h2_stream import H2StreamState
from aiosonic.request import StreamedBody, body_pieces

__all__ = ["BodySender"]


class BodySender:
    """Send request bodies on the streams of one HTTP/2 connection.

    Args:
        loop: The connection's event loop.
        conn: The ``h2`` connection the DATA frames are queued on.
        flush: Writes what ``conn`` has queued to the transport.
        abandon: Forgets (and resets) a stream whose upload failed.
    """

    __slots__ = ("_abandon", "_conn", "_drain_waiters", "_flush", "_loop", "paused")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: h2.connection.H2Connection,
        flush: Callable[[], None],
        abandon: Callable[[H2StreamState], None],
    ) -> None:
        self._loop = loop
        self._conn = conn
        self._flush = flush
        self._abandon = abandon
        self._drain_waiters: list[asyncio.Future[None]] = []
        #: The transport asked us to stop writing (its buffer is full).
        self.paused = False

    def __repr__(self) -> str:
        return f"<BodySender [paused={self.paused}, draining={len(self._drain_waiters)}]>"

    def start(
        self, stream: H2StreamState, body: bytes | bytearray | memoryview | StreamedBody
    ) -> None:
        """Send ``body`` on ``stream`` from a task of the stream (``stream.upload``)."""
        stream.upload = self._loop.create_task(self._upload(stream, body))

    def pause(self) -> None:
        """The transport's buffer is full: uploads wait after their next write."""
        self.paused = True

    def resume(self) -> None:
        """The transport drained: uploads go on."""
        self.paused = False
        self.wake()

    def wake(self) -> None:
        """Wake every upload waiting for the transport (it drained, or is gone)."""
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _upload(
        self, stream: H2StreamState, body: bytes | bytearray | memoryview | StreamedBody
    ) -> None:
        """Send the body; a failure (the body's own too) fails the stream and resets it."""
        try:
            await self._send_body(stream, body)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            stream.fail(exc)
            self._abandon(stream)

    async def _send_body(
        self, stream: H2StreamState, body: bytes | bytearray | memoryview | StreamedBody
    ) -> None:
        if isinstance(body, bytes | bytearray | memoryview):
            await self.send_data(stream, memoryview(body))
        else:
            async for piece in body_pieces(body):
                await self.send_data(stream, memoryview(piece))
        stream.raise_if_failed()
        if stream.remote_ended:
            return  # the server answered early and ended the stream; stop uploading
        self._conn.end_stream(stream.id)
        stream.local_ended = True
        self._flush()

    async def send_data(self, stream: H2StreamState, data: memoryview) -> None:
        """Queue ``data`` on ``stream`` as DATA frames, waiting for window; flush each batch."""
        conn = self._conn
        while data:
            stream.raise_if_failed()
            if stream.remote_ended:
                return
            window = conn.local_flow_control_window(stream.id)
            if window <= 0:
                await stream.wait_window()
                continue
            frame = conn.max_outbound_frame_size
            while data and window > 0:
                size = min(window, frame, len(data))
                conn.send_data(stream.id, data[:size].tobytes())
                data = data[size:]
                window -= size
            self._flush()
            if self.paused:
                await self._drain(stream)

    async def _drain(self, stream: H2StreamState) -> None:
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
        stream.raise_if_failed()
