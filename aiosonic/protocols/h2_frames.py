"""HTTP/2 frame boundaries, checked as bytes arrive (sans-IO).

``h2`` validates a frame's length only once the whole frame is buffered, so a
header announcing 16 MiB makes it wait (and buffer) for 16 MiB that may never
come; bytes that are not HTTP/2 at all (an HTTP/1.1 answer to h2c, say) read as
such a header. :class:`FrameSizeGuard` follows the frame boundaries of the
received stream and rejects an oversized frame as soon as its 9-byte header is
in, so the connection fails at once with a clear error instead of hanging.

:class:`PrefaceCheck` checks the server's connection preface: its first frame
must be SETTINGS (RFC 9113 §3.4), which ``h2`` does not check for a client.
"""

from __future__ import annotations

import struct

from aiosonic.exceptions import RemoteProtocolError, quote_bytes

__all__ = ["FRAME_HEADER_SIZE", "FrameSizeGuard", "PrefaceCheck"]

#: RFC 9113 §4.1: length (3), type (1), flags (1), stream id (4).
FRAME_HEADER_SIZE = 9

#: RFC 9113 §6: frame type codes, for naming what came instead of SETTINGS.
FRAME_TYPE_NAMES = {
    0x0: "DATA",
    0x1: "HEADERS",
    0x2: "PRIORITY",
    0x3: "RST_STREAM",
    0x4: "SETTINGS",
    0x5: "PUSH_PROMISE",
    0x6: "PING",
    0x7: "GOAWAY",
    0x8: "WINDOW_UPDATE",
    0x9: "CONTINUATION",
}
SETTINGS_TYPE = 0x4
ACK_FLAG = 0x1

#: The first four bytes of a frame header: length (24 bits) and type (8 bits).
_length_and_type = struct.Struct(">I").unpack_from


class FrameSizeGuard:
    """Reject a frame longer than ``max_size`` from its header alone.

    Args:
        max_size: Our SETTINGS_MAX_FRAME_SIZE.
    """

    __slots__ = ("_header", "_skip", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._skip = 0  # payload bytes of the current frame still to come
        self._header = b""  # a frame header split across reads

    def __repr__(self) -> str:
        return f"<FrameSizeGuard [max={self.max_size}, in_payload={self._skip}]>"

    def feed(self, data: bytes) -> None:
        """Follow ``data``'s frame boundaries (one ``unpack_from`` per frame, no copies).

        Raises:
            RemoteProtocolError: A frame header announces more than ``max_size``.
        """
        end = len(data)
        max_size = self.max_size
        if self._header:
            need = FRAME_HEADER_SIZE - len(self._header)
            header = self._header + data[:need]
            if len(header) < FRAME_HEADER_SIZE:
                self._header = header
                return
            self._header = b""
            length = _length_and_type(header)[0] >> 8
            if length > max_size:
                self._reject(header, length)
            pos = need + length
        else:
            pos = self._skip  # the rest of a payload begun in an earlier read
        while pos + FRAME_HEADER_SIZE <= end:
            length = _length_and_type(data, pos)[0] >> 8
            if length > max_size:
                self._reject(data[pos : pos + FRAME_HEADER_SIZE], length)
            pos += FRAME_HEADER_SIZE + length
        if pos >= end:
            self._skip = pos - end  # the payload goes on in the next read
        else:
            self._skip = 0
            self._header = data[pos:]  # a header split across reads

    def _reject(self, header: bytes, length: int) -> None:
        raise RemoteProtocolError(
            f"frame of {length} bytes announced, more than SETTINGS_MAX_FRAME_SIZE="
            f"{self.max_size} (header {quote_bytes(header)}; is the server speaking HTTP/2?)"
        )


class PrefaceCheck:
    """Check that the server's first frame is SETTINGS without ACK (RFC 9113 §3.4).

    Fed every received byte until :meth:`feed` returns True (the preface is
    good); the caller then drops it. Bytes are only looked at, never consumed.
    """

    __slots__ = ("_header",)

    def __init__(self) -> None:
        self._header = b""  # the first frame header, while it is incomplete

    def __repr__(self) -> str:
        return f"<PrefaceCheck [have={len(self._header)}/{FRAME_HEADER_SIZE}]>"

    def feed(self, data: bytes) -> bool:
        """Return whether the preface is complete and good; False: send more bytes.

        Raises:
            RemoteProtocolError: The first frame is not SETTINGS, or is a
                SETTINGS acknowledgement (a connection error, PROTOCOL_ERROR).
        """
        header = self._header + data[: FRAME_HEADER_SIZE - len(self._header)]
        if len(header) < FRAME_HEADER_SIZE:
            self._header = header
            return False
        kind, flags = header[3], header[4]
        if kind != SETTINGS_TYPE or flags & ACK_FLAG:
            name = FRAME_TYPE_NAMES.get(kind, "unknown")
            what = "a SETTINGS acknowledgement" if kind == SETTINGS_TYPE else name
            raise RemoteProtocolError(
                f"the server's first frame was {what} (type 0x{kind:x}), not its SETTINGS "
                f"preface (RFC 9113 §3.4; header {quote_bytes(header)})"
            )
        return True
