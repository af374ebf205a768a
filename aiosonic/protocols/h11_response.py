"""Sans-IO HTTP/1.1 response parser (RFC 9112): bytes in, events out.

Feed bytes with :meth:`ResponseParser.receive_data`, signal the peer's close
with :meth:`ResponseParser.receive_eof`, and pull events with
:meth:`ResponseParser.next_event` until it returns ``NEED_DATA``. The parser
is reusable: :meth:`ResponseParser.start` arms it for the next response.

Strictness (all violations raise ``HttpParsingError`` quoting the bytes):

* status line is ``HTTP/1.<digit> <3 digits>[ <reason>]``;
* line endings: RFC 9112 §2.2 lets a recipient take a bare LF as a line
  ending, and we do where it allows that: in the status line, header fields
  and trailer fields (so a head may end in LF LF, CRLF LF or LF CRLF as well
  as CRLFCRLF). Chunk-size lines and the CRLF after chunk data must be CRLF
  (RFC 9112 §7.1 grants no such leniency, and leniency there is how response
  desync starts), as h11 does. A bare CR (one not followed by LF), NUL or any
  other control byte except HTAB in the head or trailers is rejected;
* every rejection happens as soon as the bytes that break a rule are in: a
  bare CR, or a bare LF in chunk framing, never waits for more bytes (a
  server holding the connection open must not turn it into a read timeout);
* header names are RFC 9110 tokens with no whitespace before the colon;
  obs-fold (a line starting with SP/HTAB) is rejected;
* Transfer-Encoding together with Content-Length is rejected (RFC 9112 §6.3
  allows "chunked wins", but refusing removes a request-smuggling vector);
* only the ``chunked`` transfer coding is supported;
* Content-Length values must be plain digits, all equal, at most 19 digits.

What is *not* here: sockets, timers, decompression and charset handling.
This module imports no asyncio, socket or ssl.
"""

from __future__ import annotations

from aiosonic.exceptions import (
    ConnectionDisconnected,
    HttpParsingError,
    LimitExceeded,
    ResponseIncomplete,
    quote_bytes,
)
from aiosonic.protocols.h11_buffer import ReceiveBuffer
from aiosonic.protocols.h11_events import (
    NEED_DATA,
    Data,
    EndOfMessage,
    Event,
    H11Limits,
    Headers,
    InformationalResponse,
    NeedData,
    ResponseHead,
)
from aiosonic.protocols.h11_fields import (
    FieldCache,
    cached_head,
    check_head_bytes,
    decide_framing,
    has_bare_lf,
    parse_full_head,
    parse_head,
)
from aiosonic.protocols.h11_rules import parse_chunk_size, parse_field_line

__all__ = ["ResponseParser"]

_DEFAULT_LIMITS = H11Limits()

# States of the parser.
_IDLE = 0  # no response expected
_HEAD = 1  # waiting for the status line and headers
_BODY_LENGTH = 2  # Content-Length framed body
_CHUNK_SIZE = 3  # waiting for a chunk-size line
_CHUNK_DATA = 4  # inside a chunk
_CHUNK_CRLF = 5  # the CRLF after a chunk's data
_TRAILERS = 6  # trailer section after the last chunk
_BODY_CLOSE = 7  # body delimited by the connection closing
_DONE = 8  # response complete
_ERROR = 9  # a previous call raised; the parser is unusable

# Indexed by state number.
_STATE_NAMES: tuple[str, ...] = ("IDLE", "HEAD", "BODY_LENGTH", "CHUNK_SIZE", "CHUNK_DATA")
_STATE_NAMES += ("CHUNK_CRLF", "TRAILERS", "BODY_CLOSE", "DONE", "ERROR")


