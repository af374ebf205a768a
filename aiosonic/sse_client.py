"""SSEClient: Server-Sent Events over the public HTTPClient API, with reconnection.

:meth:`SSEClient.connect` opens an event stream (``Accept: text/event-stream``)
and returns something that can be awaited or used with ``async with``; either
way the result is an :class:`SSEConnection`, an async iterator of
:class:`~aiosonic.protocols.sse.SSEEvent` dicts. When the stream ends or the
connection drops, the connection waits the reconnection time (the server's
``retry:``, bounded) and sends the request again with ``Last-Event-ID``, as
WHATWG HTML §9.2.3 describes for ``EventSource``.

What lives here: the HTTP side (status and Content-Type checks, the stream's
timeouts, reconnection and its waits). The event-stream grammar is the sans-IO
:mod:`aiosonic.protocols.sse`; the request settings are
:class:`aiosonic.sse_config.RequestConfig`.

Timeouts: an event stream lasts as long as the server keeps it open, so its
requests are sent without ``request_timeout`` (whatever the ``timeouts``
given or the connector's). ``sock_connect`` still bounds opening the
connection, and ``sock_read`` each wait for bytes: a stream silent for longer
than ``sock_read`` counts as dropped and is reconnected (servers send
``:`` comment lines to keep a quiet stream alive). Pass ``timeouts`` with
``sock_read=None`` to wait forever.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from json import dumps as json_dumps
from ssl import SSLContext
from types import TracebackType
from typing import Any

# HTTPClient, HttpHeaders, DataType, HeadersType, ParamsType, Timeouts and
# json_dumps: the published module had these names too; they stay importable.
from aiosonic.client import HTTPClient
from aiosonic.exceptions import (
    BaseTimeout,
    HttpParsingError,
    InvalidRequest,
    NetworkError,
    SSEConnectionError,
    SSEParsingError,
    TLSError,
    quote_text,
)
from aiosonic.headers import HttpHeaders as HttpHeaders
from aiosonic.headers import validate_header_field
from aiosonic.protocols.sse import EventStreamParser, SSEEvent, SSELimits
from aiosonic.request import BodyType as DataType
from aiosonic.request import HeadersType, user_header_pairs
from aiosonic.response import HttpResponse
from aiosonic.sse_config import DEFAULT_RETRY_DELAY, MAX_RETRY_DELAY, RequestConfig
from aiosonic.timeout import Timeouts
from aiosonic.urls import ParamsType

__all__ = [
    "EVENT_STREAM_TYPE",
    "RequestConfig",
    "SSEClient",
    "SSEConnection",
    "SSEConnectionError",
    "SSEEvent",
    "SSEParsingError",
]

#: The media type of an event stream (WHATWG HTML §9.2.1).
EVENT_STREAM_TYPE = "text/event-stream"
#: Failures after which the stream is opened again: the connection dropped,
#: went silent past ``sock_read``, or broke the HTTP framing mid-stream.
_DROPPED = (NetworkError, BaseTimeout, HttpParsingError)


class SSEClient:
    """Open Server-Sent Event streams.

    Args:
        http_client: The client to send requests with; a new
            :class:`HTTPClient` (closed by :meth:`close`) if None.

    Example::

        async with SSEClient() as sse:
            async with sse.connect("http://localhost:8000/events") as events:
                async for event in events:
                    print(event["event"], event["data"])
    """

    def __init__(self, http_client: HTTPClient | None = None) -> None:
        self._client = http_client or HTTPClient()
        self._owns_client = http_client is None

    def __repr__(self) -> str:
        return f"<SSEClient [{self._client!r}]>"

    async def __aenter__(self) -> SSEClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP client if this SSEClient made it; idempotent."""
        if self._owns_client:
            await self._client.close()

    def connect(
        self,
        url: str,
        method: str = "GET",
        headers: HeadersType = None,
        params: ParamsType = None,
        data: DataType = None,
        json: dict[str, Any] | list[Any] | None = None,
        multipart: bool = False,
        verify: bool = True,
        ssl: SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
        reconnect: bool = True,
        retry_delay: int = DEFAULT_RETRY_DELAY,
        json_serializer: Callable[[Any], str | bytes] = json_dumps,
        keep_connection: bool = False,
        *,
        max_reconnect_attempts: int | None = None,
        max_retry_delay: int = MAX_RETRY_DELAY,
        limits: SSELimits | None = None,
    ) -> _Connect:
        """Prepare an event-stream connection; await it or use it with ``async with``.

        ``await sse.connect(url)`` returns an open :class:`SSEConnection` to
        close yourself; ``async with sse.connect(url) as events:`` closes it
        on exit. Nothing is sent until then.

        Args:
            url: The event-stream URL.
            method: HTTP method; ``"POST"`` with ``json``/``data`` for APIs
                that stream their answer.
            headers: Extra headers. ``Accept: text/event-stream`` and
                ``Cache-Control: no-cache`` are added unless given; a
                ``Last-Event-ID`` given here resumes the stream from that ID.
            params: Query parameters.
            data: Request body (re-sent on every reconnection).
            json: Value sent as a JSON body (re-sent on every reconnection).
            multipart: Send ``data`` as multipart/form-data.
            verify: Verify the TLS certificate.
            ssl: A custom SSL context.
            timeouts: Deadlines; default: the client's connector's. Sent
                without ``request_timeout`` (see the module docstring).
            follow: Follow redirects.
            http2: Negotiate HTTP/2 for ``https``.
            reconnect: Reconnect when the stream ends or drops, and retry
                failed connection attempts.
            retry_delay: Milliseconds to wait before reconnecting, until the
                server sets its own with ``retry:``.
            json_serializer: Serialiser for ``json``.
            keep_connection: Accepted for compatibility; no effect (see
                :class:`~aiosonic.sse_config.RequestConfig`).
            max_reconnect_attempts: Failed attempts in a row before
                ``SSEConnectionError``; ``None`` retries forever.
            max_retry_delay: The longest wait (ms) a server's ``retry:`` can ask for.
            limits: Line and event size limits of the stream.

        Returns:
            An awaitable async context manager that yields an :class:`SSEConnection`.
        """
        stream_headers = dict(user_header_pairs(headers))
        for name, value in (("Accept", EVENT_STREAM_TYPE), ("Cache-Control", "no-cache")):
            if _find_header(stream_headers, name) is None:
                stream_headers[name] = value
        request_kwargs: dict[str, Any] = {
            "multipart": multipart,
            "verify": verify,
            "ssl": ssl,
            "timeouts": timeouts,
            "follow": follow,
            "http2": http2,
            "json_serializer": json_serializer,
        }
        config = RequestConfig(
            method=method,
            url=url,
            headers=stream_headers,
            params=params,  # type: ignore[arg-type]
            data=data,
            json=json,
            request_kwargs=request_kwargs,
            reconnect=reconnect,
            retry_delay=retry_delay,
            keep_connection=keep_connection,
            max_reconnect_attempts=max_reconnect_attempts,
            max_retry_delay=max_retry_delay,
            limits=limits,
        )
        return _Connect(self._client, config)


