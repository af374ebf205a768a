"""Type aliases of the public API, at the path the published aiosonic had them.

Code annotated against the published package imports ``ParamsType``,
``DataType`` and friends from here. The aliases are defined beside what they
describe (:mod:`aiosonic.request`, :mod:`aiosonic.urls`); this module only
gathers them, plus :data:`ParsedBodyType`, the body after encoding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeAlias

from aiosonic.multipart import MultipartForm
from aiosonic.protocols.sse import SSEEvent
from aiosonic.request import BodyType, HeadersType
from aiosonic.urls import ParamsType

__all__ = [
    "BodyType",
    "DataType",
    "HeadersType",
    "MultipartForm",
    "ParamsType",
    "ParsedBodyType",
    "SSEEvent",
]

#: What ``data=`` accepts: the published name for :data:`BodyType`.
DataType: TypeAlias = BodyType

#: A request body once encoded: bytes, or an iterator of bytes sent chunked.
ParsedBodyType: TypeAlias = bytes | AsyncIterator[bytes] | Iterator[bytes]