class ResponseParser:
    """Parse one HTTP/1.1 response at a time from a byte stream.

    Args:
        limits: Size and count bounds; the defaults are documented in
            ``aiosonic.protocols.h11_events``.
    """

    __slots__ = (
        "_body_received",
        "_buffer",
        "_chunk_left",
        "_eof",
        "_field_cache",
        "_head_checked",
        "_informational",
        "_is_connect",
        "_is_head",
        "_keep_alive",
        "_length",
        "_limits",
        "_state",
        "_trailers",
        "_trailers_size",
        "_url",
    )

    def __init__(self, limits: H11Limits | None = None) -> None:
        self._limits = limits or _DEFAULT_LIMITS
        self._buffer = ReceiveBuffer()
        # Field lines of earlier heads on this connection, parsed (see _parse_head).
        self._field_cache = FieldCache()
        self._state = _IDLE
        self._eof = False
        # Bytes of a head still arriving already checked for a bare CR.
        self._head_checked = 0
        self._reset_message()
        self._is_head = False
        self._is_connect = False
        self._url = ""

    def _reset_message(self) -> None:
        self._length = 0
        self._body_received = 0
        self._chunk_left = 0
        self._keep_alive = False
        self._informational = 0
        self._trailers: Headers = []
        self._trailers_size = 0

    def __repr__(self) -> str:
        return (
            f"<ResponseParser [{_STATE_NAMES[self._state]}, "
            f"buffered={len(self._buffer)}, eof={self._eof}]>"
        )

    # --- public API ---------------------------------------------------------

    @property
    def state(self) -> str:
        """Name of the current state, for diagnostics and tests."""
        return _STATE_NAMES[self._state]

    @property
    def is_done(self) -> bool:
        """Whether the current response has been parsed completely."""
        return self._state == _DONE

    @property
    def is_reusable(self) -> bool:
        """Whether another request may follow on the same connection.

        True only after a complete keep-alive response with no unread bytes
        behind it: data the server sent unasked must never be handed to the
        next request.
        """
        return self._state == _DONE and self._keep_alive and not self._eof and not self._buffer.size

    @property
    def idle_input(self) -> bool:
        """Whether neither bytes nor EOF wait to be parsed."""
        return not self._eof and not self._buffer.size

    @property
    def buffered(self) -> int:
        """Bytes received and not yet turned into events."""
        return self._buffer.size

    @property
    def trailing_data(self) -> bytes:
        """Bytes received but not consumed by the current response."""
        return self._buffer.peek()

    def start(self, method: bytes, url: str = "") -> None:
        """Arm the parser for the response to a request.

        Args:
            method: The request method (``b"HEAD"`` responses carry no body).
            url: Shown in error messages.
        """
        if self._state not in (_IDLE, _DONE):
            raise HttpParsingError(f"parser restarted in state {_STATE_NAMES[self._state]} ({url})")
        # What every response needs reset; the rest is set with the head
        # (_length, _keep_alive) or as a chunked body starts (_chunk_left...).
        self._body_received = self._informational = self._head_checked = 0
        self._is_head = method == b"HEAD"
        self._is_connect = method == b"CONNECT"
        self._url = url
        self._state = _HEAD

    def receive_data(self, data: bytes) -> int:
        """Append bytes from the peer and return :attr:`buffered`; no parsing yet."""
        buffer = self._buffer
        buffer.append(data)
        return buffer.size

    def receive_eof(self) -> None:
        """Record that the peer closed its side; no more bytes will come."""
        self._eof = True

    def next_event(self) -> Event | NeedData:
        """Return the next event, or ``NEED_DATA``.

        Raises:
            HttpParsingError: The bytes break the grammar or a limit.
            ConnectionDisconnected: EOF before the response head.
            ResponseIncomplete: EOF inside a framed body.
        """
        state = self._state
        try:
            if state == _BODY_LENGTH:
                return self._next_length_data()
            if state == _HEAD:
                return self._next_head()
            if state == _BODY_CLOSE:
                return self._next_close_data()
            if _CHUNK_SIZE <= state <= _TRAILERS:
                return self._next_chunked()
            if state == _ERROR:
                raise HttpParsingError(f"parser unusable after an earlier error ({self._url})")
            return NEED_DATA
        except BaseException:
            self._state = _ERROR
            raise

    # --- lines ------------------------------------------------------------

    def _take_line(self, limit: int, what: str, *, strict: bool) -> bytes | None:
        """Remove and return the next line with its line ending, or None if it is not all here.

        A line ends in CRLF, or, unless ``strict``, in a bare LF (RFC 9112
        §2.2). A bare CR, or with ``strict`` a bare LF, is an error at once.
        """
        buffer = self._buffer
        idx = buffer.find_lf()
        if idx < 0:
            # No LF: a CR before the last byte is bare.
            cr = buffer.find_cr()
            if 0 <= cr < buffer.size - 1:
                raise self._bad_line(buffer.peek(cr + 2), "bare CR")
            # A final CR may begin the CRLF, as in the whole-line check below.
            if buffer.size > limit + 1:
                raise LimitExceeded(what, limit, f"no line end within {limit} bytes ({self._url})")
            if self._eof:
                raise self._truncated()
            return None
        raw = buffer.take(idx + 1)
        length = idx - 1 if raw[-2:-1] == b"\r" else idx
        # The limit first: it must not depend on whether the LF has arrived yet.
        if length > limit:
            raise LimitExceeded(what, limit, f"line of {length} bytes ({self._url})")
        if strict and length == idx:
            raise self._bad_line(raw, "bare LF line ending")
        return raw

    def _bad_line(self, line: bytes, what: str) -> HttpParsingError:
        """The error for a chunk-size or trailer line with a bad line ending."""
        if self._state == _CHUNK_SIZE:
            return HttpParsingError(f"{what} in chunk size line {quote_bytes(line)} ({self._url})")
        return HttpParsingError(f"{what} in trailer line {quote_bytes(line)} ({self._url})")

    # --- head ---------------------------------------------------------------

    def _next_head(self) -> Event | NeedData:
        buffer = self._buffer
        limits = self._limits
        head = buffer.take_head()
        if head is None:
            return self._wait_for_head()
        cache = self._field_cache
        if head == cache.last_head:
            # The head of the previous final response (on a busy connection,
            # the Date changes once a second): its parse and decision stand.
            status, reason, version, fields, coding, keep_alive, content_length, chunked = (
                cache.last
            )
            headers = list(fields)
        else:
            parsed = None
            if len(head) <= limits.max_head_size:
                parsed = parse_head(head, limits, cache, self._url)
            if parsed is None:
                head, parsed = self._parse_head_slowly(head)
            status, reason, version, headers, framing = parsed
            if len(headers) > limits.max_header_count:
                raise LimitExceeded("max_header_count", limits.max_header_count, self._url)
            if status < 200:
                return self._informational_response(status, reason, headers)
            # The same framing fields (same version) decide the same way.
            key = (version, *framing)
            decided = cache.decisions.get(key)
            if decided is None:
                decided = decide_framing(framing, version != "1.0", self._url)
                cache.remember_decision(key, decided)
            keep_alive, content_length, chunked = decided
            coding = b", ".join([v for n, v in framing if n == b"content-encoding"])
            cache.last_head = head
            cache.last = cached_head((status, reason, version, tuple(headers), coding, *decided))
        has_body = not (
            self._is_head or status in (204, 304) or (self._is_connect and 200 <= status < 300)
        )
        if not has_body:
            # An empty length-framed body: the next event is EndOfMessage.
            self._length = 0
            self._state = _BODY_LENGTH
        elif chunked:
            self._chunk_left = self._trailers_size = 0
            self._trailers = []
            self._state = _CHUNK_SIZE
        elif content_length is not None:
            self._length = content_length
            self._state = _BODY_LENGTH
        else:
            # RFC 9112 §6.3 (8): the body runs until the connection closes.
            keep_alive = False
            self._state = _BODY_CLOSE
        self._keep_alive = keep_alive
        # Positional, in field order: status_code, reason, http_version, headers,
        # keep_alive, content_length, chunked, has_body, content_coding.
        return ResponseHead(
            status, reason, version, headers, keep_alive,
            content_length if has_body else None, chunked and has_body, has_body, coding,
        )  # fmt: skip

    def _wait_for_head(self) -> NeedData:
        """Check the start of a head that is not all here; reject what is already wrong."""
        buffer = self._buffer
        limits = self._limits
        size = buffer.size
        if size >= 5 and not buffer.startswith(b"HTTP/"):
            shown = quote_bytes(buffer.peek(64))
            raise HttpParsingError(f"response does not start with 'HTTP/': {shown} ({self._url})")
        # A bare CR is wrong whatever follows: say so now, not after a read timeout.
        cr = buffer.find_bare_cr(self._head_checked)
        if cr >= 0:
            pending = buffer.peek()
            line = pending[pending.rfind(b"\n", 0, cr) + 1 :][:60]
            raise HttpParsingError(f"bare CR in response head {quote_bytes(line)} ({self._url})")
        self._head_checked = max(0, size - 1)
        # Up to 3 of these bytes may still begin the CRLFCRLF, so the head may
        # yet fit; without this slack the limit would depend on the split.
        if size - 3 > limits.max_head_size:
            raise LimitExceeded("max_head_size", limits.max_head_size, self._url)
        if self._eof:
            raise self._truncated()
        return NEED_DATA

    def _parse_head_slowly(
        self, head: bytes
    ) -> tuple[bytes, tuple[int, bytes, str, Headers, Headers]]:
        """Parse a head the short path could not: new lines, a bare LF, or too long.

        Returns the head as parsed (cut at its first empty line) and its parse.
        """
        if has_bare_lf(head):
            # RFC 9112 §2.2: a line may end in a bare LF, so the head may end
            # at an empty line before the CRLFCRLF take_head() cut it at.
            head = self._buffer.retake_head()
        limit = self._limits.max_head_size
        if len(head) > limit:
            raise LimitExceeded("max_head_size", limit, self._url)
        return head, parse_full_head(head, self._limits, self._url)

    def _informational_response(
        self, status: int, reason: bytes, headers: Headers
    ) -> InformationalResponse:
        # The next head starts where this one ended.
        self._head_checked = 0
        self._informational += 1
        limit = self._limits.max_informational_responses
        if self._informational > limit:
            raise LimitExceeded("max_informational_responses", limit, self._url)
        if status == 101:
            raise HttpParsingError(f"unexpected 101 Switching Protocols ({self._url})")
        return InformationalResponse(status, reason, headers)

    # --- bodies -------------------------------------------------------------

    def _next_length_data(self) -> Event | NeedData:
        left = self._length - self._body_received
        if left <= 0:
            self._state = _DONE
            return EndOfMessage()
        available = self._buffer.size
        if not available:
            if self._eof:
                raise self._truncated()
            return NEED_DATA
        data = self._buffer.take(min(left, available))
        self._body_received += len(data)
        return Data(data)

    def take_length_body(self) -> bytes | None:
        """Consume the rest of a Content-Length body and end the message, if all is here.

        Returns None (consuming nothing) otherwise; next_event() then goes on.
        """
        if self._state != _BODY_LENGTH:
            return None
        left = self._length - self._body_received
        if left > self._buffer.size:
            return None
        self._body_received = self._length
        self._state = _DONE
        return self._buffer.take(left) if left > 0 else b""

    @property
    def body_left(self) -> int | None:
        """Bytes of a Content-Length body still to come, or None for other framings."""
        return self._length - self._body_received if self._state == _BODY_LENGTH else None

    def feed_body(self, size: int) -> None:
        """Count ``size`` bytes of a Content-Length body received outside this parser.

        The caller took them from the stream itself (at most :attr:`body_left`);
        next_event() goes on from there.
        """
        self._body_received += size

    def _next_close_data(self) -> Event | NeedData:
        available = len(self._buffer)
        if available:
            data = self._buffer.take(available)
            self._body_received += available
            return Data(data)
        if self._eof:
            self._state = _DONE
            return EndOfMessage()
        return NEED_DATA

    def _next_chunked(self) -> Event | NeedData:
        while True:
            state = self._state
            if state == _CHUNK_DATA:
                available = len(self._buffer)
                if not available:
                    if self._eof:
                        raise self._truncated()
                    return NEED_DATA
                data = self._buffer.take(min(self._chunk_left, available))
                self._chunk_left -= len(data)
                self._body_received += len(data)
                if not self._chunk_left:
                    self._state = _CHUNK_CRLF
                return Data(data)
            if state == _CHUNK_SIZE:
                if not self._read_chunk_size():
                    return NEED_DATA
            elif state == _CHUNK_CRLF:
                buffer = self._buffer
                if buffer.size < 2:
                    # Anything but the CR that begins the CRLF is wrong at once.
                    if buffer.size and not buffer.startswith(b"\r"):
                        crlf = buffer.peek()
                        raise HttpParsingError(
                            f"chunk data not followed by CRLF: {quote_bytes(crlf)} ({self._url})"
                        )
                    if self._eof:
                        raise self._truncated()
                    return NEED_DATA
                crlf = buffer.take(2)
                if crlf != b"\r\n":
                    raise HttpParsingError(
                        f"chunk data not followed by CRLF: {quote_bytes(crlf)} ({self._url})"
                    )
                self._state = _CHUNK_SIZE
            else:
                return self._read_trailers()

    def _read_chunk_size(self) -> bool:
        # RFC 9112 §7.1: CRLF only, as h11; a bare LF here is how desync starts.
        raw = self._take_line(self._limits.max_chunk_line_size, "max_chunk_line_size", strict=True)
        if raw is None:
            return False
        size = parse_chunk_size(raw[:-2], self._url)
        if size:
            self._chunk_left = size
            self._state = _CHUNK_DATA
        else:
            self._state = _TRAILERS
        return True

    def _read_trailers(self) -> Event | NeedData:
        limits = self._limits
        while True:
            # RFC 9112 §2.2: a trailer line may end in a bare LF, as a header line.
            raw = self._take_line(limits.max_trailer_size, "max_trailer_size", strict=False)
            if raw is None:
                return NEED_DATA
            line = raw[:-2] if raw[-2:-1] == b"\r" else raw[:-1]
            if not line:
                self._state = _DONE
                return EndOfMessage(self._trailers)
            self._trailers_size += len(raw)
            if self._trailers_size > limits.max_trailer_size:
                raise LimitExceeded("max_trailer_size", limits.max_trailer_size, self._url)
            if len(self._trailers) >= limits.max_trailer_count:
                raise LimitExceeded("max_trailer_count", limits.max_trailer_count, self._url)
            check_head_bytes(line, self._url)
            self._trailers.append(parse_field_line(line, limits.max_trailer_size, self._url))

    def _truncated(self) -> ConnectionDisconnected:
        state = self._state
        if state == _HEAD:
            got = len(self._buffer)
            if not got:
                return ConnectionDisconnected(
                    f"server closed the connection without a response ({self._url})",
                    request_sent=True,
                )
            return ConnectionDisconnected(
                f"server closed the connection after {got} bytes of the response head "
                f"({self._url})",
                request_sent=True,
            )
        if state == _BODY_LENGTH:
            return ResponseIncomplete(
                f"peer closed after {self._body_received} of {self._length} body bytes "
                f"({self._url})",
                received=self._body_received,
                expected=self._length,
            )
        return ResponseIncomplete(
            f"peer closed inside the chunked body after {self._body_received} bytes ({self._url})",
            received=self._body_received,
        )
