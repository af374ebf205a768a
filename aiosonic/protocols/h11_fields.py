"""Field-line rules shared by response heads and chunked trailers (RFC 9110 §5, RFC 9112 §5).

Pure functions over bytes: validation of the bytes allowed in a head, parsing of
``name: value`` lines, and Content-Length agreement. No I/O, no state.
"""

from __future__ import annotations

import re

from aiosonic.exceptions import HttpParsingError, LimitExceeded, quote_bytes
from aiosonic.protocols.h11_events import MAX_CONTENT_LENGTH_DIGITS, Headers

__all__ = [
    "TCHAR",
    "check_head_bytes",
    "is_token",
    "parse_chunk_size",
    "parse_content_length",
    "parse_field_block",
    "parse_fields",
    "parse_status_line",
]

# RFC 9110 §5.6.2 tchar.
TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Bytes allowed anywhere in a head: visible ASCII, SP, HTAB, obs-text, and the
# CR/LF of line endings (whose pairing is checked separately).
HEAD_BYTES = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F) + b"\t\r\n"
_CR = b"\r"
_LF = b"\n"
_CRLF = b"\r\n"
# HEAD_BYTES without CR and LF.
_LINE_BYTES = HEAD_BYTES[:-2]
_IDENTITY = bytes(range(256))


_STATUS_RE = re.compile(rb"HTTP/1\.([0-9]) ([1-9][0-9]{2})(?: (.*))?", re.DOTALL)
# Valid status lines already parsed. Servers send few distinct ones; the cache
# stops growing at its size.
_STATUS_CACHE: dict[bytes, tuple[int, bytes, str]] = {}
_STATUS_CACHE_SIZE = 256


def parse_status_line(line: bytes, max_size: int, url: str) -> tuple[int, bytes, str]:
    """Return ``(status, reason, version)`` of ``HTTP/1.<digit> <3 digits>[ <reason>]``."""
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


def is_token(value: bytes) -> bool:
    """Return whether ``value`` is a non-empty RFC 9110 token."""
    return bool(value) and not value.translate(None, TCHAR)


def check_head_bytes(head: bytes, url: str) -> None:
    """Reject control bytes and bare CR/LF anywhere in a head or trailer line."""
    # Fast path: what is left once every allowed byte but CR and LF is deleted
    # must be exactly one CRLF per CRLF pair; then no CR or LF is bare.
    if head.translate(_IDENTITY, _LINE_BYTES) == _CRLF * head.count(_CRLF):
        return
    bad = head.translate(_IDENTITY, HEAD_BYTES)
    if bad:
        raise HttpParsingError(
            f"forbidden byte {bad[:1]!r} in response head "
            f"{quote_bytes(_around(head, head.find(bad[:1])))} ({url})"
        )
    pairs = head.count(b"\r\n")
    if head.count(b"\r") != pairs:
        where = _around(head, _bare(head, _CR))
        raise HttpParsingError(f"bare CR in response head {quote_bytes(where)} ({url})")
    if head.count(b"\n") != pairs:
        where = _around(head, _bare(head, _LF))
        raise HttpParsingError(f"bare LF in response head {quote_bytes(where)} ({url})")


def _bare(head: bytes, char: bytes) -> int:
    idx = head.find(char)
    while idx >= 0:
        pair = head[idx : idx + 2] if char == _CR else head[idx - 1 : idx + 1]
        if pair != b"\r\n":
            return idx
        idx = head.find(char, idx + 1)
    return 0


def _around(head: bytes, idx: int) -> bytes:
    start = max(0, head.rfind(b"\r\n", 0, max(idx, 0)) + 2) if idx > 0 else 0
    return head[start : start + 60]


# The names that decide framing and reuse, and their lengths for a cheap pre-check.
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_FRAMING_LENGTHS = frozenset(len(name) for name in _FRAMING)


