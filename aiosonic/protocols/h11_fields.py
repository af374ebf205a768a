"""Response heads and field blocks, parsed fast (RFC 9110 §5, RFC 9112 §2.2, §4, §5, §6).

Functions over bytes: the bytes and line endings allowed in a head, the
parsing of a whole head or block of field lines in one pass, and the framing
decision (Content-Length agreement, Transfer-Encoding); no I/O. What a valid
status line or field line is, is decided by the validators of
:mod:`aiosonic.protocols.h11_rules`; the shortcuts here (a block's names
checked at once, lines remembered) decide exactly as they do, which
tests/test_h11_rules.py checks. The one piece of state is
:class:`FieldCache`, a connection's memo of the field lines, framing decisions
and last head (a :class:`CachedHead`) of its earlier responses, which the
parser passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, cast

from aiosonic.exceptions import HttpParsingError, quote_bytes
from aiosonic.protocols.h11_events import MAX_CONTENT_LENGTH_DIGITS, H11Limits, Headers
from aiosonic.protocols.h11_rules import (
    FIELD_VALUE_BYTES,
    OWS,
    TCHAR,
    is_token,
    known_status_line,
    parse_chunk_size,
    parse_field_line,
    parse_status_line,
    split_field_line,
)

__all__ = [
    "FIELD_CACHE_SIZE",
    "TCHAR",
    "CachedHead",
    "FieldCache",
    "FramingDecision",
    "cached_head",
    "check_head_bytes",
    "has_bare_lf",
    "is_plain_head",
    "is_token",
    "parse_chunk_size",
    "parse_full_head",
    "parse_content_length",
    "parse_field_block",
    "parse_fields",
    "decide_framing",
    "parse_head",
    "parse_status_line",
    "to_crlf",
]

# Bytes allowed anywhere in a head: those of a field value (RFC 9110 §5.5),
# and the CR/LF of line endings (whose pairing is checked separately).
HEAD_BYTES = FIELD_VALUE_BYTES + b"\r\n"
_CR = b"\r"
_LF = b"\n"
_CRLF = b"\r\n"
# HEAD_BYTES without CR and LF.
_LINE_BYTES = FIELD_VALUE_BYTES
_IDENTITY = bytes(range(256))


def check_head_bytes(head: bytes, url: str) -> None:
    """Reject control bytes and bare CR anywhere in a head or trailer line.

    A bare LF is allowed: it ends a line (RFC 9112 §2.2); the caller splits
    lines on it.
    """
    if is_plain_head(head):
        return
    bad = head.translate(_IDENTITY, HEAD_BYTES)
    if bad:
        raise HttpParsingError(
            f"forbidden byte {bad[:1]!r} in response head "
            f"{quote_bytes(_around(head, head.find(bad[:1])))} ({url})"
        )
    if head.count(b"\r") != head.count(b"\r\n"):
        where = _around(head, _bare_cr(head))
        raise HttpParsingError(f"bare CR in response head {quote_bytes(where)} ({url})")


def is_plain_head(head: bytes) -> bool:
    """Return whether ``head`` holds only allowed bytes and CRLF line endings."""
    # What is left once every allowed byte but CR and LF is deleted must be
    # exactly one CRLF per CRLF pair; then no CR or LF is bare.
    return head.translate(_IDENTITY, _LINE_BYTES) == _CRLF * head.count(_CRLF)


def has_bare_lf(head: bytes) -> bool:
    """Return whether a line of ``head`` ends in an LF without a CR before it."""
    return head.count(_LF) != head.count(_CRLF)


def to_crlf(head: bytes) -> bytes:
    """Return ``head`` with every bare LF made a CRLF (bare CRs are left as they are)."""
    return head.replace(_CRLF, _LF).replace(_LF, _CRLF)


def _bare_cr(head: bytes) -> int:
    idx = head.find(_CR)
    while idx >= 0:
        if head[idx : idx + 2] != _CRLF:
            return idx
        idx = head.find(_CR, idx + 1)
    return 0


def _around(head: bytes, idx: int) -> bytes:
    """The line ``idx`` is in, from its start, at most 60 bytes."""
    start = head.rfind(b"\n", 0, max(idx, 0)) + 1
    return head[start : start + 60]


# The names that decide framing and reuse (and Content-Encoding, which the
# response needs on every body), and their lengths for a cheap pre-check.
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection", b"content-encoding"})
_FRAMING_LENGTHS = frozenset(len(name) for name in _FRAMING)


def parse_field_block(block: bytes, max_line: int, url: str) -> tuple[Headers, Headers]:
    """Parse a CRLF-separated block of field lines in one pass.

    The block must already have passed :func:`check_head_bytes`. Names are
    validated together (one ``translate`` over all of them); on any problem the
    slow path re-parses line by line with ``parse_field_line``, the rule, to
    name the first bad line.

    Returns:
        ``(fields, framing)``: all fields in order, and the Content-Length,
        Transfer-Encoding, Connection and Content-Encoding fields with
        lower-cased names.
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
        value = value.strip(OWS)
        append((name, value))
        if len(name) in _FRAMING_LENGTHS:
            lname = name.lower()
            if lname in _FRAMING:
                framing.append((lname, value))
    if valid and not b"".join(names).translate(_IDENTITY, TCHAR):
        return fields, framing
    # parse_fields raises for the first bad (or too long) line, as the rule
    # does line by line; if none is bad, the block was only longer than one
    # line may be, which is fine.
    fields = parse_fields(block.split(b"\r\n"), 0, max_line, url)
    return fields, [(n.lower(), v) for n, v in fields if n.lower() in _FRAMING]


