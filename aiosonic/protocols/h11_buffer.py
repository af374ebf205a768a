"""The receive buffer of the HTTP/1.1 parser: bytes kept until they are parsed.

:class:`ReceiveBuffer` holds received bytes and a read position. It avoids
copies on the common paths: a read that arrives while nothing is pending is
kept as the ``bytes`` object it is, and a body piece that spans the whole buffer
is handed out without slicing. A remainder that must wait for more bytes moves
to a ``bytearray`` that grows by appending, so a peer sending one byte at a time
costs linear, not quadratic, copying. The search for the end of a head resumes
where the last search stopped.

Line endings (RFC 9112 §2.2): a line of a head ends in CRLF, or in a bare LF,
which a recipient may accept. The head ends at its first empty line, so its
terminator is CRLFCRLF, or LF LF, CRLF LF or LF CRLF when bare LFs are mixed
in. :meth:`ReceiveBuffer.take_head` looks for CRLFCRLF first, in one ``find``
(the hot path); that is the end unless a line before it ends in a bare LF,
which the caller sees as it validates the head, and then asks
:meth:`ReceiveBuffer.retake_head` for the head up to its first empty line.

It knows nothing of HTTP beyond line endings; framing and validation live in
``aiosonic.protocols.h11_response``. No I/O.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]

# Once the consumed prefix of a bytearray passes this, drop it (amortised O(1)).
_COMPACT_THRESHOLD = 64 * 1024
_HEAD_END = b"\r\n\r\n"
_CR = 13


class ReceiveBuffer:
    """Received bytes not yet consumed by the parser."""

    __slots__ = ("_data", "_head_start", "_pos", "_scan_from", "size")

    def __init__(self) -> None:
        self._data: bytes | bytearray = b""
        self._pos = 0
        # Absolute index where the next head-end search starts.
        self._scan_from = 0
        # Absolute index where the head the last take_head() removed began.
        self._head_start = 0
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
        """Remove the bytes up to the end of the head and return the head.

        The head is returned without its last line ending and the empty line
        after it. The end is the first CRLFCRLF, or, when there is none, the
        first empty line whatever its line endings. A CRLFCRLF is the end only
        if no line before it ends in a bare LF: the caller checks that as it
        validates the head, and otherwise calls :meth:`retake_head`.

        None (nothing removed) when the head is not all here. A failed search
        remembers where it stopped (less the 3 bytes that may begin the
        terminator), so a head arriving in pieces is scanned once.
        """
        buf, pos = self._data, self._pos
        start = max(pos, self._scan_from)
        idx = buf.find(_HEAD_END, start)
        if idx >= 0:
            end = idx + 4
        else:
            idx, end = _find_empty_line(buf, pos, start)
            if idx < 0:
                self._scan_from = max(pos, len(buf) - 3)
                return None
        # _take_head(), inlined: this is the hot path.
        self._head_start = pos
        self._pos = end
        self.size -= end - pos
        if isinstance(buf, bytes):
            return buf[pos:idx]
        with memoryview(buf) as view:
            return bytes(view[pos:idx])

    def retake_head(self) -> bytes:
        """Give back what the last take_head() removed and take the head up to its first empty line.

        For a head in which a line ends in a bare LF: take_head() may have cut
        it at a later CRLFCRLF, in the body or the next response. Call it
        right after take_head(), which keeps the bytes it removed until then.
        """
        pos = self._head_start
        self.size += self._pos - pos
        self._pos = pos
        idx, end = _find_empty_line(self._data, pos, pos)
        # take_head() stopped at an empty line: there is one.
        assert idx >= 0, "retake_head() without a head taken"
        return self._take_head(pos, idx, end)

    def _take_head(self, pos: int, idx: int, end: int) -> bytes:
        """Remove the bytes from ``pos`` to ``end``; return those up to ``idx``.

        Unlike take(), it keeps the removed bytes in the buffer (until the next
        append or take): retake_head() may give them back.
        """
        self._head_start = pos
        self._pos = end
        self.size -= end - pos
        buf = self._data
        if isinstance(buf, bytes):
            return buf[pos:idx]
        with memoryview(buf) as view:
            return bytes(view[pos:idx])

    def find_bare_cr(self, start: int) -> int:
        """Offset of the first CR not followed by LF, from offset ``start``, or -1.

        A CR that is the last unread byte may yet be followed by LF: it is not counted.
        """
        buf, pos = self._data, self._pos
        end = len(buf) - 1
        begin = pos + start
        # Fast path: every CR (but a final one) begins a CRLF.
        if buf.count(b"\r", begin, end) == buf.count(b"\r\n", begin, end + 1):
            return -1
        idx = buf.find(b"\r", begin, end)
        while buf[idx + 1] == 10:
            idx = buf.find(b"\r", idx + 1, end)
        return idx - pos

    def find_lf(self) -> int:
        """Offset of the next LF from the read position, or -1."""
        idx = self._data.find(b"\n", self._pos)
        return idx - self._pos if idx >= 0 else -1

    def find_cr(self) -> int:
        """Offset of the next CR from the read position, or -1."""
        idx = self._data.find(b"\r", self._pos)
        return idx - self._pos if idx >= 0 else -1

    def startswith(self, prefix: bytes) -> bool:
        """Whether the unread bytes start with ``prefix``."""
        return self._data.startswith(prefix, self._pos)

    def peek(self, limit: int | None = None) -> bytes:
        """Return (a copy of) the unread bytes, at most ``limit`` of them."""
        end = len(self._data) if limit is None else self._pos + limit
        return bytes(self._data[self._pos : end])


def _find_empty_line(buf: bytes | bytearray, pos: int, start: int) -> tuple[int, int]:
    """Find the first empty line at or after ``start``, lines ending in CRLF or LF.

    Returns:
        ``(head_end, end)``: where the head before it stops (its last line
        ending excluded) and where the empty line stops; ``(-1, -1)`` if none.
        ``pos`` is where the head begins.
    """
    # An LF, then an LF or a CRLF: the end of the last line, then the empty line.
    lf_lf = buf.find(b"\n\n", start)
    lf_crlf = buf.find(b"\n\r\n", start)
    if lf_lf < 0 and lf_crlf < 0:
        return -1, -1
    if lf_crlf < 0 or 0 <= lf_lf < lf_crlf:
        idx, end = lf_lf, lf_lf + 2
    else:
        idx, end = lf_crlf, lf_crlf + 3
    # The last line ended in CRLF or bare LF.
    if idx > pos and buf[idx - 1] == _CR:
        idx -= 1
    return idx, end
