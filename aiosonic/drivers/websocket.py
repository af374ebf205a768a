"""The WebSocket driver: an asyncio protocol around websockets' sans-I/O ClientProtocol.

One :class:`WebSocketDriver` is the protocol of one socket, from the upgrade
request to the end of TCP. Bytes from the socket go straight into the core
(``ClientProtocol.receive_data``); the frames it yields become messages
(:class:`~aiosonic.protocols.websocket.MessageAssembler`) handed to the
coroutine that waits for one through a future. There is no reader task and
no StreamReader: everything runs in the loop's read callback.

Bounds, each in one place:

* the core checks ``max_frame_size``/``max_message_size`` on each frame header
  and while inflating, and answers pings and the server's close frame itself;
* :meth:`WebSocketDriver.receive` hands out queued messages; when
  ``queue_maxsize`` wait unread, the transport stops reading (backpressure);
* sends wait while more than ``write_buffer_size`` bytes are unsent;
* :meth:`WebSocketDriver.close` waits at most ``close_timeout`` for the close
  handshake, then drops the connection.

A protocol error fails the connection: the core queues the close frame with
its code (1002, 1007, 1009), we send it, close the transport, and every
waiter gets the :class:`~aiosonic.exceptions.WebSocketError` that says why.

What does not live here: opening the socket (the connector), the published
API and keep-alive (:mod:`aiosonic.web_socket_client`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, InvalidStatus, PayloadTooBig
from websockets.exceptions import ProtocolError as CoreProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from aiosonic.exceptions import (
    ConnectionDisconnected,
    InvalidRequest,
    ReadTimeout,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketMessageTooBig,
    WebSocketProtocolError,
)
from aiosonic.protocols.websocket import (
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    DEFAULT_QUEUE_MAXSIZE,
    InvalidUTF8,
    Message,
    MessageAssembler,
    MessageType,
    WebSocketConfig,
)
from aiosonic.protocols.websocket_frames import (
    DataFrameEncoder,
    frame_extent,
    head_fails_at_once,
)
from aiosonic.timeout import deadline

__all__ = ["WebSocketDriver"]

logger = logging.getLogger(__name__)

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PING, _PONG, _CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE
_OPEN = State.OPEN
#: Payloads below this are joined to their header for one write; bigger ones
#: go with ``writelines`` rather than pay for a copy of the payload: one writev
#: on uvloop (strace: one system call per 1 MiB message instead of two). Where
#: writelines would join them itself (see _joins_pieces), two writes.
_JOIN_BELOW = 64 * 1024
_TEXT_MESSAGE, _BINARY_MESSAGE = MessageType.TEXT, MessageType.BINARY
#: The HTTP/1.1 answer to the upgrade ends at its empty line (RFC 9112 §2.1).
_HEAD_END = b"\r\n\r\n"
#: A frame size no limit reaches (RFC 6455 §5.2: lengths are 63 bits).
_NO_LIMIT = 1 << 63


class WebSocketDriver(asyncio.Protocol):
    """Drive one WebSocket connection: handshake, frames in and out, close.

    Args:
        core: The sans-I/O client, in state CONNECTING.
        request: The upgrade request to send once connected.
        config: Limits and settings.
        where: The URL, for error messages.
    """

    def __init__(
        self, core: ClientProtocol, request: Request, config: WebSocketConfig, where: str
    ) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._core = core
        self._request = request
        self._config = config
        self.where = where
        self.transport: asyncio.Transport | None = None
        self._assembler = MessageAssembler()
        self._encoder = DataFrameEncoder()
        #: Set when the server accepted the upgrade (or failed with why it did not).
        self.opened: asyncio.Future[Response] = loop.create_future()
        #: Set when the socket is gone.
        self.lost: asyncio.Future[None] = loop.create_future()
        self._close_received: asyncio.Future[None] = loop.create_future()
        self._messages: deque[Message] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pongs: deque[bytes] = deque()
        self._pong_waiters: deque[asyncio.Future[bytes]] = deque()
        self._ping_waiters: dict[bytes, asyncio.Future[None]] = {}
        self._reading_paused = False
        #: Over ``write_buffer_size`` bytes are unsent: senders wait (:meth:`drain`).
        self.writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        #: Why the connection ended, once it has; None while it is open.
        self.error: ConnectionDisconnected | WebSocketHandshakeError | None = None
        self._queue_maxsize = DEFAULT_QUEUE_MAXSIZE
        self._drop_frames = False
        #: Messages dropped because the queue was full (``drop_frames``).
        self.dropped_messages = 0
        # The receive fast path (data_received): on once the core is OPEN.
        self._in_head = core.state is State.CONNECTING
        self._head_tail = b""
        self._framing = core.state is _OPEN and self._fast_path_allowed()
        #: Bytes of a frame not complete yet, at a frame boundary.
        self._pending = bytearray()
        #: How many bytes ``_pending`` needs before it is worth looking again.
        self._need = 2
        #: Bytes of the current frame the core still has to be fed.
        self._core_owes = 0
        #: A fast-path frame whose payload is still arriving (``_collect``): its
        #: header, the payload's pieces so far, and how many bytes are missing.
        self._payload_head = b""
        self._payload: list[bytes] = []
        self._payload_left = 0
        limits = [n for n in (core.max_message_size, core.max_fragment_size) if n is not None]
        #: The core's limit for a frame outside a fragmented message.
        self._fast_limit = min(limits) if limits else _NO_LIMIT
        #: The send fast path (send): whether a data message may skip the core.
        self._send_fast = False
        self._write_limit = config.max_write_buffer_size
        self._refresh_send_path()

    def __repr__(self) -> str:
        state = self._core.state.name
        if self.error is not None:
            state = f"{state}, {type(self.error).__name__}"
        return (
            f"<WebSocketDriver [{self.where}, {state}, queued={len(self._messages)}, "
            f"reading={'paused' if self._reading_paused else 'on'}, "
            f"writing={'paused' if self.writing_paused else 'on'}]>"
        )

    # --- facts ----------------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server picked, if any."""
        return self._core.subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code received from the server, else the one we sent."""
        core = self._core
        if core.close_rcvd is not None:
            return core.close_rcvd.code
        if core.close_sent is not None:
            return core.close_sent.code
        return None

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the server, else the one we sent."""
        core = self._core
        close = core.close_rcvd or core.close_sent
        return close.reason if close is not None else None

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent (the handshake done, no close yet)."""
        return self._core.state is _OPEN and self.error is None

    @property
    def max_message_size(self) -> int | None:
        """The most bytes of one received message (None: no limit)."""
        return self._config.max_message_size

    def set_queue(self, maxsize: int, drop: bool) -> None:
        """Bound the received messages kept unread; ``drop`` drops those over it.

        Without ``drop``, reading from the socket stops while ``maxsize``
        messages wait (backpressure).
        """
        self._queue_maxsize = maxsize
        self._drop_frames = drop

    @property
    def extensions(self) -> list[str]:
        """Names of the negotiated extensions (``permessage-deflate``)."""
        return [str(extension.name) for extension in self._core.extensions]

    # --- asyncio.BufferedProtocol ----------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request on the new transport."""
        # (uvloop's transports do not subclass asyncio's.)
        self.transport = transport = cast(asyncio.Transport, transport)
        high = self._config.write_buffer_size
        transport.set_write_buffer_limits(high=high, low=high // 4)
        self._core.send_request(self._request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Take ``data`` from the socket: decode the common frames, feed the rest to the core.

        The receive fast path. A whole frame with FIN=1, RSV1-3=0, opcode TEXT
        or BINARY, unmasked, within the core's size limits, while the core is
        OPEN with no fragmented message in progress, becomes a message here:
        the core would do nothing else with it. Every other frame goes to the
        core from its first byte: whole, or its start now and the rest as it
        arrives, so the core only ever sees frames from a boundary on and keeps
        every check it makes (opcodes, RSV bits, masking, sizes on the header,
        control frames, close); invalid UTF-8 also goes to the core, which
        fails with 1007 as before. A fast-path frame whose payload is still
        arriving is collected in pieces (:meth:`_collect`); a frame header cut
        by a read waits in ``_pending``.
        """
        if not self._framing:
            self._receive_unframed(data)
            return
        if self._payload_left:
            rest = self._collect(data)
            if not rest:
                return
            data = rest  # type: ignore[assignment]
        core = self._core
        pending = self._pending
        if not pending and not self._core_owes:
            # The commonest read of all (a request/response exchange): exactly
            # one whole small TEXT or BINARY frame. The same checks as the loop
            # below, on the only frame there is.
            size = len(data) - 2
            if (
                0 <= size < 126  # the 7-bit length (RFC 6455 §5.2), and no MASK bit
                and data[1] == size
                and size <= self._fast_limit
                and core.current_size is None
            ):
                first = data[0]
                message = None
                if first == 0x81:
                    raw = bytes(data[2:])  # a copy: ``data`` may be the read buffer
                    try:
                        message = Message(_TEXT_MESSAGE, raw.decode(), raw, 0x1)
                    except UnicodeDecodeError:
                        pass  # the loop below gives it to the core, which fails it with 1007
                elif first == 0x82:
                    raw = bytes(data[2:])
                    message = Message(_BINARY_MESSAGE, raw, raw, 0x2)
                if message is not None:
                    waiters = self._waiters
                    if waiters and not waiters[0].done():  # a receiver waits: _deliver's case
                        self._messages.append(message)
                        waiters.popleft().set_result(None)
                    else:
                        self._deliver(message)
                    return
        view: bytes | bytearray | memoryview = data
        if pending:
            pending += data
            if len(pending) < self._need:
                return
            view = memoryview(pending)  # a header cut by the last read, and this read after it
            self._pending = bytearray()
        pos = 0
        end = len(view)
        owes = self._core_owes
        if owes:  # the rest of a frame the core has begun
            pos = owes if owes < end else end
            self._core_owes = owes - pos
            if not self._to_core(view[:pos], view[pos:]):
                return
        limit = self._fast_limit
        need = 2
        while pos < end:
            available = end - pos
            if available < 2:
                need = 2
                break
            first = view[pos]
            second = view[pos + 1]
            if (first == 0x81 or first == 0x82) and second < 0x80 and core.current_size is None:
                if second < 126:
                    head, length = 2, second
                elif second == 126:
                    if available < 4:
                        need = 4
                        break
                    head, length = 4, (view[pos + 2] << 8) | view[pos + 3]
                else:
                    if available < 10:
                        need = 10
                        break
                    head, length = 10, int.from_bytes(view[pos + 2 : pos + 10], "big")
                if length <= limit:
                    stop = pos + head + length
                    if stop > end:  # the payload's first piece: collect the rest as it comes
                        self._payload_head = bytes(view[pos : pos + head])
                        self._payload = [bytes(view[pos + head : end])]
                        self._payload_left = stop - end
                        return
                    raw = bytes(view[pos + head : stop])
                    if first == 0x82:
                        self._deliver(Message(_BINARY_MESSAGE, raw, raw, 0x2))
                        pos = stop
                        continue
                    try:
                        text = raw.decode()
                    except UnicodeDecodeError:
                        pass  # to the core, which yields it; the assembler fails it with 1007
                    else:
                        self._deliver(Message(_TEXT_MESSAGE, text, raw, 0x1))
                        pos = stop
                        continue
            # Everything else is the core's, from this frame boundary on.
            if head_fails_at_once(first, second):
                self._framing = False  # the core fails the connection on these bytes
                self._feed_core(view[pos:])
                return
            extent = frame_extent(view, pos)
            if extent is None:
                need = available + 1
                break
            stop = pos + extent[0] + extent[1]
            if stop > end:
                self._core_owes = stop - end
                stop = end
            chunk, pos = view[pos:stop], stop
            if not self._to_core(chunk, view[pos:]):
                return
        if pos < end:
            self._pending = bytearray(view[pos:])  # a copy: ``data`` may be the read buffer
            self._need = need

    def _collect(self, data: bytes) -> bytes | memoryview | None:
        """Take the next piece of a fast-path frame's payload; deliver it once whole.

        The pieces are joined once, at the end: one copy of the payload, where
        a growing buffer would copy it again at each resize.

        Returns:
            What ``data`` holds after the frame (empty or None: nothing). When
            a text payload is not UTF-8, the whole frame comes back first, for
            the frame loop to give to the core (which fails it with 1007).
        """
        left = self._payload_left
        if len(data) < left:
            self._payload.append(bytes(data))  # a copy only of the read buffer's view
            self._payload_left = left - len(data)
            return None
        self._payload.append(bytes(data[:left]))
        self._payload_left = 0
        return self._payload_done(data[left:])

    def _payload_done(self, rest: bytes | memoryview) -> bytes | memoryview:
        """Deliver the frame collected, now whole; return ``rest`` (see :meth:`_collect`)."""
        head, pieces = self._payload_head, self._payload
        self._payload_head, self._payload = b"", []
        raw = b"".join(pieces)
        if head[0] == 0x82:
            self._deliver(Message(_BINARY_MESSAGE, raw, raw, 0x2))
            return rest
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return head + raw + bytes(rest)
        self._deliver(Message(_TEXT_MESSAGE, text, raw, 0x1))
        return rest

    def _to_core(
        self, chunk: bytes | bytearray | memoryview, rest: bytes | bytearray | memoryview
    ) -> bool:
        """Feed the core ``chunk`` (from a frame boundary); say whether the fast path goes on.

        Once the core leaves OPEN (a close frame, an error) it gets ``rest``
        and everything after it.
        """
        self._feed_core(chunk)
        if self._core.state is _OPEN and self.error is None:
            return True
        self._framing = False
        if rest:
            self._feed_core(rest)
        return False

    def _receive_unframed(self, data: bytes) -> None:
        """Feed ``data`` to the core: the upgrade's answer, or all of it without the fast path.

        The fast path starts right after the HTTP head of a 101 answer: the
        core is then OPEN, has been fed nothing after the head, and so waits
        at a frame boundary.
        """
        if not self._in_head:
            self._feed_core(data)
            return
        joined = self._head_tail + bytes(data)
        found = joined.find(_HEAD_END)
        if found < 0:
            self._head_tail = joined[-3:]
            self._feed_core(data)
            if self._core.state is not State.CONNECTING:
                self._in_head = False
            return
        cut = found + len(_HEAD_END) - len(self._head_tail)
        self._in_head = False
        self._feed_core(data[:cut])
        core = self._core
        if (
            core.state is _OPEN
            and self.error is None
            and not core.reader.buffer
            and self._fast_path_allowed()
        ):
            self._framing = True
            if cut < len(data):
                WebSocketDriver.data_received(self, data[cut:])  # not a subclass's filter again
        elif cut < len(data):
            self._feed_core(data[cut:])

    def _refresh_send_path(self) -> None:
        """Decide whether sends may skip the core; after every call that may change it.

        The core changes state only when it is called (fed bytes or EOF, asked
        to send or close) and the driver's ``error`` only here, so ``send``
        reads one flag instead of asking the core each time.
        """
        core = self._core
        self._send_fast = (
            core.state is _OPEN
            and self.error is None
            and not core.expect_continuation_frame
            and self._fast_path_allowed()
        )

    def _fast_path_allowed(self) -> bool:
        """Whether received frames may skip the core: no extension, no frame-level debug log."""
        core = self._core
        return not core.extensions and not core.debug

    def _feed_core(self, data: bytes | bytearray | memoryview) -> None:
        """Feed ``data`` to the core and dispatch what it yields."""
        core = self._core
        core.receive_data(cast(bytes, data))  # a view is fine: the core copies it
        for event in core.events_received():
            if type(event) is Response:
                self._handshake_done(event)
                continue
            assert isinstance(event, Frame)  # a client receives one Response, then frames
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                try:
                    message = self._assembler.feed(opcode is _TEXT, bytes(event.data), event.fin)
                except InvalidUTF8 as exc:
                    core.fail(CLOSE_INVALID_DATA, "invalid UTF-8")
                    self._fail(
                        WebSocketProtocolError(
                            f"{exc} ({self.where}); closed with {CLOSE_INVALID_DATA}",
                            close_code=CLOSE_INVALID_DATA,
                        )
                    )
                    break
                if message is not None:
                    self._deliver(message)
            elif opcode is _PONG:
                self._pong(bytes(event.data))
            elif opcode is _CLOSE:
                self._on_close_frame()
        if core.writes:  # pongs and the close reply the core queued (and its EOF)
            self._flush()
        if core.parser_exc is not None and self.error is None:
            self._fail(self._error_from(core.parser_exc))
        self._refresh_send_path()

    def eof_received(self) -> bool | None:
        """Tell the core the server ended its side; the transport then closes."""
        if self._pending:  # a partial frame: the core reports it as it did before
            pending, self._pending = self._pending, bytearray()
            self._feed_core(pending)
        elif self._payload_left:  # the same, for a frame being collected
            # (websockets 16 and 17 end a connection cut mid-frame as one cut at a
            # frame boundary, so no outcome shows this; the core still sees every byte.)
            partial = self._payload_head + b"".join(self._payload)
            self._payload_head, self._payload, self._payload_left = b"", [], 0
            self._feed_core(partial)
        self._framing = False
        self._send_fast = False
        self._core.receive_eof()
        self._flush()
        if self._core.parser_exc is not None and self.error is None:
            self._fail(self._error_from(self._core.parser_exc))
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        """Record why the connection ended and wake every waiter with it."""
        self.transport = None
        self._send_fast = False
        if not self.opened.done():
            detail = f": {exc}" if exc is not None else ""
            error = WebSocketHandshakeError(
                f"WebSocket upgrade failed ({self.where}): the server closed the connection "
                f"before it answered{detail}"
            )
            self.opened.set_exception(error)
            self.error = error
        if self.error is None:
            if self._close_received.done() or self._core.close_sent is not None:
                self.error = self._closed_error()
            else:
                detail = f": {exc}" if exc is not None else ""
                self.error = ConnectionDisconnected(
                    f"the WebSocket connection to {self.where} was lost without a close "
                    f"frame{detail}",
                    request_sent=True,
                )
        self._wake_all()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        """Make sends wait: over ``write_buffer_size`` bytes are unsent."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        """Let waiting sends go on."""
        self.writing_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- receiving ------------------------------------------------------------

    def _handshake_done(self, response: Response) -> None:
        if self.opened.done():
            return
        exc = self._core.handshake_exc
        if exc is None:
            self.opened.set_result(response)
            return
        status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
        error = WebSocketHandshakeError(
            f"WebSocket upgrade failed ({self.where}): {exc}", status_code=status
        )
        error.__cause__ = exc
        self.opened.set_exception(error)
        self.error = error
        if self.transport is not None:
            self.transport.close()

    def _deliver(self, message: Message) -> None:
        messages = self._messages
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                # The message waits in the queue until the woken receiver takes
                # it, so a receiver cancelled in between loses nothing. It is
                # not counted against queue_maxsize: it has a taker.
                messages.append(message)
                waiter.set_result(None)
                return
        if len(messages) >= self._queue_maxsize and self._drop_frames:
            self.dropped_messages += 1
            return
        messages.append(message)
        if len(messages) >= self._queue_maxsize and not self._reading_paused:
            # Backpressure: stop taking bytes until the consumer catches up.
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()

    def _pong(self, data: bytes) -> None:
        waiter = self._ping_waiters.pop(data, None)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
            return
        while self._pong_waiters:
            pong_waiter = self._pong_waiters.popleft()
            if not pong_waiter.done():
                pong_waiter.set_result(data)
                return
        if len(self._pongs) < self._queue_maxsize:
            self._pongs.append(data)

    def _on_close_frame(self) -> None:
        if not self._close_received.done():
            self._close_received.set_result(None)
        self.error = self._closed_error()
        self._send_fast = False
        self._wake_all()

    def _closed_error(self) -> ConnectionDisconnected:
        code, reason = self.close_code, self.close_reason
        shown = f" {reason!r}" if reason else ""
        return ConnectionDisconnected(
            f"the WebSocket connection to {self.where} is closed (code {code}{shown})",
            request_sent=True,
        )

    def _error_from(self, exc: Exception) -> ConnectionDisconnected:
        """Turn the core's parser error into ours, naming the close code we sent."""
        sent = self._core.close_sent
        code = sent.code if sent is not None else None
        text = f"{exc} ({self.where}); closed with {code}"
        error: ConnectionDisconnected
        if isinstance(exc, PayloadTooBig) or code == CLOSE_MESSAGE_TOO_BIG:
            error = WebSocketMessageTooBig(text, close_code=code)
        elif isinstance(exc, (CoreProtocolError, UnicodeDecodeError)) or code in (
            CLOSE_PROTOCOL_ERROR,
            CLOSE_INVALID_DATA,
        ):
            error = WebSocketProtocolError(text, close_code=code)
        elif isinstance(exc, EOFError):
            error = ConnectionDisconnected(
                f"the server closed the WebSocket connection without a close frame ({self.where})",
                request_sent=True,
            )
        else:
            error = WebSocketError(text, close_code=code)
        error.__cause__ = exc
        return error

    def _fail(self, error: ConnectionDisconnected) -> None:
        """End the connection with ``error``: send what the core queued, close TCP."""
        self.error = error
        self._send_fast = False
        self._flush()
        if not self.opened.done():
            self.opened.set_exception(error)
        if not self._close_received.done():
            self._close_received.set_result(None)
        self._wake_all()
        if self.transport is not None:
            self.transport.close()  # after the close frame: RFC 6455 §7.1.7

    def _wake_all(self) -> None:
        error = self.error
        assert error is not None
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)  # poll() raises the error once the queue is empty
        pong_waiters, self._pong_waiters = self._pong_waiters, deque()
        for pong_waiter in pong_waiters:
            if not pong_waiter.done():
                pong_waiter.set_exception(error)
        for ping_waiter in self._ping_waiters.values():
            if not ping_waiter.done():
                ping_waiter.set_exception(error)
        self._ping_waiters.clear()

    def poll(self) -> Message | asyncio.Future[None]:
        """Return the next queued message, or a future that is done when one may be there.

        The receive path without a coroutine of its own: while ``poll()``
        returns a future, await it and poll again (another receiver may have
        taken the message first). A receiver cancelled while waiting leaves
        its future cancelled; it is dropped here or when the next message
        arrives, so timed-out receives leave nothing behind.

        Raises:
            WebSocketError: The connection failed (the cause and close code in it).
            ConnectionDisconnected: The connection is closed and no message is left.
        """
        messages = self._messages
        if messages:
            message = messages.popleft()
            if self._reading_paused and len(messages) < self._queue_maxsize:
                self._reading_paused = False
                if self.transport is not None:
                    self.transport.resume_reading()
            return message
        if self.error is not None:
            raise self.error
        waiters = self._waiters
        while waiters and waiters[0].done():
            waiters.popleft()
        waiter: asyncio.Future[None] = self._loop.create_future()
        waiters.append(waiter)
        return waiter

    async def receive(self, timeout: float | None = None) -> Message:  # noqa: ASYNC109 - receive_*(timeout=) of the API
        """Return the next message, waiting at most ``timeout`` seconds for it.

        Raises:
            ReadTimeout: No message within ``timeout``.
            WebSocketError: The connection failed (the cause and close code in it).
            ConnectionDisconnected: The connection is closed and no message is left.
        """
        message = self.poll()
        if isinstance(message, Message):
            return message
        with deadline(timeout, lambda: ReadTimeout(self._timed_out("message", timeout))):
            while not isinstance(message, Message):
                try:
                    await message
                finally:
                    message.cancel()  # no-op once done; a timed-out wait leaves no waiter
                message = self.poll()
        return message

    async def receive_pong(self, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - receive_*(timeout=) of the API
        """Return the payload of the next pong not awaited by :meth:`ping_and_wait`.

        Raises:
            ReadTimeout: No pong within ``timeout``.
            ConnectionDisconnected: The connection ended.
        """
        if self._pongs:
            return self._pongs.popleft()
        if self.error is not None:
            raise self.error
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        self._pong_waiters.append(waiter)
        try:
            with deadline(timeout, lambda: ReadTimeout(self._timed_out("pong", timeout))):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._pongs.appendleft(waiter.result())
            elif not waiter.done():
                waiter.cancel()
            raise

    def _timed_out(self, what: str, timeout: float | None) -> str:
        return f"no {what} within {timeout}s on the WebSocket connection to {self.where}"

    # --- sending --------------------------------------------------------------

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            self._core.data_to_send()  # nowhere to go
            return
        for chunk in self._core.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()  # the core's signal to half-close

    def write_now(self, opcode: Opcode, data: bytes) -> bool:
        """Write one TEXT or BINARY message at once if nothing stands in the way; say if it did.

        The send fast path, without a coroutine of its own: the core is OPEN
        with nothing negotiated that changes frames (see ``_refresh_send_path``)
        and ``max_write_buffer_size`` has room. The caller then awaits
        :meth:`drain` if ``writing_paused``, as :meth:`send` does. The bytes
        are those core.send_text/send_binary would write
        (protocols/websocket_frames.py), in one write for small messages.
        False: nothing was written, and :meth:`send` does it all.
        """
        transport = self.transport
        if not self._send_fast or transport is None:
            return False
        limit = self._write_limit
        if limit is not None and transport.get_write_buffer_size() + len(data) > limit:
            return False
        if len(data) < _JOIN_BELOW:
            transport.write(self._encoder.frame(opcode, data))
        elif _joins_pieces(transport):
            head, body = self._encoder.encode(opcode, data)
            transport.write(head)
            transport.write(memoryview(body))  # what is unsent is copied once, not sliced first
        else:
            transport.writelines(self._encoder.encode(opcode, data))
        return True

    async def send(self, opcode: Opcode, data: bytes) -> None:
        """Send one message (TEXT, BINARY, PING or PONG), waiting while the socket is behind.

        Returns once what is unsent is under ``write_buffer_size`` again.

        Raises:
            ConnectionDisconnected: The connection is closed or closing.
            InvalidRequest: One message bigger than ``max_write_buffer_size``.
        """
        limit = self._config.max_write_buffer_size
        transport = self.transport
        if limit is not None and transport is not None:
            if len(data) > limit:
                raise InvalidRequest(
                    f"a message of {len(data)} bytes is bigger than "
                    f"max_write_buffer_size={limit} ({self.where})"
                )
            while transport.get_write_buffer_size() + len(data) > limit and self.error is None:
                await self._drain()
        if (opcode is _TEXT or opcode is _BINARY) and self.write_now(opcode, data):
            if self.writing_paused:
                await self._drain()
            return
        transport = self.transport
        if self.error is not None or transport is None:
            raise self._send_error()
        core = self._core
        try:
            if opcode is _TEXT:
                core.send_text(data)
            elif opcode is _BINARY:
                core.send_binary(data)
            elif opcode is _PING:
                core.send_ping(data)
            else:
                core.send_pong(data)
        except InvalidState as exc:
            raise self._send_error() from exc
        finally:
            self._refresh_send_path()
        self._flush()
        if self.writing_paused:
            await self._drain()

    async def drain(self) -> None:
        """Wait while writing is paused (over ``write_buffer_size`` bytes unsent)."""
        if self.writing_paused and self.transport is not None:
            await self._drain()

    def _send_error(self) -> ConnectionDisconnected | WebSocketHandshakeError:
        if self.error is not None:
            return self.error
        return ConnectionDisconnected(
            f"the WebSocket connection to {self.where} is closing; nothing more can be sent",
            request_sent=True,
        )

    async def _drain(self) -> None:
        if self.transport is None or not self.writing_paused:
            await asyncio.sleep(0)  # the buffer is over max_write_buffer_size only: yield
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    async def ping_and_wait(self, data: bytes) -> None:
        """Send a ping and wait for the pong that echoes ``data`` (keep-alive's probe)."""
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._ping_waiters[data] = waiter
        try:
            await self.send(_PING, data)
            await waiter
        finally:
            self._ping_waiters.pop(data, None)

    # --- closing --------------------------------------------------------------

    async def close(self, code: int, reason: str) -> None:
        """Run the close handshake, bounded by ``close_timeout``; idempotent.

        Sends a close frame (if none was sent), waits for the server's close
        frame and the end of TCP, and drops the connection when they do not
        come in time.
        """
        core = self._core
        if core.state is _OPEN and self.error is None:
            core.send_close(code, reason)
            self._send_fast = False
            self._flush()
        transport = self.transport
        if transport is None:
            return
        if self._reading_paused:
            # A full queue must not keep the server's close frame unread. From
            # here on, messages past queue_maxsize are dropped, not queued, so
            # a server that floods instead of closing cannot grow memory.
            self._drop_frames = True
            self._reading_paused = False
            transport.resume_reading()
        try:
            with deadline(self._config.close_timeout, lambda: ReadTimeout("close")):
                await asyncio.shield(self._close_received)
                transport.close()
                await asyncio.shield(self.lost)
        except ReadTimeout:
            logger.debug("%s: no close handshake within close_timeout; dropping it", self.where)
            transport.abort()
            await asyncio.shield(self.lost)  # connection_lost runs on the next loop turn
        except BaseException:
            transport.abort()
            raise
        if self.error is None:
            self.error = self._closed_error()
            self._wake_all()

    def abort(self) -> None:
        """Drop the connection now, without a close frame."""
        if self.transport is not None:
            self.transport.abort()


def _joins_pieces(transport: asyncio.BaseTransport) -> bool:
    """Whether ``transport.writelines`` joins its pieces into one bytes first.

    asyncio's default does (b"".join, then write): a copy of a big payload.
    uvloop's transports and asyncio's socket transports from Python 3.12 on
    send the pieces with one vectored system call instead.
    """
    return getattr(type(transport), "writelines", None) is asyncio.WriteTransport.writelines