class _Connect:
    """What :meth:`SSEClient.connect` returns: awaitable, and an async context manager."""

    def __init__(self, client: HTTPClient, config: RequestConfig) -> None:
        self._client = client
        self._config = config
        self._connection: SSEConnection | None = None

    def __await__(self) -> Generator[Any, None, SSEConnection]:
        return self._open().__await__()

    async def _open(self) -> SSEConnection:
        config = self._config.with_headers_copy()
        last_event_id = _find_header(config.headers, "Last-Event-ID") or ""
        response = await _establish(
            self._client, config, last_event_id, config.retry_delay, reconnecting=False
        )
        assert response is not None  # only a reconnection may end with 204
        return SSEConnection(response, self._client, config)

    async def __aenter__(self) -> SSEConnection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            await self._connection.close()


class SSEConnection:
    """An open event stream: an async iterator of events that reconnects.

    Iteration ends when the stream ends and reconnection is off, when the
    server answers a reconnection with 204 No Content (WHATWG: "stop"), or
    after :meth:`close`. Events of one read that were not taken yet stay for
    the next iteration, so breaking out of ``async for`` and iterating again
    loses nothing.

    Args:
        response: The response that opened the stream (status and type
            already checked).
        client: The client that reconnections are sent with.
        config: The request to re-send, and the reconnection policy.
    """

    def __init__(self, response: HttpResponse, client: HTTPClient, config: RequestConfig) -> None:
        self._response: HttpResponse | None = response
        self._chunks: AsyncIterator[bytes] | None = response.read_chunks()
        self._client = client
        self._config = config
        last_event_id = _find_header(config.headers, "Last-Event-ID") or ""
        self._parser = EventStreamParser(config.limits, last_event_id)
        self._pending: deque[SSEEvent] = deque()
        self._reconnects = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<SSEConnection [{self._config.url}, {state}, "
            f"last_event_id={self.last_event_id!r}, reconnects={self._reconnects}]>"
        )

    @property
    def last_event_id(self) -> str:
        """The ID sent as ``Last-Event-ID`` on reconnection (``""``: none)."""
        return self._parser.last_event_id

    @property
    def retry_delay(self) -> int:
        """Milliseconds waited before a reconnection: the server's ``retry:``, bounded."""
        retry = self._parser.retry
        if retry is None:
            return self._config.retry_delay
        return min(retry, self._config.max_retry_delay)

    @property
    def response(self) -> HttpResponse | None:
        """The response whose body is being read (``None`` once closed)."""
        return self._response

    @property
    def is_closed(self) -> bool:
        """Whether the stream is over: no more events will come."""
        return self._closed

    def __aiter__(self) -> SSEConnection:
        return self

    async def __anext__(self) -> SSEEvent:
        """Return the next event, reading and reconnecting as needed.

        Raises:
            StopAsyncIteration: The stream is over (see the class docstring).
            SSEParsingError: A line or an event passed its size limit; the
                connection is closed.
            SSEConnectionError: A reconnection was refused (status or
                Content-Type), the attempts ran out, or the connection
                dropped with ``reconnect=False``.
        """
        pending = self._pending
        while not pending:
            try:
                chunk = await self._next_chunk()
            except SSEConnectionError:
                await self.close()
                raise
            if chunk is None:
                await self.close()
                raise StopAsyncIteration
            try:
                pending.extend(self._parser.feed(chunk))
            except SSEParsingError as exc:
                url = self._response.url if self._response is not None else self._config.url
                await self.close()
                raise SSEParsingError(f"{exc} ({url})") from exc
        return pending.popleft()

    async def _next_chunk(self) -> bytes | None:
        """Return the next bytes of the stream, reconnecting when it ends; None when over."""
        while not self._closed:
            chunks = self._chunks
            cause: BaseException | None = None
            if chunks is not None:
                try:
                    return await anext(chunks)
                except StopAsyncIteration:
                    pass
                except _DROPPED as exc:
                    cause = exc
            # The stream ended or dropped, or a reconnection was cancelled: (re)connect.
            if not await self._reconnect(cause):
                return None
        return None

    async def _reconnect(self, cause: BaseException | None) -> bool:
        """Open the stream again after it ended (``cause`` None) or dropped.

        Returns:
            False when the stream is over: reconnection is off and the stream
            ended cleanly, or the server answered 204.
        """
        url = self._response.url if self._response is not None else self._config.url
        self._chunks = self._response = None  # the old body is finished or aborted
        self._parser.restart()
        if not self._config.reconnect:
            if cause is None:
                return False
            raise SSEConnectionError(f"event stream from {url} dropped: {cause}") from cause
        last_event_id = self.last_event_id
        try:
            validate_header_field("Last-Event-ID", last_event_id)
        except InvalidRequest as exc:
            raise SSEConnectionError(
                f"cannot reconnect to {url}: its last event ID {quote_text(last_event_id)}"
                " cannot be sent as a Last-Event-ID header"
            ) from exc
        response = await _establish(
            self._client, self._config, self.last_event_id, self.retry_delay, reconnecting=True
        )
        if response is None:
            return False
        self._response = response
        self._chunks = response.read_chunks()
        self._reconnects += 1
        return True

    async def close(self) -> None:
        """Stop the stream and close its connection; idempotent."""
        self._closed = True
        self._pending.clear()
        chunks, self._chunks = self._chunks, None
        response, self._response = self._response, None
        if chunks is not None:
            await chunks.aclose()  # type: ignore[attr-defined]
        if response is not None:
            await response.aclose()

    async def __aenter__(self) -> SSEConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# --- opening a stream ---------------------------------------------------------------