#: Field lines a FieldCache holds before it starts over. A server repeats most
#: of its lines (Server, Content-Type, Connection...) on every response; Date
#: changes once a second, an id header on each response.
FIELD_CACHE_SIZE = 64


#: Framing decisions a FieldCache keeps: one per distinct set of framing
#: fields (a Content-Length value makes one).
DECISIONS_SIZE = 16


class FramingDecision(NamedTuple):
    """How a response's body is framed, as :func:`decide_framing` decides it."""

    #: The connection may carry another request (before the close-delimited
    #: body case, which depends on the status and method).
    keep_alive: bool
    #: The Content-Length, if that frames the body.
    content_length: int | None
    #: The body is chunked.
    chunked: bool


class CachedHead(NamedTuple):
    """A final response head as parsed and decided, kept to answer the same head again.

    A tuple (it unpacks as fast as one) that names its parts.
    """

    status: int
    reason: bytes
    version: str
    #: The fields in wire order; a tuple, so no response can change them.
    headers: tuple[tuple[bytes, bytes], ...]
    #: The Content-Encoding value(s) joined with ", ", or b"".
    content_coding: bytes
    keep_alive: bool
    content_length: int | None
    chunked: bool


#: What a FieldCache holds before its first head.
_NO_HEAD = CachedHead(0, b"", "", (), b"", False, None, False)

#: ``cached_head(parts)``: the CachedHead of a plain 8-tuple, made in C (as
#: ``CachedHead._make`` does, without its Python frame): the generated
#: ``CachedHead(...)`` call costs 4% of parsing a head not seen just before.
cached_head = cast("Callable[[tuple[Any, ...]], CachedHead]", partial(tuple.__new__, CachedHead))


