"""Open, size and stream the data of one multipart part: the part data sources.

A :class:`Source` produces one part's value as bytes. :func:`make_source`
picks the kind from the value: :class:`Memory` (text or bytes), :class:`PathFile`
(a path, opened in a worker thread only while streaming and always closed),
:class:`FileObject` (a caller's open binary file, rewound for each send and
never closed), :class:`SyncStream` and :class:`AsyncStream` (iterables of
bytes). A source reports its size without reading the data, and
:meth:`Source.checked_chunks` yields it in chunks of at most
:data:`CHUNK_SIZE` bytes, checking that it adds up to the size announced for
the part.

What does not live here: part names, filenames, media types and headers and
their validation, the boundary, and the ``multipart/form-data`` framing. Those
are in :mod:`aiosonic.multipart`, the public module; nothing here is public API.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from contextlib import aclosing
from functools import partial
from io import IOBase
from typing import IO, Any, Protocol, TypeAlias, cast

from aiosonic.exceptions import InvalidRequest

__all__ = [
    "CHUNK_SIZE",
    "AsyncStream",
    "FileObject",
    "Memory",
    "PartValue",
    "PathFile",
    "Source",
    "SyncStream",
    "file_basename",
    "make_source",
    "slices",
]

#: Largest chunk :meth:`~aiosonic.multipart.MultipartForm.get_buffer` yields,
#: and the size of each file read: large enough to amortise one executor hop
#: per read, small enough that streaming a form holds at most this much of any
#: file in memory.
CHUNK_SIZE = 64 * 1024

_Chunk: TypeAlias = "bytes | bytearray | memoryview"
PartValue: TypeAlias = (
    "str | bytes | bytearray | memoryview | os.PathLike[str] | IOBase | IO[bytes]"
    " | Iterable[_Chunk] | AsyncIterable[_Chunk]"
)


class _Readable(Protocol):
    """The one method a file-like value needs."""

    def read(self, size: int = ..., /) -> Any: ...


def slices(data: bytes) -> Iterator[bytes]:
    """Yield ``data`` in pieces of at most :data:`CHUNK_SIZE` bytes."""
    if len(data) <= CHUNK_SIZE:
        yield data
        return
    view = memoryview(data)
    for start in range(0, len(data), CHUNK_SIZE):
        yield bytes(view[start : start + CHUNK_SIZE])


def _as_bytes(chunk: object, where: str) -> bytes:
    """Return ``chunk`` as bytes, or raise naming the part that produced it."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise InvalidRequest(f"{where} produced {type(chunk).__name__}, expected bytes")


def file_basename(value: object) -> str | None:
    """Return the basename of a file object's ``name``, if it has a path one."""
    name = getattr(value, "name", None)
    if isinstance(name, str | bytes | os.PathLike):
        return os.path.basename(os.fsdecode(name)) or None
    return None


def _close_when_done(close: Callable[[], None], task: asyncio.Future[Any]) -> None:
    """Call ``close`` once the worker thread reading the file is done."""
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as lost
    close()


