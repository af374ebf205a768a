"""Data frames without the core: the send fast path and frame headers for the receive one.

websockets' ``ClientProtocol.send_text``/``send_binary`` build a ``Frame``,
check it, run it through the extensions, write it into a fresh ``BytesIO``
and draw its masking key with ``secrets.token_bytes(4)``: one ``getrandom``
system call and several copies per message. For the frames that need none
of that (a whole TEXT or BINARY message, no extension negotiated), the
driver uses :class:`DataFrameEncoder` instead: the same bytes, a header from
one ``struct`` call, the payload masked by websockets' ``apply_mask`` (C when
its speedups are built), and masking keys taken from a pool of
``os.urandom`` bytes refilled every :data:`MASK_POOL_SIZE` frames.

``tests/test_websocket_frames.py`` checks the output against
``Frame.serialize`` byte for byte and through ``Frame.parse``.

For received frames, :func:`frame_extent` reads a server frame's header
(RFC 6455 §5.2) so the driver knows where each frame ends: it decodes the
common frame itself and feeds the core only whole frames, or the rest of the
stream from a frame boundary on (see :mod:`aiosonic.drivers.websocket`).

What does not live here: when a fast path may be taken (the driver
decides: state OPEN, no fragmented message in progress, no extension, no
frame-level debug logging), control frames and the checks of received
frames (the core).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

try:  # websockets' C speedup, as websockets.frames itself picks it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without the extension
    from websockets.utils import apply_mask

__all__ = ["MASK_POOL_SIZE", "DataFrameEncoder", "frame_extent", "head_fails_at_once"]

#: Masking keys drawn per ``os.urandom`` call: one system call per 256 frames
#: rather than one per frame. Every key is still 4 bytes from the kernel's
#: CSPRNG, unknown to the server until the frame is sent, which is what
#: RFC 6455 §5.3 asks ("a strong source of entropy", "unpredictable").
MASK_POOL_SIZE = 256

_FIN = 0x80
_MASKED = 0x80
# RFC 6455 §5.2: 7-bit length up to 125; 126 then a 16-bit length; 127 then 64 bits.
_HEAD_7 = struct.Struct("!BB4s")
_HEAD_16 = struct.Struct("!BBH4s")
_HEAD_64 = struct.Struct("!BBQ4s")
#: RFC 6455 §5.2: the opcodes defined (CONT, TEXT, BINARY, CLOSE, PING, PONG).
_KNOWN_OPCODES = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))


def frame_extent(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """Return the header size and payload size of the frame at ``data[pos:]``.

    Returns:
        ``(header_bytes, payload_bytes)``, or None while the header (2 to 14
        bytes, with the masking key when the MASK bit is set) is incomplete.
    """
    available = len(data) - pos
    if available < 2:
        return None
    second = data[pos + 1]
    length = second & 0x7F
    head = 2
    if length == 126:
        head = 4
        if available < head:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    elif length == 127:
        head = 10
        if available < head:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
    if second & _MASKED:
        head += 4
        if available < head:
            return None
    return head, length


def head_fails_at_once(first: int, second: int) -> bool:
    """Whether a client's core fails a frame on its first two bytes alone.

    An undefined opcode, or the MASK bit (a server must not mask, RFC 6455
    §5.1): ``Frame.parse`` raises on those before it reads the length.
    """
    return (first & 0x0F) not in _KNOWN_OPCODES or bool(second & _MASKED)


class DataFrameEncoder:
    """Encode whole (FIN) masked client data frames, with pooled masking keys.

    Args:
        random_bytes: The source of masking keys (``os.urandom``; a test may
            pass a fixed one).
    """

    __slots__ = ("_keys", "_random_bytes")

    def __init__(self, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random_bytes = random_bytes
        #: Masking keys not used yet, the next one last (``pop()``).
        self._keys: list[bytes] = []

    def __repr__(self) -> str:
        return f"<DataFrameEncoder [{len(self._keys)} masking keys left]>"

    def frame(self, opcode: int, data: bytes) -> bytes:
        """Return one whole (FIN) masked frame carrying ``data``, header and payload in one.

        For small payloads: the payload is copied once more, into the frame.
        :meth:`encode` leaves the two apart for big ones.

        Args:
            opcode: A data opcode (0x1 TEXT or 0x2 BINARY).
            data: The whole message's payload.
        """
        keys = self._keys
        mask = keys.pop() if keys else self._refill()
        length = len(data)
        if length < 126:
            return _HEAD_7.pack(_FIN | opcode, _MASKED | length, mask) + apply_mask(data, mask)
        return _head(opcode, length, mask) + apply_mask(data, mask)

    def encode(self, opcode: int, data: bytes) -> tuple[bytes, bytes]:
        """Return the header (with its masking key) and the masked payload of one frame.

        Args:
            opcode: A data opcode (0x1 TEXT or 0x2 BINARY); FIN is set.
            data: The whole message's payload.
        """
        keys = self._keys
        mask = keys.pop() if keys else self._refill()
        return _head(opcode, len(data), mask), apply_mask(data, mask)

    def _refill(self) -> bytes:
        """Draw :data:`MASK_POOL_SIZE` new masking keys; return one of them."""
        pool = self._random_bytes(4 * MASK_POOL_SIZE)
        keys = [pool[i : i + 4] for i in range(4 * MASK_POOL_SIZE - 4, -1, -4)]  # in order
        key = keys.pop()
        self._keys = keys
        return key


def _head(opcode: int, length: int, mask: bytes) -> bytes:
    """The header of a whole masked frame of ``length`` payload bytes (RFC 6455 §5.2)."""
    if length < 126:
        return _HEAD_7.pack(_FIN | opcode, _MASKED | length, mask)
    if length < 65536:
        return _HEAD_16.pack(_FIN | opcode, _MASKED | 126, length, mask)
    return _HEAD_64.pack(_FIN | opcode, _MASKED | 127, length, mask)
