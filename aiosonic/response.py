"""HttpResponse: status, headers and a body read from the connection on demand.

A response owns its connection until the body is read to the end, the
response is closed (``aclose()`` / ``async with``), or an error ends it. Every
one of those paths gives the connection back to the connector exactly once;
the connector keeps it only if the exchange ended cleanly.

Decompression runs here (``aiosonic.decoders``); framing ran in the driver.
"""

from __future__ import annotations

import codecs
import json as jsonlib
import logging
import re
import warnings
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiosonic.connection import HTTP2Stream
from aiosonic.decoders import ContentDecoder, build_decoder
from aiosonic.drivers.http11 import HTTP11Driver
from aiosonic.exceptions import AiosonicError, HttpParsingError, HTTPStatusError, StreamConsumed
from aiosonic.headers import HttpHeaders
from aiosonic.leaks import caller_site
from aiosonic.protocols.h11_events import Data, EndOfMessage, ResponseHead

if TYPE_CHECKING:
    from aiosonic.connection import Connection
    from aiosonic.connectors import TCPConnector

__all__ = ["HttpResponse", "ResponseJSONError", "Timings"]

logger = logging.getLogger(__name__)

_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


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


class ResponseJSONError(AiosonicError, ValueError):
    """The response body is not valid JSON."""


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

    #: Set by guard_unread(): frees the connection if the response is dropped unread.
    _dropped: weakref.finalize[Any, Any] | None = None
    #: Set by the client: ``(started, acquired, head_at, body_done, reused,
    #: (dns, connect))``, ``time.perf_counter()`` marks that ``timings`` is built from.
    marks: tuple[float, float, float, float | None, bool, tuple[float, float]] | None = None
    # Filled on first use; class-level defaults cost no store per response.
    _headers: HttpHeaders | None = None
    _cookies: SimpleCookie | None = None
    _trailers: list[tuple[bytes, bytes]] | tuple[()] = ()
    #: Set once read_chunks() takes from the connection: the body is no longer whole.
    _streamed = False

    def __init__(
        self,
        head: ResponseHead,
        url: str,
        method: str,
        conn: Connection | HTTP2Stream | None = None,
        connector: TCPConnector | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.status_code = head.status_code
        self._reason = head.reason
        self.http_version = head.http_version
        self.url = url
        self.request_method = method
        self.raw_headers = head.headers
        self.history: list[HttpResponse] = []
        self._head = head
        self._content: bytes | None = None
        self._conn = conn
        self._connector = connector
        self._consumed = False
        self._timings = timings

    def __repr__(self) -> str:
        state = "read" if self._consumed else "unread"
        return f"<HttpResponse [{self.status_code} {self.reason}, {self.url}, body {state}]>"

    # --- metadata -----------------------------------------------------------

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
        return self._reason.decode("latin-1")

    @property
    def headers(self) -> HttpHeaders:
        """Case-insensitive, multi-valued headers (built on first access)."""
        if self._headers is None:
            self._headers = HttpHeaders(
                [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw_headers]
            )
        return self._headers

    @property
    def trailers(self) -> HttpHeaders:
        """Trailer fields of a chunked body; empty until the body is read."""
        return HttpHeaders([(n.decode("latin-1"), v.decode("latin-1")) for n, v in self._trailers])

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
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300

    @property
    def is_consumed(self) -> bool:
        """Whether the body was read to the end or the response closed."""
        return self._consumed

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
        connector = self._connector
        if connector is None:
            return build_decoder(coding)
        return build_decoder(
            coding, connector.max_decompressed_size, connector.max_content_encodings
        )

    async def _next_chunk(self) -> bytes | None:
        """Return the next transfer-decoded piece of the body, or None at its end.

        The end releases the connection; an error or a cancellation closes it
        first, so a half-read response never goes back to the pool.
        """
        conn = self._conn
        if conn is None or self._consumed:
            return None
        try:
            event = await conn.next_event()
        except BaseException:
            self._abort()
            raise
        if type(event) is Data:
            return event.data
        if type(event) is EndOfMessage:
            self._trailers = event.trailers
            self._finish()
            return None
        self._abort()
        raise HttpParsingError(f"unexpected {type(event).__name__} in body ({self.url})")

    async def _raw_chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield transfer-decoded body bytes; stopping early closes the connection."""
        try:
            while (chunk := await self._next_chunk()) is not None:
                yield chunk
        finally:
            self._abort()  # nothing left to do once the body ended

    def _abort(self) -> None:
        """Close the connection of an unfinished body and give its slot back."""
        if self._conn is not None and not self._consumed:
            self._conn.close()
            self._finish()

    def _finish(self) -> None:
        self._consumed = True
        conn, self._conn = self._conn, None
        if self._dropped is not None:
            self._dropped.detach()
            if conn is not None and self._connector is not None:
                self._connector.forget_unread(conn)
        if conn is not None and self._connector is not None:
            self._connector.release(conn)

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
        decoder = self._decoder()
        chunks = self._raw_chunks()
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
            await chunks.aclose()

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
            self._content = self._decode_all(await self._read_raw_body())
        return self._content

    def _decode_all(self, raw: bytes) -> bytes:
        if self._head.content_coding == b"":
            return raw  # the common case, in short
        coding = self._coding()
        if coding is None:
            return raw
        decoder = self._decoder_for(coding)
        return raw if decoder is None else decoder.decode(raw) + decoder.flush()

    async def _read_raw_body(self) -> bytes:
        """Read the rest of the body in one coroutine (no generator layers)."""
        conn = self._conn
        driver = conn.driver if conn is not None and not self._consumed else None
        if isinstance(driver, HTTP11Driver):
            # A Content-Length body is read whole by the driver, with no event per piece.
            try:
                raw = await driver.read_length_body()
            except BaseException:
                self._abort()
                raise
            if raw is not None:
                self._finish()
                return raw
        parts: list[bytes] = []
        while (chunk := await self._next_chunk()) is not None:
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

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

    async def _drain(self, limit: int) -> None:
        """Read and drop the rest of the body so the connection can be reused.

        A body longer than ``limit`` bytes is cheaper to drop with its
        connection, so reading stops there and the connection is closed.
        """
        if self._conn is None or self._consumed:
            return
        length = self._head.content_length
        if length is not None and length > limit:
            await self.aclose()
            return
        received = 0
        chunks = self._raw_chunks()
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > limit:
                    break
        finally:
            # Stopping early closes the connection in _raw_chunks.
            await chunks.aclose()

    def _take_buffered_body(self) -> bool:
        """Read the body now if it is all here already (the common small response); say if so."""
        conn = self._conn
        if conn is not None and not self._consumed and self._content is None:
            driver = conn.driver
            raw = None
            if isinstance(driver, HTTP11Driver):
                raw = driver.take_buffered_body()
            elif isinstance(conn, HTTP2Stream):
                raw = conn.take_buffered_body()
            if raw is not None:
                self._finish()
                self._content = self._decode_all(raw)
                return True
        return False

    async def aclose(self) -> None:
        """Stop reading and free the connection (closing it if the body was unread)."""
        self._abort()

    async def __aenter__(self) -> HttpResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def guard_unread(self) -> None:
        """Free the connection if this response is dropped with its body unread.

        Called as the response is handed out unread (most are read by then):
        a finalizer, not ``__del__``, so a read response costs nothing at
        collection.
        """
        conn = self._conn
        if conn is not None and not self._consumed and self._dropped is None:
            self._dropped = weakref.finalize(self, _dropped_unread, conn, self._connector, self.url)
            self._dropped.atexit = False
            if self._connector is not None:
                # So a request waiting for the pool can say who holds it, and where.
                self._connector.note_unread(conn, self.url, caller_site())


def _timings_from(
    marks: tuple[float, float, float, float | None, bool, tuple[float, float]] | None,
) -> Timings:
    if marks is None:
        return Timings()
    started, acquired, head_at, body_done, reused, (dns, connect) = marks
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


def _dropped_unread(
    conn: Connection | HTTP2Stream, connector: TCPConnector | None, url: str
) -> None:
    """Warn, then close and give back the connection of a response collected unread."""
    warnings.warn(
        f"unread response body for {url} was garbage collected; read it or use 'async with'",
        ResourceWarning,
        stacklevel=1,
    )
    # Free the pool slot: an unreleased slot would starve the pool.
    conn.close()
    if connector is not None:
        connector.forget_unread(conn)
        connector.release(conn)
