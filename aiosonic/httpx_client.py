"""A client with the API of ``httpx.AsyncClient``, so httpx code can switch to aiosonic.

Example::

    from aiosonic.httpx_client import AsyncClient

    async with AsyncClient(base_url="https://api.example.com", timeout=10.0) as client:
        response = await client.get("/users", params={"page": 1})
        response.raise_for_status()
        users = response.json()

:class:`AsyncClient` translates httpx's arguments (``content=``, ``data=``,
``files=``, ``json=``, ``cookies=``, a float ``timeout=``, ``follow_redirects=``)
into one call of :meth:`aiosonic.HTTPClient.request`, and :class:`Response`
gives the :class:`~aiosonic.response.HttpResponse` it returns httpx's surface:
a body read once and then used synchronously (``.content``, ``.text``,
``.json()``), and ``aiter_bytes``/``aiter_text``/``aiter_lines`` for
``client.stream()``.

What does not live here: sending, redirects, cookies and auth
(:mod:`aiosonic.client`), body encoding (:mod:`aiosonic.request`,
:mod:`aiosonic.multipart`). This module uses only the public API of those.
"""

from __future__ import annotations

import codecs
import inspect
import json as jsonlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from contextlib import aclosing, asynccontextmanager
from datetime import timedelta
from io import IOBase
from ssl import SSLContext
from typing import IO, Any, TypeAlias, cast
from urllib.parse import urlsplit

from aiosonic.auth import AuthType
from aiosonic.base_client import BaseClient
from aiosonic.client import HTTPClient, HttpHeaders, HttpResponse
from aiosonic.connectors import TCPConnector
from aiosonic.exceptions import (
    HTTPStatusError,
    InvalidRequest,
    ResponseNotRead,
    StreamConsumed,
)
from aiosonic.multipart import MultipartFile, MultipartForm, Part
from aiosonic.proxy import Proxy
from aiosonic.request import HeadersType
from aiosonic.timeout import Timeouts
from aiosonic.types import DataType, ParamsType

__all__ = [
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "USE_CLIENT_DEFAULT",
    "AsyncClient",
    "FileContent",
    "FileType",
    "FilesType",
    "Request",
    "Response",
    "TimeoutType",
    "UseClientDefault",
    "to_proxy",
    "to_timeouts",
]

#: Seconds, as httpx's default ``Timeout(5.0)``.
DEFAULT_TIMEOUT = 5.0
#: As httpx's default.
DEFAULT_MAX_REDIRECTS = 20

#: A number of seconds (see :func:`to_timeouts`), ``None`` for no limits, or Timeouts.
TimeoutType: TypeAlias = float | Timeouts | None
#: The data of one file of ``files=``.
FileContent: TypeAlias = bytes | str | IOBase | IO[bytes]
#: One file: its data, or ``(filename, data)`` or ``(filename, data, content_type)``.
FileType: TypeAlias = (
    FileContent | tuple[str | None, FileContent] | tuple[str | None, FileContent, str | None]
)
#: ``files=``: ``{field: file}`` or ``(field, file)`` pairs (to repeat a field).
FilesType: TypeAlias = Mapping[str, FileType] | Iterable[tuple[str, FileType]]
#: ``cookies=``: name to value.
CookiesType: TypeAlias = Mapping[str, str]
#: ``event_hooks=``: ``{"request": [...], "response": [...]}``, sync or async callables.
EventHooks: TypeAlias = Mapping[str, Iterable[Callable[[Any], Any]]]

#: Filename httpx sends for a file given as bytes or str, or an object without a name.
_DEFAULT_FILENAME = "upload"
#: What a non-2xx status is called in the raise_for_status() message, by class.
_STATUS_KINDS = {1: "informational", 3: "redirect", 4: "client error", 5: "server error"}


class UseClientDefault:
    """Type of :data:`USE_CLIENT_DEFAULT`: "not given, use the client's setting"."""

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


#: Default of per-request ``auth``, ``follow_redirects`` and ``timeout``, so
#: ``None`` can mean "none" rather than "the client's".
USE_CLIENT_DEFAULT = UseClientDefault()


