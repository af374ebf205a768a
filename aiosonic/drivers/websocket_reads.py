"""How the event loop's reads reach a WebSocket driver, and which driver a connection gets.

:class:`~aiosonic.drivers.websocket.WebSocketDriver` takes bytes in
``data_received``. Two things may stand between the loop and it, each a class
of its own so a connection that needs neither pays nothing for them:

* :class:`MaskTolerantWebSocketDriver` unmasks frames a server masked
  (``accept_masked_frames=True``) before the driver sees them;
* :class:`BufferedReads` has the loop read into a buffer the connection keeps
  (``get_buffer``/``buffer_updated``), and the rest of a big payload straight
  into a buffer of its own size.

:func:`driver_class` picks the class for a connection's settings and loop.

What does not live here: frames, the core, sending and closing
(:mod:`aiosonic.drivers.websocket`).
"""

from __future__ import annotations

import asyncio

from websockets.client import ClientProtocol
from websockets.http11 import Request

from aiosonic.drivers.websocket import WebSocketDriver
from aiosonic.protocols.websocket import LOOP_READ_BUFFER_SIZE, WebSocketConfig
from aiosonic.protocols.ws_unmask import MaskedFrameFilter

__all__ = [
    "IN_PLACE_CHUNK",
    "BufferedMaskTolerantWebSocketDriver",
    "BufferedReads",
    "BufferedWebSocketDriver",
    "MaskTolerantWebSocketDriver",
    "driver_class",
]

#: The most bytes of a big payload read in place into one buffer: memory for a
#: frame grows as its bytes arrive, never by more than this ahead of them.
IN_PLACE_CHUNK = 1024 * 1024


class MaskTolerantWebSocketDriver(WebSocketDriver):
    """A driver that unmasks frames the server masked before the core sees them.

    For ``accept_masked_frames=True`` only: a subclass, so the default driver
    pays nothing for the option, not even a check per read.
    """

    def __init__(
        self, core: ClientProtocol, request: Request, config: WebSocketConfig, where: str
    ) -> None:
        super().__init__(core, request, config, where)
        self._unmask = MaskedFrameFilter(in_http_head=True).feed

    def data_received(self, data: bytes) -> None:
        """Unmask the frames in ``data``, then feed it to the core."""
        super().data_received(self._unmask(data))


class BufferedReads(asyncio.BufferedProtocol):
    """Reads into a buffer the connection keeps (``read_buffer_size``, see driver_class).

    A mixin after a driver class (``class X(WebSocketDriver, BufferedReads)``),
    so the driver's methods come first and the event loop, seeing a
    ``BufferedProtocol``, calls :meth:`get_buffer` and :meth:`buffer_updated`
    instead of ``data_received``. Each read takes at most N bytes.
    """

    _config: WebSocketConfig
    _read_buffer: memoryview | None = None
    #: Where the rest of a big fast-path payload is read to, in place (see
    #: get_buffer), and how much of it is filled.
    _in_place: memoryview | None = None
    _in_place_at = 0
    #: Whether the buffer get_buffer handed out last is ``_in_place``.
    _reading_in_place = False
    #: Whether a big payload may be read in place: not when a filter must see
    #: every byte first (the mask-tolerant driver).
    _reads_in_place = True
    # The driver's (WebSocketDriver), first in the MRO:
    _payload: list[bytes]
    _payload_left: int

    def data_received(self, data: bytes) -> None:  # the driver's, first in the MRO
        raise NotImplementedError

    def _payload_done(self, rest: bytes | memoryview) -> bytes | memoryview:
        raise NotImplementedError

    def get_buffer(self, sizehint: int) -> memoryview:
        """Return where the next read goes: the read buffer, reused for every read.

        While a fast-path frame's payload is being collected and what is
        missing is more than the read buffer holds, the reads go instead
        straight into buffers the payload keeps (:data:`IN_PLACE_CHUNK` bytes
        at most each, so memory follows what has arrived, not what a header
        announced), and its bytes are not copied out of the read buffer first.
        """
        buffer = self._read_buffer
        if buffer is None:
            size = self._config.read_buffer_size or LOOP_READ_BUFFER_SIZE
            buffer = self._read_buffer = memoryview(bytearray(size))
        left = self._payload_left
        if left <= len(buffer) or not self._reads_in_place:
            self._reading_in_place = False
            return buffer
        target = self._in_place
        at = self._in_place_at
        if target is None or at == len(target):
            target = self._in_place = memoryview(bytearray(min(left, IN_PLACE_CHUNK)))
            at = self._in_place_at = 0
        self._reading_in_place = True
        return target[at:]  # never past the frame: no chunk is bigger than what is left

    def buffer_updated(self, nbytes: int) -> None:
        """Take the ``nbytes`` just read into the buffer (or into the payload's, in place)."""
        if not self._reading_in_place:
            # A view, not a copy: the driver copies what it keeps (a payload, a
            # partial frame) and the core copies what it is fed (StreamReader.feed_data:
            # ``buffer += data``) before this buffer is reused; the 16 MiB echoes of
            # test_websocket_servers.py would show it if not.
            assert self._read_buffer is not None
            self.data_received(self._read_buffer[:nbytes])  # type: ignore[arg-type]
            return
        target = self._in_place
        assert target is not None
        at = self._in_place_at
        self._payload.append(target[at : at + nbytes])  # type: ignore[arg-type]
        self._in_place_at = at + nbytes
        self._payload_left -= nbytes
        if not self._payload_left:  # whole: joined (one copy) and delivered
            self._in_place = None
            self._reading_in_place = False
            rest = self._payload_done(b"")
            if rest:  # a text payload that is not UTF-8: the frame, for the core
                self.data_received(rest)  # type: ignore[arg-type]


class BufferedWebSocketDriver(WebSocketDriver, BufferedReads):
    """:class:`WebSocketDriver` reading into its own ``read_buffer_size`` buffer."""


class BufferedMaskTolerantWebSocketDriver(MaskTolerantWebSocketDriver, BufferedReads):
    """:class:`MaskTolerantWebSocketDriver` reading into its own ``read_buffer_size`` buffer."""

    _reads_in_place = False  # every byte goes through the unmasking filter first


def driver_class(config: WebSocketConfig, loop: asyncio.AbstractEventLoop) -> type[WebSocketDriver]:
    """Return the driver class for ``config`` on ``loop``.

    The mask-tolerant one when it asks for it, and one reading into its own
    buffer when it sets ``read_buffer_size``, or leaves it None on a loop other
    than uvloop (see DEFAULT_READ_BUFFER_SIZE); each option costs nothing when off.
    """
    own_reads = config.read_buffer_size is None and _reads_cheaply(loop)
    if own_reads:
        return MaskTolerantWebSocketDriver if config.accept_masked_frames else WebSocketDriver
    if config.accept_masked_frames:
        return BufferedMaskTolerantWebSocketDriver
    return BufferedWebSocketDriver


def _reads_cheaply(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop``'s own reads are cheaper than a buffer of ours: uvloop's are."""
    return type(loop).__module__.partition(".")[0] == "uvloop"
