"""Request preparation: method, headers and body into a ready-to-send :class:`Request`.

Turns the arguments of ``HTTPClient.request()`` into the exact header list and
body the driver sends: default headers, ``Host``, body encoding (form, JSON,
bytes, iterators, multipart, and the choice between a urlencoded and a
multipart form) and framing (Content-Length or chunked). How a form value
becomes text is :mod:`aiosonic.urlencoded`'s. Headers are validated later, in
one pass, by the serialiser (``aiosonic.protocols.h11_request``). No I/O here.

The body of a :class:`Request` is what both drivers send (:data:`RequestBody`);
:func:`body_pieces` is how they walk a streamed one. Writing it, framed and
flow-controlled, is each driver's own (``drivers/http11.py``,
``drivers/h2_upload.py``).
"""

from __future__ import annotations

import json as jsonlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from multidict import MultiMapping

from aiosonic.decoders import accept_encoding_value
from aiosonic.exceptions import InvalidRequest
from aiosonic.multipart import MultipartFile, MultipartForm, Part
from aiosonic.urlencoded import field_pairs, urlencode_fields
from aiosonic.urls import ParsedURL
from aiosonic.version import VERSION

if TYPE_CHECKING:
    import ssl as ssllib

    from aiosonic.proxy import Proxy
    from aiosonic.timeout import Timeouts

__all__ = [
    "DEFAULT_USER_AGENT",
    "HeadersType",
    "Request",
    "RequestBody",
    "SendOptions",
    "StreamedBody",
    "body_pieces",
    "build_request",
]

DEFAULT_USER_AGENT = f"aiosonic/{VERSION}"
_FRAMING = frozenset({"content-length", "transfer-encoding"})

HeadersType = (
    Mapping[str, Any] | MultiMapping[str] | Iterable[tuple[str, Any]] | Iterable[list[Any]] | None
)
#: A streamed request body: any sync or async iterable of bytes.
StreamedBody = AsyncIterable[bytes] | Iterable[bytes]
#: Body of a request as the drivers accept it.
RequestBody = bytes | StreamedBody | None
BodyType = (
    bytes
    | str
    | Mapping[str, Any]
    | tuple[Any, ...]
    | list[tuple[str, Any]]
    | AsyncIterable[bytes]
    | Iterable[bytes]
    | MultipartForm
    | None
)


@dataclass(slots=True)
class Request:
    """A request ready for the wire.

    Attributes:
        method: Upper-case method.
        url: The parsed target URL.
        headers: Final ``(name, value)`` pairs, ``Host`` first.
        body: ``bytes``, an (async) iterable of bytes, or None.
        chunked: The iterable body is sent with chunked transfer coding.
        replayable: The body can be sent again (redirects, retries, auth).
    """

    method: str
    url: ParsedURL
    headers: list[tuple[str, str]]
    body: RequestBody = None
    chunked: bool = False
    replayable: bool = True
    extensions: dict[str, Any] = field(default_factory=dict)
    # Memos of what each lease makes from this request, kept because the
    # client re-sends cached simple requests (HTTPClient._simple_requests):
    # serialising an HTTP/1.1 head costs about 10 us, more than the rest of
    # a small GET's client side. Each is written by one lease kind only, and
    # ``with_headers`` drops them; do not mutate a sent Request.
    #: The HTTP/1.1 origin-form head (``HTTP11Lease.send`` fills it).
    serialized: bytes | None = None
    #: The HTTP/2 header block (``HTTP2Stream.send`` fills it).
    h2_headers: list[tuple[bytes, bytes]] | None = None

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive)."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def with_headers(self, headers: list[tuple[str, str]]) -> Request:
        """Return a copy with ``headers`` as its header pairs (hooks and ``Auth.apply`` use it)."""
        return replace(
            self,
            headers=headers,
            extensions=dict(self.extensions),
            serialized=None,
            h2_headers=None,
        )

    def with_header(self, name: str, value: str) -> Request:
        """Return a copy with header ``name`` set to ``value``, replacing any.

        Auth flows use it: a Request may be cached and re-sent, so it is never
        mutated once built.
        """
        lname = name.lower()
        headers = [pair for pair in self.headers if pair[0].lower() != lname]
        headers.append((name, value))
        return self.with_headers(headers)


