"""Encode ``multipart/form-data`` request bodies (RFC 7578): :class:`MultipartForm`, :class:`Part`.

:class:`MultipartFile` is the published 1.x way to describe a file part (a
path or file object with its filename and content type); the form turns it
into a :class:`Part`.

A form is a list of parts. Each part knows its own header block and where its
data comes from (text, bytes, a path opened only while streaming, a file object,
or a sync/async stream). The form joins them with a random boundary and yields
the body in chunks of at most :data:`CHUNK_SIZE` bytes, so a large file is never
held in memory. :meth:`MultipartForm.content_length` sizes the body without
reading any data, and streaming checks that each part produced exactly the
announced number of bytes, so a file that changes in between cannot break the
``Content-Length`` framing.

Where a part's data comes from, and how it is opened, sized and read, lives
in :mod:`aiosonic._multipart_sources`; this module owns the part headers, the
boundary and the framing. It sends nothing and opens no sockets: the client
chooses between ``Content-Length`` and chunked framing and writes the chunks.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from contextlib import aclosing
from io import IOBase
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, cast
from urllib.parse import quote

# CHUNK_SIZE and PartValue were always importable from here: re-exported explicitly.
from aiosonic._multipart_sources import CHUNK_SIZE as CHUNK_SIZE
from aiosonic._multipart_sources import Memory, file_basename, make_source, slices
from aiosonic._multipart_sources import PartValue as PartValue
from aiosonic.exceptions import InvalidRequest
from aiosonic.urlencoded import field_pairs, field_text

__all__ = ["MultipartFile", "MultipartForm", "Part"]

#: Random bytes in a boundary: 128 bits, so no content matches it by chance
#: (RFC 2046 §5.1.1 allows 70 characters; ours has 41).
BOUNDARY_RANDOM_BYTES = 16

#: Type of a part's data when it is a file and no type was given (RFC 7578 §4.4).
DEFAULT_FILE_MIME = "application/octet-stream"

_CRLF = b"\r\n"
# CR and LF end a header line and NUL truncates it in C parsers: any of them in
# a name, filename or header could smuggle headers or parts, so they are refused.
_FORBIDDEN_CHARS = ("\r", "\n", "\0")
# RFC 9110 §5.6.2 tchar: the characters a header name may use.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Headers the part builds itself from name/filename and mime.
_RESERVED_HEADER = "content-disposition"
_TYPE_HEADER = "content-type"


def _new_boundary() -> str:
    """Return a fresh boundary made only of RFC 2046 ``bchars``."""
    return f"aiosonic-{secrets.token_hex(BOUNDARY_RANDOM_BYTES)}"


def _check_text(what: str, value: object) -> str:
    """Return ``value`` if it is a str safe to put in a part header.

    Raises:
        InvalidRequest: ``value`` is not a str, holds CR, LF or NUL, or is not
            encodable as UTF-8 (an undecodable file name, for example).
    """
    if not isinstance(value, str):
        raise InvalidRequest(f"multipart {what} must be str, got {type(value).__name__}")
    for char in _FORBIDDEN_CHARS:
        if char in value:
            raise InvalidRequest(
                f"multipart {what} {value!r} contains {char!r}: CR, LF and NUL are "
                "refused because they would break the part's header framing"
            )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"multipart {what} {value!r} is not encodable as UTF-8") from exc
    return value


def _quote_param(value: str) -> str:
    """Escape ``value`` for a quoted Content-Disposition parameter.

    ``"`` becomes ``%22`` as browsers do (HTML form-data encoding), so no
    parser can see the string end early. ``\\`` is doubled (RFC 9110 §5.6.4
    quoted-pair) so that a trailing backslash cannot escape the closing quote
    for the many servers that unescape quoted strings.
    """
    return value.replace("\\", "\\\\").replace('"', "%22")


def _guess_mime(filename: str) -> str:
    """Return the media type for ``filename``, defaulting to octet-stream."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    dot = base.find(".")
    if dot < 0:
        return DEFAULT_FILE_MIME
    # Only the extensions are looked at: guess_type would parse "data:..." as a URL.
    mime, encoding = mimetypes.guess_type("_" + base[dot:])
    # "x.tar.gz" guesses application/x-tar with gzip encoding: the bytes sent are
    # gzip, not tar, so naming the inner type would mislead the server.
    if mime is None or encoding is not None:
        return DEFAULT_FILE_MIME
    return mime


