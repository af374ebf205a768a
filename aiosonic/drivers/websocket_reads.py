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
    "BufferedMaskTolerantWebSocketDriver",
    "BufferedReads",
    "BufferedWebSocketDriver",
    "MaskTolerantWebSocketDriver",
    "driver_class",
]


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
    #: Where the rest of a big fast-path payload is read to, in place (see get_buffer).
    _in_place: memoryview | None = None
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
        straight into a buffer of the payload's size, so its bytes are not
        copied out of the read buffer piece by piece first.
        """
        buffer = self._read_buffer
        if buffer is None:
            size = self._config.read_buffer_size or LOOP_READ_BUFFER_SIZE
            buffer = self._read_buffer = memoryview(bytearray(size))
        left = self._payload_left
        target = self._in_place
        if target is None or not left:  # (not left: the frame was given up, at EOF)
            if left <= len(buffer) or not self._reads_in_place:
                self._in_place = None
                return buffer
            target = self._in_place = memoryview(bytearray(left))
        return target[len(target) - left :]

    def buffer_updated(self, nbytes: int) -> None:
        """Take the ``nbytes`` just read into the buffer (or into the payload's, in place)."""
        target = self._in_place
        if target is None:
            # A view, not a copy: the driver copies what it keeps (a payload, a
            # partial frame) and the core copies what it is fed (StreamReader.feed_data:
            # ``buffer += data``) before this buffer is reused; the 16 MiB echoes of
            # test_websocket_servers.py would show it if not.
            assert self._read_buffer is not None
            self.data_received(self._read_buffer[:nbytes])  # type: ignore[arg-type]
            return
        start = len(target) - self._payload_left
        self._payload.append(target[start : start + nbytes])  # type: ignore[arg-type]
        self._payload_left -= nbytes
        if not self._payload_left:  # whole: joined (one copy) and delivered
            self._in_place = None
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
