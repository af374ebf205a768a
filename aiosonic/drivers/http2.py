"""Asyncio driver for HTTP/2: many streams over one transport, on top of ``h2``.

``h2`` is the sans-IO protocol core; :class:`HTTP2Driver` is the
``asyncio.Protocol`` around it, as in httpcore: received bytes go to ``h2``, its
events to per-stream queues, and what it wants sent to the transport. It owns:

* the per-stream ``sock_read`` deadline (each wait for data or for window);
* flow control: the connection window is re-opened as bytes *arrive* (every
  MiB, so the server hears from us while it sends), a
  stream's window as the application *consumes* them, so memory is bounded by
  the stream windows and a slow reader stalls only its own stream;
* faults: GOAWAY (streams above ``last_stream_id`` fail as unprocessed, the
  others finish), RST_STREAM (only that stream fails), connection loss, and
  protocol violations (GOAWAY sent, every stream fails).

The ``*_error`` functions at the end turn what the server did to a stream into
the ``aiosonic.exceptions`` error a caller sees, saying whether it may be re-sent.

Which streams may open is the connector's decision (:meth:`can_take_stream`);
the driver knows nothing of pools, DNS, TLS set-up or retries. Elsewhere: one
stream's state and the ``sock_read`` timer of its waits
(:mod:`~aiosonic.drivers.h2_stream`), request-body uploads
(:mod:`~aiosonic.drivers.h2_upload`), our changes to ``h2``
(:mod:`~aiosonic.drivers.h2_overrides`) and the configuration
(:mod:`aiosonic.http2`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

import h2.events
import h2.exceptions
from h2.errors import ErrorCodes
from h2.events import DataReceived, ResponseReceived, StreamEnded
from h2.settings import SettingCodes

from aiosonic.drivers.body import BaseBodyStream, BodyEvent, Lease, LeaseOwner
from aiosonic.drivers.closing import close_transport
from aiosonic.drivers.h2_overrides import new_h2_connection
from aiosonic.drivers.h2_stream import H2StreamState, ReadDeadlines, StreamEvent
from aiosonic.drivers.h2_upload import BodySender
from aiosonic.exceptions import (
    AiosonicError,
    ConnectionDisconnected,
    ConnectionTerminated,
    HttpParsingError,
    InvalidRequest,
    NetworkError,
    RemoteProtocolError,
    StreamReset,
)
from aiosonic.http2 import INITIAL_CONNECTION_WINDOW, MIB, Http2Config
from aiosonic.protocols.h2_frames import FrameSizeGuard, PrefaceCheck
from aiosonic.protocols.h2_headers import BlockChecker, head_from_block
from aiosonic.protocols.h11_events import Data, EndOfMessage, ResponseHead
from aiosonic.request import RequestBody

__all__ = ["H2StreamState", "HTTP2Body", "HTTP2Driver", "Http2Config"]

logger = logging.getLogger(__name__)

#: Received bytes after which the connection window is handed back (or half
#: the window, if that is less). A server may stop sending with our windows
#: open until the client speaks: lighttpd 1.4.69, after a write that filled
#: its socket, sometimes drops write interest (epoll: input only) with data to
#: send, and only a frame from us wakes it. We read behind the server, so MiBs
#: are still in the socket buffers when it stops; a WINDOW_UPDATE every MiB
#: goes out while we drain them, one every 8 MiB (half the default window)
#: often did not: 20 to 50 % of rounds of 50 concurrent 5 MiB downloads had
#: stalled streams then, none in 90 rounds now. One frame per MiB costs
#: nothing measurable.
CONNECTION_WINDOW_UPDATE_STEP = MIB
#: Stream ids are 31-bit and client ones odd.
MAX_STREAM_ID = 2**31 - 1


class HTTP2Driver(asyncio.Protocol):
    """Drive HTTP/2 streams over one transport.

    Args:
        config: Windows, frame and header limits.
    """

    def __init__(self, config: Http2Config | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self.config = config = config or Http2Config()
        self._h2 = new_h2_connection(config)
        self._guard = FrameSizeGuard(config.max_frame_size)
        self._preface: PrefaceCheck | None = PrefaceCheck()  # until the server's SETTINGS
        self._blocks = BlockChecker()
        self._deadlines = ReadDeadlines(self._loop)
        self.transport: asyncio.Transport | None = None
        self._streams: dict[int, H2StreamState] = {}
        self._sender = BodySender(self._loop, self._h2, self._flush, self.abandon)
        #: Whether the transport is gone or going.
        self.is_closed = False
        self._error: BaseException | None = None
        self._goaway: tuple[int, int] | None = None  # (error code, last stream id)
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self._conn_unacked = 0
        self._conn_update_at = min(config.connection_window // 2, CONNECTION_WINDOW_UPDATE_STEP)
        self._flush_scheduled = False
        #: Streams leased by the connector (sent or about to be).
        self.reserved = 0
        self.requests_count = 0
        #: ``(remote, local)`` ``(host, port)`` addresses of the transport, set
        #: by the connector once it is open; None: unknown (UNIX socket, mock).
        self.addresses: tuple[tuple[str, int] | None, tuple[str, int] | None] = (None, None)
        #: Called when this connection may take more streams than before
        #: (a stream ended, SETTINGS raised the limit) or none at all (GOAWAY,
        #: closed); the connector wakes requests waiting for capacity.
        self.on_capacity: Callable[[], None] | None = None
        self._read_settings()

    def __repr__(self) -> str:
        state = "ACTIVE" if self._streams else "IDLE"
        state = "GOAWAY" if self._goaway is not None else state
        state = "CLOSED" if self.is_closed else state
        limit = self.max_streams if self._ready.done() else "?"
        return (
            f"<HTTP2Driver [{state}, streams={len(self._streams)}/{limit}, "
            f"Request Count: {self.requests_count}]>"
        )

    # --- asyncio.Protocol callbacks -----------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)
        conn = self._h2
        conn.initiate_connection()
        extra = self.config.connection_window - INITIAL_CONNECTION_WINDOW
        if extra > 0:
            conn.increment_flow_control_window(extra)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            self._guard.feed(data)
        except RemoteProtocolError as exc:
            self._fail_connection(str(exc), protocol_error=True)
            return
        preface = self._preface
        if preface is not None:
            # h2 does not check a server's preface: RFC 9113 §3.4 makes
            # anything but SETTINGS first a connection error.
            try:
                if preface.feed(data):
                    self._preface = None
            except RemoteProtocolError as exc:
                self._shut(str(exc), ErrorCodes.PROTOCOL_ERROR)
                return
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued GOAWAY with the right code; send it, then fail all.
            self._flush()
            self._fail_connection(f"the server broke HTTP/2: {exc}", protocol_error=True)
            return
        try:
            for event in events:
                self._dispatch(event)
        except RemoteProtocolError as exc:
            # A malformed header block (protocols.h2_headers.checked_block): a
            # connection error, as h2 makes it when it validates.
            self._shut(f"the server broke HTTP/2: {exc}", ErrorCodes.PROTOCOL_ERROR)
            return
        if self._conn_unacked >= self._conn_update_at and not self.is_closed:
            # The connection window re-opens on arrival, in small steps (see
            # CONNECTION_WINDOW_UPDATE_STEP): buffered bytes are bounded by the
            # stream windows, which re-open on consumption.
            self._h2.increment_flow_control_window(self._conn_unacked)
            self._conn_unacked = 0
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_connection("connection lost", cause=exc)

    def pause_writing(self) -> None:
        self._sender.pause()

    def resume_writing(self) -> None:
        self._sender.resume()

    # --- state --------------------------------------------------------------

    @property
    def max_streams(self) -> int:
        """Streams this connection may carry at once (the server's limit, or ours)."""
        return self._max_streams

    def _read_settings(self) -> None:
        """Take in the server's SETTINGS (kept here: h2 reads them through a property chain)."""
        settings = self._h2.remote_settings
        limit = settings.max_concurrent_streams
        cap = self.config.max_concurrent_streams
        self._max_streams = min(limit, cap) if cap is not None else limit
        #: The server's SETTINGS_MAX_HEADER_LIST_SIZE, if it sent one.
        self.peer_max_header_list_size: int | None = settings.max_header_list_size
        #: The server sent SETTINGS_ENABLE_CONNECT_PROTOCOL=1: it takes
        #: extended CONNECT (RFC 8441 §3), so WebSockets can be its streams.
        self.accepts_extended_connect = settings.enable_connect_protocol == 1

    def can_take_stream(self) -> bool:
        """Whether one more request may be leased onto this connection now."""
        if self.is_closed or self._goaway is not None or self._error is not None:
            return False
        next_id = (self._h2.highest_outbound_stream_id or 1) + 2 * (self.reserved + 1)
        return self.reserved < self._max_streams and next_id <= MAX_STREAM_ID

    def is_reusable(self) -> bool:
        """Whether an idle connection may carry another request (the pool's question)."""
        return self.can_take_stream()

    async def wait_ready(self) -> None:
        """Wait for the server's first SETTINGS (its stream limit is known then)."""
        await asyncio.shield(self._ready)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Proxy to the transport's ``get_extra_info``."""
        if self.transport is None:
            return default
        return self.transport.get_extra_info(name, default)

    def close(self) -> None:
        """Send GOAWAY, close the transport and fail open streams; idempotent."""
        self._shut("connection closed by the client", ErrorCodes.NO_ERROR)

    def _shut(self, reason: str, code: ErrorCodes) -> None:
        """Send GOAWAY(``code``), close the transport and fail open streams; idempotent."""
        if self.is_closed:
            return
        try:
            self._h2.close_connection(code)
            self._flush()
        except h2.exceptions.ProtocolError:
            logger.debug("%r: GOAWAY not sent, connection already closing", self)
        protocol_error = code != ErrorCodes.NO_ERROR
        self._fail_connection(reason, protocol_error=protocol_error)

    # --- one exchange -------------------------------------------------------

    def open_stream(
        self,
        headers: list[tuple[bytes, bytes]],
        body: RequestBody,
        method: str,
        url: str,
        read_timeout: float | None,
        reused: bool = False,
    ) -> H2StreamState:
        """Open a stream and send the request on it; then await :meth:`response_head`.

        The HEADERS frame goes out at the end of this loop iteration, with
        those of other requests started in it. A body is uploaded by a task of
        the stream, so a response that comes before the upload ends (an early
        413, say) is returned at once; once the server ends the stream, the
        upload stops. ``reused`` (the connection carried requests before this
        one) is this stream's own fact, told in its errors: other streams of
        the connection may be fresh.

        Raises:
            StreamReset: The server's stream limit dropped below the leases
                (``unprocessed``).
            ConnectionTerminated: GOAWAY came before the request was sent.
            ConnectionDisconnected: The connection is closed.
            InvalidRequest: ``h2`` refused the header block.
        """
        self._raise_if_unusable(url, reused)
        conn = self._h2
        empty = body is None or (isinstance(body, bytes | bytearray | memoryview) and not body)
        try:
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(stream_id, headers, end_stream=empty)
        except h2.exceptions.TooManyStreamsError as exc:
            # SETTINGS lowered the limit after this lease was granted.
            raise StreamReset(
                f"the server's stream limit dropped to {self.max_streams} ({url})",
                error_code=ErrorCodes.REFUSED_STREAM,
                request_sent=False,
                unprocessed=True,
            ) from exc
        except (h2.exceptions.ProtocolError, ValueError) as exc:
            raise InvalidRequest(f"HTTP/2 cannot send this request ({url}): {exc}") from exc
        stream = H2StreamState(stream_id, method, url, read_timeout, self._deadlines, reused)
        stream.local_ended = empty
        self._streams[stream_id] = stream
        self.requests_count += 1
        self._flush_soon()  # requests started in this loop turn share one write
        if not empty:
            assert body is not None
            self._sender.start(stream, body)
        return stream

    async def send_data(self, stream: H2StreamState, data: bytes) -> None:
        """Send ``data`` on an open stream, within its flow-control windows.

        For a stream opened with a body that does not end on its own (an RFC
        8441 WebSocket): the caller writes while the stream lives.
        """
        await self._sender.send_data(stream, memoryview(data))

    async def response_head(self, stream: H2StreamState) -> ResponseHead:
        """Return the stream's final response head; on any failure, abandon the stream.

        Raises:
            StreamReset: The server reset the stream (``unprocessed`` for
                REFUSED_STREAM).
            ConnectionTerminated: GOAWAY came before the server took the stream.
            ConnectionDisconnected: The connection was lost.
            ReadTimeout: No response head within ``sock_read``.
            RemoteProtocolError: The server broke HTTP/2.
        """
        events = stream.events
        try:
            while not events:
                if stream.error is not None:
                    raise stream.error
                await stream.wait_data()
            event = events.popleft()[0]  # a head carries no flow-controlled bytes
            if type(event) is not ResponseHead:
                raise HttpParsingError(
                    f"unexpected {event!r} before the response head ({stream.url})"
                )
        except BaseException:
            self.abandon(stream)
            raise
        return event

    async def next_event(self, stream: H2StreamState) -> StreamEvent:
        """Return the stream's next event, waiting (bounded by ``sock_read``) if needed."""
        events = stream.events
        while not events:
            if stream.error is not None:
                raise stream.error
            await stream.wait_data()
        event, flow_length = events.popleft()
        if flow_length:
            self._consumed(stream, flow_length)
        elif type(event) is EndOfMessage:
            self.abandon(stream)  # resets only if our upload had not ended
        return event

    def _take_body(self, stream: H2StreamState) -> bytes | None:
        """End the stream with the rest of its body, if all of it has arrived.

        The same as reading its ``Data`` events to ``EndOfMessage``, in one
        step; None (nothing consumed) while the body is incomplete, or when
        trailers came with it (``EndOfMessage`` carries them).
        """
        taken = stream.take_body()
        if taken is None:
            return None
        body, flow_length = taken
        if flow_length:
            self._consumed(stream, flow_length)
        self.abandon(stream)
        return body

    def abandon(self, stream: H2StreamState) -> None:
        """Forget a stream: at its end, or early with RST_STREAM(CANCEL) if still open."""
        upload = stream.upload
        if upload is not None and not upload.done() and upload is not asyncio.current_task():
            upload.cancel()  # the response is over or dropped: stop sending its body
        if self._streams.pop(stream.id, None) is None:
            return
        if not self.is_closed and not (stream.remote_ended and stream.local_ended):
            try:
                self._h2.reset_stream(stream.id, ErrorCodes.CANCEL)
            except h2.exceptions.ProtocolError:
                logger.debug("stream %d already closed in h2", stream.id)
            self._flush_soon()
        self._close_if_drained()

    # --- writing ------------------------------------------------------------

    def _flush_soon(self) -> None:
        """Write pending frames at the end of this loop iteration, in one write."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._h2.data_to_send()
        if data:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)

    # --- receiving ----------------------------------------------------------

    def _dispatch(self, event: h2.events.Event) -> None:
        # h2 emits these classes, not subclasses: an identity test, no isinstance.
        if type(event) is DataReceived:
            length = event.flow_controlled_length or 0
            self._conn_unacked += length
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.events.append((Data(event.data or b""), length))
                stream.wake()
        elif type(event) is ResponseReceived:
            self._on_head(event)
        elif type(event) is StreamEnded:
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.remote_ended = True
                stream.events.append((EndOfMessage(stream.trailers), 0))
                stream.wake()
                stream.wake_window()
        elif isinstance(event, h2.events.TrailersReceived):
            block = self._blocks.check(event.headers or [], "trailers", False)
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.trailers = block[1]
        elif isinstance(event, h2.events.InformationalResponseReceived):
            self._blocks.check(event.headers or [], "informational response head", True)
        elif isinstance(event, h2.events.WindowUpdated):
            if not event.stream_id:
                self._wake_all_windows()
            elif (stream := self._streams.get(event.stream_id)) is not None:
                stream.wake_window()
        elif isinstance(event, h2.events.StreamReset):
            self._on_reset(event)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._read_settings()
            if not self._ready.done():
                self._ready.set_result(None)
            if SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                self._wake_all_windows()
            self._notify_capacity()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._on_goaway(event)

    def _on_head(self, event: h2.events.ResponseReceived) -> None:
        block = self._blocks.check(event.headers or [], "response header block", True)
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        ended = event.stream_ended is not None
        try:
            head = head_from_block(block, stream.method, ended, self.config.max_header_list_size)
        except AiosonicError as exc:
            stream.fail(exc)
            self.abandon(stream)
            return
        stream.events.append((head, 0))
        stream.wake()

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        code = event.error_code
        if stream.remote_ended:
            # RFC 9113 §8.1: a complete response followed by RST_STREAM(NO_ERROR)
            # only tells us to stop uploading; the response stands.
            stream.local_ended = True
            stream.wake_window()
            return
        stream.fail(reset_error(int(code or 0), stream.id, stream.url, stream.reused))

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        code = int(event.error_code or 0)
        last = event.last_stream_id if event.last_stream_id is not None else MAX_STREAM_ID
        self._goaway = (code, last)
        # Streams up to last_stream_id go on (see h2_overrides.ClientH2Connection).
        for stream in list(self._streams.values()):
            if stream.id > last:
                stream.fail(goaway_error(code, last, stream.id, stream.url, stream.reused))
                self._streams.pop(stream.id, None)
        self._notify_capacity()
        self._close_if_drained()

    def _consumed(self, stream: H2StreamState, length: int) -> None:
        """Hand ``length`` consumed bytes back to the server's view of the stream window."""
        stream.unacked += length
        if stream.unacked >= self.config.initial_stream_window // 2 and not stream.remote_ended:
            try:
                self._h2.increment_flow_control_window(stream.unacked, stream.id)
            except (h2.exceptions.ProtocolError, KeyError):
                return  # the stream closed meanwhile; nothing to re-open
            stream.unacked = 0
            self._flush_soon()  # with the other streams' WINDOW_UPDATEs of this loop turn

    def _wake_all_windows(self) -> None:
        for stream in self._streams.values():
            stream.wake_window()

    # --- failure ------------------------------------------------------------

    def _raise_if_unusable(self, url: str, reused: bool) -> None:
        if self.is_closed or self._error is not None:
            raise not_sent_error(None, url, reused)
        if self._goaway is not None:
            raise not_sent_error(self._goaway, url, reused)

    def _fail_connection(
        self, reason: str, cause: BaseException | None = None, protocol_error: bool = False
    ) -> None:
        """Fail every open stream and close the transport."""
        if protocol_error and self._error is None:
            self._error = RemoteProtocolError(reason)
        self.is_closed = True
        if not self._ready.done():
            self._ready.set_exception(
                self._error or ConnectionDisconnected(f"{reason} before the server's SETTINGS")
            )
            self._ready.exception()  # retrieved: the connector may not be waiting
        for stream in list(self._streams.values()):
            error: BaseException
            if protocol_error:
                error = RemoteProtocolError(f"{reason} ({stream.url})")
            else:
                error = lost_error(reason, stream.id, stream.url, stream.reused)
            error.__cause__ = cause
            stream.fail(error)
        self._sender.wake()
        self._deadlines.close()
        transport = self.transport
        if transport is not None:
            close_transport(transport)
        self._notify_capacity()

    def _close_if_drained(self) -> None:
        if self._goaway is not None and not self._streams:
            self.close()

    def _notify_capacity(self) -> None:
        callback = self.on_capacity
        if callback is not None:
            callback()


class HTTP2Body(BaseBodyStream):
    """The body of one stream's response on an :class:`HTTP2Driver`, as a stream.

    Closing it early resets only its stream (RST_STREAM CANCEL); the
    connection goes on serving the others. Its fast path takes a body that
    has all arrived in one step (:meth:`read_all_nowait`).

    Args:
        driver: The connection's driver.
        stream: The stream whose response head was read.
        lease: The stream's lease.
        owner: Takes the lease back, once.
        content_length: The length the head declared, or None.
    """

    __slots__ = ("_driver", "_stream")

    def __init__(
        self,
        driver: HTTP2Driver,
        stream: H2StreamState,
        lease: Lease,
        owner: LeaseOwner,
        content_length: int | None,
    ) -> None:
        # BaseBodyStream.__init__, inline: one call less per response.
        self._lease = lease
        self._owner = owner
        self.content_length = content_length
        self.is_released = False
        self.trailers = ()
        self._driver = driver
        self._stream = stream

    @property
    def url(self) -> str:
        """The request URL, for error messages."""
        return self._stream.url

    def _next_event(self) -> Coroutine[Any, Any, BodyEvent]:
        return self._driver.next_event(self._stream)

    def read_all_nowait(self) -> bytes | None:
        """Return the rest of the body if all of it has arrived, and release.

        None (nothing consumed) while some is still to come, and when
        trailers came with it (they are read as the last event).
        """
        if self.is_released:
            return None
        body = self._driver._take_body(self._stream)
        if body is not None:
            self.is_released = True  # _release(), inline: the hot path
            self._owner.release(self._lease)
        return body


# --- what a failed stream is called ---------------------------------------------


def reset_error(code: int, stream_id: int, url: str, reused: bool) -> StreamReset:
    """RST_STREAM from the server; REFUSED_STREAM means it was not processed."""
    refused = code == ErrorCodes.REFUSED_STREAM
    try:
        name = ErrorCodes(code).name
    except ValueError:
        name = str(code)
    return StreamReset(
        f"the server reset stream {stream_id} with {name} ({url})"
        + ("; it was not processed" if refused else ""),
        error_code=code,
        reused_connection=reused,
        unprocessed=refused,
    )


def goaway_error(code: int, last: int, stream_id: int, url: str, reused: bool) -> NetworkError:
    """GOAWAY that did not cover ``stream_id``: the server did not process it."""
    return ConnectionTerminated(
        f"the server sent GOAWAY (code {code}, last stream {last}) before taking stream "
        f"{stream_id}; it was not processed ({url})",
        error_code=code,
        last_stream_id=last,
        reused_connection=reused,
        unprocessed=True,
    )


def not_sent_error(goaway: tuple[int, int] | None, url: str, reused: bool) -> NetworkError:
    """The connection closed, or got GOAWAY, before this request's HEADERS went out."""
    if goaway is None:
        return ConnectionDisconnected(
            f"HTTP/2 connection closed before the request was sent ({url})",
            reused_connection=reused,
        )
    return ConnectionTerminated(
        f"the server sent GOAWAY; request not sent ({url})",
        error_code=goaway[0],
        last_stream_id=goaway[1],
        request_sent=False,
        reused_connection=reused,
        unprocessed=True,
    )


def lost_error(reason: str, stream_id: int, url: str, reused: bool) -> NetworkError:
    """The connection ended with this stream open: it may have been processed."""
    return ConnectionDisconnected(
        f"{reason} with stream {stream_id} open; the server may have processed the request ({url})",
        request_sent=True,
        reused_connection=reused,
    )
