"""Sans-IO HTTP/1.1 request serialisation (RFC 9112 §3, §7.1): values in, bytes out.

Everything a caller supplies is validated before a byte exists, so a request
carrying CR, LF or NUL in its method, target or a header can never be written:
``InvalidRequest`` is raised instead. Body framing helpers for chunked uploads
live here too. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiosonic.exceptions import InvalidRequest, quote_bytes, quote_text
from aiosonic.protocols.h11_rules import FIELD_VALUE_BYTES, TCHAR

__all__ = ["LAST_CHUNK", "build_request_head", "check_field", "encode_chunk"]

#: Terminates a chunked body with no trailers.
LAST_CHUNK = b"0\r\n\r\n"

_COMMON_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
_TCHAR_STR = TCHAR.decode()
# A request-target is visible ASCII only: no SP, controls or DEL (RFC 9112 §3.2).
_BAD_TARGET = re.compile(r"[^\x21-\x7e]")
# Field values (RFC 9110 §5.5): no controls but HTAB; NUL, CR and LF above all.
# Characters past Latin-1 are allowed: they are sent as UTF-8 (obs-text).
_BAD_VALUE = re.compile(
    "[" + "".join(f"\\x{b:02x}" for b in bytes(range(256)).translate(None, FIELD_VALUE_BYTES)) + "]"
)
_NOT_TCHAR = re.compile(f"[^{re.escape(_TCHAR_STR)}]")


def _check_method(method: str) -> None:
    if method in _COMMON_METHODS:
        return
    if not method or _NOT_TCHAR.search(method):
        raise InvalidRequest(f"method is not an RFC 9110 token: {method[:60]!r}")


def _check_fields(fields: list[tuple[str, str]]) -> None:
    # Fast path: one regex pass over all names and one over all values.
    names = "".join(name for name, _ in fields)
    values = "".join(value for _, value in fields)
    if (
        not _NOT_TCHAR.search(names)
        and not _BAD_VALUE.search(values)
        and all(name for name, _ in fields)
    ):
        return
    for name, value in fields:
        check_field(name, value)


def check_field(name: str, value: str) -> None:
    """Check that one request header can be written without forging other lines.

    Args:
        name: The field name; it must be an RFC 9110 token.
        value: The field value; no CR, LF, NUL, other C0 control but HTAB, or DEL.

    Raises:
        InvalidRequest: Naming the header and quoting (and locating) the bad text.
    """
    if not name or _NOT_TCHAR.search(name):
        raise InvalidRequest(
            f"invalid header name {quote_text(name)}: header name is not an RFC 9110 token "
            "(letters, digits and !#$%&'*+-.^_`|~)"
        )
    bad = _BAD_VALUE.search(value)
    if bad is not None:
        raise InvalidRequest(
            f"invalid value for header {quote_text(name)}: control character "
            f"{bad.group()!r} at index {bad.start()} in {quote_text(value)}"
        )


def build_request_head(method: str, target: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """Serialise a request line and header block.

    Args:
        method: An RFC 9110 token, already upper-cased by the caller.
        target: The request-target: origin-form (``/p?q``), absolute-form for
            proxies, or authority-form for CONNECT.
        fields: ``(name, value)`` pairs in the order to send.

    Returns:
        The head, ending with the empty line.

    Raises:
        InvalidRequest: A method, target, name or value could split the
            request or smuggle another one.
    """
    _check_method(method)
    if not target or _BAD_TARGET.search(target):
        raise InvalidRequest(
            f"request target has a space or control character: {quote_bytes(target.encode())}"
        )
    pairs = fields if isinstance(fields, list) else list(fields)
    _check_fields(pairs)
    text = "".join(
        [f"{method} {target} HTTP/1.1\r\n", *[f"{n}: {v}\r\n" for n, v in pairs], "\r\n"]
    )
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        # Names are ASCII tokens by now; only values can be non-Latin-1. Encode
        # each value on its own, so one value's encoding never depends on the
        # others': Latin-1 where it fits, UTF-8 otherwise.
        return b"".join(
            [
                f"{method} {target} HTTP/1.1\r\n".encode("latin-1"),
                *[b"%s: %s\r\n" % (n.encode("ascii"), _encode_value(v)) for n, v in pairs],
                b"\r\n",
            ]
        )


def _encode_value(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def encode_chunk(data: bytes) -> bytes:
    """Frame ``data`` as one chunk of a chunked body (never empty: that ends it)."""
    assert data, "an empty chunk would terminate the body early"
    return b"%x\r\n%b\r\n" % (len(data), data)