async def _establish(
    client: HTTPClient,
    config: RequestConfig,
    last_event_id: str,
    retry_delay: int,
    *,
    reconnecting: bool,
) -> HttpResponse | None:
    """Send the stream's request until a connection opens, and check the answer.

    The first connection is tried at once; a reconnection, and every retry
    after a failed attempt, waits ``retry_delay`` milliseconds first.

    Returns:
        The open stream's response, or None when a reconnection was answered
        with 204 No Content (WHATWG HTML §9.2.3: do not reconnect).

    Raises:
        SSEConnectionError: Any other answer than a 2xx event stream; or an
            attempt failed and reconnection is off, or the attempts ran out.
    """
    failures = 0
    wait = reconnecting
    while True:
        if wait:
            await asyncio.sleep(retry_delay / 1000)
        wait = True
        try:
            response = await _request_stream(client, config, last_event_id)
        except _DROPPED as exc:
            if isinstance(exc, InvalidRequest | TLSError):
                raise  # trying again cannot help: a bad URL or a bad certificate
            failures += 1
            limit = config.max_reconnect_attempts
            if not config.reconnect:
                raise SSEConnectionError(
                    f"could not connect to event stream {config.url}: {exc}"
                ) from exc
            if limit is not None and failures >= limit:
                raise SSEConnectionError(
                    f"gave up on event stream {config.url} after {failures} failed"
                    f" attempt(s) in a row (max_reconnect_attempts={limit}): {exc}"
                ) from exc
            continue
        if response.status_code == 204 and reconnecting:
            await response.aclose()
            return None
        await _check_stream(response)
        return response