class FieldCache:
    """What one connection's response heads had before, parsed.

    Attributes:
        fields: Valid field line -> its ``(name, value)``.
        framing: The same, for the lines that decide framing and reuse (see
            parse_field_block), -> ``(lower-case name, value)``.
        decisions: ``(version, *framing)`` -> the :class:`FramingDecision`
            decide_framing() returned for it.
        last_head: The last final response head parsed (without its CRLFCRLF),
            and ``last``, its :class:`CachedHead`: on a busy connection the
            same head comes again and again (its Date changes once a second).
    """

    __slots__ = ("decisions", "fields", "framing", "last", "last_head")

    def __init__(self) -> None:
        self.fields: dict[bytes, tuple[bytes, bytes]] = {}
        self.framing: dict[bytes, tuple[bytes, bytes]] = {}
        self.decisions: dict[tuple[object, ...], FramingDecision] = {}
        # None until a head is parsed: no head may match it (an empty one would).
        self.last_head: bytes | None = None
        self.last = _NO_HEAD

    def __repr__(self) -> str:
        return f"<FieldCache [{len(self.fields)} lines, {len(self.decisions)} framings]>"

    def remember_decision(self, key: tuple[object, ...], decided: FramingDecision) -> None:
        """Keep a framing decision, starting over when :data:`DECISIONS_SIZE` are kept."""
        if len(self.decisions) >= DECISIONS_SIZE:
            self.decisions.clear()
        self.decisions[key] = decided

    def parse(self, lines: list[bytes], max_line: int) -> tuple[Headers, Headers] | None:
        """Parse field lines one by one, learning the new ones.

        A line not seen before is validated on its own (allowed bytes, token
        name, colon, length); no check_head_bytes is needed beforehand.

        Returns:
            ``(fields, framing)`` as parse_field_block, or None if a line is not
            a plain valid field line: the caller then takes the full path,
            which names the problem.
        """
        known, known_framing = self.fields, self.framing
        if len(known) + len(lines) > FIELD_CACHE_SIZE:
            known.clear()
            known_framing.clear()
        fields: Headers = []
        framing: Headers = []
        for line in lines:
            pair = known.get(line)
            if pair is not None:
                frame = known_framing.get(line)
            else:
                # The one field-line rule; it lets no CR or LF through, so a
                # CR or LF inside one line (a bare one) makes it None.
                if len(line) > max_line:
                    return None
                pair = split_field_line(line)
                if pair is None:
                    return None
                lname = pair[0].lower()
                frame = (lname, pair[1]) if lname in _FRAMING else None
                if len(known) < FIELD_CACHE_SIZE:
                    known[line] = pair
                    if frame is not None:
                        known_framing[line] = frame
            fields.append(pair)
            if frame is not None:
                framing.append(frame)
        return fields, framing


def parse_head(
    head: bytes, limits: H11Limits, cache: FieldCache, url: str
) -> tuple[int, bytes, str, Headers, Headers] | None:
    """Parse a response head (without its final CRLFCRLF) in one pass.

    Returns:
        ``(status, reason, version, fields, framing)``; see parse_field_block.
        None when a line ends in a bare LF: the head may then end earlier
        than the CRLFCRLF it was cut at (see ReceiveBuffer.retake_head); once
        it is cut at its first empty line, parse it with parse_full_head.

    Raises:
        HttpParsingError: A forbidden byte, a malformed line or a limit.
    """
    eol = head.find(_CRLF)
    if eol < 0:
        status_line, block = head, b""
    else:
        status_line, block = head[:eol], head[eol + 2 :]
    # The short path: a status line seen before, and field lines each valid on
    # its own (most seen before too, on this connection), make a valid head.
    # Neither holds a CR or LF, so a head taken this way has no bare LF.
    status = None
    if len(status_line) <= limits.max_status_line_size:
        status = known_status_line(status_line)
    if status is not None:
        if not block:
            return (*status, [], [])
        known = cache.parse(block.split(_CRLF), limits.max_header_line_size)
        if known is not None:
            return (*status, *known)
    # The full path: it names what is wrong, if anything is.
    if not is_plain_head(head):
        if has_bare_lf(head):
            return None
        check_head_bytes(head, url)
    return _parse_crlf_head(head, limits, url)


def parse_full_head(
    head: bytes, limits: H11Limits, url: str
) -> tuple[int, bytes, str, Headers, Headers]:
    """Parse a response head whose lines end in CRLF or bare LF; name what is wrong, if anything.

    The slow path of parse_head, and the only one for a head with a bare LF
    (RFC 9112 §2.2), which must already be cut at its first empty line.

    Raises:
        HttpParsingError: A forbidden byte, a bare CR, a malformed line or a limit.
    """
    check_head_bytes(head, url)
    if has_bare_lf(head):
        head = to_crlf(head)
    return _parse_crlf_head(head, limits, url)


