"""Turn query parameters and form fields into text: one rule for both.

``params=`` and a form ``data=`` (urlencoded or multipart) take a mapping or a
sequence of ``(name, value)`` pairs, and every value becomes text the same way:

========================  ===========================================
value                     sent as
========================  ===========================================
``str``                   itself
``True`` / ``False``      ``true`` / ``false`` (as httpx sends them)
``None``                  the empty string: the name stays (``k=``)
``int`` / ``float``       its decimal form (``3``, ``0.5``)
``bytes``-like            its bytes, percent-encoded as they are
``list`` / ``tuple``      one field per item, each by the rules above
anything else             :class:`~aiosonic.exceptions.InvalidRequest`
========================  ===========================================

Nothing is ever sent as a Python ``repr``. Names are ``str``, ``bytes`` or
numbers. This module only converts and encodes; choosing between a urlencoded
and a multipart body is :mod:`aiosonic.request`'s job. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus

from aiosonic.exceptions import InvalidRequest

__all__ = ["field_pairs", "field_text", "name_text", "urlencode_fields"]


def field_pairs(fields: Mapping[Any, Any] | Iterable[Any], what: str) -> list[tuple[Any, Any]]:
    """Return ``fields`` as a list of ``(name, value)`` pairs, values unconverted.

    Args:
        fields: A mapping, or an iterable of 2-item tuples or lists.
        what: What the fields are, for error messages (``"form field"``).

    Raises:
        InvalidRequest: An item is not a ``(name, value)`` pair.
    """
    if isinstance(fields, Mapping):
        return list(fields.items())
    pairs: list[tuple[Any, Any]] = []
    for item in fields:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidRequest(f"{what} is not a (name, value) pair: {item!r}")
        pairs.append((item[0], item[1]))
    return pairs


def name_text(name: object, what: str) -> str | bytes:
    """Return a field name as text or bytes.

    Raises:
        InvalidRequest: ``name`` is not a ``str``, ``bytes`` or number.
    """
    if isinstance(name, str | bytes):
        return name
    if isinstance(name, int | float) and not isinstance(name, bool):
        return _number_text(name)
    raise InvalidRequest(f"{what} name must be str, bytes or a number, got {type(name).__name__}")


def field_text(name: str | bytes, value: object, what: str) -> str | bytes:
    """Return one scalar value as the text (or bytes) to send; see the module table.

    Args:
        name: The field's name, for the error message.
        value: The value; a list or tuple here is an error (lists are
            expanded one level by the callers, not nested).
        what: What the field is, for error messages.

    Raises:
        InvalidRequest: ``value`` has another type.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    kind = type(value).__name__
    raise InvalidRequest(f"{what} {_shown(name)}: cannot send a value of type {kind}")


def urlencode_fields(fields: Mapping[Any, Any] | Iterable[Any], what: str) -> str:
    """Encode ``fields`` as ``application/x-www-form-urlencoded`` text.

    A list or tuple value gives one ``name=item`` per item, in order; an empty
    one gives nothing.

    Args:
        fields: A mapping or a sequence of ``(name, value)`` pairs.
        what: What the fields are, for error messages (``"query parameter"``).

    Returns:
        ``name=value`` pairs joined by ``&``, spaces as ``+`` (WHATWG URL
        standard, urlencoded serializer).

    Raises:
        InvalidRequest: A pair, name or value that cannot be sent.
    """
    encoded: list[str] = []
    for raw_name, value in field_pairs(fields, what):
        name = name_text(raw_name, what)
        values = value if isinstance(value, list | tuple) else (value,)
        try:
            key = quote_plus(name)
            for item in values:
                encoded.append(f"{key}={quote_plus(field_text(name, item, what))}")
        except UnicodeEncodeError as exc:
            raise InvalidRequest(f"{what} {_shown(name)} is not encodable as UTF-8") from exc
    return "&".join(encoded)


def _number_text(number: int | float) -> str:
    # int.__repr__/float.__repr__ give the digits even for a subclass (an enum
    # mixing in int) whose own str() would be its Python name.
    return int.__repr__(number) if isinstance(number, int) else float.__repr__(number)


def _shown(name: str | bytes) -> str:
    return repr(name.decode("utf-8", "replace") if isinstance(name, bytes) else name)
