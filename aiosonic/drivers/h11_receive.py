"""Where the HTTP/1.1 driver's reads land: a reused buffer, or the body itself.

The driver is an ``asyncio.BufferedProtocol``: the transport asks it for a
buffer (``get_buffer``), reads into it (``recv_into``; for TLS,
``SSLObject.read`` into it) and reports how many bytes landed
(``buffer_updated``). Two kinds of buffer serve it:

* :class:`ReadBuffer`: one per connection, reused by every read, whose bytes
  are copied out (exactly as many as came) for the parser. A plain
  ``asyncio.Protocol`` would instead get a ``bytes`` object the transport
  allocated at its full read size (256 KiB) and then shrank: above malloc's
  mmap threshold (128 KiB unless malloc raised it), that is an ``mmap``, page
  faults, an ``mremap`` and a ``munmap`` per read, even for a 200-byte
  response. The buffer starts small (an idle keep-alive connection holds
  little) and grows when reads fill it.
* :class:`BodySink`: the rest of a Content-Length body read whole. Reads land
  in the final ``bytes`` object itself (the buffer of an ``io.BytesIO``, whose
  ``getvalue()`` hands that object over instead of copying it once no view of
  it is left): no ``bytes`` object per read, no list of pieces, no final join,
  and one read takes all the socket has.

No asyncio and no sockets here: the driver does the I/O.
"""

from __future__ import annotations

import io

__all__ = ["READ_BUFFER_MAX", "READ_BUFFER_MIN", "SEGMENT_SIZE", "BodySink", "ReadBuffer"]

#: First size of a connection's read buffer: a small response and its head fit.
READ_BUFFER_MIN = 16 * 1024
#: The most it grows to (asyncio's own read size).
READ_BUFFER_MAX = 256 * 1024

#: The most a :class:`BodySink` allocates ahead of the bytes arriving. A longer
#: body is received in several buffers of this size and joined at the end, so a
#: hostile Content-Length reserves at most this much before its bytes come.
SEGMENT_SIZE = 16 * 1024 * 1024
#: Room for one byte past the body in the last buffer: a read that returns the
#: end of the body and bytes after it must reveal those bytes (so the connection
#: is not reused), as a plain ``recv`` would.
_SLACK = 1


class BodySink:
    """Receive the rest of a body of known length straight into its final ``bytes``.

    Args:
        size: Body bytes still to come, ``prefix`` included (at least 1).
        prefix: Body bytes already received (fewer than ``size``).

    Attributes:
        size: As given.
        received: Body bytes in the sink so far, ``prefix`` included.
    """

    __slots__ = ("_pos", "_segments", "_unallotted", "_view", "received", "size")

    def __init__(self, size: int, prefix: bytes = b"") -> None:
        assert 0 <= len(prefix) < size, (len(prefix), size)
        self.size = size
        self.received = 0
        # Filled and current segments: (stream, its view, body bytes it holds).
        self._segments: list[tuple[io.BytesIO, memoryview, int]] = []
        self._unallotted = size  # body bytes not in any segment yet
        self._view = memoryview(b"")
        self._pos = 0
        self._open_segment()
        source = memoryview(prefix)
        while source:  # (a prefix fits before the slack: it is shorter than the body)
            target = self.buffer()
            n = min(len(source), len(target))
            target[:n] = source[:n]
            self.advance(n)
            source = source[n:]

    def __repr__(self) -> str:
        return f"<BodySink [{self.received} of {self.size} bytes]>"

    @property
    def is_complete(self) -> bool:
        """Whether every body byte has arrived."""
        return self.received == self.size

    def _open_segment(self) -> None:
        size = min(self._unallotted, SEGMENT_SIZE)
        self._unallotted -= size
        room = size if self._unallotted else size + _SLACK
        stream = io.BytesIO()
        stream.seek(room - 1)
        stream.write(b"\0")  # sizes the buffer (zero-filled) in one allocation
        view = stream.getbuffer()
        self._segments.append((stream, view, size))
        self._view, self._pos = view, 0

    def buffer(self) -> memoryview:
        """Return where the next read goes (never empty before :attr:`is_complete`)."""
        if self._unallotted and self._pos == len(self._view):
            self._open_segment()
        return self._view[self._pos :]

    def advance(self, nbytes: int) -> bytes:
        """Count ``nbytes`` written at the start of :meth:`buffer`.

        Returns:
            What landed past the end of the body (to be parsed as what follows
            it), usually ``b""``.
        """
        pos = self._pos + nbytes
        end = self._segments[-1][2]
        extra = b""
        if pos > end:
            extra = self._view[end:pos].tobytes()
            pos = end
        self.received += pos - self._pos
        self._pos = pos
        return extra

    def result(self) -> bytes:
        """Return the body; once, when complete, after the transport let go of its buffers."""
        assert self.is_complete, self
        values: list[bytes] = []
        for stream, view, size in self._segments:
            view.release()
            try:
                stream.truncate(size)  # drop the slack
            except BufferError:
                # A view the transport got is still alive: copy rather than wait.
                values.append(stream.getvalue()[:size])
                continue
            values.append(stream.getvalue())
        self._segments = []
        return values[0] if len(values) == 1 else b"".join(values)

    def close(self) -> None:
        """Drop the buffers of an abandoned body; idempotent."""
        for _, view, _ in self._segments:
            view.release()
        self._segments = []
        self._view = memoryview(b"")


class ReadBuffer:
    """A connection's landing area for reads outside a :class:`BodySink`, taken out as ``bytes``.

    Args:
        size: Initial size in bytes; it grows 4x (up to :data:`READ_BUFFER_MAX`)
            each time a read fills it.

    Attributes:
        view: The buffer to hand to the transport; replaced when it grows.
    """

    __slots__ = ("view",)

    def __init__(self, size: int = READ_BUFFER_MIN) -> None:
        self.view = memoryview(bytearray(size))

    def __repr__(self) -> str:
        return f"<ReadBuffer [{len(self.view)} bytes]>"

    def take(self, nbytes: int) -> bytes:
        """Return the ``nbytes`` that landed at the start of :attr:`view`."""
        view = self.view
        if nbytes < len(view):
            return view[:nbytes].tobytes()
        data = view.tobytes()
        if len(view) < READ_BUFFER_MAX:
            # A full read: more was probably waiting. (The old buffer lives on
            # until the transport lets go of it.)
            self.view = memoryview(bytearray(min(len(view) * 4, READ_BUFFER_MAX)))
        return data
