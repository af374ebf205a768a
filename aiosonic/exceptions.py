"""The exception tree of aiosonic: every error the library raises on purpose.

Everything derives from :class:`AiosonicError`. Each class also keeps the
builtin it refines, so ``except`` clauses written for the standard library go on
working::

    AiosonicError
    ├── BaseTimeout (asyncio.TimeoutError)      a deadline of Timeouts ran out
    │   ├── ConnectTimeout                      sock_connect: DNS + TCP + TLS + proxy
    │   ├── ReadTimeout                         sock_read: one wait for server bytes
    │   ├── ConnectionPoolAcquireTimeout        pool_acquire: the wait for a slot
    │   └── RequestTimeout                      request_timeout: request() as a whole
    │       └── ScopeTimeout                    an ``aiosonic.timeout()`` scope ran out
    ├── NetworkError (ConnectionError)          the transport failed
    │   ├── ConnectError                        no connection; nothing was sent
    │   │   ├── ResolveError                    the host name did not resolve
    │   │   ├── TLSError (ssl.SSLError)         handshake or certificate failure
    │   │   └── WebSocketHandshakeError         the server refused the WebSocket upgrade
    │   ├── ConnectionDisconnected              the peer closed or reset mid-exchange
    │   │   ├── ResponseIncomplete              the body ended before its length
    │   │   ├── ConnectionTerminated            HTTP/2 GOAWAY ended the stream
    │   │   └── WebSocketError                  a WebSocket failed (with its close code)
    │   │       ├── WebSocketProtocolError      the server broke RFC 6455 (1002, 1007)
    │   │       └── WebSocketMessageTooBig      a frame or message over its limit (1009)
    │   └── StreamReset                         HTTP/2 RST_STREAM ended the stream
    ├── HttpParsingError                        the response breaks RFC 9112
    │   ├── LimitExceeded                       a size/count limit was passed
    │   └── RemoteProtocolError                 the peer broke HTTP/2 (RFC 9113)
    ├── InvalidRequest (ValueError)             caller input that cannot be sent
    │   └── InvalidURL (also HttpParsingError)  a URL that cannot be requested
    ├── ConnectorClosed (RuntimeError)          the client/connector was closed
    ├── StreamConsumed (RuntimeError)           the body was already read in pieces
    ├── ResponseNotRead (RuntimeError)          httpx_client: .content of an unread stream
    ├── MaxRedirects                            more hops than allowed
    ├── DecompressionError                      bad or oversized compressed body
    ├── HTTPStatusError                         raise_for_status() on 4xx/5xx
    ├── ResponseJSONError (ValueError)          json() on a body that is not JSON
    ├── AuthenticationError                     a challenge that cannot be answered
    ├── ProxyError                              the proxy refused the tunnel
    ├── SSEConnectionError                      an event stream could not be opened
    │                                           or kept open (aiosonic.sse_client)
    ├── SSEParsingError                         an event stream passed a size limit
    └── MissingWriterException, MissingReaderException, MissingEvent
                                                kept for code written against the
                                                published package

Whether a failed request may have reached the server is carried by
``NetworkError.request_sent``: ``False`` means not one byte was written, so any
request may be retried; ``True`` means only an idempotent one may be.
``NetworkError.unprocessed`` is stronger: the server said (HTTP/2 GOAWAY or
REFUSED_STREAM) that it did not act on the request, so any method may be re-sent.

This module holds error classes only; it raises nothing itself.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiosonic.httpx_client import Response
    from aiosonic.response import HttpResponse

__all__ = [
    "AiosonicError",
    "AuthenticationError",
    "BaseTimeout",
    "ConnectError",
    "ConnectTimeout",
    "ConnectorClosed",
    "ConnectionDisconnected",
    "ConnectionPoolAcquireTimeout",
    "ConnectionTerminated",
    "DecompressionError",
    "HTTPStatusError",
    "HttpParsingError",
    "InvalidRequest",
    "InvalidURL",
    "LimitExceeded",
    "MaxRedirects",
    "MissingEvent",
    "MissingReaderException",
    "MissingWriterException",
    "NetworkError",
    "ProxyError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestTimeout",
    "ScopeTimeout",
    "ResolveError",
    "ResponseIncomplete",
    "ResponseJSONError",
    "ResponseNotRead",
    "SSEConnectionError",
    "SSEParsingError",
    "StreamConsumed",
    "StreamReset",
    "TLSError",
    "TimeoutException",
    "WebSocketError",
    "WebSocketHandshakeError",
    "WebSocketMessageTooBig",
    "WebSocketProtocolError",
]

#: Alias kept from the published package: the builtin every timeout refines.
TimeoutException = asyncio.TimeoutError

#: How many bytes of offending input an error message quotes at most.
QUOTE_LIMIT = 60


def quote_bytes(data: bytes | bytearray | memoryview, limit: int = QUOTE_LIMIT) -> str:
    """Return ``data`` as a short printable literal for an error message.

    Args:
        data: The offending input.
        limit: How many bytes to show before cutting with ``...``.

    Returns:
        A ``repr`` of at most ``limit`` bytes, with ``...`` when cut.
    """
    raw = bytes(data[:limit])
    return repr(raw) + ("..." if len(data) > limit else "")


def quote_text(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Return ``text`` as a short ``repr`` for an error message, cut with ``...``."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


class AiosonicError(Exception):
    """Root of every error aiosonic raises on purpose."""


# --- timeouts ---------------------------------------------------------------


class BaseTimeout(AiosonicError, asyncio.TimeoutError):
    """A deadline of :class:`aiosonic.timeout.Timeouts` ran out."""


class ConnectTimeout(BaseTimeout):
    """``sock_connect`` ran out: DNS, TCP, TLS and proxy set-up took too long."""


class ReadTimeout(BaseTimeout):
    """``sock_read`` ran out while waiting for bytes from the server."""


class ConnectionPoolAcquireTimeout(BaseTimeout):
    """``pool_acquire`` ran out while waiting for a free pool slot."""


class RequestTimeout(BaseTimeout):
    """``request_timeout`` ran out: the request as a whole took too long."""


class ScopeTimeout(RequestTimeout):
    """An ``async with aiosonic.timeout(seconds)`` scope ran out.

    The message names the scope: its budget and where it was made.
    """


# --- network ----------------------------------------------------------------


class NetworkError(AiosonicError, ConnectionError):
    """The transport failed.

    Attributes:
        request_sent: ``True`` when at least one byte of the request was
            written, so the server may have acted on it.
        reused_connection: ``True`` when the request ran on a pooled
            keep-alive connection rather than a fresh one.
        unprocessed: ``True`` when the server stated that it did not process
            the request (HTTP/2 GOAWAY above its last stream, REFUSED_STREAM),
            so it may be re-sent whatever its method.
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool = False,
        reused_connection: bool = False,
        unprocessed: bool = False,
    ) -> None:
        super().__init__(message)
        self.request_sent = request_sent
        self.reused_connection = reused_connection
        self.unprocessed = unprocessed

    def __reduce__(self) -> Any:
        return (self.__class__, (str(self),), self.__dict__)


