"""Field-line rules shared by response heads and chunked trailers (RFC 9110 §5, RFC 9112 §5).

Pure functions over bytes: validation of the bytes allowed in a head, parsing of
``name: value`` lines, and Content-Length agreement. No I/O, no state.
"""

from __future__ import annotations

from aiosonic.exceptions import HttpParsingError, LimitExceeded, quote_bytes
from aiosonic.protocols.h11_events import MAX_CONTENT_LENGTH_DIGITS, Headers

__all__ = [
    "TCHAR",
    "check_head_bytes",
    "is_token",
    "parse_content_length",
    "parse_field_block",
    "parse_fields",
]

# RFC 9110 §5.6.2 tchar.
TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Bytes allowed anywhere in a head: visible ASCII, SP, HTAB, obs-text, and the
# CR/LF of line endings (whose pairing is checked separately).
HEAD_BYTES = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F) + b"\t\r\n"
_CR = b"\r"
_LF = b"\n"


def is_token(value: bytes) -> bool:
    """Return whether ``value`` is a non-empty RFC 9110 token."""
    return bool(value) and not value.translate(None, TCHAR)


def check_head_bytes(head: bytes, url: str) -> None:
    """Reject control bytes and bare CR/LF anywhere in a head or trailer line."""
    bad = head.translate(None, HEAD_BYTES)
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


_IDENTITY = bytes(range(256))
# Lengths of the names that decide framing and reuse, for a cheap pre-check.
_FRAMING_NAMES = {14: b"content-length", 17: b"transfer-encoding", 10: b"connection"}


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
        special = _FRAMING_NAMES.get(len(name))
        if special is not None and name.lower() == special:
            framing.append((special, value))
    if valid and not b"".join(names).translate(_IDENTITY, TCHAR):
        return fields, framing
    if not valid and len(block) > max_line:
        longest = max(block.split(b"\r\n"), key=len)
        if len(longest) > max_line:
            raise LimitExceeded("max_header_line_size", max_line, quote_bytes(longest))
    # parse_fields raises for a bad line; if none is bad, the block was only
    # longer than one line may be, which is fine.
    fields = parse_fields(block.split(b"\r\n"), 0, max_line, url)
    wanted = _FRAMING_NAMES.values()
    return fields, [(n.lower(), v) for n, v in fields if n.lower() in wanted]


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


def parse_content_length(values: list[bytes], url: str) -> int:
    """Return the one Content-Length all values agree on (RFC 9110 §8.6)."""
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
