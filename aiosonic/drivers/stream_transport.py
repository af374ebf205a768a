"""Drive our protocol drivers over a custom backend's stream.

The HTTP/1.1 and HTTP/2 drivers are asyncio protocols: a transport calls them
when bytes arrive, and they call ``transport.write()``. A custom network
backend (:mod:`aiosonic.backends`) gives coroutines instead: ``await
stream.read()`` and ``await stream.write(data)``. :class:`StreamTransport` is
the adapter between the two: a transport whose reads come from one task that
loops on ``stream.read()``, and whose writes queue for one task that awaits
``stream.write()``. Flow control goes both ways: the driver's
``pause_reading()`` stops the read loop, and a write queue over
:data:`WRITE_HIGH_WATER` pauses the driver's writing.

The default backend never comes here: the connector gives its drivers real
asyncio transports, with no task per connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiosonic.backends import NetworkStreamInterface

__all__ = ["WRITE_HIGH_WATER", "StreamTransport"]

#: Bytes queued for ``stream.write()`` above which the driver is told to
#: pause writing; it resumes under :data:`WRITE_LOW_WATER`.
WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024
#: Bytes asked of ``stream.read()`` at a time.
READ_SIZE = 64 * 1024

logger = logging.getLogger(__name__)

#: ``get_extra_info`` names of asyncio transports, mapped to the stream's keys.
_EXTRA_NAMES = {"peername": "server_addr", "sockname": "client_addr"}


class StreamTransport(asyncio.Transport):
    """An asyncio transport over a :class:`~aiosonic.backends.NetworkStreamInterface`.

    Args:
        stream: The connected (and, for ``https``, TLS-upgraded) stream.
        protocol: The driver that will own the transport.

    Call :meth:`start` once to hand the transport to the protocol and start
    reading. ``close()`` flushes queued writes, then closes the stream;
    ``abort()`` closes it at once. The protocol's ``connection_lost`` is
    called once, after the stream is closed.
    """

    def __init__(self, stream: NetworkStreamInterface, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._stream = stream
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._reading = asyncio.Event()
        self._reading.set()
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._writing_paused = False
        self._closing = False
        self._lost = False
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._lost else "closing" if self._closing else "open"
        return f"<StreamTransport [{state}, queued={self._queued}] {self._stream!r}>"

    def start(self) -> None:
        """Give the transport to the protocol and start the read loop."""
        self._protocol.connection_made(self)
        self._reader = self._loop.create_task(self._read_loop(), name=f"aiosonic read {self!r}")

    # --- reading ------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                if not self._reading.is_set():
                    await self._reading.wait()
                data = await self._stream.read(READ_SIZE)
                if not data:
                    if isinstance(self._protocol, asyncio.Protocol | asyncio.BufferedProtocol):
                        self._protocol.eof_received()
                    self._lose(None)
                    return
                self._deliver(data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream's own failure ends the connection
            self._lose(exc)

    def _deliver(self, data: bytes) -> None:
        protocol = self._protocol
        if isinstance(protocol, asyncio.BufferedProtocol):
            view = memoryview(data)
            while view:
                buffer = memoryview(protocol.get_buffer(len(view)))
                size = min(len(buffer), len(view))
                if size == 0:
                    raise RuntimeError(f"{protocol!r}.get_buffer() returned an empty buffer")
                buffer[:size] = view[:size]
                protocol.buffer_updated(size)
                view = view[size:]
        elif isinstance(protocol, asyncio.Protocol):
            protocol.data_received(data)

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def is_reading(self) -> bool:
        return self._reading.is_set() and not self._closing

    # --- writing ------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        self._queue.append(bytes(data))
        self._queued += len(data)
        if self._writer is None:
            self._writer = self._loop.create_task(self._write_loop())
        if not self._writing_paused and self._queued > WRITE_HIGH_WATER:
            self._writing_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    async def _write_loop(self) -> None:
        try:
            while self._queue:
                data = self._queue.popleft()
                await self._stream.write(data)
                self._queued -= len(data)
                if self._writing_paused and self._queued <= WRITE_LOW_WATER:
                    self._writing_paused = False
                    self._protocol.resume_writing()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lose(exc)
        finally:
            self._writer = None

    def get_write_buffer_size(self) -> int:
        return self._queued

    def can_write_eof(self) -> bool:
        return False

    # --- the rest of asyncio.Transport --------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        value = self._stream.get_extra_info(_EXTRA_NAMES.get(name, name))
        return default if value is None else value

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Send what is queued, then close the stream."""
        if self._closing:
            return
        self._closing = True
        self._reading.set()
        if self._reader is not None:
            self._reader.cancel()
        self._closer = self._loop.create_task(self._close(flush=True))

    def abort(self) -> None:
        """Close the stream at once; queued writes are dropped."""
        if self._lost:
            return
        self._closing = True
        self._queue.clear()
        self._queued = 0
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
        if self._closer is None or self._closer.done():
            self._closer = self._loop.create_task(self._close(flush=False))

    async def _close(self, flush: bool) -> None:
        writer = self._writer
        if flush and writer is not None:
            try:
                await writer
            except BaseException:  # its failure was reported through _lose
                logger.debug("write failed while %r closed", self, exc_info=True)
        try:
            await self._stream.close()
        except Exception:
            logger.debug("closing %r failed", self._stream, exc_info=True)
        self._lose(None)

    def _lose(self, exc: BaseException | None) -> None:
        """Report the end of the connection to the protocol, once."""
        if self._lost:
            return
        self._closing = True
        self._lost = True
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        if exc is not None and self._closer is None:
            # The stream failed: close it, without waiting for the writes.
            self._queue.clear()
            self._closer = self._loop.create_task(self._close(flush=False))
        error = exc if isinstance(exc, Exception) or exc is None else None
        self._loop.call_soon(self._protocol.connection_lost, error)
