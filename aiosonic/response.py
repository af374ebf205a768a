"""HttpResponse: status, headers and a body stream read on demand.

A response holds metadata (the head, the URL, the method, timing marks) and
its body as a :class:`BodyStream`: the object the connection's driver handed
out for it, which yields raw pieces and gives the connection back when the
body ends or is closed (``aclose()`` / ``async with``), exactly once. This
module knows no driver and no connection: HTTP/1.1 and HTTP/2 differ only
inside the stream.

Decompression runs here (``aiosonic.decoders``); framing ran in the driver.
"""

from __future__ import annotations

import codecs
import json as jsonlib
import logging
import re
import warnings
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiosonic.decoders import ContentDecoder, build_decoder
from aiosonic.exceptions import HTTPStatusError, ResponseJSONError, StreamConsumed
from aiosonic.headers import HeadersInput, HttpHeaders
from aiosonic.leaks import caller_site
from aiosonic.protocols.h11_events import ResponseHead
from aiosonic.protocols.links import parse_link_header

__all__ = ["BodyStream", "DecodingLimits", "HttpResponse", "ResponseJSONError", "Timings"]

logger = logging.getLogger(__name__)

_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
#: The head of a response built by hand (``HttpResponse()``): no body on the
#: wire, no coding; status, reason and version come from ``response_initial``.
_NO_HEAD = ResponseHead(0, b"", "", [], False, None, False, False, b"")


class BodyStream(Protocol):
    """A response body as its driver frames it: what a response reads it through.

    The drivers' body objects (:mod:`aiosonic.drivers.body`) are ones.
    Reading to the end, or closing, gives the connection back, once.
    """

    @property
    def is_released(self) -> bool:
        """Whether the body ended or was closed (the connection went back)."""

    @property
    def trailers(self) -> list[tuple[bytes, bytes]] | tuple[()]:
        """Trailer fields, once the body ended."""

    @property
    def content_length(self) -> int | None:
        """The length the head declared, or None."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the raw (transfer-decoded, still content-coded) pieces."""

    async def read_all(self) -> bytes:
        """Read the rest of the body in one piece (``b""`` once released)."""

    async def discard(self, limit: int) -> None:
        """Read and drop the rest to keep the connection, or close past ``limit`` bytes."""

    async def aclose(self) -> None:
        """Stop reading and release, closing the connection if the body did not end."""

    def close(self) -> None:
        """:meth:`aclose` without a coroutine; idempotent."""

    def note_unread(self, url: str, site: str) -> None:
        """Say that a response handed out unread at ``site`` holds the connection."""


class DecodingLimits(Protocol):
    """Bounds on decompression (the connector has them)."""

    @property
    def max_decompressed_size(self) -> int:
        """Most bytes one body may decode to."""

    @property
    def max_content_encodings(self) -> int:
        """Most codings one ``Content-Encoding`` may chain."""


class Marks(Protocol):
    """One request's timing facts, as its lease keeps them (``time.perf_counter()`` marks).

    :attr:`HttpResponse.timings` and :attr:`HttpResponse.elapsed` are built
    from them, only when asked for.
    """

    @property
    def started(self) -> float:
        """When the request began waiting for a connection."""

    @property
    def acquired(self) -> float:
        """When it had one (opened, if it had to be)."""

    @property
    def head_at(self) -> float:
        """When the response head was read."""

    @property
    def body_done(self) -> float | None:
        """When the body was read inside ``request()``; None when streamed."""

    @property
    def reused(self) -> bool:
        """Whether the request ran on a transport that carried one before."""

    @property
    def connect_timings(self) -> tuple[float, float]:
        """``(dns, connect)`` seconds of opening the transport."""