class ConnectError(NetworkError):
    """No connection could be opened; nothing of the request was sent."""


class ResolveError(ConnectError):
    """The host name did not resolve to any address."""


class TLSError(ConnectError, ssl.SSLError):
    """The TLS handshake failed: bad certificate, wrong host, protocol error.

    ``str()`` is the message: :class:`ssl.SSLError` would otherwise print the
    argument tuple.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()

    @classmethod
    def from_handshake(cls, peer: str, exc: ssl.SSLError) -> TLSError:
        """Build the error for a failed handshake as one sentence, with the fix.

        Args:
            peer: Who the handshake was with, such as ``"host:443"`` or
                ``"host:443 (via proxy http://p:3128)"``.
            exc: What ssl raised; chain it with ``raise ... from exc``.

        Returns:
            The error. A certificate that did not verify gets the two ways to
            accept it: trust its CA with ``ssl=``, or ``verify=False``.
        """
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or exc.reason or "certificate verify failed"
            hint = (
                " If you trust this server, pass ssl= with an SSLContext that trusts its CA,"
                " or verify=False to skip verification."
            )
        else:
            # An OpenSSL reason code (WRONG_VERSION_NUMBER) read as words.
            reason = (
                (getattr(exc, "reason", None) or exc.strerror or str(exc)).replace("_", " ").lower()
            )
            hint = ""
        return cls(f"TLS handshake with {peer} failed: {reason.rstrip('.')}.{hint}")


class ConnectionDisconnected(NetworkError):
    """The peer closed or reset the connection during the exchange."""


class WebSocketError(ConnectionDisconnected):
    """A WebSocket connection failed; it is closed.

    Attributes:
        close_code: The close code sent to the server (RFC 6455 §7.4.1), or
            the server's own when it closed with an error, or None when the
            connection ended without a close frame.
    """

    def __init__(self, message: str, *, close_code: int | None = None) -> None:
        super().__init__(message, request_sent=True)
        self.close_code = close_code


class WebSocketProtocolError(WebSocketError):
    """The server broke RFC 6455: bad framing (close code 1002) or text not UTF-8 (1007)."""


class WebSocketMessageTooBig(WebSocketError):
    """A received frame or message is bigger than its limit; closed with code 1009.

    Raised for a frame over ``max_frame_size`` (checked on its header, before
    the payload is read) and a message over ``max_message_size`` (its
    fragments together, or what it inflates to, counted while inflating). A
    control frame over 125 bytes breaks the protocol instead (1002).
    """


class WebSocketHandshakeError(ConnectError):
    """The server did not accept the WebSocket upgrade (RFC 6455 §4.1).

    Attributes:
        status_code: The HTTP status of the server's answer, if it gave one.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ResponseIncomplete(ConnectionDisconnected):
    """The connection ended before the body reached its announced length.

    Attributes:
        received: Body bytes that arrived.
        expected: Body bytes announced, or ``None`` for a chunked body.
    """

    def __init__(
        self,
        message: str,
        *,
        received: int = 0,
        expected: int | None = None,
        request_sent: bool = True,
        reused_connection: bool = False,
    ) -> None:
        super().__init__(message, request_sent=request_sent, reused_connection=reused_connection)
        self.received = received
        self.expected = expected


