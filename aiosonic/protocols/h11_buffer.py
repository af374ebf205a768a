"""The receive buffer of the HTTP/1.1 parser: bytes kept until they are parsed.

:class:`ReceiveBuffer` holds received bytes and a read position. It avoids
copies on the common paths: a read that arrives while nothing is pending is
kept as the ``bytes`` object it is, and a body piece that spans the whole buffer
is handed out without slicing. A remainder that must wait for more bytes moves
to a ``bytearray`` that grows by appending, so a peer sending one byte at a time
costs linear, not quadratic, copying. The search for the end of a head resumes
where the last search stopped.

It knows nothing of HTTP beyond CRLF; framing and validation live in
``aiosonic.protocols.h11_response``. No I/O.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]

# Once the consumed prefix of a bytearray passes this, drop it (amortised O(1)).
_COMPACT_THRESHOLD = 64 * 1024
_HEAD_END = b"\r\n\r\n"


class ReceiveBuffer:
    """Received bytes not yet consumed by the parser."""

    __slots__ = ("_data", "_pos", "_scan_from", "size")

    def __init__(self) -> None:
        self._data: bytes | bytearray = b""
        self._pos = 0
        # Absolute index where the next head-end search starts.
        self._scan_from = 0
        #: Unread bytes (``len(self)``, without a call).
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"<ReceiveBuffer [{len(self)} bytes]>"

    def append(self, data: bytes) -> None:
        """Add bytes from the peer."""
        buf = self._data
        if not self.size:
            self._data = data
            self._pos = 0
            self._scan_from = 0
            self.size = len(data)
            return
        self.size += len(data)
        if isinstance(buf, bytearray):
            buf += data
        else:
            rest = bytearray(buf[self._pos :])
            rest += data
            self._scan_from -= self._pos
            self._data = rest
            self._pos = 0

    def take(self, n: int) -> bytes:
        """Remove and return the next ``n`` bytes (``n`` <= ``len(self)``)."""
        buf, pos = self._data, self._pos
        end = pos + n
        self._pos = end
        self.size -= n
        if isinstance(buf, bytes):
            if pos == 0 and end == len(buf):
                return buf
            return buf[pos:end]
        with memoryview(buf) as view:
            out = bytes(view[pos:end])
        if end >= len(buf):
            self._data = b""
            self._pos = 0
            self._scan_from = 0
        elif end > _COMPACT_THRESHOLD:
            del buf[:end]
            self._pos = 0
            self._scan_from = max(0, self._scan_from - end)
        return out

    def take_head(self) -> bytes | None:
        """Remove the bytes up to the next CRLFCRLF and it; return them without it.

        None (nothing removed) when there is no CRLFCRLF yet. A failed search
        remembers where it stopped (less the 3 bytes that may begin the
        terminator), so a head arriving in pieces is scanned once.
        """
        buf, pos = self._data, self._pos
        idx = buf.find(_HEAD_END, max(pos, self._scan_from))
        if idx < 0:
            self._scan_from = max(pos, len(buf) - 3)
            return None
        n = idx - pos
        if isinstance(buf, bytes):
            self._pos = idx + 4
            self.size -= n + 4
            return buf[pos:idx]
        return self.take(n + 4)[:-4]

    def find_crlf(self) -> int:
        """Offset of the next CRLF from the read position, or -1."""
        idx = self._data.find(b"\r\n", self._pos)
        return idx - self._pos if idx >= 0 else -1

    def startswith(self, prefix: bytes) -> bool:
        """Whether the unread bytes start with ``prefix``."""
        return self._data.startswith(prefix, self._pos)

    def peek(self, limit: int | None = None) -> bytes:
        """Return (a copy of) the unread bytes, at most ``limit`` of them."""
        end = len(self._data) if limit is None else self._pos + limit
        return bytes(self._data[self._pos : end])