@dataclass(slots=True)
class Timings:
    """Where the time of one request went, in seconds.

    Attributes:
        pool_acquire: Waiting for a pool slot.
        dns: Name resolution (0 on a reused connection).
        connect: TCP connect plus TLS handshake (0 on a reused connection).
        reused_connection: The request ran on a pooled keep-alive connection.
        wait_head: Writing the request and waiting for the response head.
        body: Reading the body inside ``request()`` (None when streamed).
    """

    pool_acquire: float = 0.0
    dns: float = 0.0
    connect: float = 0.0
    reused_connection: bool = False
    wait_head: float = 0.0
    body: float | None = None


class HttpResponse:
    """A response to one request.

    Attributes:
        status_code: The three-digit status.
        reason: The reason phrase.
        http_version: ``"1.1"``, ``"1.0"`` or ``"2"``.
        url: The URL that produced this response (after redirects).
        raw_headers: Header pairs as received, name case kept.
        history: Responses of the redirects that led here, oldest first.
        request_method: The method that produced this response.
    """

    #: Timing marks from the client (see :class:`Marks`); ``timings`` is built from them.
    marks: Marks | None = None
    # Filled on first use; class-level defaults cost no store per response.
    _headers: HttpHeaders | None = None
    _cookies: SimpleCookie | None = None
    _timings: Timings | None = None
    #: The redirect history, made on first access: most responses have none,
    #: and a list per response is one more object for the collector to track.
    _history: list[HttpResponse] | None = None
    #: Set once read_chunks() takes from the stream: the body is no longer whole.
    _streamed = False
    #: The published ``response_initial`` dict; None while the head is the source.
    _initial: dict[str, Any] | None = None
    #: ``chunked`` as a caller set it; None while the head says.
    _chunked: bool | None = None
    #: Most bytes the body may decode to; None: the connector's limit
    #: (the client sets it from its own or the request's ``max_decompressed_size``).
    max_decompressed_size: int | None = None
    #: The three-digit status (a plain attribute: the hot path reads it).
    status_code: int
    #: ``"1.1"``, ``"1.0"`` or ``"2"``.
    http_version: str

    def __init__(
        self,
        head: ResponseHead | None = None,
        url: str = "",
        method: str = "",
        stream: BodyStream | None = None,
        limits: DecodingLimits | None = None,
        raw_body: bytes | None = None,
        marks: Marks | None = None,
    ) -> None:
        """Make a response (the client does; a test may, with no arguments).

        Args:
            head: The response head; None for one built by hand.
            url: The URL that produced it.
            method: The request method.
            stream: The body; None: no body to read (built by hand).
            limits: Decompression bounds; None: the defaults.
            raw_body: The whole body, already read from ``stream`` (which
                is released): it is decoded now. None: the body is still in
                ``stream``, read on demand; a response dropped unread then
                warns and frees its connection.
            marks: Timing marks (see :class:`Marks`).
        """
        if head is None:
            # Built by hand (as the published aiosonic's tests did): the
            # caller fills in response_initial, body and headers.
            head = _NO_HEAD
            self._headers = HttpHeaders()
            self.raw_headers = []
            self._source_status_from({})
        else:
            # Plain attributes: the hot path reads them as a dict lookup.
            self.status_code = head.status_code
            self.http_version = head.http_version
            self.raw_headers = head.headers
        self.url = url
        self.request_method = method
        self._head = head
        self._stream = stream
        self._limits = limits
        if marks is not None:
            self.marks = marks
        if raw_body is not None:
            # _decode_all()'s common case (no coding) inline: no call per response.
            self._content: bytes | None = (
                raw_body if head.content_coding == b"" else self._decode_all(raw_body)
            )
        else:
            self._content = None
            if stream is not None:
                self._guard_unread(stream)

    def __repr__(self) -> str:
        state = "read" if self.is_consumed or self._content is not None else "unread"
        try:
            status = f"{self.status_code} {self.reason}"
        except (KeyError, ValueError, TypeError):  # built by hand, no valid code set yet
            status = "no status"
        return f"<HttpResponse [{status}, {self.url}, body {state}]>"

    # --- metadata -----------------------------------------------------------

    @property
    def history(self) -> list[HttpResponse]:
        """Responses of the redirects that led here, oldest first."""
        history = self._history
        if history is None:
            history = self._history = []
        return history

    @history.setter
    def history(self, value: list[HttpResponse]) -> None:
        self._history = value

    @property
    def timings(self) -> Timings:
        """Where the time of the request went (built from :attr:`marks` on first access)."""
        timings = self._timings
        if timings is None:
            timings = self._timings = _timings_from(self.marks)
        return timings

    @timings.setter
    def timings(self, value: Timings) -> None:
        self._timings = value

    @property
    def reason(self) -> str:
        """The reason phrase (may be empty)."""
        initial = self._initial
        if initial is None:
            return self._head.reason.decode("latin-1")
        reason = initial.get("reason")
        if isinstance(reason, bytes):
            reason = reason.decode("latin-1")
        if reason or self._head is not _NO_HEAD:
            return str(reason or "")  # from the wire: as sent, even empty
        try:  # a hand-built response without one: the standard phrase, as published
            return HTTPStatus(self.status_code).phrase
        except (ValueError, KeyError):
            return ""

    @property
    def response_initial(self) -> dict[str, Any]:
        """The status line as the published aiosonic gave it.

        ``{"version": "1.1", "code": "200", "reason": "OK"}``, all ``str``.
        Built on first access; from then on it is the source of
        :attr:`status_code`, :attr:`reason` and :attr:`http_version`, so
        changing it (or assigning a new dict, as tests that build an
        ``HttpResponse()`` by hand do) changes them.
        """
        initial = self._initial
        if initial is None:
            initial = {
                "version": self.http_version,
                "code": str(self.status_code),
                "reason": self._head.reason.decode("latin-1"),
            }
            self._source_status_from(initial)
        return initial

    @response_initial.setter
    def response_initial(self, value: dict[str, Any]) -> None:
        self._source_status_from(value)

    def _source_status_from(self, initial: dict[str, Any]) -> None:
        """Make ``initial`` the source of the status, as in the published class.

        The response becomes an :class:`_InitialSourcedResponse`, whose
        ``status_code`` and ``http_version`` read the dict. Responses the
        client makes keep them as plain attributes until then, so reading
        and setting them there costs no Python-level call.
        """
        self._initial = initial
        attrs = self.__dict__
        attrs.pop("status_code", None)
        attrs.pop("http_version", None)
        self.__class__ = _InitialSourcedResponse

    @property
    def chunked(self) -> bool:
        """Whether the body came with chunked transfer coding (settable, as published)."""
        chunked = self._chunked
        return self._head.chunked if chunked is None else chunked

    @chunked.setter
    def chunked(self, value: bool) -> None:
        self._chunked = value

    @property
    def body(self) -> bytes:
        """The decoded body once read (``b""`` before), as the published attribute.

        Setting it (a hand-built response) makes :meth:`content`,
        :meth:`text` and :meth:`json` answer from it.
        """
        content = self._content
        return b"" if content is None else content

    @body.setter
    def body(self, value: bytes) -> None:
        self._content = value

    @property
    def method(self) -> str:
        """The request method (the published name of :attr:`request_method`)."""
        return self.request_method

    @property
    def elapsed(self) -> timedelta:
        """Time from sending the request until the response was received.

        It includes the body when ``request()`` read it before returning
        (small bodies), not a streamed one. Zero for a hand-built response.
        """
        marks = self.marks
        if marks is None:
            return timedelta(0)
        body_done = marks.body_done
        return timedelta(
            seconds=(marks.head_at if body_done is None else body_done) - marks.started
        )

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header's links (RFC 8288), keyed by ``rel``, else by URL.

        Each value holds ``"url"`` and the link's parameters (``"rel"``,
        ``"title"``, ...). Several Link fields are read as one list.
        """
        value = self._raw_header(b"link")
        if not value:
            return {}
        return {link.get("rel") or link["url"]: link for link in parse_link_header(value)}

    # The published attributes below are derived when read: no store per response.

    @property
    def chunks_readed(self) -> bool:
        """Whether the body was read to its end (the published attribute, spelling kept)."""
        return self._content is not None or self.is_consumed

    @property
    def compressed(self) -> str:
        """The ``Content-Encoding`` value, ``""`` for none (the published attribute)."""
        return self._raw_header(b"content-encoding") or ""

    @property
    def request_meta(self) -> dict[str, str]:
        """``{"from_path": <path of the request URL>}``, as the published response had it."""
        return {"from_path": urlsplit(self.url).path or "/"}

    @property
    def headers(self) -> HttpHeaders:
        """Case-insensitive, multi-valued headers (built on first access)."""
        if self._headers is None:
            self._headers = HttpHeaders(
                [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw_headers]
            )
        return self._headers

    @headers.setter
    def headers(self, value: HeadersInput) -> None:
        # The published attribute was assignable; keep what is assigned readable
        # by everything that looks at headers (charset, coding, links).
        self._headers = value if isinstance(value, HttpHeaders) else HttpHeaders(value)

    @property
    def trailers(self) -> HttpHeaders:
        """Trailer fields of a chunked body; empty until the body is read."""
        stream = self._stream
        pairs = stream.trailers if stream is not None else ()
        return HttpHeaders([(n.decode("latin-1"), v.decode("latin-1")) for n, v in pairs])

    @property
    def stream(self) -> BodyStream | None:
        """The raw body stream (content coding kept); None for a response built by hand.

        For what this class does not offer: ``async for piece in
        response.stream`` reads the body undecoded, and ``stream.discard(limit)``
        drops it (keeping the connection when it is short). Either releases
        the connection as reading the response does.
        """
        return self._stream

    @property
    def cookies(self) -> SimpleCookie:
        """Cookies set by this response's ``Set-Cookie`` headers."""
        if self._cookies is None:
            jar: SimpleCookie = SimpleCookie()
            for value in self.headers.getall("set-cookie", []):
                try:
                    jar.load(value)
                except CookieError:
                    logger.debug("ignoring malformed Set-Cookie %r", value[:80])
            self._cookies = jar
        return self._cookies

    @property
    def remote_addr(self) -> tuple[str, int] | None:
        """``(host, port)`` of the peer of the connection that carried this response.

        The server's address (a proxy's, through one). None when unknown: a
        UNIX socket, the mock transport, a response built by hand. Read from
        what the connector noted once per connection, not per response.
        """
        return getattr(self.marks, "remote_addr", None)

    @property
    def local_addr(self) -> tuple[str, int] | None:
        """``(host, port)`` of this end of the connection that carried this response.

        None when unknown, as for :attr:`remote_addr`.
        """
        return getattr(self.marks, "local_addr", None)

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300

    @property
    def is_consumed(self) -> bool:
        """Whether the body was read to the end or the response closed."""
        stream = self._stream
        return stream is not None and stream.is_released

    def raise_for_status(self) -> HttpResponse:
        """Return ``self``, or raise for a 4xx/5xx status.

        Raises:
            HTTPStatusError: The status is 400 or above.
        """
        if self.status_code >= 400:
            kind = "client" if self.status_code < 500 else "server"
            raise HTTPStatusError(
                f"{kind} error {self.status_code} {self.reason} for {self.url}", self
            )
        return self

    def _raw_header(self, name: bytes) -> str | None:
        if self._head is _NO_HEAD:
            # Hand-built: the caller filled in ``headers``, not raw pairs.
            found = self.headers.getall(name.decode("latin-1"), [])
            return ", ".join(found) if found else None
        size = len(name)
        values: list[bytes] = []
        for n, v in self.raw_headers:  # a loop, not a comprehension: no frame of its own
            if len(n) == size and n.lower() == name:
                values.append(v)
        return b", ".join(values).decode("latin-1") if values else None

    # --- body ---------------------------------------------------------------

    def _coding(self) -> str | None:
        """The Content-Encoding value(s), or None."""
        coding = self._head.content_coding
        if coding is None:  # not looked for by the driver (HTTP/2)
            return self._raw_header(b"content-encoding")
        return coding.decode("latin-1") if coding else None

    def _decoder(self) -> ContentDecoder | None:
        """Build the body's decoder under the connector's decompression limits."""
        coding = self._coding()
        return None if coding is None else self._decoder_for(coding)

    def _decoder_for(self, coding: str) -> ContentDecoder | None:
        limits, limit = self._limits, self.max_decompressed_size
        if limits is None:
            return build_decoder(coding) if limit is None else build_decoder(coding, limit)
        return build_decoder(
            coding,
            limits.max_decompressed_size if limit is None else limit,
            limits.max_content_encodings,
        )

    async def read_chunks(self) -> AsyncIterator[bytes]:
        """Stream the decoded body in pieces, whatever its framing.

        Nothing is kept in memory after it is yielded. If the body was already
        read with :meth:`content`, that content is yielded once.

        Raises:
            StreamConsumed: ``read_chunks()`` ran before: the pieces it took are gone.
        """
        if self._content is not None:
            if self._content:
                yield self._content
            return
        if self._streamed:
            raise StreamConsumed(f"the body of {self.url} was already read with read_chunks()")
        self._streamed = True
        stream = self._stream
        if stream is None:
            return
        decoder = self._decoder()
        chunks = aiter(stream)
        try:
            async for chunk in chunks:
                out = decoder.decode(chunk) if decoder is not None else chunk
                if out:
                    yield out
            if decoder is not None:
                tail = decoder.flush()
                if tail:
                    yield tail
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]  # stopping early closes

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Stream the decoded body in pieces (the published 1.x name of :meth:`read_chunks`).

        Raises:
            StreamConsumed: The body was already streamed.
        """
        chunks = self.read_chunks()
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def iter_lines(self) -> AsyncIterator[str]:
        """Stream the decoded body as text, one line at a time, without line ends.

        Lines end at ``\\n`` (a ``\\r`` before it is dropped too). The
        charset is the Content-Type's, else UTF-8; undecodable bytes become
        U+FFFD. A last line without an end is yielded too.

        Raises:
            StreamConsumed: The body was already streamed.
        """
        decoder = codecs.getincrementaldecoder(self._stream_encoding())(errors="replace")
        pending = ""
        chunks = self.read_chunks()
        try:
            async for chunk in chunks:
                *lines, pending = (pending + decoder.decode(chunk)).split("\n")
                for line in lines:
                    yield line.removesuffix("\r")
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending.removesuffix("\r")

    def _stream_encoding(self) -> str:
        """The Content-Type charset if Python knows it, else UTF-8 (no body to detect from)."""
        match = _CHARSET_RE.search(self._raw_header(b"content-type") or "")
        if match:
            try:
                return codecs.lookup(match.group(1)).name
            except LookupError:
                logger.debug("unknown charset %r, reading lines as UTF-8", match.group(1))
        return "utf-8"

    async def content(self) -> bytes:
        """Read (once) and return the whole decoded body.

        Raises:
            StreamConsumed: ``read_chunks()`` took the body, or part of it:
                what is left is not the whole body.
        """
        if self._content is None:
            if self._streamed:
                raise StreamConsumed(
                    f"the body of {self.url} was already read with read_chunks(); "
                    "content() can only return the whole body"
                )
            stream = self._stream
            raw = await stream.read_all() if stream is not None else b""
            self._content = self._decode_all(raw)
        return self._content

    def _decode_all(self, raw: bytes) -> bytes:
        if self._head.content_coding == b"":
            return raw  # the common case, in short
        coding = self._coding()
        if coding is None:
            return raw
        decoder = self._decoder_for(coding)
        return raw if decoder is None else decoder.decode(raw) + decoder.flush()

    def _encoding(self, body: bytes) -> str:
        content_type = self._raw_header(b"content-type") or ""
        match = _CHARSET_RE.search(content_type)
        if match:
            try:
                return codecs.lookup(match.group(1)).name
            except LookupError:
                logger.debug("unknown charset %r, detecting", match.group(1))
        if "json" in content_type:
            return "utf-8"
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            logger.debug("body is not UTF-8 and names no charset: detecting one")
        else:
            return "utf-8"
        from charset_normalizer import from_bytes

        best = from_bytes(body[:65536]).best()
        return best.encoding if best is not None else "latin-1"

    async def text(self, encoding: str | None = None, errors: str = "replace") -> str:
        """Return the body as text.

        Args:
            encoding: Force a codec; default: the Content-Type charset, else
                UTF-8 if the body is valid UTF-8, else detected.
            errors: Codec error policy; undecodable bytes become U+FFFD by default.

        Raises:
            UnicodeDecodeError: Only when the caller passes ``errors="strict"``
                and the body does not decode.
        """
        body = await self.content()
        return body.decode(encoding or self._encoding(body), errors)

    async def json(self, json_decoder: Callable[[Any], Any] = jsonlib.loads) -> Any:
        """Parse the body as JSON.

        Raises:
            ResponseJSONError: The body is not valid JSON.
        """
        body = await self.content()
        try:
            return json_decoder(body)
        except ValueError as exc:
            raise ResponseJSONError(
                f"invalid JSON in response from {self.url}: {exc} (body starts {body[:60]!r})"
            ) from exc

    # --- lifetime -----------------------------------------------------------

    async def aclose(self) -> None:
        """Stop reading and free the connection (closing it if the body was unread)."""
        stream = self._stream
        if stream is not None:
            stream.close()

    async def __aenter__(self) -> HttpResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _guard_unread(self, stream: BodyStream) -> None:
        """Free the connection if this response is dropped with its body unread.

        Set up as the response is handed out unread (most are read by then):
        a finalizer, not ``__del__``, so a read response costs nothing at
        collection. The stream is told where the response was made, so a
        request waiting for the pool can say who holds it.
        """
        dropped = weakref.finalize(self, _dropped_unread, stream, self.url)
        dropped.atexit = False
        stream.note_unread(self.url, caller_site())


class _InitialSourcedResponse(HttpResponse):
    """An :class:`HttpResponse` whose status line is its ``response_initial`` dict.

    ``HttpResponse()`` built by hand is one from the start; a response from
    the client becomes one when its ``response_initial`` is first used.
    """

    _initial: dict[str, Any]

    @property
    def status_code(self) -> int:
        """The status, from ``response_initial["code"]`` (KeyError before one is set)."""
        return int(self._initial["code"])

    @status_code.setter
    def status_code(self, value: int) -> None:
        self._initial["code"] = str(value)

    @property
    def http_version(self) -> str:
        """The version, from ``response_initial["version"]`` (``""`` without one)."""
        version = self._initial.get("version", "")
        return version.decode("latin-1") if isinstance(version, bytes) else str(version)

    @http_version.setter
    def http_version(self, value: str) -> None:
        self._initial["version"] = value


def _timings_from(marks: Marks | None) -> Timings:
    if marks is None:
        return Timings()
    started, acquired, head_at, body_done = (
        marks.started,
        marks.acquired,
        marks.head_at,
        marks.body_done,
    )
    reused = marks.reused
    dns, connect = marks.connect_timings
    if reused:
        dns = connect = 0.0
    return Timings(
        pool_acquire=acquired - started - dns - connect,
        dns=dns,
        connect=connect,
        reused_connection=reused,
        wait_head=head_at - acquired,
        body=None if body_done is None else body_done - head_at,
    )


def _dropped_unread(stream: BodyStream, url: str) -> None:
    """Warn, then close the stream of a response collected unread (freeing its slot)."""
    if stream.is_released:
        return  # read or closed after all
    warnings.warn(
        f"unread response body for {url} was garbage collected; read it or use 'async with'",
        ResourceWarning,
        stacklevel=1,
    )
    # Free the pool slot: an unreleased slot would starve the pool.
    stream.close()
