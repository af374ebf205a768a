"""Unmask the frames a server masked, before the WebSocket core sees them.

RFC 6455 §5.1: a server must not mask its frames, and a client must fail the
connection when one does (1002). websockets' ``ClientProtocol`` does exactly
that and has no switch. Some servers mask anyway (broken proxies, embedded
stacks); ``WebSocketConfig(accept_masked_frames=True)`` puts
:class:`MaskedFrameFilter` between the socket and the core. It parses only
frame *headers* (2 to 14 bytes, RFC 6455 §5.2), clears the MASK bit, drops
the 4-byte masking key and unmasks the payload with websockets' C
``apply_mask`` as it streams past; every other check (opcodes, sizes, RSV
bits, UTF-8) is still the core's. Unmasked frames pass through unchanged.

The filter holds at most one partial frame header; payload bytes are never
buffered. With the option off (the default) the filter does not exist, so it
costs nothing.

What does not live here: parsing frames into messages (the core), I/O (the
driver).
"""

from __future__ import annotations

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["MaskedFrameFilter"]

#: The HTTP/1.1 response head ends at its empty line (RFC 9112 §2.1).
_HEAD_END = b"\r\n\r\n"
#: Bit of the second header byte that says the payload is masked (RFC 6455 §5.2).
_MASK_BIT = 0x80
#: Size of the masking key.
_KEY_SIZE = 4


class MaskedFrameFilter:
    """Turn a stream of masked or unmasked server frames into unmasked ones.

    Feed every byte received with :meth:`feed`; pass what it returns to the
    core. Works on any split of the stream: a header or payload cut across
    reads, several frames in one read.

    Args:
        in_http_head: The stream starts with the server's HTTP/1.1 answer to
            the upgrade, which passes unchanged up to its empty line (the
            HTTP/1.1 handshake). False when the stream is all frames.
    """

    __slots__ = ("_head_tail", "_header", "_in_head", "_key", "_offset", "_remaining")

    def __init__(self, in_http_head: bool = True) -> None:
        self._in_head = in_http_head
        # The last bytes of the HTTP head seen, for an empty line split across reads.
        self._head_tail = b""
        self._header = bytearray()
        self._remaining = 0
        self._key: bytes | None = None
        self._offset = 0

    def __repr__(self) -> str:
        if self._in_head:
            return "<MaskedFrameFilter [http head]>"
        if self._remaining:
            kind = "masked" if self._key is not None else "unmasked"
            return f"<MaskedFrameFilter [{kind} payload, {self._remaining} bytes left]>"
        return f"<MaskedFrameFilter [header, {len(self._header)} bytes]>"

    def feed(self, data: bytes) -> bytes:
        """Return ``data`` with every frame unmasked (its header and key rewritten)."""
        pos = 0
        out: list[bytes] = []
        if self._in_head:
            pos = self._skip_head(data)
            if pos < 0:
                return data
            out.append(data[:pos])
        end = len(data)
        while pos < end:
            remaining = self._remaining
            if remaining:
                take = min(remaining, end - pos)
                chunk = data[pos : pos + take]
                key = self._key
                if key is not None:
                    offset = self._offset
                    # The key goes on where the last read stopped (RFC 6455 §5.3: j mod 4).
                    chunk = apply_mask(chunk, key[offset:] + key[:offset])
                    self._offset = (offset + take) % _KEY_SIZE
                out.append(chunk)
                self._remaining = remaining - take
                pos += take
                continue
            pos = self._take_header(data, pos, out)
        return b"".join(out) if len(out) != 1 else out[0]

    def _skip_head(self, data: bytes) -> int:
        """Return where the frames start in ``data``, or -1 while still in the HTTP head."""
        tail = self._head_tail
        window = tail + data
        found = window.find(_HEAD_END)
        if found < 0:
            self._head_tail = window[-(len(_HEAD_END) - 1) :]
            return -1
        self._in_head = False
        self._head_tail = b""
        return found + len(_HEAD_END) - len(tail)

    def _take_header(self, data: bytes, pos: int, out: list[bytes]) -> int:
        """Add header bytes from ``data[pos:]``, emit the header once whole; return the new pos."""
        header = self._header
        end = len(data)
        while True:
            missing = _header_size(header) - len(header)
            if not missing:
                self._emit_header(header, out)
                return pos
            if pos >= end:
                return pos
            take = min(missing, end - pos)
            header += data[pos : pos + take]
            pos += take

    def _emit_header(self, header: bytearray, out: list[bytes]) -> None:
        length7 = header[1] & 0x7F
        extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
        length = int.from_bytes(header[2 : 2 + extended]) if extended else length7
        if header[1] & _MASK_BIT:
            key_at = 2 + extended
            self._key = bytes(header[key_at : key_at + _KEY_SIZE])
            header[1] &= ~_MASK_BIT & 0xFF
            del header[key_at:]
        else:
            self._key = None
        out.append(bytes(header))
        header.clear()
        self._remaining = length
        self._offset = 0


def _header_size(header: bytearray) -> int:
    """Size of the frame header that starts with ``header`` (2 until its 2nd byte says more)."""
    if len(header) < 2:
        return 2
    second = header[1]
    length7 = second & 0x7F
    extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
    return 2 + extended + (_KEY_SIZE if second & _MASK_BIT else 0)