class Part:
    """One field of a form: a name, data, and the headers that describe it.

    Modelled on ``rnet.Part``. The data is read only while the form streams:
    a path is opened then and closed afterwards, a file object is read from
    the position it had here (and rewound to it for each send), a stream is
    iterated.

    Args:
        name: The field name.
        value: The data: ``str`` (sent as UTF-8), bytes, an ``os.PathLike``
            path, a binary file object, or a sync or async iterable of bytes.
            An iterator can be sent only once; a sync one runs on the event
            loop, so wrap blocking producers in an async iterator.
        filename: Sent as the part's ``filename``. Defaults to the basename of
            a path or of a file object's ``name``.
        mime: The part's Content-Type. Defaults to a guess from the filename,
            then ``application/octet-stream``; a part without a filename has
            none (a plain text field).
        length: The exact number of data bytes. Lets a stream have a known
            size; for any value, a different count while streaming is an error.
        headers: Extra part headers. A ``Content-Type`` here stands for
            ``mime``; ``Content-Disposition`` is built from name and filename.

    Raises:
        InvalidRequest: A name, filename, mime or header holds CR, LF or NUL,
            a header name is not a token, ``length`` is negative or disagrees
            with in-memory data, or ``value`` has an unsupported type.
    """

    __slots__ = ("_filename", "_head", "_headers", "_length", "_mime", "_name", "_source")

    def __init__(
        self,
        name: str,
        value: PartValue,
        *,
        filename: str | None = None,
        mime: str | None = None,
        length: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._name = _check_text("part name", name)
        where = f"multipart part {name!r}"
        self._source, implied_filename = make_source(where, value)
        if filename is None:
            filename = implied_filename
        self._filename = None if filename is None else _check_text(f"filename of {where}", filename)
        extra = self._check_headers(where, headers or {})
        header_type = extra.pop(_TYPE_HEADER, None)
        if header_type is not None:
            if mime is not None:
                raise InvalidRequest(f"{where}: both mime and a Content-Type header were given")
            mime = header_type[1]
        if mime is None and self._filename is not None:
            mime = _guess_mime(self._filename)
        self._mime = None if mime is None else _check_text(f"mime of {where}", mime)
        self._headers = MappingProxyType(dict(extra.values()))
        self._length = self._check_length(where, length)
        self._head = self._build_head()

    @staticmethod
    def _check_headers(where: str, headers: Mapping[str, str]) -> dict[str, tuple[str, str]]:
        """Validate extra headers, keyed by lower-cased name."""
        checked: dict[str, tuple[str, str]] = {}
        for key, value in headers.items():
            _check_text(f"header name of {where}", key)
            if not key or not _TCHARS.issuperset(key):
                raise InvalidRequest(f"{where}: header name {key!r} is not an RFC 9110 token")
            if key.lower() == _RESERVED_HEADER:
                raise InvalidRequest(f"{where}: set name/filename instead of {key}")
            if key.lower() in checked:
                raise InvalidRequest(f"{where}: header {key!r} given twice")
            checked[key.lower()] = (key, _check_text(f"header {key!r} of {where}", value))
        return checked

    def _check_length(self, where: str, length: int | None) -> int | None:
        if length is None:
            return None
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise InvalidRequest(f"{where}: length must be an int >= 0, got {length!r}")
        if isinstance(self._source, Memory) and length != self._source.size():
            raise InvalidRequest(
                f"{where}: length={length} but the value is {self._source.size()} bytes"
            )
        return length

    def _build_head(self) -> bytes:
        """Encode the header block, blank line included (RFC 7578 §4.2)."""
        disposition = f'form-data; name="{_quote_param(self._name)}"'
        if self._filename is not None:
            disposition += f'; filename="{_quote_param(self._filename)}"'
            if not self._filename.isascii():
                # RFC 5987 / RFC 8187 form for servers that do not read raw UTF-8.
                disposition += f"; filename*=UTF-8''{quote(self._filename, safe='')}"
        lines = [f"Content-Disposition: {disposition}"]
        if self._mime is not None:
            lines.append(f"Content-Type: {self._mime}")
        lines.extend(f"{key}: {value}" for key, value in self._headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    @property
    def name(self) -> str:
        """The field name."""
        return self._name

    @property
    def filename(self) -> str | None:
        """The filename sent, or ``None`` for a plain field."""
        return self._filename

    @property
    def mime(self) -> str | None:
        """The Content-Type sent, or ``None``."""
        return self._mime

    @property
    def length(self) -> int | None:
        """The data length the caller declared, or ``None``."""
        return self._length

    @property
    def headers(self) -> Mapping[str, str]:
        """The extra part headers, read-only."""
        return self._headers

    def _data_size(self) -> int | None:
        """Return the data size in bytes without reading the data.

        Returns:
            ``length`` when declared, else the size of text, bytes, a regular
            file or a seekable file object; ``None`` for a stream or pipe.

        Raises:
            InvalidRequest: A path cannot be stat'ed or a file object sized.
        """
        return self._length if self._length is not None else self._source.size()

    def __repr__(self) -> str:
        kind = type(self._source).__name__
        return f"<Part {self._name!r} {kind} filename={self._filename!r} mime={self._mime!r}>"


class MultipartFile:
    """A file to send as a form part, with its filename and content type.

    The 1.x way to add a file: ``form.add_field("doc", MultipartFile(path,
    content_type="application/pdf"))``. A path is opened only while the form
    is sent (in a worker thread) and closed after, also when sending fails or
    is cancelled. A file object is the caller's: it is read from its current
    position (rewound to it for each send) and left open.

    Args:
        file_path_or_obj: A path (``str`` or ``os.PathLike``) or a binary file
            object.
        filename: The filename sent. Default: the path's basename, or the
            basename of the file object's ``name``, else ``"file"``.
        content_type: The part's Content-Type. Default: guessed from the
            filename, else ``application/octet-stream``.

    Attributes:
        file_path: The path as given (``None`` for a file object).
        filename: The filename sent.
        content_type: The content type given (``None``: guessed when sent).
    """

    __slots__ = ("_file_obj", "_opened", "_size", "content_type", "file_path", "filename")

    def __init__(
        self,
        file_path_or_obj: str | os.PathLike[str] | IOBase | IO[bytes],
        filename: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self._size: int | None = None
        # A file object file_obj opened for a path: closed by close().
        self._opened: IO[bytes] | None = None
        if isinstance(file_path_or_obj, str | os.PathLike):
            self.file_path: str | os.PathLike[str] | None = file_path_or_obj
            self._file_obj: IOBase | IO[bytes] | None = None
            default = os.path.basename(os.fsdecode(file_path_or_obj))
        elif callable(getattr(file_path_or_obj, "read", None)):
            self.file_path = None
            self._file_obj = file_path_or_obj
            default = file_basename(file_path_or_obj) or "file"
        else:
            raise InvalidRequest(
                "MultipartFile needs a path or a binary file object, "
                f"got {type(file_path_or_obj).__name__}"
            )
        self.filename = filename or default
        self.content_type = content_type

    @property
    def file_obj(self) -> IOBase | IO[bytes]:
        """The file object; a path is opened (``"rb"``) on first access.

        Sending the form does not use this: it opens the path itself and
        closes it after. A file opened here is closed by :meth:`close`.
        """
        if self._file_obj is None:
            assert self.file_path is not None  # one of the two is always set
            self._opened = open(self.file_path, "rb")  # noqa: SIM115 (closed by close())
            self._file_obj = self._opened
        return self._file_obj

    @property
    def size(self) -> int:
        """The file's size in bytes, computed once; 0 when it cannot be known."""
        if self._size is None:
            self._size = self._measure()
        return self._size

    def _measure(self) -> int:
        if self.file_path is not None:
            try:
                return os.path.getsize(self.file_path)
            except OSError:
                return 0
        file = cast(IO[bytes], self._file_obj)
        try:
            here = file.tell()
            end = file.seek(0, os.SEEK_END)
            file.seek(here)
        except (OSError, ValueError, AttributeError):
            return 0
        return end

    def close(self) -> None:
        """Close the file :attr:`file_obj` opened for a path; idempotent.

        A file object the caller passed in is never closed here.
        """
        if self._opened is not None:
            self._opened.close()
            self._opened = None
            self._file_obj = None

    def to_part(self, name: str, filename: str | None = None) -> Part:
        """Return the :class:`Part` that sends this file as field ``name``.

        Raises:
            InvalidRequest: See :class:`Part`.
        """
        value: PartValue
        if self.file_path is not None:
            value = Path(os.fsdecode(self.file_path))
        else:
            value = cast(IO[bytes], self._file_obj)
        return Part(name, value, filename=filename or self.filename, mime=self.content_type)

    def __repr__(self) -> str:
        source = repr(self.file_path) if self.file_path is not None else "file object"
        return (
            f"<MultipartFile {source} filename={self.filename!r} "
            f"content_type={self.content_type!r}>"
        )


def _take_full(pending: bytearray) -> Iterator[bytes]:
    """Remove and yield every full :data:`CHUNK_SIZE` chunk at the front of ``pending``."""
    while len(pending) >= CHUNK_SIZE:
        yield bytes(pending[:CHUNK_SIZE])
        del pending[:CHUNK_SIZE]


class MultipartForm:
    """A ``multipart/form-data`` body, streamed in bounded chunks.

    Example::

        form = MultipartForm()
        form.add_field("title", "holiday")
        form.add_file("photo", "beach.jpg")        # opened only while sending
        form.add_part(Part("log", chunks(), filename="log.txt", length=4096))
        response = await client.post(url, data=form)

    The boundary may change while parts are added (when a text or bytes value
    contains it), so take :meth:`get_headers` after the last ``add_*`` call.
    One form must not be streamed by two consumers at once.
    """

    __slots__ = ("_announced", "_boundary", "_parts")

    def __init__(self) -> None:
        self._boundary = _new_boundary()
        self._parts: list[Part] = []
        # Per-part sizes from the last content_length() that returned a total:
        # get_buffer() holds the data to them so the framing cannot drift.
        self._announced: tuple[int, ...] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Iterable[Any]) -> MultipartForm:
        """Build a form from ``{name: value}``, as ``multipart=True`` does.

        Args:
            data: A mapping, or a sequence of ``(name, value)`` pairs. Values
                may be bytes (a field), a binary file object (a file part), an
                ``os.PathLike`` (a file opened while sending), a :class:`Part`
                whose name is the key, a :class:`MultipartFile`, text or a
                scalar sent as text by the
                rules of :mod:`aiosonic.urlencoded` (``str`` as is, numbers in
                decimal, ``True``/``False`` as ``true``/``false``, ``None`` as
                an empty field), or a list/tuple of these (one part each).

        Returns:
            The new form.

        Raises:
            InvalidRequest: A value has an unsupported type or unsafe name.
        """
        form = cls()
        for name, value in field_pairs(data, "multipart field"):
            values = value if isinstance(value, list | tuple) else (value,)
            for item in values:
                form._add_value(name, item)
        return form

    def _add_value(self, name: str, value: object) -> None:
        if isinstance(value, Part):
            if value.name != name:
                raise InvalidRequest(f"multipart part {value.name!r} given under key {name!r}")
            self.add_part(value)
        elif isinstance(value, MultipartFile):
            self.add_part(value.to_part(name))
        elif isinstance(value, os.PathLike):
            self.add_file(name, value)
        elif isinstance(value, str | bytes | bytearray | memoryview):
            self.add_field(
                name, bytes(value) if isinstance(value, bytearray | memoryview) else value
            )
        elif callable(getattr(value, "read", None)):
            self.add_field(name, cast(IO[bytes], value))
        else:
            # Scalars become text as in a query or urlencoded form; the rest raises.
            self.add_field(name, field_text(name, value, "multipart field"))

    @property
    def boundary(self) -> str:
        """The boundary string (without the leading ``--``)."""
        return self._boundary

    @property
    def parts(self) -> tuple[Part, ...]:
        """The parts in sending order."""
        return tuple(self._parts)

    @property
    def fields(self) -> tuple[Part, ...]:
        """The published name of :attr:`parts` (it held ``(name, value[, filename])`` tuples).

        Each :class:`Part` has ``name`` and ``filename``, and reading its value
        is the form's job: build a new form rather than changing this one.
        """
        return self.parts

    @property
    def content_type(self) -> str:
        """The request's Content-Type value, boundary included."""
        return f"multipart/form-data; boundary={self._boundary}"

    def add_field(
        self,
        name: str,
        value: str | bytes | IOBase | IO[bytes] | MultipartFile,
        filename: str | None = None,
    ) -> None:
        """Add a text field, a bytes field, a file object or a :class:`MultipartFile`.

        Args:
            name: The field name.
            value: Text, bytes, a binary file object, or a
                :class:`MultipartFile`. The caller keeps ownership of a file
                object: it is read from its current position and left open.
            filename: The filename to send. For a file object it defaults to
                the basename of its ``name``, else ``"file"``; for a
                :class:`MultipartFile`, to its ``filename``.

        Raises:
            InvalidRequest: See :class:`Part`.
        """
        if isinstance(value, MultipartFile):
            self.add_part(value.to_part(name, filename))
            return
        if filename is None and callable(getattr(value, "read", None)):
            filename = file_basename(value) or "file"
        self.add_part(Part(name, value, filename=filename))

    def add_file(
        self, name: str, file_path: str | os.PathLike[str], filename: str | None = None
    ) -> None:
        """Add the file at ``file_path``; it is opened only while the form streams.

        The file is closed when its data is sent, and also when streaming stops
        early (error, cancellation, or ``aclose()`` of :meth:`get_buffer`).

        Args:
            name: The field name.
            file_path: The file to send.
            filename: The filename to send; defaults to the path's basename.

        Raises:
            InvalidRequest: See :class:`Part`.
        """
        self.add_part(Part(name, Path(os.fsdecode(file_path)), filename=filename))

    def add_part(self, part: Part) -> None:
        """Append ``part``, choosing a new boundary if its text or bytes contain it.

        Raises:
            InvalidRequest: ``part`` is not a :class:`Part`.
        """
        if not isinstance(part, Part):
            raise InvalidRequest(f"add_part() expects a Part, got {type(part).__name__}")
        self._parts.append(part)
        self._announced = None
        while self._is_boundary_in_data(self._boundary):
            self._boundary = _new_boundary()

    def _is_boundary_in_data(self, boundary: str) -> bool:
        """Return whether any in-memory value contains ``boundary``."""
        needle = boundary.encode("ascii")
        return any(
            isinstance(part._source, Memory) and needle in part._source.data for part in self._parts
        )

    def _delimiter(self) -> bytes:
        return b"--" + self._boundary.encode("ascii") + _CRLF

    def _close_delimiter(self) -> bytes:
        return b"--" + self._boundary.encode("ascii") + b"--" + _CRLF

    def content_length(self) -> int | None:
        """Return the body size in bytes without reading any data.

        A known result is also recorded: the next :meth:`get_buffer` checks
        that every part produces exactly the bytes counted here.

        Returns:
            The size, or ``None`` when a part's size is unknown (a stream
            without ``length``, a pipe): the body must then be sent chunked.

        Raises:
            InvalidRequest: A file cannot be stat'ed or sized.
        """
        sizes = [part._data_size() for part in self._parts]
        known = [size for size in sizes if size is not None]
        if len(known) != len(sizes):
            self._announced = None
            return None
        self._announced = tuple(known)
        framing = len(self._delimiter()) + len(_CRLF)
        total = sum(framing + len(part._head) for part in self._parts)
        return total + sum(known) + len(self._close_delimiter())

    async def get_buffer(self) -> AsyncGenerator[bytes, None]:
        """Yield the encoded body in non-empty chunks of at most :data:`CHUNK_SIZE` bytes.

        Headers and small values are coalesced; file and stream data is passed
        on as read, without waiting to fill a chunk.

        Raises:
            InvalidRequest: A part produced a different number of bytes than
                :meth:`content_length` or its ``length`` announced, or its
                data could not be read.
        """
        parts = tuple(self._parts)
        announced = self._announced
        delimiter = self._delimiter()
        pending = bytearray()
        for index, part in enumerate(parts):
            pending += delimiter + part._head
            source = part._source
            if isinstance(source, Memory):
                for piece in slices(source.data):
                    pending += piece
                    for chunk in _take_full(pending):
                        yield chunk
            else:
                for chunk in _take_full(pending):
                    yield chunk
                if pending:
                    yield bytes(pending)
                    pending.clear()
                expected = part.length if announced is None else announced[index]
                async with aclosing(source.checked_chunks(expected)) as data:
                    async for chunk in data:
                        yield chunk
            pending += _CRLF
        pending += self._close_delimiter()
        for chunk in _take_full(pending):
            yield chunk
        if pending:
            yield bytes(pending)

    async def get_body_size(self) -> tuple[bytes, int]:
        """Build the whole body in memory (kept from the published package).

        Prefer :meth:`get_buffer` with :meth:`content_length` for large files.

        Returns:
            The body and its size in bytes.
        """
        chunks = [chunk async for chunk in self.get_buffer()]
        body = b"".join(chunks)
        return body, len(body)

    def get_headers(self, size: int | None = None) -> dict[str, str]:
        """Return the request headers that describe this body.

        Args:
            size: The body size, from :meth:`content_length` or
                :meth:`get_body_size`; ``None`` leaves Content-Length out.

        Returns:
            ``Content-Type`` with the boundary, and ``Content-Length`` if sized.
        """
        headers = {"Content-Type": self.content_type}
        if size is not None:
            headers["Content-Length"] = str(size)
        return headers

    def __repr__(self) -> str:
        return f"<MultipartForm parts={len(self._parts)} boundary={self._boundary!r}>"


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