def parse_field_block(block: bytes, max_line: int, url: str) -> tuple[Headers, Headers]:
    """Parse a CRLF-separated block of field lines in one pass.

    The block must already have passed :func:`check_head_bytes`. Names are
    validated together (one ``translate`` over all of them); on any problem the
    slow path re-parses line by line to name the bad line.

    Returns:
        ``(fields, framing)``: all fields in order, and the Content-Length,
        Transfer-Encoding and Connection fields with lower-cased names.
    """
    if not block:
        return [], []
    fields: Headers = []
    framing: Headers = []
    names: list[bytes] = []
    append = fields.append
    add_name = names.append
    valid = len(block) <= max_line
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name:
            valid = False
            break
        add_name(name)
        value = value.strip(b" \t")
        append((name, value))
        if len(name) in _FRAMING_LENGTHS:
            lname = name.lower()
            if lname in _FRAMING:
                framing.append((lname, value))
    if valid and not b"".join(names).translate(_IDENTITY, TCHAR):
        return fields, framing
    if not valid and len(block) > max_line:
        longest = max(block.split(b"\r\n"), key=len)
        if len(longest) > max_line:
            raise LimitExceeded("max_header_line_size", max_line, quote_bytes(longest))
    # parse_fields raises for a bad line; if none is bad, the block was only
    # longer than one line may be, which is fine.
    fields = parse_fields(block.split(b"\r\n"), 0, max_line, url)
    return fields, [(n.lower(), v) for n, v in fields if n.lower() in _FRAMING]


def parse_fields(lines: list[bytes], first: int, max_line: int, url: str) -> Headers:
    """Parse ``name: value`` lines one by one, raising a precise error for a bad one."""
    headers: Headers = []
    append = headers.append
    for i in range(first, len(lines)):
        line = lines[i]
        if len(line) > max_line:
            raise LimitExceeded("max_header_line_size", max_line, quote_bytes(line))
        colon = line.find(b":")
        if colon <= 0:
            if line[:1] in (b" ", b"\t"):
                raise HttpParsingError(f"obsolete line folding {quote_bytes(line)} ({url})")
            raise HttpParsingError(f"header line without a name {quote_bytes(line)} ({url})")
        name = line[:colon]
        if name.translate(None, TCHAR):
            if line[:1] in (b" ", b"\t"):
                raise HttpParsingError(f"obsolete line folding {quote_bytes(line)} ({url})")
            if name[-1:] in (b" ", b"\t"):
                raise HttpParsingError(f"whitespace before colon {quote_bytes(line)} ({url})")
            raise HttpParsingError(f"invalid header name {quote_bytes(line)} ({url})")
        append((name, line[colon + 1 :].strip(b" \t")))
    return headers


# Chunk extensions: visible ASCII, SP, HTAB and obs-text; no CR/LF/controls.
_EXT_BYTES = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F) + b"\t"
_HEX = b"0123456789abcdefABCDEF"
# 16 hex digits cover 2**64; longer sizes are overflow attempts.
_MAX_CHUNK_SIZE_DIGITS = 16


def parse_chunk_size(line: bytes, url: str) -> int:
    """Return the size of a chunk-size line (CRLF removed); extensions are checked, then dropped."""
    size_part, _, extensions = line.partition(b";")
    size_part = size_part.rstrip(b" \t")
    if not size_part or size_part.translate(None, _HEX) or len(size_part) > _MAX_CHUNK_SIZE_DIGITS:
        raise HttpParsingError(f"invalid chunk size line {quote_bytes(line)} ({url})")
    if extensions and extensions.translate(None, _EXT_BYTES):
        raise HttpParsingError(f"invalid chunk extension {quote_bytes(line)} ({url})")
    return int(size_part, 16)


def parse_content_length(values: list[bytes], url: str) -> int:
    """Return the one Content-Length all values agree on (RFC 9110 §8.6)."""
    if len(values) == 1:
        value = values[0]
        if value.isdigit() and len(value) <= MAX_CONTENT_LENGTH_DIGITS:
            return int(value)  # the common case, in short
    result = -1
    for value in values:
        for item in value.split(b","):
            item = item.strip(b" \t")
            if not item.isdigit() or len(item) > MAX_CONTENT_LENGTH_DIGITS:
                raise HttpParsingError(f"invalid Content-Length {quote_bytes(value)} ({url})")
            number = int(item)
            if result >= 0 and number != result:
                raise HttpParsingError(
                    f"conflicting Content-Length values {quote_bytes(b', '.join(values))} ({url})"
                )
            result = number
    return result
