"""Asyncio driver for HTTP/1.1: one transport, one request at a time.

:class:`HTTP11Driver` is the ``asyncio.BufferedProtocol`` of a connection. It
writes a serialised request, feeds every received byte to the sans-IO
:class:`~aiosonic.protocols.h11_response.ResponseParser`, and hands parser
events to whoever awaits them. Reads land in a reused buffer, or, for a
Content-Length body read whole, in the body itself
(:mod:`aiosonic.drivers.h11_receive`). It owns:

* the ``sock_read`` deadline: one :class:`~aiosonic.timer.LazyTimer` per
  connection, so a read costs no task and usually no timer operation (see
  :meth:`_readable`); the same timer enforces the request's whole deadline
  (``request_timeout``) on every read of the exchange, the body's included,
  however it is read;
* whether an idle connection is still fit for reuse: nothing, not even EOF,
  waiting unread in its socket (:meth:`is_peer_silent`);
* write flow control (``pause_writing``/``resume_writing``);
* read flow control (``pause_reading`` when the unread buffer is large).

It knows nothing of pools, DNS, TLS set-up, redirects or decompression.
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from aiosonic.drivers.body import BaseBodyStream, BodyEvent, Lease, LeaseOwner
from aiosonic.drivers.closing import close_transport
from aiosonic.drivers.h11_receive import BodySink, ReadBuffer
from aiosonic.exceptions import (
    ConnectionDisconnected,
    HttpParsingError,
    NetworkError,
    ReadTimeout,
)
from aiosonic.protocols.h11_events import (
    NEED_DATA,
    Data,
    EndOfMessage,
    H11Limits,
    InformationalResponse,
    NeedData,
    ResponseHead,
)
from aiosonic.protocols.h11_request import LAST_CHUNK, encode_chunk
from aiosonic.protocols.h11_response import ResponseParser
from aiosonic.request import RequestBody, StreamedBody, body_pieces
from aiosonic.timer import LazyTimer

if TYPE_CHECKING:
    from aiosonic.timeout import deadline

__all__ = ["HTTP11Body", "HTTP11Driver", "RequestBody"]

logger = logging.getLogger(__name__)


#: Stop reading from the socket once this much is buffered but unread; a slow
#: consumer must not make us hold an unbounded body in memory.
READ_HIGH_WATER = 4 * 1024 * 1024
#: Resume reading once the consumer has drained the buffer below this.
READ_LOW_WATER = 1024 * 1024
#: A body at most this large is joined to the head and sent in one write.
SINGLE_WRITE_LIMIT = 64 * 1024
#: A larger one is written in slices of this size.
WRITE_SLICE = 4 * 1024 * 1024

_INF = float("inf")


def _reading_the_response() -> str:
    return "reading the response from the server (the body included, however it is read)"


class HTTP11Driver(asyncio.BufferedProtocol):
    """Drive HTTP/1.1 exchanges over one transport.

    Args:
        limits: Parser limits for responses on this connection.
    """

    def __init__(self, limits: H11Limits | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._parser = ResponseParser(limits)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        #: Whether the transport is gone or going: set by connection_lost() and
        #: close() (a parser error closes too). An attribute: read on every request.
        self.is_closed = False
        self._lost_exc: BaseException | None = None
        self._in_exchange = False
        # is_reusable(), kept up to date: set at a clean end of message, cleared
        # by anything that may change the answer (a new exchange, EOF, close).
        self._reusable = False
        self._request_sent = False
        self.reused = False
        self.requests_count = 0
        self._url = ""
        #: ``(remote, local)`` ``(host, port)`` addresses of the transport, set
        #: by the connector once it is open; None: unknown (UNIX socket, mock).
        self.addresses: tuple[tuple[str, int] | None, tuple[str, int] | None] = (None, None)
        # The sock_read timer (see _readable), which also enforces the
        # request's whole deadline (loop time; infinity: none).
        self._read_timeout: float | None = None
        self._request_at = _INF
        self._request_scope: deadline | None = None
        self._timer = LazyTimer(self._loop, self._on_timer)
        # Asks the socket, before reuse, whether the server spoke (see is_peer_silent).
        self._poller: select.poll | None = None
        # Where reads land: the read buffer, or the sink of _read_length_body().
        self._read_buffer = ReadBuffer()
        self._sink: BodySink | None = None

    def __repr__(self) -> str:
        state = "CLOSED" if self.is_closed else ("ACTIVE" if self._in_exchange else "IDLE")
        return (
            f"<HTTP11Driver [{state}, Request Count: {self.requests_count}, "
            f"parser={self._parser.state}]>"
        )

    # --- asyncio.Protocol callbacks -----------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)
        sock = transport.get_extra_info("socket")  # under TLS too: the TCP socket
        if sock is not None:
            poller = self._poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)

    def get_buffer(self, sizehint: int) -> memoryview:
        sink = self._sink
        if sink is None:
            return self._read_buffer.view
        return sink.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        sink = self._sink
        if sink is None:
            self.data_received(self._read_buffer.take(nbytes))
            return
        extra = sink.advance(nbytes)
        timeout = self._read_timeout
        if timeout is not None:
            # sock_read bounds the time between reads: a later deadline (lazily).
            self._timer.set(min(self._loop.time() + timeout, self._request_at))
        if extra:
            self._sink = None
            self.data_received(extra)  # what the server sent after the body
        elif sink.is_complete:
            self._sink = None
            self._wake()

    def data_received(self, data: bytes) -> None:
        """Take received bytes (buffer_updated's, or a plain transport's)."""
        if not self._in_exchange:
            # RFC 9112 §9.3: bytes with no request outstanding cannot belong to
            # any future response; the connection is unusable.
            logger.debug("closing %r: %d unsolicited bytes", self, len(data))
            self.close()
            return
        buffered = self._parser.receive_data(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if buffered > READ_HIGH_WATER and not self._read_paused:
            transport = self.transport
            if transport is not None:
                self._read_paused = True
                transport.pause_reading()

    def eof_received(self) -> bool | None:
        self._reusable = False
        self._parser.receive_eof()
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_closed = True
        self._reusable = False
        self._lost_exc = exc
        self._parser.receive_eof()
        self._wake()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(self._disconnected("while sending the request", exc))
        self._timer.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain_waiter
        if drain is not None:
            self._drain_waiter = None
            if not drain.done():
                drain.set_result(None)

    # --- state --------------------------------------------------------------

    def is_reusable(self) -> bool:
        """Whether the last exchange ended cleanly and another may start."""
        return self._reusable

    def is_peer_silent(self) -> bool:
        """Whether nothing waits unread in this idle connection's socket: no byte, no EOF.

        A server may close a keep-alive connection after its response without
        saying ``Connection: close``; its FIN is often in our kernel before
        the loop has read it. Anything readable on an idle connection (EOF,
        stray bytes, TLS records) means it must not carry a request (RFC 9112
        §9.3, §9.6), so the connector opens another instead of sending, for
        a POST, a request that might be lost after being processed. One
        ``poll()`` with zero timeout, about a microsecond; asked only when
        an idle connection is about to be reused.
        """
        poller = self._poller
        if poller is None:
            return True
        try:
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Close the transport; idempotent, and safe from any state."""
        self._in_exchange = False
        self._reusable = False
        self._timer.cancel()
        transport = self.transport
        if transport is not None:
            close_transport(transport)
        self.is_closed = True

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
        """Write one request and return the final response head.

        Args:
            head: The serialised request line and headers.
            body: The body; an iterable is sent chunk by chunk.
            method: The request method, for the body rules of the response.
            url: For error messages.
            read_timeout: ``sock_read`` seconds per wait, or None.
            chunked: Frame an iterable body with chunked transfer coding.

        Raises:
            ConnectionDisconnected: The peer closed or reset the connection.
            ReadTimeout: ``sock_read`` ran out waiting for the head.
            HttpParsingError: The response head is malformed.
        """
        transport = self.transport
        if self.is_closed or transport is None:
            raise ConnectionDisconnected(
                f"connection closed before the request was sent ({url})",
                reused_connection=self.reused,
            )
        self._url = url
        self._read_timeout = read_timeout
        self._request_at = _INF  # until limit_reads(): request() bounds its own part
        self._request_sent = False
        self._parser.start(method, url)
        self._in_exchange = True
        self._reusable = False
        self.requests_count += 1
        if body is None:  # the common case: _write(), inline
            if transport.is_closing():
                raise self._disconnected("while sending the request", self._lost_exc)
            transport.write(head)
            self._request_sent = True
            if self._write_paused:
                await self._drain()
        elif isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body) if body else b""
            if len(data) <= SINGLE_WRITE_LIMIT:
                self._write(head + data if data else head)
            else:
                self._write(head)
                await self._write_large(data)
            if self._write_paused:
                await self._drain()
        else:
            self._write(head)
            await self._write_stream(body, chunked)
        # Nothing can have arrived yet: wait before the first parse, unless EOF
        # (or, for a streamed body, the answer) came meanwhile.
        parser = self._parser
        if parser.idle_input:
            await self._readable()
        while True:
            try:  # _poll(), inline: a head is neither an end nor a reason to resume
                event = parser.next_event()
            except (NetworkError, HttpParsingError) as exc:
                self._parse_failed(exc)
                raise
            if type(event) is ResponseHead:
                if self._read_paused and parser.buffered < READ_LOW_WATER:
                    self._resume_reading()
                return event
            if event is NEED_DATA:
                if self._read_paused:
                    self._resume_reading()
                await self._readable()
            elif type(event) is not InformationalResponse:
                raise HttpParsingError(f"unexpected {event!r} before the response head ({url})")

    async def next_event(self) -> ResponseHead | InformationalResponse | Data | EndOfMessage:
        """Return the next parser event, waiting (bounded by ``sock_read``) if needed."""
        while True:
            event = self._poll()
            if event is not NEED_DATA:
                return event  # type: ignore[return-value]
            if self._read_paused:
                self._resume_reading()
            await self._readable()

    def _take_length_body(self) -> bytes | None:
        """End the exchange with the rest of a Content-Length body, if all of it is here.

        The same as reading ``Data`` and ``EndOfMessage`` events, in one step;
        None (nothing consumed) when the body is not framed by length or not
        complete in the buffer yet.
        """
        parser = self._parser
        body = parser.take_length_body()
        if body is not None:
            self._end_of_message(parser)
        return body

    async def _read_length_body(self) -> bytes | None:
        """Read the rest of a Content-Length body in one piece; None for other framings.

        The same as reading ``Data`` events to ``EndOfMessage``, but the
        transport reads straight into the body (a :class:`BodySink`), without
        an event or a wake-up per read. ``sock_read`` still bounds the time
        between two reads, and errors are those of next_event().
        """
        body = self._take_length_body()
        if body is not None:
            return body
        parser = self._parser
        left = parser.body_left
        if left is None:
            return None
        prefix = b""
        if parser.buffered:  # fewer bytes than the body: take them first
            event = self._poll()
            assert type(event) is Data
            prefix = event.data
        sink = self._sink = BodySink(left, prefix)
        try:
            try:
                if self._read_paused:
                    self._resume_reading()
                while not sink.is_complete and parser.idle_input:
                    await self._readable()
            finally:
                self._sink = None
            parser.feed_body(sink.received - len(prefix))
            event = self._poll()  # EndOfMessage, or the error of a truncated body
            if type(event) is not EndOfMessage:
                raise HttpParsingError(f"unexpected {event!r} at the end of the body ({self._url})")
        except BaseException:
            sink.close()  # an exception kept by the caller must not keep the buffers
            raise
        return sink.result()

    def _poll(self) -> ResponseHead | InformationalResponse | Data | EndOfMessage | NeedData:
        """Return the next parser event or NEED_DATA; an error closes the connection."""
        parser = self._parser
        try:
            event = parser.next_event()
        except (NetworkError, HttpParsingError) as exc:
            self._parse_failed(exc)
            raise
        if event is not NEED_DATA:
            if type(event) is EndOfMessage:
                self._end_of_message(parser)
            elif self._read_paused and parser.buffered < READ_LOW_WATER:
                self._resume_reading()
        return event

    def _parse_failed(self, exc: NetworkError | HttpParsingError) -> None:
        """Close the connection the parser gave up on; say how a network error came."""
        if isinstance(exc, NetworkError):
            exc.request_sent = True
            exc.reused_connection = self.reused
            if self._lost_exc is not None and exc.__cause__ is None:
                exc.__cause__ = self._lost_exc
        self.close()

    def _end_of_message(self, parser: ResponseParser) -> None:
        if self._read_paused and parser.buffered < READ_LOW_WATER:
            self._resume_reading()
        self._in_exchange = False
        if parser.is_reusable:
            self._reusable = True
        else:
            self.close()

    # --- internals ----------------------------------------------------------

    def _write(self, data: bytes | memoryview) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise self._disconnected("while sending the request", self._lost_exc)
        transport.write(data)
        self._request_sent = True

    async def _write_large(self, data: bytes) -> None:
        """Write a large body in slices, waiting for the transport to drain between them.

        The transport copies what the socket does not take at once; slices of a
        memoryview keep that to the unsent part of one slice, instead of the
        whole body (twice: ``bytes`` slicing, then its buffer).
        """
        view = memoryview(data)
        for start in range(0, len(view), WRITE_SLICE):
            self._write(view[start : start + WRITE_SLICE])
            if self._write_paused:
                await self._drain()

    async def _write_stream(self, body: StreamedBody, chunked: bool) -> None:
        frame = encode_chunk if chunked else bytes
        async for piece in body_pieces(body):
            self._write(frame(piece))
            if self._write_paused:
                await self._drain()
        if chunked:
            self._write(LAST_CHUNK)
        if self._write_paused:
            await self._drain()

    async def _drain(self) -> None:
        if self.is_closed:
            raise self._disconnected("while sending the request", self._lost_exc)
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        await waiter

    def _resume_reading(self) -> None:
        self._read_paused = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _wake(self) -> None:
        """Wake the reader waiting in :meth:`_readable`: bytes, EOF or loss came.

        It learns which from the parser (and a loss's cause from ``_lost_exc``).
        """
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _readable(self) -> asyncio.Future[None]:
        """Return a future done once bytes or EOF arrive, bounded by ``sock_read``.

        The wait's deadline (the earlier of ``sock_read`` from now and the
        request's, see :meth:`limit_reads`) goes to the connection's lazy
        timer: a later deadline than the last one costs an assignment. A
        future whose awaiter was cancelled stays behind as ``_waiter``, done:
        everything skips those.
        """
        if self.is_closed:
            raise self._disconnected("while waiting for the response", self._lost_exc)
        loop = self._loop
        waiter = self._waiter = loop.create_future()
        at = self._request_at
        timeout = self._read_timeout
        if timeout is not None:
            read_at = loop.time() + timeout
            if read_at < at:
                at = read_at
        self._timer.set(at)
        return waiter

    def limit_reads(self, scope: deadline) -> None:
        """Bound every later read of this exchange by the request's whole deadline.

        The client calls it when it hands out a response with its body
        unread: ``request_timeout`` then bounds the body however it is read,
        on the timer ``sock_read`` uses already (no timer per read).
        """
        at = scope.expires_at
        if at is not None:
            self._request_at = at
            self._request_scope = scope

    def _on_timer(self, now: float) -> float:
        """Fail the read in progress: its deadline passed (the timer's ``on_due``)."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return _INF  # no read waits: the next one sets its deadline
        error: BaseException
        scope = self._request_scope
        if now >= self._request_at and scope is not None:
            scope.waiting_on = _reading_the_response
            error = scope.make_error()
        else:
            error = ReadTimeout(
                f"no data from the server within sock_read={self._read_timeout}s ({self._url})"
            )
        self._waiter = None
        waiter.set_exception(error)
        # A response that stalls mid-way leaves the stream in an unknown state.
        self.close()
        return _INF

    def _disconnected(self, when: str, exc: BaseException | None) -> ConnectionDisconnected:
        error = ConnectionDisconnected(
            f"connection lost {when} ({self._url})",
            request_sent=self._request_sent,
            reused_connection=self.reused,
        )
        error.__cause__ = exc
        return error

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Proxy to the transport's ``get_extra_info``."""
        if self.transport is None:
            return default
        return self.transport.get_extra_info(name, default)


