"""HTTP/2 frame boundaries, checked as bytes arrive (sans-IO).

``h2`` validates a frame's length only once the whole frame is buffered, so a
header announcing 16 MiB makes it wait (and buffer) for 16 MiB that may never
come; bytes that are not HTTP/2 at all (an HTTP/1.1 answer to h2c, say) read as
such a header. :class:`FrameSizeGuard` follows the frame boundaries of the
received stream and rejects an oversized frame as soon as its 9-byte header is
in, so the connection fails at once with a clear error instead of hanging.
"""

from __future__ import annotations

from aiosonic.exceptions import RemoteProtocolError, quote_bytes

__all__ = ["FRAME_HEADER_SIZE", "FrameSizeGuard"]

#: RFC 9113 §4.1: length (3), type (1), flags (1), stream id (4).
FRAME_HEADER_SIZE = 9


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
        """Follow ``data``'s frame boundaries.

        Raises:
            RemoteProtocolError: A frame header announces more than ``max_size``.
        """
        end = len(data)
        pos = 0
        skip = self._skip
        while True:
            if skip:
                step = min(skip, end - pos)
                pos += step
                skip -= step
                if skip:
                    break  # the payload goes on in the next read
            if self._header:
                need = FRAME_HEADER_SIZE - len(self._header)
                self._header += data[pos : pos + need]
                pos = min(pos + need, end)
                if len(self._header) < FRAME_HEADER_SIZE:
                    break
                header, self._header = self._header, b""
            elif end - pos >= FRAME_HEADER_SIZE:
                header = data[pos : pos + FRAME_HEADER_SIZE]
                pos += FRAME_HEADER_SIZE
            else:
                self._header = data[pos:]
                break
            length = int.from_bytes(header[:3], "big")
            if length > self.max_size:
                raise RemoteProtocolError(
                    f"frame of {length} bytes announced, more than SETTINGS_MAX_FRAME_SIZE="
                    f"{self.max_size} (header {quote_bytes(header)}; is the server speaking "
                    "HTTP/2?)"
                )
            skip = length
        self._skip = skip
