"""HTTP header container (:class:`HttpHeaders`) and request-side field validation.

:class:`HttpHeaders` is a case-insensitive, multi-valued mapping built from
whatever shape callers hand to ``request(headers=...)``. :func:`validate_header_field`
refuses names and values that would let caller input forge extra header lines
(header injection). Parsing response heads and serialising request heads live
in ``aiosonic.protocols``, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from multidict import CIMultiDict

from aiosonic.exceptions import QUOTE_LIMIT, InvalidRequest, quote_text
from aiosonic.protocols.h11_request import check_field

__all__ = ["HttpHeaders", "validate_header_field"]

#: What ``HttpHeaders(...)`` accepts as its positional argument.
HeadersInput = Mapping[str, object] | Iterable[Iterable[object]]


def validate_header_field(name: str, value: str) -> None:
    """Check that a request header can be written without forging other lines.

    The rule itself lives with the serialiser that enforces it on every request
    (:func:`aiosonic.protocols.h11_request.check_field`); this is its public name.

    Args:
        name: The field name; it must be an RFC 9110 token.
        value: The field value; it must hold no CR, LF, NUL, other C0
            control except HTAB, nor DEL.

    Raises:
        InvalidRequest: The name is not a token or the value holds a
            forbidden character. The message names the header and quotes
            the offending text.
    """
    check_field(name, value)


def _as_text(value: object) -> str:
    """Return a header value as ``str``: bytes decode as latin-1, the rest via ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        # RFC 9110 §5.5: octets beyond ASCII are opaque; latin-1 maps each
        # octet to one code point, so writing the header back is lossless.
        return bytes(value).decode("latin-1")
    return str(value)


def _as_name(name: object) -> str:
    """Return ``name`` unchanged when it is a ``str``; refuse anything else."""
    if not isinstance(name, str):
        raise InvalidRequest(f"header name must be str, got {type(name).__name__}: {name!r}")
    return name


def _pairs(data: HeadersInput) -> list[tuple[str, str]]:
    """Flatten a mapping or an iterable of pairs into ``(name, value)`` tuples."""
    if isinstance(data, Mapping):
        # multidict.items() yields every value of a repeated name, dict.items() one.
        return [(_as_name(k), _as_text(v)) for k, v in data.items()]
    if isinstance(data, str | bytes | bytearray):
        shown = quote_text(str(data))
        raise InvalidRequest(
            f"headers must be a mapping or pairs, got {type(data).__name__}: {shown}"
        )
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(data):
        try:
            if isinstance(item, str | bytes | bytearray):
                raise TypeError("a string is not a pair")
            name, value = item
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(
                f"header entry #{index} must be a (name, value) pair, got {item!r:.{QUOTE_LIMIT}}"
            ) from exc
        pairs.append((_as_name(name), _as_text(value)))
    return pairs


class HttpHeaders(CIMultiDict[str]):
    """Case-insensitive, multi-valued HTTP headers.

    Names compare case-insensitively and keep the spelling they were added
    with. A name may carry several values (``add()``, ``getall()``). Values
    given to the constructor are normalised to ``str``: ``bytes`` decode as
    latin-1, other objects go through ``str()`` (so ``{"Content-Length": 3}``
    works).

    Example::

        headers = HttpHeaders({"Accept": "text/html"}, Authorization="Bearer t")
        headers.add("Cookie", "a=1")
        headers["accept"]  # "text/html"

    Args:
        data: A mapping (``dict``, another ``HttpHeaders`` or multidict), an
            iterable of 2-item pairs (tuples or lists), or ``None``.
        **kwargs: More headers, added after ``data``.

    Raises:
        InvalidRequest: A name is not a ``str`` or an entry is not a pair.
    """

    def __init__(self, data: HeadersInput | None = None, **kwargs: object) -> None:
        pairs = [] if data is None else _pairs(data)
        if kwargs:
            pairs.extend((name, _as_text(value)) for name, value in kwargs.items())
        super().__init__(pairs)

    def lower_items(self) -> Iterator[tuple[str, str]]:
        """Yield ``(lower-case name, value)`` pairs, one per value (the published 1.3 method)."""
        return ((name.lower(), value) for name, value in self.items())