async def _request_stream(
    client: HTTPClient, config: RequestConfig, last_event_id: str
) -> HttpResponse:
    """Send the stream's request once (without ``request_timeout``; see the module docstring)."""
    kwargs = dict(config.request_kwargs)
    timeouts = kwargs.get("timeouts") or client.connector.timeouts
    kwargs["timeouts"] = dataclasses.replace(timeouts, request_timeout=None)
    headers = _with_last_event_id(config.headers, last_event_id)
    return await client.request(
        config.url,
        config.method,
        headers,
        config.params,
        config.data,
        config.json,
        **kwargs,
    )


async def _check_stream(response: HttpResponse) -> None:
    """Raise SSEConnectionError (closing the response) unless it is a 2xx event stream."""
    status = response.status_code
    content_type = response.headers.get("content-type") or ""
    if not 200 <= status < 300 or status == 204:
        problem = f"answered {status} {response.reason}".rstrip()
        if status == 204:
            problem += " (no event stream to read)"
    elif content_type.split(";", 1)[0].strip().lower() != EVENT_STREAM_TYPE:
        problem = f"answered Content-Type {content_type!r}"
    else:
        return
    body = b""
    if response.is_consumed:  # a short body was read with the head
        body = await response.content()
    await response.aclose()
    detail = f" (body starts {body[:60]!r})" if body else ""
    raise SSEConnectionError(
        f"event stream {response.url} {problem}; expected 2xx with Content-Type"
        f" {EVENT_STREAM_TYPE}{detail}"
    )


def _find_header(headers: Mapping[str, str], name: str) -> str | None:
    """Return the value of header ``name`` in ``headers``, whatever its case."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _with_last_event_id(headers: dict[str, str], last_event_id: str) -> dict[str, str]:
    """Return ``headers`` with ``Last-Event-ID`` set to ``last_event_id`` (dropped if empty).

    WHATWG HTML §9.2.3: the header is sent only when the ID is not empty.
    """
    out = {k: v for k, v in headers.items() if k.lower() != "last-event-id"}
    if last_event_id:
        out["Last-Event-ID"] = last_event_id
    return out
