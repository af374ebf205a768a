"""Events the sans-IO HTTP/1.1 response parser emits, and its size limits.

Nothing here performs I/O; the connection driver turns these into behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "MAX_CHUNK_LINE_SIZE",
    "MAX_CONTENT_LENGTH_DIGITS",
    "MAX_HEADER_COUNT",
    "MAX_HEADER_LINE_SIZE",
    "MAX_HEAD_SIZE",
    "MAX_INFORMATIONAL_RESPONSES",
    "MAX_STATUS_LINE_SIZE",
    "MAX_TRAILER_COUNT",
    "MAX_TRAILER_SIZE",
    "NEED_DATA",
    "Data",
    "EndOfMessage",
    "Event",
    "H11Limits",
    "InformationalResponse",
    "NeedData",
    "ResponseHead",
]

# --- limits -----------------------------------------------------------------
# Each bounds memory or CPU a hostile server can make us spend before we can
# decide anything. All are settable through H11Limits.

#: A status line is ~20 bytes; 8 KiB matches common server line limits (nginx).
MAX_STATUS_LINE_SIZE = 8 * 1024
#: Single header lines: large Set-Cookie / CSP values exist, 64 KiB is ample.
MAX_HEADER_LINE_SIZE = 64 * 1024
#: Real responses carry tens of headers; thousands only serve to burn CPU.
MAX_HEADER_COUNT = 256
#: The whole head (status line + headers); bounds the buffer before the empty
#: line that ends it ("\r\n\r\n", or with bare LFs "\n\n" and the like).
MAX_HEAD_SIZE = 256 * 1024
#: Trailers are rare and small (checksums, grpc-status).
MAX_TRAILER_COUNT = 64
MAX_TRAILER_SIZE = 64 * 1024
#: Chunk-size line: hex size plus extensions, which nobody uses at length.
MAX_CHUNK_LINE_SIZE = 4 * 1024
#: 19 decimal digits fit a signed 64-bit length; more is an attack, not a file.
MAX_CONTENT_LENGTH_DIGITS = 19
#: 1xx responses before the final one; a server looping 103s must not hang us.
MAX_INFORMATIONAL_RESPONSES = 32


@dataclass(frozen=True, slots=True)
class H11Limits:
    """Bounds applied to every response; pass one to tighten or relax them."""

    max_status_line_size: int = MAX_STATUS_LINE_SIZE
    max_header_line_size: int = MAX_HEADER_LINE_SIZE
    max_header_count: int = MAX_HEADER_COUNT
    max_head_size: int = MAX_HEAD_SIZE
    max_trailer_count: int = MAX_TRAILER_COUNT
    max_trailer_size: int = MAX_TRAILER_SIZE
    max_chunk_line_size: int = MAX_CHUNK_LINE_SIZE
    max_informational_responses: int = MAX_INFORMATIONAL_RESPONSES


# --- events -----------------------------------------------------------------

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class InformationalResponse:
    """A 1xx interim response (100 Continue, 103 Early Hints)."""

    status_code: int
    reason: bytes
    headers: Headers


@dataclass(slots=True)
class ResponseHead:
    """The final response's status line and headers, with its framing decided.

    Attributes:
        status_code: Three-digit status.
        reason: Raw reason phrase, possibly empty.
        http_version: ``"1.0"`` or ``"1.1"``.
        headers: Raw ``(name, value)`` pairs in wire order, name case kept.
        keep_alive: The connection may carry another request afterwards.
        content_length: Body length when framed by Content-Length, else None.
        chunked: The body uses chunked transfer coding.
        has_body: ``False`` for HEAD, 1xx, 204 and 304 responses.
        content_coding: See below; not compared.
    """

    status_code: int
    reason: bytes
    http_version: str
    headers: Headers
    keep_alive: bool
    content_length: int | None
    chunked: bool
    has_body: bool
    #: The Content-Encoding value(s), joined with ", "; ``b""`` when there is
    #: none. None when the producer did not look (then see ``headers``).
    content_coding: bytes | None = field(default=None, compare=False)


@dataclass(slots=True)
class Data:
    """A piece of the (still transfer-decoded) response body."""

    data: bytes


@dataclass(slots=True)
class EndOfMessage:
    """The body is complete; ``trailers`` holds chunked trailer fields."""

    trailers: Headers = field(default_factory=list)


class NeedData:
    """Sentinel: the parser needs more bytes (or EOF) to make progress."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()

Event = InformationalResponse | ResponseHead | Data | EndOfMessage
