"""The published ``aiosonic.http_parser`` helpers: header lists and simple request bodies.

The published package built requests with these functions; code written
against it imports them to prepare headers and bodies of its own. aiosonic
itself does not use this module: requests are built by
:mod:`aiosonic.request` and written by the sans-I/O serialiser in
:mod:`aiosonic.protocols.h11_request`, whose header check
(:func:`aiosonic.headers.validate_header_field`) :func:`validate_header` applies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol
from urllib.parse import ParseResult, urlparse

from aiosonic.connection import Connection
from aiosonic.exceptions import InvalidRequest
from aiosonic.headers import validate_header_field
from aiosonic.request import BodyType, HeadersType
from aiosonic.types import DataType, ParsedBodyType
from aiosonic.urlencoded import urlencode_fields

__all__ = [
    "REPLACEABLE_HEADERS",
    "BodyType",
    "Connection",
    "DataType",
    "LineReader",
    "ParsedBodyType",
    "add_header",
    "add_headers",
    "get_url_parsed",
    "headers_iterator",
    "parse_headers_iterator",
    "setup_body_request",
    "validate_header",
]

#: Headers :func:`add_headers` replaces in a list instead of appending a second one.
REPLACEABLE_HEADERS = frozenset({"host", "user-agent"})


class LineReader(Protocol):
    """What :func:`parse_headers_iterator` reads from: an ``asyncio.StreamReader``, say."""

    async def readline(self) -> bytes:
        """Return the next line, its ``\\n`` included (``b""`` at the end)."""


def validate_header(key: str, value: str) -> None:
    """Refuse a header that would forge other lines of the request.

    Args:
        key: The name; an RFC 9110 token, or an HTTP/2 pseudo-header (``:path``).
        value: The value; no CR, LF, NUL, other control character or DEL.

    Raises:
        InvalidRequest: (a ``ValueError``) the name or value is unsafe.
    """
    name = key
    if key.startswith(":"):  # RFC 9113 §8.3: a pseudo-header is ":" and a token
        name = key[1:]
        if not name:
            raise InvalidRequest("header name ':' has no token after the colon")
    validate_header_field(name, str(value))


def get_url_parsed(url: str) -> ParseResult:
    """Return ``urlparse(url)``."""
    return urlparse(url)


def parse_headers_iterator(connection: LineReader) -> AsyncIterator[bytes]:
    """Yield the header lines ``connection.readline()`` returns, up to the blank line.

    Works on anything with an async ``readline()``, such as an
    ``asyncio.StreamReader``. Lines are yielded as read (CRLF included); the
    first line without a colon (the blank line ending the head) stops it.
    """
    return _header_lines(connection)


async def _header_lines(connection: LineReader) -> AsyncIterator[bytes]:
    while True:
        line = await connection.readline()
        if b":" not in line:
            return
        yield line


def headers_iterator(headers: HeadersType) -> Iterator[tuple[str, Any]]:
    """Yield the ``(name, value)`` pairs of a header mapping or list."""
    source: Any = headers
    yield from source.items() if hasattr(source, "items") else source or ()


def add_header(headers: HeadersType, key: str, value: str, replace: bool = False) -> None:
    """Add one header to a list (appended) or a mapping (set), after :func:`validate_header`.

    Args:
        headers: The list of pairs or the mapping to change.
        key: The name.
        value: The value.
        replace: In a list, drop an earlier pair of the same name (any case) first.

    Raises:
        InvalidRequest: The header is unsafe (see :func:`validate_header`).
    """
    validate_header(key, value)
    if isinstance(headers, list):
        if replace:
            lower = key.lower()
            for index, pair in enumerate(headers):
                if pair[0].lower() == lower:
                    del headers[index]
                    break
        headers.append((key, value))
    else:
        headers[key] = value  # type: ignore[index]


def add_headers(headers: HeadersType, headers_to_add: HeadersType) -> None:
    """Add every header of ``headers_to_add``; ``Host`` and ``User-Agent`` replace earlier ones."""
    for key, value in headers_iterator(headers_to_add):
        add_header(headers, key, value, key.lower() in REPLACEABLE_HEADERS)


def setup_body_request(data: DataType, headers: HeadersType) -> ParsedBodyType:
    """Encode a simple body and add its framing headers, as the published client did.

    An iterator is sent as it is, chunked (``Transfer-Encoding: chunked``). A
    dict or tuple of pairs is form-encoded; text or bytes are sent as
    ``text/plain``. Content-Type is added when ``headers`` has none (in any
    case), Content-Length always.

    Returns:
        The body to send: bytes, or the iterator.

    Raises:
        InvalidRequest: A form value cannot be encoded.
    """
    if isinstance(data, AsyncIterator | Iterator):
        add_header(headers, "Transfer-Encoding", "chunked")
        return data
    if isinstance(data, dict | tuple):
        body: str | bytes = urlencode_fields(data, "form field")
        content_type = "application/x-www-form-urlencoded"
    else:
        body = b"" if data is None else data  # type: ignore[assignment]
        content_type = "text/plain"
    if not any(name.lower() == "content-type" for name, _ in headers_iterator(headers)):
        add_header(headers, "Content-Type", content_type)
    encoded = body.encode() if isinstance(body, str) else bytes(body)
    add_header(headers, "Content-Length", str(len(encoded)))
    return encoded