class ConnectionTerminated(ConnectionDisconnected):
    """The server ended an HTTP/2 connection with GOAWAY before this stream finished.

    Attributes:
        error_code: The GOAWAY error code (``h2.errors.ErrorCodes`` value).
        last_stream_id: The last stream the server says it may have processed.

    Other keyword arguments are :class:`NetworkError`'s flags; ``request_sent``
    defaults to ``True`` here.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: int = 0,
        last_stream_id: int | None = None,
        **flags: bool,
    ) -> None:
        # The stream was sent unless the caller says otherwise.
        super().__init__(message, **{"request_sent": True, **flags})
        self.error_code = error_code
        self.last_stream_id = last_stream_id


class StreamReset(NetworkError):
    """The server reset this HTTP/2 stream (RST_STREAM); other streams go on.

    Attributes:
        error_code: The RST_STREAM error code (``h2.errors.ErrorCodes`` value);
            ``REFUSED_STREAM`` (7) sets ``unprocessed``.

    Other keyword arguments are :class:`NetworkError`'s flags; ``request_sent``
    defaults to ``True`` here.
    """

    def __init__(self, message: str, *, error_code: int = 0, **flags: bool) -> None:
        super().__init__(message, **{"request_sent": True, **flags})
        self.error_code = error_code


# --- protocol ---------------------------------------------------------------


class HttpParsingError(AiosonicError):
    """The server's response breaks the HTTP grammar.

    A caller's bad URL is an :class:`InvalidURL`, which derives from this
    class only for compatibility.
    """


class LimitExceeded(HttpParsingError):
    """A response passed one of the parser's size or count limits.

    Attributes:
        limit: The name of the limit (for example ``max_header_count``).
        value: The limit's value.
    """

    def __init__(self, limit: str, value: int, detail: str = "") -> None:
        message = f"response exceeds {limit}={value}"
        if detail:
            message += f": {detail}"
        super().__init__(message)
        self.limit = limit
        self.value = value

    def __reduce__(self) -> Any:
        return (self.__class__, (self.limit, self.value), self.__dict__)


class RemoteProtocolError(HttpParsingError):
    """The server broke the HTTP/2 protocol (a malformed frame or header block).

    The connection is closed with GOAWAY; every stream on it fails.
    """


class InvalidRequest(AiosonicError, ValueError):
    """Caller input that cannot be sent safely (CR/LF in a header, bad method)."""


class InvalidURL(InvalidRequest, HttpParsingError):
    """The URL given cannot be requested: no host, bad port, unsupported scheme.

    It is also an :class:`HttpParsingError` because the published package
    raised that for a URL without a host: ``except HttpParsingError`` written
    for it goes on working. New code should catch :class:`InvalidRequest`.
    """


class ConnectorClosed(AiosonicError, RuntimeError):
    """The client or connector was closed before this request could be sent.

    Raised for a request made after ``close()``, and for one still waiting for
    a pool slot when ``close()`` came. Nothing of it was written.

    Args:
        message: What was refused, with the URL.

    Attributes:
        request_sent: Always ``False``: the request never reached a connection
            (the same flag as :class:`NetworkError`'s, for code that checks it).
    """

    request_sent = False


class StreamConsumed(AiosonicError, RuntimeError):
    """The body was already taken with ``read_chunks()``; it cannot be read again.

    ``content()``, ``text()`` and ``json()`` after ``read_chunks()`` started
    would otherwise return only what was left (or ``b""``) as if it were the
    whole body. (The name is httpx's, for code written against it.)
    """


class ResponseNotRead(AiosonicError, RuntimeError):
    """A streamed response's body was used before it was read (httpx's name and meaning).

    Raised by :class:`aiosonic.httpx_client.Response` when ``.content``,
    ``.text`` or ``.json()`` come before ``aread()`` on a response from
    ``AsyncClient.stream()``.

    Args:
        message: What was not read, with the URL.
    """

    def __init__(self, message: str = "the response body was not read: call aread() first") -> None:
        super().__init__(message)


class MaxRedirects(AiosonicError):
    """The server redirected more times than allowed."""


class DecompressionError(AiosonicError):
    """A compressed body is corrupt, truncated, or inflates past its cap."""


class ResponseJSONError(AiosonicError, ValueError):
    """``HttpResponse.json()`` found a body that is not valid JSON (also in aiosonic.response)."""


class HTTPStatusError(AiosonicError):
    """Raised by ``HttpResponse.raise_for_status()`` for a 4xx or 5xx answer.

    Also by ``aiosonic.httpx_client.Response.raise_for_status()``, for any
    status that is not 2xx, as httpx does.

    Attributes:
        response: The response that failed.
    """

    def __init__(self, message: str, response: HttpResponse | Response) -> None:
        super().__init__(message)
        self.response = response


class AuthenticationError(AiosonicError):
    """An auth scheme cannot answer the server's challenge.

    The challenge is malformed or asks for something unsupported (an unknown
    Digest algorithm or ``qop``), or a custom flow broke its contract.
    """


class ProxyError(AiosonicError):
    """The proxy refused or broke the tunnel.

    Attributes:
        status_code: The proxy's status, when it answered with one.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class SSEConnectionError(AiosonicError):
    """An event stream could not be opened, or could not be opened again.

    Raised when the server answers with a status other than 2xx (or 204 to the
    first request) or a Content-Type other than ``text/event-stream``, when the
    connection fails and reconnection is off, or when the reconnection attempts
    ran out. The message carries the URL; the cause is chained.
    """


class SSEParsingError(AiosonicError):
    """An event stream passed one of the parser's size limits (a line or an event's data).

    The stream is closed: what follows the overlong part cannot be trusted.
    """


class MissingWriterException(AiosonicError):
    """A write was attempted on a connection that is not open."""


class MissingReaderException(AiosonicError):
    """A read was attempted on a connection that is not open."""


class MissingEvent(AiosonicError):
    """An expected protocol event never came."""