def to_timeouts(timeout: TimeoutType) -> Timeouts:
    """Turn an httpx-style ``timeout`` into :class:`~aiosonic.timeout.Timeouts`.

    httpx applies a number to each of connect, read, write and pool. aiosonic
    has no separate write deadline, so the number goes to ``sock_connect``,
    ``sock_read`` and ``pool_acquire``; ``request_timeout`` (a limit on the
    whole request, which httpx does not have) is off.

    Args:
        timeout: Seconds, ``None`` to disable every limit, or a Timeouts used as is.

    Returns:
        The Timeouts to send with.
    """
    if isinstance(timeout, Timeouts):
        return timeout
    return Timeouts(
        sock_connect=timeout, sock_read=timeout, pool_acquire=timeout, request_timeout=None
    )


def to_proxy(proxy: str | Proxy) -> Proxy:
    """Turn an httpx-style proxy URL (credentials as ``user:password@``) into a Proxy.

    Raises:
        InvalidRequest: The URL is not a supported proxy URL.
    """
    return proxy if isinstance(proxy, Proxy) else Proxy(proxy)


class _MergedHeaders(HttpHeaders):
    """Headers already merged with the client's and seen by the request hooks.

    :meth:`AsyncClient.process_request` sends them as they are: merging again
    would bring back a default header a hook removed.
    """


class Request:
    """The request that produced a :class:`Response`; request hooks get it before it is sent.

    Args:
        method: The HTTP method, upper case.
        url: The URL, ``base_url`` joined, query not yet added.
        headers: The headers to send; a request hook may change them.
    """

    def __init__(self, method: str, url: str, headers: HeadersType = None) -> None:
        self.method = method
        self.url = url
        self.headers = headers if isinstance(headers, HttpHeaders) else HttpHeaders(headers or {})

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {self.url!r})>"


