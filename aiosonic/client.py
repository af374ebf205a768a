"""HTTPClient: the public entry point; the whole-request deadline, redirects, cookies.

``request()`` parses the URL, builds a :class:`~aiosonic.request.Request`, and
sends it under the ``request_timeout`` scope. Sending one request is
:meth:`HTTPClient.send`; following redirects is a loop around it, not a
branch inside it. Connections come from the :class:`TCPConnector`; the client
never touches sockets.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl as ssllib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiosonic.connectors import TCPConnector
from aiosonic.cookies import CookieJar
from aiosonic.exceptions import MaxRedirects, NetworkError, RequestTimeout
from aiosonic.headers import HttpHeaders
from aiosonic.protocols.h11_request import build_request_head
from aiosonic.proxy import Proxy
from aiosonic.redirects import MAX_REDIRECTS, is_redirect, next_request
from aiosonic.request import BodyType, HeadersType, Request, build_request
from aiosonic.response import HttpResponse, Timings
from aiosonic.timeout import Timeouts, deadline
from aiosonic.urls import ParamsType, ParsedURL, PoolKey, parse_url

__all__ = ["HTTPClient", "HttpHeaders", "HttpResponse"]

#: Bodies up to this size are read inside request() so the connection is
#: released at once; larger or unknown-length bodies are streamed on demand.
PRELOAD_LIMIT = 1024 * 1024
#: Methods that may be re-sent after a failure once bytes were written
#: (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Parsed URLs kept per client; URLs repeat in real workloads.
URL_CACHE_SIZE = 512


class HTTPClient:
    """An asyncio HTTP client.

    Args:
        connector: Connection strategy; a default :class:`TCPConnector` if None.
        handle_cookies: Keep cookies from responses and send them back.
        verify_ssl: Verify TLS certificates (per-request ``verify`` can only
            turn it off).
        proxy: Proxy for every request (see :mod:`aiosonic.proxy`).
    """

    def __init__(
        self,
        connector: TCPConnector | None = None,
        handle_cookies: bool = False,
        verify_ssl: bool = True,
        proxy: Proxy | None = None,
    ) -> None:
        self.connector = connector or TCPConnector()
        self.handle_cookies = handle_cookies
        self.cookie_jar = CookieJar() if handle_cookies else None
        self.verify_ssl = verify_ssl
        self.proxy = proxy
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._url_cache: dict[str, ParsedURL] = {}
        self._simple_requests: dict[tuple[str, str], Request] = {}

    def __repr__(self) -> str:
        return f"<HTTPClient [active={self._active}, connector={self.connector!r}]>"

    async def __aenter__(self) -> HTTPClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connector and every connection; idempotent."""
        await self.connector.cleanup()

    # --- the request --------------------------------------------------------

    def _parse(self, url: str, params: ParamsType) -> ParsedURL:
        if params:
            return parse_url(url, params)
        cached = self._url_cache.get(url)
        if cached is None:
            cached = parse_url(url)
            if len(self._url_cache) >= URL_CACHE_SIZE:
                self._url_cache.clear()
            self._url_cache[url] = cached
        return cached

    async def request(
        self,
        url: str,
        method: str = "GET",
        headers: HeadersType = None,
        params: ParamsType = None,
        data: BodyType = None,
        json: Any = None,
        json_serializer: Callable[[Any], str | bytes] = jsonlib.dumps,
        multipart: bool = False,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a request and return its response.

        Args:
            url: Absolute ``http``/``https`` URL.
            method: HTTP method, any case.
            headers: Dict, list of pairs, or HttpHeaders; override defaults.
            params: Query parameters merged with the URL's query.
            data: Body: bytes, str, form dict/tuple, (async) iterator of
                bytes (sent chunked), or MultipartForm.
            json: Value sent as JSON.
            json_serializer: Serialiser for ``json``.
            multipart: Encode a dict ``data`` as multipart/form-data.
            verify: Verify the TLS certificate.
            ssl: A custom SSL context.
            timeouts: Deadlines for this request; default: the connector's.
            follow: Follow redirects.
            http2: Accepted for compatibility; HTTP/2 is not negotiated yet.

        Returns:
            The response; small bodies are already read.

        Raises:
            RequestTimeout: ``request_timeout`` ran out.
            aiosonic.exceptions.AiosonicError: See the exception tree.
        """
        timeouts = timeouts or self.connector.timeouts
        simple = (
            headers is None
            and data is None
            and json is None
            and not params
            and self.cookie_jar is None
        )
        request = self._simple_requests.get((method, url)) if simple else None
        if request is None:
            parsed = self._parse(url, params)
            request = build_request(
                method,
                parsed,
                headers,
                data,
                json,
                json_serializer,
                multipart,
                extra_headers=self._cookie_headers(parsed, headers),
            )
            if simple:
                # A body-less request with default headers is the same every
                # time: keep it, and its serialised head, for reuse.
                if len(self._simple_requests) >= URL_CACHE_SIZE:
                    self._simple_requests.clear()
                self._simple_requests[(method, url)] = request
        parsed = request.url
        self._active += 1
        self._idle.clear()
        try:
            async with deadline(
                timeouts.request_timeout,
                lambda: RequestTimeout(
                    f"request not complete within request_timeout="
                    f"{timeouts.request_timeout}s ({parsed.url})"
                ),
            ):
                return await self._send_following(
                    request, verify and self.verify_ssl, ssl, timeouts, follow
                )
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    def _cookie_headers(self, url: ParsedURL, headers: HeadersType) -> list[tuple[str, str]] | None:
        jar = self.cookie_jar
        if jar is None:
            return None
        value = jar.header_for(url.scheme, url.host, url.split.path or "/")
        return [("Cookie", value)] if value else None

    async def _send_following(
        self,
        request: Request,
        verify: bool,
        ssl: ssllib.SSLContext | None,
        timeouts: Timeouts,
        follow: bool,
    ) -> HttpResponse:
        history: list[HttpResponse] = []
        # A Cookie header the caller set (rather than the jar) is kept on
        # same-origin hops like any other header; next_request drops it otherwise.
        sent_cookie = request.header("Cookie")
        caller_cookie = (
            self.cookie_jar is not None
            and sent_cookie is not None
            and self._cookie_headers(request.url, None) != [("Cookie", sent_cookie)]
        )
        while True:
            response = await self.send(request, verify, ssl, timeouts)
            location = response._raw_header(b"location") if follow else None
            if not (follow and location and is_redirect(response.status_code, location)):
                response.history = history
                return response
            if len(history) >= MAX_REDIRECTS:
                await response.aclose()
                raise MaxRedirects(
                    f"more than {MAX_REDIRECTS} redirects, last to {location!r} from {response.url}"
                )
            # Drain the redirect's body (bounded) so its connection is reused.
            if response._head.content_length is not None and (
                response._head.content_length <= PRELOAD_LIMIT
            ):
                await response.content()
            else:
                await response.aclose()
            history.append(response)
            request = next_request(request, response.status_code, location)
            if self.cookie_jar is not None and not (caller_cookie and request.header("Cookie")):
                request.headers = [p for p in request.headers if p[0].lower() != "cookie"]
                request.headers.extend(self._cookie_headers(request.url, None) or [])

    async def send(
        self,
        request: Request,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
    ) -> HttpResponse:
        """Send one prepared request (no redirects) and return the response.

        A pooled connection that turns out to be dead is replaced once,
        transparently, when nothing was written or the method is idempotent.
        """
        timeouts = timeouts or self.connector.timeouts
        url = request.url
        connector = self.connector
        head = request.serialized
        if head is None:
            head = request.serialized = build_request_head(
                request.method, url.target, request.headers
            )
        key = PoolKey(
            url.scheme,
            url.host,
            url.port,
            verify,
            ssl if url.is_secure else None,
            None,
        )
        method = request.method.encode()
        for attempt in (0, 1):
            started = time.perf_counter()
            conn = await connector.acquire(url, key, timeouts)
            acquired = time.perf_counter()
            try:
                response_head = await conn.send_request(
                    head, request.body, method, url.url, timeouts.sock_read, request.chunked
                )
            except NetworkError as exc:
                conn.close()
                connector.release(conn)
                if attempt == 0 and _may_retry(exc, request):
                    continue
                raise
            except BaseException:
                conn.close()
                connector.release(conn)
                raise
            head_at = time.perf_counter()
            response = HttpResponse(response_head, url.url, request.method, conn, connector)
            dns, connect = conn.connect_timings if not conn.reused else (0.0, 0.0)
            response.timings = Timings(
                pool_acquire=acquired - started - dns - connect,
                dns=dns,
                connect=connect,
                reused_connection=conn.reused,
                wait_head=head_at - acquired,
            )
            length = response_head.content_length
            if not response_head.has_body or (length is not None and length <= PRELOAD_LIMIT):
                await response._preload()
                response.timings.body = time.perf_counter() - head_at
            if self.cookie_jar is not None:
                self._store_cookies(url, response)
            return response
        raise AssertionError("unreachable: the retry loop always returns or raises")

    def _store_cookies(self, url: ParsedURL, response: HttpResponse) -> None:
        assert self.cookie_jar is not None
        values = [
            v.decode("latin-1") for n, v in response.raw_headers if n.lower() == b"set-cookie"
        ]
        if values:
            self.cookie_jar.update_from_response(
                url.scheme, url.host, url.split.path or "/", values
            )

    # --- shutdown -----------------------------------------------------------

    async def wait_requests(self, timeout: float = 30) -> bool:  # noqa: ASYNC109
        """Wait until no request is running and every connection is released.

        Args:
            timeout: Seconds to wait at most.

        Returns:
            True when everything finished, False when ``timeout`` ran out.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self._idle.wait()
                    await self.connector.wait_free_pool()
                    if not self._active and self.connector.is_all_free():
                        return True
        except TimeoutError:
            return False

    # --- verbs --------------------------------------------------------------

    async def get(
        self,
        url: str,
        headers: HeadersType = None,
        params: ParamsType = None,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a GET request."""
        return await self.request(
            url,
            "GET",
            headers,
            params,
            verify=verify,
            ssl=ssl,
            timeouts=timeouts,
            follow=follow,
            http2=http2,
        )

    async def head(
        self,
        url: str,
        headers: HeadersType = None,
        params: ParamsType = None,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a HEAD request."""
        return await self.request(
            url,
            "HEAD",
            headers,
            params,
            verify=verify,
            ssl=ssl,
            timeouts=timeouts,
            follow=follow,
            http2=http2,
        )

    async def options(
        self,
        url: str,
        headers: HeadersType = None,
        params: ParamsType = None,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send an OPTIONS request."""
        return await self.request(
            url,
            "OPTIONS",
            headers,
            params,
            verify=verify,
            ssl=ssl,
            timeouts=timeouts,
            follow=follow,
            http2=http2,
        )

    async def _with_body(
        self,
        method: str,
        url: str,
        data: BodyType,
        headers: HeadersType,
        json: Any,
        params: ParamsType,
        json_serializer: Callable[[Any], str | bytes],
        multipart: bool,
        verify: bool,
        ssl: ssllib.SSLContext | None,
        timeouts: Timeouts | None,
        follow: bool,
        http2: bool,
    ) -> HttpResponse:
        return await self.request(
            url,
            method,
            headers,
            params,
            data,
            json,
            json_serializer,
            multipart,
            verify,
            ssl,
            timeouts,
            follow,
            http2,
        )

    async def post(
        self,
        url: str,
        data: BodyType = None,
        headers: HeadersType = None,
        json: Any = None,
        params: ParamsType = None,
        json_serializer: Callable[[Any], str | bytes] = jsonlib.dumps,
        multipart: bool = False,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a POST request."""
        return await self._with_body(
            "POST",
            url,
            data,
            headers,
            json,
            params,
            json_serializer,
            multipart,
            verify,
            ssl,
            timeouts,
            follow,
            http2,
        )

    async def put(
        self,
        url: str,
        data: BodyType = None,
        headers: HeadersType = None,
        json: Any = None,
        params: ParamsType = None,
        json_serializer: Callable[[Any], str | bytes] = jsonlib.dumps,
        multipart: bool = False,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a PUT request."""
        return await self._with_body(
            "PUT",
            url,
            data,
            headers,
            json,
            params,
            json_serializer,
            multipart,
            verify,
            ssl,
            timeouts,
            follow,
            http2,
        )

    async def patch(
        self,
        url: str,
        data: BodyType = None,
        headers: HeadersType = None,
        json: Any = None,
        params: ParamsType = None,
        json_serializer: Callable[[Any], str | bytes] = jsonlib.dumps,
        multipart: bool = False,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a PATCH request."""
        return await self._with_body(
            "PATCH",
            url,
            data,
            headers,
            json,
            params,
            json_serializer,
            multipart,
            verify,
            ssl,
            timeouts,
            follow,
            http2,
        )

    async def delete(
        self,
        url: str,
        data: BodyType = b"",
        headers: HeadersType = None,
        json: Any = None,
        params: ParamsType = None,
        json_serializer: Callable[[Any], str | bytes] = jsonlib.dumps,
        multipart: bool = False,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool = False,
        http2: bool = False,
    ) -> HttpResponse:
        """Send a DELETE request."""
        return await self._with_body(
            "DELETE",
            url,
            data or None,
            headers,
            json,
            params,
            json_serializer,
            multipart,
            verify,
            ssl,
            timeouts,
            follow,
            http2,
        )


def _may_retry(exc: NetworkError, request: Request) -> bool:
    """Whether a failed attempt on a pooled connection may be re-sent once."""
    if not exc.reused_connection:
        return False
    if not exc.request_sent:
        return True
    return request.method in IDEMPOTENT_METHODS and request.replayable