class SendOptions(NamedTuple):
    """How one request is sent: the settings ``request()`` resolved, made once per call.

    Immutable (a tuple: cheap to build on the hot path). The client builds it
    from ``request()``'s arguments and its own defaults, and the connector's
    ``send`` reads it; redirect and auth hops of the same call share it
    (the environment's proxy, chosen per hop, makes a copy).

    Attributes:
        verify: Verify the TLS certificate.
        ssl: The caller's SSL context, used as it is; None: a shared one.
        timeouts: The deadlines (the connector's unless the request had its own).
        proxy: The proxy this hop goes through, or None.
        http2: Negotiate HTTP/2 where the connector can.
        stream: Leave the body unread, however small.
        max_decompressed_size: Most bytes the body may decode to; None: the
            connector's limit.
    """

    verify: bool
    ssl: ssllib.SSLContext | None
    timeouts: Timeouts
    proxy: Proxy | None = None
    http2: bool = False
    stream: bool = False
    max_decompressed_size: int | None = None


async def body_pieces(body: StreamedBody) -> AsyncIterator[bytes]:
    """Yield the non-empty pieces of a sync or async iterable body."""
    if isinstance(body, AsyncIterable):
        async for piece in body:
            if piece:
                yield piece
    else:
        for piece in body:
            if piece:
                yield piece


def user_header_pairs(headers: HeadersType) -> list[tuple[str, str]]:
    """Flatten any accepted headers argument into ``(str, str)`` pairs."""
    if not headers:
        return []
    if isinstance(headers, Mapping | MultiMapping):
        items: Iterable[Any] = headers.items()
    else:
        items = headers
    pairs: list[tuple[str, str]] = []
    for item in items:
        if len(item) != 2:
            raise InvalidRequest(f"header is not a (name, value) pair: {item!r}")
        name, value = item
        if not isinstance(name, str):
            raise InvalidRequest(f"header name must be str, got {name!r}")
        pairs.append((name, value if isinstance(value, str) else str(value)))
    return pairs


def _encode_body(
    data: BodyType,
    json: Any,
    json_serializer: Callable[[Any], str | bytes],
    multipart: bool,
) -> tuple[bytes | AsyncIterable[bytes] | Iterable[bytes] | None, str | None, int | None]:
    """Return ``(body, content_type, length)``; length None means unknown (chunked)."""
    if json is not None:
        if data is not None:
            raise InvalidRequest("pass either data= or json=, not both: json= would replace data=")
        encoded = json_serializer(json)
        raw = encoded.encode() if isinstance(encoded, str) else encoded
        return raw, "application/json", len(raw)
    if data is None:
        return None, None, 0
    if isinstance(data, MultipartForm):
        return data.get_buffer(), data.content_type, data.content_length()
    if isinstance(data, bytes | bytearray | memoryview) and not multipart:
        raw = bytes(data)
        return raw, None, len(raw)
    if isinstance(data, str) and not multipart:
        raw = data.encode()
        return raw, "text/plain; charset=utf-8", len(raw)
    if _is_form(data):
        pairs = field_pairs(cast("Mapping[Any, Any] | Iterable[Any]", data), "form field")
        if multipart or _has_file(pairs):
            form = MultipartForm.from_dict(pairs)
            return form.get_buffer(), form.content_type, form.content_length()
        raw = urlencode_fields(pairs, "form field").encode("ascii")
        return raw, "application/x-www-form-urlencoded", len(raw)
    if multipart:
        raise InvalidRequest(
            "multipart=True needs a dict, (name, value) pairs or a MultipartForm, "
            f"not {type(data).__name__}"
        )
    if isinstance(data, AsyncIterable | Iterable):
        return cast("AsyncIterable[bytes] | Iterable[bytes]", data), None, None
    raise InvalidRequest(f"unsupported request body type {type(data).__name__}")


