"""WebSocket values and rules with no I/O: limits, messages, and message assembly.

The frame codec itself is ``websockets.client.ClientProtocol`` (sans-I/O, C
masking, its limits checked on the frame header; see
``benchmarks/results/ws_protocol_choice.md`` for why that core). It yields
*frames*; :class:`MessageAssembler` here joins fragments into messages and
checks the UTF-8 of text as the fragments arrive (RFC 6455 §8.1), which the
core does not do. :class:`WebSocketConfig` holds every limit, with its reason.

What does not live here: sockets, futures and queues
(:mod:`aiosonic.drivers.websocket`), the published API
(:mod:`aiosonic.web_socket_client`).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INVALID_DATA",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_PROTOCOL_ERROR",
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_QUEUE_MAXSIZE",
    "DEFAULT_READ_BUFFER_SIZE",
    "DEFAULT_WRITE_BUFFER_SIZE",
    "InvalidUTF8",
    "Message",
    "MessageAssembler",
    "MessageType",
    "WebSocketConfig",
]

# --- close codes (RFC 6455 §7.4.1) --------------------------------------------
#: The endpoint is going away: what a client sends to the WebSockets still open
#: when it (or the connector under it) is closed.
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
#: Text that is not UTF-8 (RFC 6455 §8.1).
CLOSE_INVALID_DATA = 1007
CLOSE_MESSAGE_TOO_BIG = 1009

# --- limits -------------------------------------------------------------------
# Defaults of the rnet/tungstenite reference the issue names, so a user moving
# between them sees the same bounds.

#: A whole message, after fragments are joined and after inflation; the
#: memory one message may take. 64 MiB fits any sane JSON document or file chunk.
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: One frame's payload; the core buffers a whole frame before it yields it,
#: so this bounds the memory of a frame still arriving.
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
#: ``read_buffer_size``'s default: None, chosen per event loop. On uvloop, the
#: loop's own reads: it reads into one buffer per loop and hands over bytes of the
#: size read, which costs two Python calls per read less than a buffer of ours
#: and holds no buffer per idle connection. On asyncio's loops, a buffer of ours
#: of :data:`LOOP_READ_BUFFER_SIZE` (``BufferedProtocol``): their own reads allocate
#: 256 KiB per read, three system calls (mmap, mremap, munmap) that doubled the CPU
#: per small message when measured (benchmarks/results/ws_bench.md).
DEFAULT_READ_BUFFER_SIZE: int | None = None
#: The read buffer a connection keeps where the loop's own reads are costly.
LOOP_READ_BUFFER_SIZE = 128 * 1024
#: Bytes the transport may hold unsent before a send waits for them to drain.
DEFAULT_WRITE_BUFFER_SIZE = 128 * 1024
#: Received messages kept until read; when full, the socket is not read.
DEFAULT_QUEUE_MAXSIZE = 100
#: Seconds close() waits for the server's close frame and the end of TCP.
DEFAULT_CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class WebSocketConfig:
    """Limits and negotiation settings of one WebSocket connection.

    Args:
        max_message_size: Most bytes a received message may have, joined and
            inflated; ``None`` for no limit. Passing it closes with 1009.
        max_frame_size: Most payload bytes of one received frame; checked on
            the frame header, before the payload is read. ``None``: no limit
            but ``max_message_size``.
        read_buffer_size: Bytes read from the socket at a time, into a buffer
            the connection keeps and reuses. ``None`` (the default): chosen
            per event loop (see :data:`DEFAULT_READ_BUFFER_SIZE`): uvloop's own
            reads, or a 128 KiB buffer of ours on asyncio's loops.
        write_buffer_size: Unsent bytes at which a send waits for the socket
            (backpressure).
        max_write_buffer_size: Most unsent bytes a send may leave buffered; a
            send that would pass it waits for the buffer to drain, and one
            message bigger than it is refused. ``None``: ``write_buffer_size``
            is the only bound.
        compression: Offer permessage-deflate (RFC 7692).
        client_max_window_bits: RFC 7692 §7.1.2.2: our LZ77 window, 9-15.
        server_max_window_bits: RFC 7692 §7.1.2.1: the server's window, 8-15.
        server_no_context_takeover: RFC 7692 §7.1.1.1.
        client_no_context_takeover: RFC 7692 §7.1.1.2.
        compression_level: zlib level of what we send (1, like aiohttp: a
            third of the CPU of level 6 for about the same ratio on JSON).
        close_timeout: Seconds close() waits for the close handshake before
            it drops the connection.
        accept_masked_frames: Accept frames the server masked, unmasking
            them (:mod:`aiosonic.protocols.ws_unmask`), instead of failing
            with 1002 as RFC 6455 §5.1 asks. For servers that break that
            rule; off by default, and free when off.

    Raises:
        ValueError: A size below 1, or window bits out of range.
    """

    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE
    read_buffer_size: int | None = DEFAULT_READ_BUFFER_SIZE
    write_buffer_size: int = DEFAULT_WRITE_BUFFER_SIZE
    max_write_buffer_size: int | None = None
    compression: bool = False
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    compression_level: int = 1
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    accept_masked_frames: bool = False

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_frame_size", "max_write_buffer_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} must be at least 1 (or None for no limit)")
        if self.read_buffer_size is not None and self.read_buffer_size < 1:
            raise ValueError(
                f"read_buffer_size={self.read_buffer_size} must be at least 1 "
                "(or None for the event loop's own reads)"
            )
        if self.write_buffer_size < 1:
            raise ValueError(f"write_buffer_size={self.write_buffer_size} must be at least 1")
        bits = self.client_max_window_bits
        if bits is not None and not 9 <= bits <= 15:
            raise ValueError(f"client_max_window_bits={bits} must be 9 to 15 (zlib has no 8)")
        bits = self.server_max_window_bits
        if bits is not None and not 8 <= bits <= 15:
            raise ValueError(f"server_max_window_bits={bits} must be 8 to 15")
        if self.close_timeout < 0:
            raise ValueError(f"close_timeout={self.close_timeout} must not be negative")


class MessageType(Enum):
    """Kind of a :class:`Message` (the published names and values)."""

    TEXT = "text"
    BINARY = "binary"
    PING = "ping"
    PONG = "pong"
    CLOSE = "close"


@dataclass(slots=True)
class Message:
    """One received WebSocket message (the published shape).

    Attributes:
        type: TEXT or BINARY for data; PONG for pongs.
        data: ``str`` for TEXT, ``bytes`` otherwise.
        raw_data: The payload bytes as received (UTF-8 for TEXT).
        opcode: The RFC 6455 opcode: 0x1 text, 0x2 binary.
    """

    type: MessageType
    data: str | bytes
    raw_data: bytes
    opcode: int

    @classmethod
    def create_text(cls, data: str) -> Message:
        """Build a TEXT message from a ``str``."""
        return cls(MessageType.TEXT, data, data.encode("utf-8"), 0x1)

    @classmethod
    def create_binary(cls, data: bytes) -> Message:
        """Build a BINARY message from ``bytes``."""
        return cls(MessageType.BINARY, data, data, 0x2)


class InvalidUTF8(ValueError):
    """A text message (or its fragments so far) is not UTF-8: close with 1007."""


class MessageAssembler:
    """Join data frames into messages and check the UTF-8 of text on the way.

    Feed each data frame with :meth:`feed`; it returns the whole message at
    the final fragment, else None. The core already enforces the size limits
    (on the frame header, across fragments and while inflating) and the
    frame order (a continuation frame only inside a fragmented message), so
    only UTF-8 is checked here: an unfragmented text message in one
    ``decode``, a fragmented one incrementally, so a bad byte in the first
    fragment fails at once rather than at the last (RFC 6455 §8.1).
    """

    __slots__ = ("_decoder", "_is_text", "_parts")

    def __init__(self) -> None:
        self._parts: list[bytes] | None = None
        self._is_text = False
        self._decoder: codecs.IncrementalDecoder | None = None

    def __repr__(self) -> str:
        if self._parts is None:
            return "<MessageAssembler [idle]>"
        kind = "text" if self._is_text else "binary"
        size = sum(len(part) for part in self._parts)
        return f"<MessageAssembler [{kind}, {len(self._parts)} fragments, {size} bytes]>"

    def feed(self, is_text: bool, data: bytes, fin: bool) -> Message | None:
        """Take one data frame's payload; return the message it completes, if any.

        Args:
            is_text: The frame's opcode is TEXT (for the first fragment; a
                continuation frame keeps the first fragment's kind).
            data: The frame's payload, unmasked and inflated.
            fin: The frame's FIN bit.

        Raises:
            InvalidUTF8: A text message's bytes so far cannot be UTF-8.
        """
        parts = self._parts
        if parts is None:
            if fin:  # the common case: one frame, one message
                if not is_text:
                    return Message(MessageType.BINARY, data, data, 0x2)
                try:
                    return Message(MessageType.TEXT, data.decode(), data, 0x1)
                except UnicodeDecodeError as exc:
                    raise InvalidUTF8(_describe(exc, 0)) from exc
            parts = self._parts = []
            self._is_text = is_text
            self._decoder = codecs.getincrementaldecoder("utf-8")() if is_text else None
        decoder = self._decoder
        if decoder is not None:
            offset = sum(len(part) for part in parts)
            try:
                decoder.decode(data, fin)
            except UnicodeDecodeError as exc:
                self._parts = self._decoder = None
                raise InvalidUTF8(_describe(exc, offset)) from exc
        parts.append(data)
        if not fin:
            return None
        whole = b"".join(parts)
        self._parts = self._decoder = None
        if self._is_text:
            return Message(MessageType.TEXT, whole.decode(), whole, 0x1)
        return Message(MessageType.BINARY, whole, whole, 0x2)


def _describe(exc: UnicodeDecodeError, offset: int) -> str:
    return f"text message is not UTF-8 ({exc.reason} at byte {offset + exc.start} of the message)"
