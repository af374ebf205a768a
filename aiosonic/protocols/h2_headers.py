"""HTTP/2 header blocks: a request's fields in, a response's fields out (RFC 9113 §8).

Sans-IO, like the HTTP/1.1 modules beside it: frames are ``h2``'s job; this
module only maps between our requests/responses and header lists.

* :func:`request_header_list` builds the pseudo-headers, lower-cases names,
  validates every field with the HTTP/1.1 serialiser's rule (no CR/LF/NUL can
  pass), turns ``Host`` into ``:authority`` (never both) and drops the
  connection-specific fields HTTP/2 forbids (§8.2.2).
* :func:`response_head` turns a received header block into the same
  :class:`~aiosonic.protocols.h11_events.ResponseHead` HTTP/1.1 produces.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiosonic.exceptions import InvalidRequest, LimitExceeded, RemoteProtocolError
from aiosonic.protocols.h11_events import ResponseHead
from aiosonic.protocols.h11_request import check_field

__all__ = [
    "CONNECTION_SPECIFIC",
    "check_header_list_size",
    "header_list_size",
    "request_header_list",
    "response_head",
]

#: Fields that only make sense hop-by-hop on HTTP/1.1; HTTP/2 forbids them.
CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
#: RFC 9113 §6.5.2: each field costs its name and value plus 32 octets.
FIELD_OVERHEAD = 32

_BAD_AUTHORITY = frozenset("\r\n\x00\t /?#")

H2Headers = list[tuple[bytes, bytes]]


def header_list_size(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """Return the SETTINGS_MAX_HEADER_LIST_SIZE measure of ``headers``."""
    return sum(len(n) + len(v) + FIELD_OVERHEAD for n, v in headers)


def request_header_list(
    method: str,
    scheme: str,
    authority: str,
    target: str,
    fields: Iterable[tuple[str, str]],
    max_size: int | None = None,
) -> H2Headers:
    """Build the header block of one request.

    Args:
        method: Upper-case method.
        scheme: ``http`` or ``https``.
        authority: ``host[:port]`` of the URL; a caller's ``Host`` wins.
        target: Origin-form path and query.
        fields: The request's ``(name, value)`` pairs.
        max_size: The peer's SETTINGS_MAX_HEADER_LIST_SIZE, if it sent one.

    Raises:
        InvalidRequest: A field has a bad name or value, ``TE`` is other than
            ``trailers``, or the block is larger than the peer accepts.
    """
    regular: H2Headers = []
    for name, value in fields:
        check_field(name, value)
        lname = name.lower().encode("ascii")
        if lname == b"host":
            authority = value
            continue
        if lname in CONNECTION_SPECIFIC:
            continue
        if lname == b"te" and value.strip().lower() != "trailers":
            raise InvalidRequest(f"HTTP/2 allows TE only as 'trailers', got {value!r}")
        regular.append((lname, value.encode("latin-1")))
    if not authority or not authority.isascii() or any(c in authority for c in _BAD_AUTHORITY):
        raise InvalidRequest(f"invalid :authority {authority!r}")
    headers: H2Headers = [
        (b":method", method.encode("ascii")),
        (b":scheme", scheme.encode("ascii")),
        (b":authority", authority.encode("ascii")),
        (b":path", target.encode("ascii") if target else b"/"),
        *regular,
    ]
    if max_size is not None:
        check_header_list_size(headers, max_size)
    return headers


def check_header_list_size(headers: H2Headers, max_size: int) -> None:
    """Raise InvalidRequest when ``headers`` exceed the peer's SETTINGS_MAX_HEADER_LIST_SIZE."""
    size = header_list_size(headers)
    if size > max_size:
        raise InvalidRequest(
            f"request header block is {size} octets; the server accepts at most {max_size}"
        )


def response_head(
    headers: Iterable[tuple[bytes, bytes]], method: str, end_stream: bool, max_size: int
) -> ResponseHead:
    """Turn a received final header block into a :class:`ResponseHead`.

    Args:
        headers: The block as ``h2`` decoded it (already validated by ``h2``).
        method: The request method; a HEAD response has no body.
        end_stream: The block ended the stream (no body follows).
        max_size: Our SETTINGS_MAX_HEADER_LIST_SIZE, enforced again here.

    Raises:
        RemoteProtocolError: ``:status`` is missing or not three digits, or
            Content-Length is not a number.
        LimitExceeded: The block is larger than ``max_size``.
    """
    status: bytes | None = None
    regular: H2Headers = []
    size = 0
    content_length: int | None = None
    for name, value in headers:
        size += len(name) + len(value) + FIELD_OVERHEAD
        if name == b":status":
            status = value
        elif name[:1] != b":":
            regular.append((name, value))
            if name == b"content-length":
                if not value.isdigit() or len(value) > 19:
                    raise RemoteProtocolError(f"invalid content-length {value[:40]!r}")
                content_length = int(value)
    if size > max_size:
        raise LimitExceeded("max_header_list_size", max_size, f"response headers are {size} octets")
    if status is None or len(status) != 3 or not status.isdigit():
        raise RemoteProtocolError(f"invalid or missing :status {status!r}")
    code = int(status)
    has_body = not end_stream and method != "HEAD" and code not in (204, 304)
    return ResponseHead(
        status_code=code,
        reason=b"",
        http_version="2",
        headers=regular,
        keep_alive=True,
        content_length=content_length,
        chunked=False,
        has_body=has_body,
    )
