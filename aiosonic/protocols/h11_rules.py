"""The HTTP/1.1 grammar rules a response is checked against: one validator per rule.

Like h11's ``_abnf``, this module is where each ABNF rule lives, once, named
for the rule and its RFC section; every path that parses a line (the full
parse of a head, the memos that skip it for lines seen before, chunked
trailers, a proxy's reply to CONNECT, the request serialiser's checks) uses
these, so no two paths can disagree on what a valid line is. Speed tricks
elsewhere (checking all names of a block at once, remembering lines) must
decide as these do; tests check that they do.

What is not here: line endings and head framing (``h11_buffer``,
``h11_fields``), limits (``h11_events``), and the HTTP/2 field rules of RFC
9113 §8.2.1, which differ (``h2_headers``). No I/O.
"""

from __future__ import annotations

import re

from aiosonic.exceptions import HttpParsingError, LimitExceeded, quote_bytes

__all__ = [
    "FIELD_VALUE_BYTES",
    "HEXDIG",
    "MAX_CHUNK_SIZE_DIGITS",
    "OWS",
    "TCHAR",
    "is_field_value",
    "is_token",
    "known_status_line",
    "parse_chunk_size",
    "parse_field_line",
    "parse_status_line",
    "split_field_line",
]

#: RFC 9110 §5.6.2 tchar: the bytes of a token (a field name, RFC 9110 §5.1).
TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: RFC 9110 §5.6.3 OWS: the optional whitespace around a field value.
OWS = b" \t"
#: RFC 9110 §5.5 field-value: field-vchar (VCHAR / obs-text) with SP and HTAB
#: between them. No control byte but HTAB, no DEL; never CR or LF.
FIELD_VALUE_BYTES = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F) + b"\t"
#: RFC 5234 HEXDIG (case-insensitive), the digits of a chunk-size.
HEXDIG = b"0123456789abcdefABCDEF"
#: 16 hex digits cover 2**64; a longer chunk-size is an overflow attempt.
MAX_CHUNK_SIZE_DIGITS = 16


def is_token(value: bytes) -> bool:
    """Return whether ``value`` is a non-empty token (RFC 9110 §5.6.2)."""
    return bool(value) and not value.translate(None, TCHAR)


def is_field_value(value: bytes) -> bool:
    """Return whether every byte of ``value`` may be in a field value (RFC 9110 §5.5)."""
    return not value.translate(None, FIELD_VALUE_BYTES)


def split_field_line(line: bytes) -> tuple[bytes, bytes] | None:
    """Return ``(name, value)`` of a field line, or None if it is not one (RFC 9112 §5).

    ``field-line = field-name ":" OWS field-value OWS``, without its line
    ending: the name a token (RFC 9110 §5.1), so no whitespace before the
    colon and no obs-fold; the value stripped of OWS (RFC 9110 §5.6.3).
    Length limits are the caller's.
    """
    name, colon, value = line.partition(b":")
    if (
        not colon
        or not name
        or name.translate(None, TCHAR)
        or value.translate(None, FIELD_VALUE_BYTES)
    ):
        return None
    return name, value.strip(OWS)


def parse_field_line(line: bytes, max_size: int, url: str) -> tuple[bytes, bytes]:
    """Return ``(name, value)`` of a field line, or name what breaks the rule.

    :func:`split_field_line` with a limit and errors: the one validator every
    path uses, or agrees with (tests check that the fast paths do).

    Raises:
        LimitExceeded: The line is longer than ``max_size``.
        HttpParsingError: The line is not a field line (obs-fold, no name,
            whitespace before the colon, a name that is not a token, or a byte
            no field value may hold).
    """
    if len(line) > max_size:
        raise LimitExceeded("max_header_line_size", max_size, quote_bytes(line))
    pair = split_field_line(line)
    if pair is not None:
        return pair
    name, colon, value = line.partition(b":")
    # RFC 9112 §5.2: obs-fold, a line starting with SP or HTAB, is rejected.
    if line[:1] in (b" ", b"\t"):
        raise HttpParsingError(f"obsolete line folding {quote_bytes(line)} ({url})")
    if not colon or not name:
        raise HttpParsingError(f"header line without a name {quote_bytes(line)} ({url})")
    if name.translate(None, TCHAR):
        # RFC 9112 §5.1: no whitespace between the name and the colon.
        if name[-1:] in (b" ", b"\t"):
            raise HttpParsingError(f"whitespace before colon {quote_bytes(line)} ({url})")
        raise HttpParsingError(f"invalid header name {quote_bytes(line)} ({url})")
    bad = value.translate(None, FIELD_VALUE_BYTES)[:1]
    raise HttpParsingError(f"forbidden byte {bad!r} in header line {quote_bytes(line)} ({url})")


# RFC 9112 §4 status-line = HTTP-version SP status-code SP [ reason-phrase ],
# with HTTP-version "HTTP/1.<digit>"; the SP before an empty reason may be
# missing (h11 and browsers accept that). The reason's bytes are the head's
# (see h11_fields.check_head_bytes).
_STATUS_RE = re.compile(rb"HTTP/1\.([0-9]) ([1-9][0-9]{2})(?: (.*))?", re.DOTALL)
# Valid status lines already parsed. Servers send few distinct ones; the memo
# stops growing at its size.
_STATUS_CACHE: dict[bytes, tuple[int, bytes, str]] = {}
_STATUS_CACHE_SIZE = 256

#: ``known_status_line(line)``: :func:`parse_status_line`'s result for a line
#: it accepted before (one no longer than any limit), else None.
known_status_line = _STATUS_CACHE.get


def parse_status_line(line: bytes, max_size: int, url: str) -> tuple[int, bytes, str]:
    """Return ``(status, reason, version)`` of a status line (RFC 9112 §4).

    ``HTTP/1.<digit> <3 digits>[ <reason>]``, without its line ending.

    Raises:
        LimitExceeded: The line is longer than ``max_size``.
        HttpParsingError: The line is not a status line.
    """
    if len(line) > max_size:
        raise LimitExceeded("max_status_line_size", max_size, quote_bytes(line))
    parsed = _STATUS_CACHE.get(line)
    if parsed is None:
        match = _STATUS_RE.fullmatch(line)
        if match is None:
            raise HttpParsingError(f"malformed status line {quote_bytes(line)} ({url})")
        minor, code, reason = match.groups()
        parsed = (int(code), reason or b"", "1." + minor.decode())
        if len(_STATUS_CACHE) < _STATUS_CACHE_SIZE:
            _STATUS_CACHE[line] = parsed
    return parsed


def parse_chunk_size(line: bytes, url: str) -> int:
    """Return the size of a chunk-size line; its extensions are checked, then dropped.

    RFC 9112 §7.1: ``chunk-size [ chunk-ext ]`` without its CRLF; the size is
    1 to :data:`MAX_CHUNK_SIZE_DIGITS` HEXDIG, optionally followed by BWS;
    the extensions (``;`` onwards) may hold the bytes of a field value.

    Raises:
        HttpParsingError: The size or an extension is malformed.
    """
    size_part, _, extensions = line.partition(b";")
    size_part = size_part.rstrip(OWS)
    if not size_part or size_part.translate(None, HEXDIG) or len(size_part) > MAX_CHUNK_SIZE_DIGITS:
        raise HttpParsingError(f"invalid chunk size line {quote_bytes(line)} ({url})")
    if extensions and extensions.translate(None, FIELD_VALUE_BYTES):
        raise HttpParsingError(f"invalid chunk extension {quote_bytes(line)} ({url})")
    return int(size_part, 16)