def _parse_crlf_head(
    head: bytes, limits: H11Limits, url: str
) -> tuple[int, bytes, str, Headers, Headers]:
    """Parse a head that passed check_head_bytes and has only CRLF line endings."""
    eol = head.find(_CRLF)
    if eol < 0:
        status_line, block = head, b""
    else:
        status_line, block = head[:eol], head[eol + 2 :]
    status = parse_status_line(status_line, limits.max_status_line_size, url)
    return (*status, *parse_field_block(block, limits.max_header_line_size, url))


def parse_fields(lines: list[bytes], first: int, max_line: int, url: str) -> Headers:
    """Parse ``name: value`` lines one by one, raising a precise error for a bad one.

    Each line is checked by :func:`~aiosonic.protocols.h11_rules.parse_field_line`.
    """
    return [parse_field_line(lines[i], max_line, url) for i in range(first, len(lines))]


def decide_framing(framing: Headers, is_11: bool, url: str) -> FramingDecision:
    """Decide a head's :class:`FramingDecision` from its framing fields.

    Args:
        framing: ``(lower-case name, value)`` of its Content-Length,
            Transfer-Encoding and Connection (and Content-Encoding) fields, as
            parse_field_block gives.
        is_11: The response is HTTP/1.1 (else 1.0).
        url: For error messages.

    ``keep_alive`` does not yet account for a body delimited by the close
    (no Content-Length, not chunked): that depends on the status and method.

    Raises:
        HttpParsingError: Both framings, an unsupported transfer coding or a
            bad Content-Length.
    """
    connection_tokens: list[bytes] = []
    lengths: list[bytes] = []
    codings: list[bytes] = []
    has_te = False
    for name, value in framing:
        # Values carry no SP/HTAB at either end and no other whitespace at all.
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            has_te = True  # even when empty: it must not fall back to other framing
            codings.extend(v.strip().lower() for v in value.split(b",") if v.strip())
        elif name != b"connection":
            continue  # Content-Encoding: no part in framing
        elif b"," not in value:
            connection_tokens.append(value.lower())
        else:
            connection_tokens.extend(v.strip().lower() for v in value.split(b","))
    # RFC 9112 §9.3: "close" ends the connection whatever the version.
    keep_alive = b"close" not in connection_tokens and (is_11 or b"keep-alive" in connection_tokens)
    if has_te and not is_11:
        # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means the
        # framing is faulty; read it, then close.
        keep_alive = False
    if lengths and has_te:
        raise HttpParsingError(f"response has both Transfer-Encoding and Content-Length ({url})")
    if has_te:
        if codings != [b"chunked"]:
            raise HttpParsingError(
                f"unsupported transfer-coding {quote_bytes(b', '.join(codings))} ({url})"
            )
        return FramingDecision(keep_alive, None, True)
    length = parse_content_length(lengths, url) if lengths else None
    return FramingDecision(keep_alive, length, False)


def parse_content_length(values: list[bytes], url: str) -> int:
    """Return the one Content-Length all values agree on (RFC 9110 §8.6)."""
    if len(values) == 1:
        value = values[0]
        if value.isdigit() and len(value) <= MAX_CONTENT_LENGTH_DIGITS:
            return int(value)  # the common case, in short
    result = -1
    for value in values:
        for item in value.split(b","):
            item = item.strip(OWS)
            if not item.isdigit() or len(item) > MAX_CONTENT_LENGTH_DIGITS:
                raise HttpParsingError(f"invalid Content-Length {quote_bytes(value)} ({url})")
            number = int(item)
            if result >= 0 and number != result:
                raise HttpParsingError(
                    f"conflicting Content-Length values {quote_bytes(b', '.join(values))} ({url})"
                )
            result = number
    return result