def _close_opened(opening: asyncio.Future[IO[bytes]]) -> None:
    """Close the file an abandoned open produced, if it produced one."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


class Source(ABC):
    """Produce one part's data; ``where`` names the part in error messages."""

    def __init__(self, where: str) -> None:
        self.where = where

    @abstractmethod
    def size(self) -> int | None:
        """Return the data size in bytes without reading it, or ``None``."""

    @abstractmethod
    def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the data, releasing whatever was acquired when closed."""

    async def checked_chunks(self, expected: int | None) -> AsyncGenerator[bytes, None]:
        """Yield the data in non-empty chunks of at most :data:`CHUNK_SIZE` bytes.

        Args:
            expected: The size announced for this part, or ``None``.

        Raises:
            InvalidRequest: The data is longer or shorter than ``expected``.
                Raised before any byte past ``expected`` is yielded.
        """
        produced = 0
        async with aclosing(self.chunks()) as chunks:
            async for chunk in chunks:
                produced += len(chunk)
                if expected is not None and produced > expected:
                    raise InvalidRequest(
                        f"{self.where} produced more than the {expected} "
                        "bytes announced (did the file grow after content_length()?)"
                    )
                for piece in slices(chunk):
                    if piece:
                        yield piece
        if expected is not None and produced != expected:
            raise InvalidRequest(
                f"{self.where} produced {produced} of the {expected} "
                "bytes announced (did the file shrink after content_length()?)"
            )


class Memory(Source):
    """Text or bytes held in memory: sized and sliced without any I/O."""

    def __init__(self, where: str, data: bytes) -> None:
        super().__init__(where)
        self.data = data

    def size(self) -> int:
        return len(self.data)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        for piece in slices(self.data):
            yield piece


async def _read_file(
    file: _Readable, where: str, close: Callable[[], None] | None
) -> AsyncGenerator[bytes, None]:
    """Yield ``file`` to its end, reading in a worker thread unless it is in memory.

    ``close``, if given, is called when the generator ends for any reason.
    If it ends (cancelled) while a read is still running in the worker, the close
    waits for that read: closing under it would block the loop on the file's lock.
    """
    loop = asyncio.get_running_loop()
    reading: asyncio.Future[Any] | None = None
    try:
        while True:
            if isinstance(file, io.BytesIO):
                data: object = file.read(CHUNK_SIZE)
            else:
                reading = loop.run_in_executor(None, file.read, CHUNK_SIZE)
                data = await asyncio.shield(reading)
            if data is None:
                raise InvalidRequest(f"{where}: the file is non-blocking and had no data ready")
            if not data:
                return
            yield _as_bytes(data, where)
    except InvalidRequest:
        raise
    except (OSError, ValueError) as exc:  # ValueError: the caller closed the file
        raise InvalidRequest(f"{where}: reading the file failed: {exc}") from exc
    finally:
        if close is not None and reading is not None and not reading.done():
            reading.add_done_callback(partial(_close_when_done, close))
        elif close is not None:
            close()


class PathFile(Source):
    """A file named by path: opened in a worker thread when streamed, then closed."""

    def __init__(self, where: str, path: str | bytes) -> None:
        super().__init__(where)
        self.path = path

    def size(self) -> int | None:
        try:
            info = os.stat(self.path)
        except OSError as exc:
            raise InvalidRequest(f"{self.where}: cannot stat the file: {exc}") from exc
        # A pipe or device reports no meaningful size: stream it chunked.
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        opening: asyncio.Future[IO[bytes]] = loop.run_in_executor(None, open, self.path, "rb")
        try:
            file = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The worker thread may still open the file: close it when it does.
            opening.add_done_callback(_close_opened)
            raise
        except OSError as exc:
            raise InvalidRequest(f"{self.where}: cannot open the file: {exc}") from exc
        # No await separates the open from _read_file's try block, which closes it.
        async with aclosing(_read_file(file, self.where, file.close)) as data:
            async for chunk in data:
                yield chunk


class _Seekable(Protocol):
    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def tell(self) -> int: ...


class FileObject(Source):
    """A caller's open binary file: rewound to its start each pass, never closed."""

    def __init__(self, where: str, file: _Readable) -> None:
        super().__init__(where)
        self.file = file
        # Where the data starts, when the file can seek back there for a resend.
        self.start: int | None = None
        self.seekable: _Seekable | None = None
        try:
            if getattr(file, "seekable", lambda: False)():
                self.seekable = cast(_Seekable, file)
                self.start = self.seekable.tell()
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{where}: the file object is unusable: {exc}") from exc

    def size(self) -> int | None:
        if self.seekable is None or self.start is None:
            return None
        try:
            here = self.seekable.tell()
            end = self.seekable.seek(0, os.SEEK_END)
            self.seekable.seek(here)
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{self.where}: cannot size the file: {exc}") from exc
        return max(end - self.start, 0)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        if self.seekable is not None and self.start is not None:
            try:
                self.seekable.seek(self.start)
            except (OSError, ValueError) as exc:
                raise InvalidRequest(f"{self.where}: cannot rewind the file: {exc}") from exc
        async with aclosing(_read_file(self.file, self.where, None)) as data:
            async for chunk in data:
                yield chunk


class SyncStream(Source):
    """An iterable of bytes: an iterator can be sent once, a collection again."""

    def __init__(self, where: str, stream: Iterable[_Chunk]) -> None:
        super().__init__(where)
        self.stream = stream
        self.one_shot = isinstance(stream, Iterator)
        self.consumed = False

    def size(self) -> None:
        return None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        if self.one_shot and self.consumed:
            raise InvalidRequest(f"{self.where}: its iterator was already sent once")
        self.consumed = True
        iterator = iter(self.stream)
        try:
            for chunk in iterator:
                yield _as_bytes(chunk, self.where)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


class AsyncStream(Source):
    """An async iterable of bytes: an iterator can be sent once, others again."""

    def __init__(self, where: str, stream: AsyncIterable[_Chunk]) -> None:
        super().__init__(where)
        self.stream = stream
        self.one_shot = isinstance(stream, AsyncIterator)
        self.consumed = False

    def size(self) -> None:
        return None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        if self.one_shot and self.consumed:
            raise InvalidRequest(f"{self.where}: its async iterator was already sent once")
        self.consumed = True
        iterator = aiter(self.stream)
        try:
            async for chunk in iterator:
                yield _as_bytes(chunk, self.where)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()


def make_source(where: str, value: object) -> tuple[Source, str | None]:
    """Pick the source for ``value``; also return the filename it implies."""
    if isinstance(value, str):
        return Memory(where, value.encode("utf-8")), None
    if isinstance(value, bytes | bytearray | memoryview):
        return Memory(where, bytes(value)), None
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return PathFile(where, path), os.path.basename(os.fsdecode(path)) or None
    if callable(getattr(value, "read", None)):
        if isinstance(value, io.TextIOBase):
            raise InvalidRequest(f"{where}: the file is open in text mode; open it with 'rb'")
        return FileObject(where, cast(_Readable, value)), file_basename(value)
    if isinstance(value, AsyncIterable):
        return AsyncStream(where, value), None
    if isinstance(value, Iterable):
        return SyncStream(where, value), None
    raise InvalidRequest(f"{where}: unsupported value type {type(value).__name__}")
