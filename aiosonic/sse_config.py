"""RequestConfig: what an event-stream connection sends, and how it reconnects.

:class:`RequestConfig` is the published value that :mod:`aiosonic.sse_client`
sends and re-sends on every reconnection; this module holds it and its
defaults. The reconnecting itself lives in :mod:`aiosonic.sse_client`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from aiosonic.protocols.sse import SSELimits

__all__ = ["DEFAULT_RETRY_DELAY", "MAX_RETRY_DELAY", "RequestConfig"]

#: Milliseconds to wait before reconnecting, until the server sets its own
#: with ``retry:`` (the published default; WHATWG leaves it to the client).
DEFAULT_RETRY_DELAY = 3000
#: The longest wait a server's ``retry:`` can ask for, in milliseconds. Five
#: minutes is above the load-shedding hints servers send, and still brings a
#: stream back within minutes when a server (or a hostile one) asks for days.
MAX_RETRY_DELAY = 5 * 60 * 1000


@dataclass
class RequestConfig:
    """The request of an event stream and its reconnection policy.

    Each reconnection sends the same request again, with ``Last-Event-ID``
    set to the last event ID the stream sent. A body given as an (async)
    iterator can be sent only once: use bytes, text, a form or ``json`` for
    a stream that reconnects.

    Args:
        method: HTTP method (``"GET"``, or ``"POST"`` with a body).
        url: The event-stream URL.
        headers: Headers sent with every request of the stream.
        params: Query parameters, as ``HTTPClient.request`` takes them.
        data: Request body, as ``HTTPClient.request`` takes it.
        json: Value sent as a JSON body.
        request_kwargs: Other ``HTTPClient.request`` arguments (``timeouts``,
            ``verify``, ``ssl``, ``follow``, ``http2``, ...).
        reconnect: Reconnect when the stream ends or the connection drops.
        retry_delay: Milliseconds to wait before reconnecting until the
            server sets its own with ``retry:``.
        keep_connection: Accepted for compatibility and has no effect: a
            stream that ended returns its connection to the pool, and one
            closed early closes its connection (what is left unread of it
            cannot be skipped).
        max_reconnect_attempts: How many failed attempts in a row to make
            before raising ``SSEConnectionError``; ``None`` retries forever,
            as the published package and browsers do. A connection that
            opens resets the count.
        max_retry_delay: The longest wait, in milliseconds, that a server's
            ``retry:`` can ask for (:data:`MAX_RETRY_DELAY`).
        limits: Size limits for the stream's lines and events; the defaults of
            :class:`~aiosonic.protocols.sse.SSELimits` if None.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    data: Any | None = None
    json: dict[str, Any] | list[Any] | None = None
    request_kwargs: dict[str, Any] = field(default_factory=dict)
    reconnect: bool = True
    retry_delay: int = DEFAULT_RETRY_DELAY
    keep_connection: bool = False
    max_reconnect_attempts: int | None = None
    max_retry_delay: int = MAX_RETRY_DELAY
    limits: SSELimits | None = None

    def with_headers_copy(self) -> RequestConfig:
        """Return a copy whose ``headers`` and ``request_kwargs`` can change on their own."""
        return replace(self, headers=dict(self.headers), request_kwargs=dict(self.request_kwargs))