def _is_form(data: object) -> bool:
    """Whether ``data`` is form fields: a mapping, a tuple, or a list of pairs.

    A list of bytes is a body sent chunked; a list whose first item is a
    tuple or list is ``(name, value)`` pairs.
    """
    if isinstance(data, Mapping | tuple):
        return True
    return isinstance(data, list) and bool(data) and isinstance(data[0], tuple | list)


def _has_file(pairs: list[tuple[Any, Any]]) -> bool:
    """Whether a form needs multipart: a value is a file object, a Part or a MultipartFile.

    Raises:
        InvalidRequest: A value is a path, which is uploaded only when asked.
    """
    found = False
    for name, value in pairs:
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, os.PathLike):
                raise InvalidRequest(
                    f"form field {name!r}: a path is not sent as text; "
                    "pass multipart=True to upload the file"
                )
            found = (
                found
                or isinstance(item, Part | MultipartFile)
                or (not isinstance(item, str | bytes) and callable(getattr(item, "read", None)))
            )
    return found


def build_request(
    method: str,
    url: ParsedURL,
    headers: HeadersType = None,
    data: BodyType = None,
    json: Any = None,
    json_serializer: Callable[[Any], str | bytes] = jsonlib.dumps,
    multipart: bool = False,
    extra_headers: list[tuple[str, str]] | None = None,
) -> Request:
    """Assemble the headers and body of a request.

    Args:
        method: Any case; sent upper-case.
        url: The parsed URL.
        headers: Caller headers; they override the defaults by name.
        data: Body: bytes, str, form fields (a mapping, or a tuple/list of
            pairs; see :mod:`aiosonic.urlencoded`), an (async) iterator of
            bytes, or a MultipartForm. Form fields with a file object or a
            Part among their values are sent as multipart/form-data.
        json: A value to send as JSON; not together with ``data``.
        json_serializer: Turns ``json`` into text.
        multipart: Encode form fields ``data`` as multipart/form-data.
        extra_headers: Headers added by the client (cookies, auth) that the
            caller's own headers override.

    Raises:
        InvalidRequest: The body type is unsupported or inconsistent, a form
            value cannot be sent, or both ``data`` and ``json`` were given.
    """
    method = method.upper()
    body, content_type, length = _encode_body(data, json, json_serializer, multipart)
    user = user_header_pairs(headers)
    user_names = {name.lower() for name, _ in user}
    pairs: list[tuple[str, str]] = [("Host", url.host_header)] if "host" not in user_names else []
    if "user-agent" not in user_names:
        pairs.append(("User-Agent", DEFAULT_USER_AGENT))
    if "accept" not in user_names:
        pairs.append(("Accept", "*/*"))
    if "accept-encoding" not in user_names:
        pairs.append(("Accept-Encoding", accept_encoding_value()))
    if content_type is not None and "content-type" not in user_names:
        pairs.append(("Content-Type", content_type))
    if extra_headers:
        pairs.extend(p for p in extra_headers if p[0].lower() not in user_names)

    chunked = False
    user_length = "content-length" in user_names
    if isinstance(body, bytes):
        pairs.append(("Content-Length", str(length)))
        user = [p for p in user if p[0].lower() not in _FRAMING]
    elif body is None:
        if method in ("POST", "PUT", "PATCH"):
            pairs.append(("Content-Length", "0"))
        user = [p for p in user if p[0].lower() not in _FRAMING]
    elif length is not None:
        pairs.append(("Content-Length", str(length)))
        user = [p for p in user if p[0].lower() not in _FRAMING]
    elif not user_length:
        chunked = True
        pairs.append(("Transfer-Encoding", "chunked"))
        user = [p for p in user if p[0].lower() != "transfer-encoding"]
    pairs.extend(user)
    return Request(
        method=method,
        url=url,
        headers=pairs,
        body=body,
        chunked=chunked,
        replayable=body is None or isinstance(body, bytes),
    )