class HTTP11Body(BaseBodyStream):
    """The body of the response in progress on an :class:`HTTP11Driver`, as a stream.

    Closing it early closes the connection: the rest of the body would
    stand between us and the next response. Its fast paths take a
    Content-Length body in one piece: all of it from the buffer
    (:meth:`read_all_nowait`), or read straight into one buffer
    (:meth:`read_all`), with no event per piece.

    Args:
        driver: The connection's driver, its response head read.
        lease: The pool slot the connection is in.
        owner: Takes the slot back, once.
        content_length: The length the head declared, or None.
    """

    __slots__ = ("_driver",)

    def __init__(
        self, driver: HTTP11Driver, lease: Lease, owner: LeaseOwner, content_length: int | None
    ) -> None:
        # BaseBodyStream.__init__, inline: one call less per response.
        self._lease = lease
        self._owner = owner
        self.content_length = content_length
        self.is_released = False
        self.trailers = ()
        self._driver = driver

    @property
    def url(self) -> str:
        """The request URL, for error messages."""
        return self._driver._url

    def _next_event(self) -> Coroutine[Any, Any, BodyEvent]:
        return self._driver.next_event()

    def read_all_nowait(self) -> bytes | None:
        """Return the rest of a Content-Length body that is all buffered, and release.

        None (nothing consumed) for other framings, or while some of the body
        is still to come.
        """
        if self.is_released:
            return None
        driver = self._driver
        parser = driver._parser
        body = parser.take_length_body()  # driver._take_length_body(), inline: the hot path
        if body is not None:
            driver._end_of_message(parser)
            self.is_released = True  # _release(), inline
            self._owner.release(self._lease)
        return body

    async def read_all(self) -> bytes:
        """Read the rest of the body in one piece (``b""`` once released).

        A Content-Length body is read into one buffer as it arrives; other
        framings are read piece by piece (:meth:`BaseBodyStream.read_all`).
        """
        if not self.is_released:
            try:
                body = await self._driver._read_length_body()
            except BaseException:
                self.close()
                raise
            if body is not None:
                self._release()
                return body
        return await BaseBodyStream.read_all(self)
