"""HTTP/2 header blocks: a request's fields in, a response's fields out (RFC 9113 §8).

Sans-IO, like the HTTP/1.1 modules beside it: frames are ``h2``'s job; this
module only maps between our requests/responses and header lists.

* :func:`request_header_list` builds the pseudo-headers, lower-cases names,
  validates every field with the HTTP/1.1 serialiser's rule (no CR/LF/NUL can
  pass), turns ``Host`` into ``:authority`` (never both) and drops the
  connection-specific fields HTTP/2 forbids (§8.2.2).
* :func:`checked_block` validates a received header block (RFC 9113 §8.2,
  §8.3: the checks ``h2`` makes with ``validate_inbound_headers``, which the
  driver turns off, since this one pass is cheaper than ``h2``'s chain of
  generators); :class:`BlockChecker` is its per-connection memo, which the
  driver uses for every head, trailer and 1xx block.
* :func:`head_from_block` turns a checked final block into the same
  :class:`~aiosonic.protocols.h11_events.ResponseHead` HTTP/1.1 produces. The
  driver calls the two apart, since only the first one's errors break the
  connection; :func:`response_head` is both in one call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiosonic.exceptions import InvalidRequest, LimitExceeded, RemoteProtocolError
from aiosonic.protocols.h11_events import ResponseHead
from aiosonic.protocols.h11_request import check_field

__all__ = [
    "CONNECTION_SPECIFIC",
    "MAX_CHECKED_BLOCKS",
    "MAX_CHECKED_BLOCK_SIZE",
    "BlockChecker",
    "FieldBlock",
    "check_header_list_size",
    "checked_block",
    "head_from_block",
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

#: RFC 9113 §8.2.1: a received field name holds no controls, space, upper
#: case, DEL or non-ASCII; ':' only opens a pseudo-header (§8.3). This table
#: maps those bytes to NUL and the others to themselves.
_NAME_TABLE = bytes(
    c if 0x21 <= c <= 0x7E and not 0x41 <= c <= 0x5A and c != 0x3A else 0 for c in range(256)
)
#: Blocks a :class:`BlockChecker` remembers; past this the memo starts over.
MAX_CHECKED_BLOCKS = 16
#: Largest block (RFC 9113 §6.5.2 measure) a :class:`BlockChecker` remembers.
MAX_CHECKED_BLOCK_SIZE = 4096

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


#: A validated received block: ``(:status, fields, size, Content-Length,
#: first invalid Content-Length value)``; see :func:`checked_block`.
FieldBlock = tuple[bytes | None, H2Headers, int, int | None, bytes | None]


def checked_block(headers: Iterable[tuple[bytes, bytes]], what: str, response: bool) -> FieldBlock:
    """Validate a received header block (RFC 9113 §8.2, §8.3) in one pass.

    The checks ``h2`` makes with ``validate_inbound_headers`` (the driver
    turns them off: this pass is cheaper), so a block failing them is, as with
    ``h2``, a connection error: §8.2.1 (field names and values), §8.2.2 (no
    connection-specific fields, ``TE`` only as ``trailers``), §8.3 (the one
    pseudo-header of a response, ``:status``, present, once and first; none in
    trailers). Like ``h2``'s normalisation, ``cookie`` fields are joined into
    one, placed last (§8.2.3).

    Args:
        headers: The block as ``h2`` decoded it.
        what: Names the block in error messages.
        response: A response head (final or 1xx), else trailers.

    Raises:
        RemoteProtocolError: The block is malformed.
    """
    status: bytes | None = None
    regular: H2Headers = []
    cookies: list[bytes] | None = None
    size = 0
    content_length: int | None = None
    bad_length: bytes | None = None
    for name, value in headers:
        size += len(name) + len(value) + FIELD_OVERHEAD
        if name == b":status" and response:
            if status is not None or regular or cookies:
                raise RemoteProtocolError(f":status repeated or late in the {what} (RFC 9113 §8.3)")
            status = value
            continue
        if not name or 0 in name.translate(_NAME_TABLE):
            kind = "pseudo-header" if name[:1] == b":" else "field name"
            raise RemoteProtocolError(
                f"invalid {kind} {name[:40]!r} in the {what} (RFC 9113 §8.2.1)"
            )
        # No NUL, LF or CR, and no SP or HTAB at either end.
        if 10 in value or 13 in value or 0 in value or len(value.strip(b" \t")) != len(value):
            raise RemoteProtocolError(
                f"invalid value of {name!r} in the {what}: {value[:40]!r} (RFC 9113 §8.2.1)"
            )
        if name in CONNECTION_SPECIFIC or (name == b"te" and value.lower() != b"trailers"):
            raise RemoteProtocolError(
                f"connection-specific field {name!r} in the {what} (RFC 9113 §8.2.2)"
            )
        if name == b"content-length":
            if value.isdigit() and len(value) <= 19:
                content_length = int(value)
            elif bad_length is None:
                bad_length = value
        elif name == b"cookie":
            if cookies is None:
                cookies = []
            cookies.append(value)
            continue
        regular.append((name, value))
    if response and status is None:
        raise RemoteProtocolError(f"no :status in the {what} (RFC 9113 §8.3.2)")
    if cookies is not None:
        regular.append((b"cookie", b"; ".join(cookies)))
    return status, regular, size, content_length, bad_length


class BlockChecker:
    """:func:`checked_block` for one connection, remembering the blocks it passed.

    A server repeats its header blocks (the same fields for each response to
    the same resource, until ``date`` changes): a block equal to one already
    checked gets that check's result (with a fresh field list) from a dict
    lookup, instead of a pass over every byte of every field.
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[tuple[Any, ...], FieldBlock] = {}

    def __repr__(self) -> str:
        return f"<BlockChecker [remembered={len(self._memo)}]>"

    def check(
        self, headers: Iterable[tuple[bytes, bytes]], what: str, response: bool
    ) -> FieldBlock:
        """Return :func:`checked_block` of ``headers``.

        Raises:
            RemoteProtocolError: The block is malformed.
        """
        key: tuple[Any, ...] = (response, *headers)
        memo = self._memo
        block = memo.get(key)
        if block is None:
            block = checked_block(key[1:], what, response)
            if block[2] <= MAX_CHECKED_BLOCK_SIZE:
                if len(memo) >= MAX_CHECKED_BLOCKS:
                    memo.clear()
                memo[key] = block
        status, fields, size, content_length, bad_length = block
        return status, list(fields), size, content_length, bad_length