def _charset(content_type: str) -> str | None:
    """Return the codec named by the ``charset`` parameter of a Content-Type, if known."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip("\"'")).name
            except LookupError:
                return None
    return None


def _parse_links(header: str) -> dict[str, dict[str, str]]:
    """Parse a ``Link`` header (RFC 8288 §3) into ``{rel or url: {"url": ..., params}}``."""
    links: dict[str, dict[str, str]] = {}
    for entry in header.split(","):
        target, *params = entry.split(";")
        url = target.strip().strip("<>")
        if not url:
            continue
        link = {"url": url}
        for param in params:
            key, _, value = param.partition("=")
            link[key.strip().lower()] = value.strip().strip("\"'")
        links[link.get("rel") or url] = link
    return links


class Response:
    """A response with the API of ``httpx.Response``.

    :meth:`AsyncClient.request` returns it read: ``content``, ``text`` and
    ``json()`` work at once. :meth:`AsyncClient.stream` gives it unread: call
    :meth:`aread`, or iterate it with an ``aiter_*`` method (once).

    Args:
        response: The aiosonic response to wrap.
        request: The request that produced it; default: one built from the
            response's method and URL.
        started: ``time.perf_counter()`` when the request was sent, for
            :attr:`elapsed`; default: now.
    """

    def __init__(
        self,
        response: HttpResponse,
        request: Request | None = None,
        started: float | None = None,
    ) -> None:
        self._response = response
        self._request = request or Request(response.request_method, response.url)
        self._started = time.perf_counter() if started is None else started
        self._elapsed = timedelta(seconds=time.perf_counter() - self._started)
        self._content: bytes | None = None
        self._stream_consumed = False

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"

    # --- metadata -----------------------------------------------------------

    @property
    def status_code(self) -> int:
        """The three-digit status."""
        return self._response.status_code

    @property
    def reason_phrase(self) -> str:
        """The reason phrase (may be empty)."""
        return self._response.reason

    @property
    def http_version(self) -> str:
        """``"HTTP/1.1"``, ``"HTTP/1.0"`` or ``"HTTP/2"``."""
        return f"HTTP/{self._response.http_version}"

    @property
    def headers(self) -> HttpHeaders:
        """Case-insensitive, multi-valued headers."""
        return self._response.headers

    @property
    def url(self) -> str:
        """The URL that produced this response (after redirects)."""
        return self._response.url

    @property
    def request(self) -> Request:
        """The request that was sent."""
        return self._request

    @property
    def history(self) -> list[Response]:
        """Responses of the redirects that led here, oldest first (bodies not kept)."""
        return [Response(hop) for hop in self._response.history]

    @property
    def elapsed(self) -> timedelta:
        """Time from sending the request until the body was read (or the head, if unread)."""
        return self._elapsed

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies set by this response, name to value."""
        return {name: morsel.value for name, morsel in self._response.cookies.items()}

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header, by ``rel`` (else URL): ``{"url": ..., "rel": ..., ...}``."""
        header = self.headers.get("link")
        return _parse_links(header) if header else {}

    @property
    def encoding(self) -> str:
        """The charset of the Content-Type, else ``utf-8`` (httpx's default)."""
        return _charset(self.headers.get("content-type", "")) or "utf-8"

    @property
    def is_informational(self) -> bool:
        """Whether the status is 1xx."""
        return 100 <= self.status_code < 200

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        """Whether the status is a redirect with a ``Location``."""
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def is_client_error(self) -> bool:
        """Whether the status is 4xx."""
        return 400 <= self.status_code < 500

    @property
    def is_server_error(self) -> bool:
        """Whether the status is 5xx."""
        return 500 <= self.status_code < 600

    @property
    def is_error(self) -> bool:
        """Whether the status is 4xx or 5xx."""
        return 400 <= self.status_code < 600

    @property
    def is_stream_consumed(self) -> bool:
        """Whether the body was taken by :meth:`aread` or an ``aiter_*`` method."""
        return self._stream_consumed

    def raise_for_status(self) -> Response:
        """Return ``self`` for a 2xx status, else raise (as httpx, 1xx and 3xx too).

        Raises:
            HTTPStatusError: The status is not 2xx; ``.response`` is this response.
        """
        if self.is_success:
            return self
        kind = _STATUS_KINDS.get(self.status_code // 100, "invalid status")
        raise HTTPStatusError(
            f"{kind} '{self.status_code} {self.reason_phrase}' for url '{self.url}'", self
        )

    # --- body ---------------------------------------------------------------

    @property
    def content(self) -> bytes:
        """The decoded body.

        Raises:
            ResponseNotRead: The body of a streamed response was not read yet.
        """
        if self._content is None:
            raise ResponseNotRead(
                f"the body of {self.url} was not read: call 'await response.aread()' "
                "before using .content, .text or .json()"
            )
        return self._content

    @property
    def text(self) -> str:
        """The body decoded with :attr:`encoding`; bad bytes become U+FFFD."""
        return self.content.decode(self.encoding, "replace")

    def json(self, **kwargs: Any) -> Any:
        """Parse the body as JSON.

        Args:
            **kwargs: Passed to :func:`json.loads`.
        """
        return jsonlib.loads(self.content, **kwargs)

    def _take_stream(self) -> None:
        if self._stream_consumed:
            raise StreamConsumed(
                f"the body of {self.url} was already streamed; it can be iterated only once"
            )
        self._stream_consumed = True

    async def aread(self) -> bytes:
        """Read the whole body (once) and return it.

        Raises:
            StreamConsumed: An ``aiter_*`` method took the body before.
        """
        if self._content is None:
            self._take_stream()
            self._content = await self._response.content()
            self._elapsed = timedelta(seconds=time.perf_counter() - self._started)
        return self._content

    async def aiter_bytes(self) -> AsyncGenerator[bytes, None]:
        """Yield the decoded body in pieces as they arrive (the whole body, if read).

        Raises:
            StreamConsumed: The body was streamed before.
        """
        if self._content is not None:
            if self._content:
                yield self._content
            return
        self._take_stream()
        # read_chunks() is an async generator, annotated as the iterator it promises.
        body = cast(AsyncGenerator[bytes, None], self._response.read_chunks())
        async with aclosing(body) as chunks:
            async for chunk in chunks:
                yield chunk

    async def aiter_raw(self) -> AsyncGenerator[bytes, None]:
        """Yield the body in pieces; here the same as :meth:`aiter_bytes` (decoded)."""
        async with aclosing(self.aiter_bytes()) as chunks:
            async for chunk in chunks:
                yield chunk

    async def aiter_text(self) -> AsyncGenerator[str, None]:
        """Yield the body decoded with :attr:`encoding`, multi-byte characters kept whole."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        async with aclosing(self.aiter_bytes()) as chunks:
            async for chunk in chunks:
                text = decoder.decode(chunk)
                if text:
                    yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def aiter_lines(self) -> AsyncGenerator[str, None]:
        """Yield the text line by line, without terminators (those of :meth:`str.splitlines`)."""
        pending = ""
        async with aclosing(self.aiter_text()) as texts:
            async for text in texts:
                lines = (pending + text).splitlines(keepends=True)
                # The last piece may be a line still arriving (or a \r before its \n).
                pending = lines.pop() if lines and not lines[-1].endswith("\n") else ""
                for line in lines:
                    yield line.splitlines()[0]  # without its one terminator
        for line in pending.splitlines():
            yield line

    async def aclose(self) -> None:
        """Free the connection; an unread body is dropped with it."""
        await self._response.aclose()


def _field_text(value: Any) -> str:
    """Write a form value as httpx does: ``true``/``false``, ``""`` for None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _file_part(field: str, file: FileType | MultipartFile) -> Part:
    """Build the multipart part of one ``files=`` entry."""
    if isinstance(file, MultipartFile):
        return file.to_part(field)
    filename: str | None = None
    mime: str | None = None
    if isinstance(file, tuple):
        filename, data, *rest = file
        mime = rest[0] if rest else None
    else:
        data = file
    if filename is None:
        name = getattr(data, "name", None)
        filename = os.path.basename(name) if isinstance(name, str) else _DEFAULT_FILENAME
    return Part(field, data, filename=filename, mime=mime)


def _build_body(content: DataType, data: Any, files: FilesType | None) -> DataType | MultipartForm:
    """Turn httpx's ``content=``, ``data=`` and ``files=`` into one aiosonic ``data=``.

    With ``files``, ``data`` fields and the files go in one multipart form;
    else ``content`` is the raw body, and ``data`` a form (urlencoded).

    Raises:
        InvalidRequest: A file or field that cannot go in a multipart form.
    """
    if files:
        if data is not None and not isinstance(data, Mapping | list | tuple):
            raise InvalidRequest(
                f"data= goes with files= as form fields (a mapping or pairs), "
                f"not {type(data).__name__}; send raw bytes with content= instead"
            )
        form = MultipartForm()
        fields = data.items() if isinstance(data, Mapping) else (data or ())
        for name, value in fields:
            values = value if isinstance(value, list | tuple) else [value]
            for item in values:
                form.add_field(name, _field_text(item))
        entries = files.items() if isinstance(files, Mapping) else files
        for field, file in entries:
            form.add_part(_file_part(field, file))
        return form
    return content if content is not None else data


async def _run_hooks(hooks: Iterable[Callable[[Any], Any]], value: Any) -> None:
    for hook in hooks:
        result = hook(value)
        if inspect.isawaitable(result):
            await result


class AsyncClient(BaseClient):
    """A client with the API of ``httpx.AsyncClient``.

    Requests return a read :class:`Response`; :meth:`stream` gives an unread
    one. Cookies the server sets are kept between requests (the
    :class:`HTTPClient` it builds has ``handle_cookies=True``).

    Args:
        auth: Auth for every request (:mod:`aiosonic.auth`); ``(user, password)`` is Basic.
        params: Query parameters added to every request; a request's own win by name.
        headers: Headers added to every request; a request's own win by name.
        cookies: Cookies sent to every host, name to value; a request's
            ``cookies=`` win by name, and both win over stored cookies.
        verify: Verify TLS certificates, or the :class:`ssl.SSLContext` to use.
        http2: Negotiate HTTP/2 for ``https``.
        timeout: Seconds (see :func:`to_timeouts`), ``None`` for no limit, or Timeouts.
        follow_redirects: Follow redirects.
        max_redirects: Redirects followed before :class:`MaxRedirects` is raised.
        event_hooks: ``{"request": [...], "response": [...]}``: sync or async
            callables, given the :class:`Request` before it is sent (they may
            change its headers) and the :class:`Response` before its body is read.
        base_url: Prefix of every URL that is not absolute.
        proxy: Proxy URL (``http://user:pw@host:3128``) or Proxy, for every request.
        trust_env: Use the ``*_PROXY`` variables and ``.netrc`` (off by
            default, unlike httpx).
        http_client: The :class:`HTTPClient` to send with, shared and not
            closed by :meth:`aclose`; its own ``handle_cookies`` then decides
            whether cookies are kept. Not with ``trust_env``.

    Raises:
        InvalidRequest: ``trust_env`` with ``http_client``, or a bad proxy URL.
    """

    def __init__(
        self,
        *,
        auth: AuthType = None,
        params: ParamsType = None,
        headers: HeadersType = None,
        cookies: CookiesType | None = None,
        verify: bool | SSLContext = True,
        http2: bool = False,
        timeout: TimeoutType = DEFAULT_TIMEOUT,
        follow_redirects: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        event_hooks: EventHooks | None = None,
        base_url: str = "",
        proxy: str | Proxy | None = None,
        trust_env: bool = False,
        http_client: HTTPClient | None = None,
    ) -> None:
        if http_client is not None and trust_env:
            raise InvalidRequest(
                "AsyncClient(trust_env=True) cannot apply to a given http_client: "
                "create it with HTTPClient(trust_env=True) instead"
            )
        owned = http_client is None
        if http_client is None:
            http_client = HTTPClient(
                connector=TCPConnector(timeouts=to_timeouts(timeout)),
                handle_cookies=True,
                trust_env=trust_env,
            )
        super().__init__(http_client)
        self._owns_client = owned
        self._base_url = base_url
        self._headers = HttpHeaders(headers or {})
        self._params = params
        self.cookies: dict[str, str] = dict(cookies or {})
        self.auth = auth
        self.timeout = timeout
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.http2 = http2
        self.proxy = to_proxy(proxy) if proxy is not None else None
        self.event_hooks = {
            "request": list((event_hooks or {}).get("request", ())),
            "response": list((event_hooks or {}).get("response", ())),
        }
        self._verify = verify if isinstance(verify, bool) else True
        self._ssl = verify if isinstance(verify, SSLContext) else None
        self._closed = False

    def __repr__(self) -> str:
        return f"<AsyncClient base_url={self.base_url!r} closed={self._closed}>"

    # BaseClient reads these three as class attributes; here they are per client.
    @property
    def base_url(self) -> str:
        """Prefix of every URL that is not absolute."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value

    @property
    def default_headers(self) -> Mapping[str, str]:
        """Headers sent with every request: :attr:`headers`."""
        return self._headers

    @default_headers.setter
    def default_headers(self, value: Mapping[str, str]) -> None:
        self._headers = HttpHeaders(value)

    @property
    def default_params(self) -> ParamsType:
        """Query parameters sent with every request: :attr:`params`."""
        return self._params

    @default_params.setter
    def default_params(self, value: ParamsType) -> None:
        self._params = value

    @property
    def headers(self) -> HttpHeaders:
        """The default headers (httpx's name); mutable, or set a new mapping."""
        return self._headers

    @headers.setter
    def headers(self, value: HeadersType) -> None:
        self._headers = HttpHeaders(value or {})

    @property
    def params(self) -> ParamsType:
        """The default query parameters (httpx's name)."""
        return self._params

    @params.setter
    def params(self, value: ParamsType) -> None:
        self._params = value

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` ran."""
        return self._closed

    async def aclose(self) -> None:
        """Close the connections, unless ``http_client`` was given; idempotent."""
        await self.close()

    async def close(self) -> None:
        """Do as :meth:`aclose` (the :class:`BaseClient` name, used by ``async with``)."""
        if not self._closed:
            self._closed = True
            await super().close()

    async def __aenter__(self) -> AsyncClient:
        return self

    # --- sending --------------------------------------------------------------

    def _cookie_header(self, url: str, cookies: CookiesType | None) -> str | None:
        """Return the Cookie header for explicit cookies, merged with the stored ones."""
        explicit = {**self.cookies, **(cookies or {})}
        if not explicit:
            return None  # the HTTPClient sends its stored cookies itself
        jar = self.client.cookie_jar
        merged: dict[str, str] = {}
        if jar is not None:
            parts = urlsplit(url)
            stored = jar.header_for(parts.scheme, parts.hostname or "", parts.path or "/")
            for pair in (stored or "").split("; "):
                name, sep, value = pair.partition("=")
                if sep:
                    merged[name] = value
        merged.update(explicit)
        return "; ".join(f"{name}={value}" for name, value in merged.items())

    async def process_request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        """Send through :meth:`aiosonic.HTTPClient.request` with the defaults merged.

        Args:
            method: The HTTP method, any case.
            url: An absolute URL, or a path joined to ``base_url``.
            **kwargs: Passed on to :meth:`HTTPClient.request`; ``headers`` and
                ``params`` are merged with the client's first.

        Returns:
            The aiosonic response.
        """
        headers = kwargs.pop("headers", None)
        if not isinstance(headers, _MergedHeaders):
            headers = self.merge_headers(headers)
        return await self.client.request(
            self.process_request_url(url),
            method.upper(),
            headers=headers,
            params=self.merge_params(kwargs.pop("params", None)),
            **kwargs,
        )

    async def _send(
        self, method: str, url: str, body: DataType | MultipartForm, options: dict[str, Any]
    ) -> Response:
        """Send one request: hooks, :meth:`process_request`, redirect count, response hooks."""
        full_url = self.process_request_url(url)
        headers = _MergedHeaders(self.merge_headers(options.pop("headers")))
        cookie = self._cookie_header(full_url, options.pop("cookies"))
        if cookie is not None and "cookie" not in headers:
            headers["Cookie"] = cookie
        request = Request(method.upper(), full_url, headers)
        await _run_hooks(self.event_hooks["request"], request)
        follow = options.pop("follow_redirects")
        timeout = options.pop("timeout")
        auth = options.pop("auth")
        started = time.perf_counter()
        raw = await self.process_request(
            request.method,
            full_url,
            headers=request.headers,
            params=options.pop("params"),
            data=body,
            json=options.pop("json"),
            verify=self._verify,
            ssl=self._ssl,
            timeouts=to_timeouts(self.timeout if timeout is USE_CLIENT_DEFAULT else timeout),
            follow=self.follow_redirects if follow is USE_CLIENT_DEFAULT else follow,
            http2=self.http2,
            proxy=self.proxy,
            auth=self.auth if auth is USE_CLIENT_DEFAULT else auth,
            max_redirects=self.max_redirects,
        )
        response = Response(raw, request, started)
        try:
            await _run_hooks(self.event_hooks["response"], response)
        except BaseException:
            await response.aclose()
            raise
        return response

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        *,
        content: DataType = None,
        data: Any = None,
        files: FilesType | None = None,
        json: Any = None,
        params: ParamsType = None,
        headers: HeadersType = None,
        cookies: CookiesType | None = None,
        auth: AuthType | UseClientDefault = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        timeout: TimeoutType | UseClientDefault = USE_CLIENT_DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """Send a request and read its body.

        Args:
            method: The HTTP method, any case.
            url: An absolute URL, or a path joined to ``base_url``.
            content: The raw body: bytes, str, or an (async) iterator of bytes (sent chunked).
            data: Form fields, urlencoded; with ``files``, multipart fields.
            files: Files sent as multipart/form-data, by field: bytes, str, a
                binary file object (read, not closed), or ``(filename, data)``
                or ``(filename, data, content_type)``.
            json: A value sent as JSON.
            params: Query parameters, over the client's.
            headers: Headers, over the client's.
            cookies: Cookies, over the client's (see :class:`AsyncClient`).
            auth: Auth for this request; ``None`` for none.
            follow_redirects: Follow redirects for this request.
            timeout: Timeout for this request (see :func:`to_timeouts`).

        Returns:
            The response, its body read; what :meth:`process_response` returns.

        Raises:
            MaxRedirects: More than ``max_redirects`` redirects.
            aiosonic.exceptions.AiosonicError: See the exception tree.
        """
        response = await self._send(
            method,
            url,
            _build_body(content, data, files),
            {
                "json": json,
                "params": params,
                "headers": headers,
                "cookies": cookies,
                "auth": auth,
                "follow_redirects": follow_redirects,
                "timeout": timeout,
            },
        )
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        result: Response = await self.process_response(response)
        return result

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        content: DataType = None,
        data: Any = None,
        files: FilesType | None = None,
        json: Any = None,
        params: ParamsType = None,
        headers: HeadersType = None,
        cookies: CookiesType | None = None,
        auth: AuthType | UseClientDefault = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        timeout: TimeoutType | UseClientDefault = USE_CLIENT_DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> AsyncIterator[Response]:
        """Send a request and give its response unread, for ``async with``.

        Read it with :meth:`Response.aread` or an ``aiter_*`` method; leaving
        the block frees the connection, read or not. Arguments as :meth:`request`.
        """
        response = await self._send(
            method,
            url,
            _build_body(content, data, files),
            {
                "json": json,
                "params": params,
                "headers": headers,
                "cookies": cookies,
                "auth": auth,
                "follow_redirects": follow_redirects,
                "timeout": timeout,
            },
        )
        try:
            yield response
        finally:
            await response.aclose()