def head_from_block(
    block: FieldBlock, method: str, end_stream: bool, max_size: int
) -> ResponseHead:
    """Turn a checked final header block into a :class:`ResponseHead`.

    Args:
        block: What :func:`checked_block` returned for the response head.
        method: The request method; a HEAD response has no body.
        end_stream: The block ended the stream (no body follows).
        max_size: Our SETTINGS_MAX_HEADER_LIST_SIZE, enforced again here.

    Raises:
        RemoteProtocolError: ``:status`` is not three digits, or Content-Length
            is not a number.
        LimitExceeded: The block is larger than ``max_size``.
    """
    status, regular, size, content_length, bad_length = block
    if size > max_size:
        raise LimitExceeded("max_header_list_size", max_size, f"response headers are {size} octets")
    if status is None or len(status) != 3 or not status.isdigit():
        raise RemoteProtocolError(f"invalid or missing :status {status!r}")
    if bad_length is not None:
        raise RemoteProtocolError(f"invalid content-length {bad_length[:40]!r}")
    code = int(status)
    has_body = not end_stream and method != "HEAD" and code not in (204, 304)
    # status_code, reason, http_version, headers, keep_alive, content_length,
    # chunked, has_body (positional: keywords cost a third of the call).
    return ResponseHead(code, b"", "2", regular, True, content_length, False, has_body)


def response_head(
    headers: Iterable[tuple[bytes, bytes]], method: str, end_stream: bool, max_size: int
) -> ResponseHead:
    """Validate a received final header block and turn it into a :class:`ResponseHead`.

    :func:`checked_block` then :func:`head_from_block`; the driver calls the
    two apart, since only the first one's errors break the connection.

    Raises:
        RemoteProtocolError: The block is malformed, ``:status`` is missing or
            not three digits, or Content-Length is not a number.
        LimitExceeded: The block is larger than ``max_size``.
    """
    block = checked_block(headers, "response header block", True)
    return head_from_block(block, method, end_stream, max_size)
