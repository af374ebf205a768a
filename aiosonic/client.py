"""HTTPClient: the public entry point; the whole-request deadline, redirects, auth, cookies.

``request()`` parses the URL, builds a :class:`~aiosonic.request.Request`,
resolves its options once into a :class:`~aiosonic.request.SendOptions`, and
sends it under the ``request_timeout`` scope. Each layer of sending wraps the
one below, none branches inside it: redirects are a loop around one hop, an
auth flow (:func:`aiosonic.auth.send_with_auth`) runs per hop inside that
loop, and a hop (hooks, the environment's proxy, cookies) wraps
:func:`aiosonic.retry.send_with_retry` around :meth:`TCPConnector.send`,
which does the exchange and returns the response. The client knows no
lease, driver or wire format, and never touches sockets.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl as ssllib
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from inspect import isawaitable
from types import TracebackType
from typing import Any

from aiosonic._published import PublishedClientAttributes
from aiosonic.auth import (
    AuthBase,
    AuthsType,
    AuthType,
    BasicAuth,
    NetrcAuth,
    as_auth,
    auth_for_host,
    normalize_auths,
    send_with_auth,
)
from aiosonic.connectors import PRELOAD_LIMIT, TCPConnector
from aiosonic.cookies import CookieJar
from aiosonic.exceptions import InvalidRequest, MaxRedirects, NetworkError, RequestTimeout
from aiosonic.headers import HttpHeaders
from aiosonic.http2 import Http2Config
from aiosonic.proxy import EnvironmentProxies, Proxy
from aiosonic.redirects import (
    DEFAULT_MAX_REDIRECTS,
    crosses_credential_boundary,
    is_redirect,
    next_request,
)
from aiosonic.request import BodyType, HeadersType, Request, SendOptions, build_request
from aiosonic.response import HttpResponse
from aiosonic.retry import retry_after, send_with_retry
from aiosonic.timeout import Timeouts, deadline
from aiosonic.tls import CertType, as_client_cert
from aiosonic.urls import ParamsType, ParsedURL, parse_url
from aiosonic.verbs import HTTPVerbs

__all__ = ["HTTPClient", "HttpHeaders", "HttpResponse"]

#: Parsed URLs (and simple requests per client) kept; URLs repeat in real workloads.
URL_CACHE_SIZE = 512
#: Parsed URLs, shared by every client: parsing is pure and ParsedURL immutable,
#: so a new client (a cold start) does not parse a known URL again.
_PARSED_URLS: dict[str, ParsedURL] = {}
#: The events ``event_hooks`` may name: ``request`` hooks are called as
#: ``hook(method, url, headers)`` before each request goes (each redirect
#: and auth step too), ``response`` hooks as ``hook(response)`` on each.
EVENT_HOOKS = ("request", "response")

#: A hook: a sync or async callable.
EventHook = Callable[..., Any]


class HTTPClient(HTTPVerbs, PublishedClientAttributes):
    """An asyncio HTTP client.

    Args:
        connector: Connection strategy; a default :class:`TCPConnector` if None.
            A connector made here is closed with the client; one passed in is
            the caller's to close (``await connector.cleanup()``), so several
            clients can share it.
        handle_cookies: Keep cookies from responses and send them back.
        verify_ssl: Verify TLS certificates (per-request ``verify`` can only
            turn it off).
        proxy: Proxy for every request (see :mod:`aiosonic.proxy`); a
            request's own ``proxy=`` wins over it.
        trust_env: Read ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
            ``NO_PROXY`` (lowercase too) once, here, for requests that have no
            explicit proxy. Also use ``.netrc`` credentials (the ``NETRC``
            variable, else ``~/.netrc``) for requests without other auth.
        auth: Auth scheme for every request (see :mod:`aiosonic.auth`);
            ``(user, password)`` means Basic. A request's own ``auth=`` wins.
        max_redirects: Redirects one request follows (when it follows them)
            before :class:`~aiosonic.exceptions.MaxRedirects`; a request's own
            ``max_redirects`` wins.
        http2: Negotiate HTTP/2 for every ``https`` request (as if each
            passed ``http2=True``).
        http2_config: HTTP/2 windows and limits of the connector this client
            makes; with a ``connector`` of yours, set it there (it is ignored
            here, with a warning).
        max_decompressed_size: Most bytes a response body may decode to; a
            request's own ``max_decompressed_size`` wins. Default (None): the
            connector's limit, 100 MiB unless set there.
        auths: Credentials by host, ``{"host": ..., "host:port": ...}``, each a
            scheme (:class:`aiosonic.auth.Auth`, ``BasicAuth``, ``BearerAuth``...)
            or ``(user, password)`` for Basic. Each request, and each redirect
            hop, gets the entry of its own host (``host:port`` first, with the
            scheme's default port), so credentials go only to the hosts named.
        follow: Default of ``follow`` for the requests of this client.
        event_hooks: ``{"request": [...], "response": [...]}``, sync or async
            callables. Request hooks are called as ``hook(method, url,
            headers)`` before each request goes, redirects and auth steps
            included; a change they make to ``headers`` is sent. Response
            hooks are called as ``hook(response)`` on each response.
        trust_env: Read ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
            ``NO_PROXY`` (lowercase too) once, here, for requests that have no
            explicit proxy. Also use ``.netrc`` credentials (the ``NETRC``
            variable, else ``~/.netrc``) for requests without other auth.
        auth: Auth scheme for every request, whatever its host (keyword only;
            see :mod:`aiosonic.auth`); ``(user, password)`` means Basic. A
            request's own ``auth=`` wins.
        cert: Client certificate for TLS (keyword only): a PEM file with the
            certificate and key, ``(certfile, keyfile)`` or ``(certfile,
            keyfile, password)``. Loaded here, so a bad one fails at once. A
            request's own ``cert=`` wins; neither goes with ``ssl=`` (load it
            into your context instead).

    Raises:
        ValueError: ``max_redirects`` is negative, ``max_decompressed_size``
            below 1, or ``event_hooks`` names an unknown event.
        InvalidRequest: ``cert`` cannot be loaded (the message says why).
    """

    def __init__(
        self,
        connector: TCPConnector | None = None,
        handle_cookies: bool = False,
        verify_ssl: bool = True,
        proxy: Proxy | None = None,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        http2: bool = False,
        http2_config: Http2Config | None = None,
        max_decompressed_size: int | None = None,
        auths: AuthsType = None,
        follow: bool = False,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        trust_env: bool = False,
        *,
        auth: AuthType = None,
        cert: CertType = None,
    ) -> None:
        if max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, got {max_redirects}")
        if max_decompressed_size is not None and max_decompressed_size < 1:
            raise ValueError(
                f"max_decompressed_size must be at least 1, got {max_decompressed_size}"
            )
        hooks = dict(event_hooks or {})
        unknown = sorted(set(hooks) - set(EVENT_HOOKS))
        if unknown:
            raise ValueError(f"unknown event hooks {unknown}; the events are {list(EVENT_HOOKS)}")
        self._owns_connector = connector is None
        if connector is None:
            connector = TCPConnector(http2=http2, http2_config=http2_config)
            connector.name_owner("HTTPClient")  # the name a ResourceWarning gives
        elif http2_config is not None:
            warnings.warn(
                "HTTPClient(http2_config=...) applies to the connector the client makes; "
                "with connector= given it is ignored: pass it as TCPConnector(http2_config=...)",
                UserWarning,
                stacklevel=2,
            )
        self.connector = connector
        self.http2 = http2
        self.max_redirects = max_redirects
        self.max_decompressed_size = max_decompressed_size
        self.auths = normalize_auths(auths)
        self.cert = as_client_cert(cert)
        self.follow = follow
        #: ``{"request": [...], "response": [...]}``; lists a caller may append to.
        self.event_hooks: dict[str, list[EventHook]] = {
            name: list(hooks.get(name, ())) for name in EVENT_HOOKS
        }
        self.handle_cookies = handle_cookies
        self.cookie_jar = CookieJar() if handle_cookies else None
        self.verify_ssl = verify_ssl
        self.proxy = proxy
        self.trust_env = trust_env
        self.auth = as_auth(auth)
        self._netrc_auth = NetrcAuth() if trust_env else None
        self._env_proxies = EnvironmentProxies() if trust_env else None
        self._active = 0
        # Set when the last request ends; made only while wait_requests()
        # waits, so a request toggles no Event at low load.
        self._idle: asyncio.Event | None = None
        self._simple_requests: dict[tuple[str, str], Request] = {}
        self._defaults: SendOptions | None = None  # see _default_options()

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
        """Close the client; idempotent. What is in flight finishes.

        This closes the connector the client made itself. A connector passed
        to ``HTTPClient(connector=...)`` is left open: it belongs to the
        caller, who closes it with ``await connector.cleanup()`` (as in
        1.x; earlier builds of this rewrite closed it too). Leaving ``async with`` calls
        this; :meth:`aclose` (1.x) and :meth:`shutdown` (0.14 to 0.16) are
        the published names of the same thing.

        On the client's own connector, idle connections close at once. A request already sent, and a
        response already handed out, go on: the response can still be read
        (``content()``, ``read_chunks()``), and its connection closes when it
        is released. A request still waiting for a pool slot raises
        ``ConnectorClosed`` (``request_sent`` False), as does every request
        made after close. ``wait_requests()`` before ``close()`` waits for
        what is in flight. WebSockets opened through the client's own
        connector (``WebSocketClient(client.connector)``) are closed with 1001
        (going away), each waiting at most its ``close_timeout`` for the server.
        """
        if self._owns_connector:
            await self.connector.cleanup()

    async def aclose(self) -> None:
        """Close the client, as :meth:`close` does (the published 1.x name)."""
        await self.close()

    async def shutdown(self) -> None:
        """Close the client, as :meth:`close` does (the published 0.14 to 0.16 name)."""
        await self.close()

    # --- the request --------------------------------------------------------

    def _parse(self, url: str, params: ParamsType) -> ParsedURL:
        if params:
            return parse_url(url, params)
        cached = _PARSED_URLS.get(url)
        if cached is None:
            cached = parse_url(url)
            if len(_PARSED_URLS) >= URL_CACHE_SIZE:
                _PARSED_URLS.clear()
            _PARSED_URLS[url] = cached
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
        follow: bool | None = None,
        http2: bool = False,
        max_redirects: int | None = None,
        max_decompressed_size: int | None = None,
        auth: AuthType = None,
        stream: bool = False,
        *,
        proxy: Proxy | None = None,
        cert: CertType = None,
    ) -> HttpResponse:
        """Send a request and return its response.

        Args:
            url: Absolute ``http``/``https`` URL.
            method: HTTP method, any case.
            headers: Dict, list of pairs, or HttpHeaders; override defaults.
            params: Query parameters merged with the URL's query: a mapping
                or ``(name, value)`` pairs. ``str`` is sent as is, numbers in
                decimal, ``True``/``False`` as ``true``/``false``, ``None``
                as an empty value (``k=``), bytes percent-encoded, and a
                list/tuple as one pair per item (``tag=a&tag=b``); any other
                type raises InvalidRequest.
            data: Body: bytes, str, form fields (a dict, or a tuple/list of
                pairs, urlencoded with the rules of ``params``), an (async)
                iterator of bytes (sent chunked), or a MultipartForm. A form
                with a file object or a ``Part`` among its values is sent as
                multipart/form-data.
            json: Value sent as JSON; not together with ``data``.
            json_serializer: Serialiser for ``json``.
            multipart: Encode form fields ``data`` as multipart/form-data.
            verify: Verify the TLS certificate.
            ssl: A custom SSL context, used as it is and never changed: its
                own ALPN protocols are offered (set ``h2`` on it for HTTP/2).
            timeouts: Deadlines for this request; default: the connector's.
            follow: Follow redirects; default: the client's ``follow``.
            http2: Negotiate HTTP/2 (ALPN h2, else HTTP/1.1) for ``https``;
                ``http://`` only with ``Http2Config(prior_knowledge=True)``
                on the connector. With ``ssl=``, the context's own ALPN list
                decides. ``response.http_version`` tells which ran.
            max_redirects: Redirects followed before MaxRedirects; default:
                the client's ``max_redirects``.
            max_decompressed_size: Most bytes the body may decode to;
                default: the client's, then the connector's.
            auth: Auth scheme for this request (and same-origin redirects);
                ``(user, password)`` means Basic. Default: the client's, then
                the URL's userinfo, then the client's ``auths`` entry for the
                host of each hop, then ``.netrc`` if ``trust_env``. An
                ``Authorization`` header in ``headers`` wins over all of them.
            stream: Never read the body inside ``request()``, however small:
                it is read as the caller reads it, and the response must be
                read to the end or closed (:meth:`stream` does that).
            proxy: Proxy for this request (and its redirects), keyword only;
                default: the client's ``proxy``, then the environment's if
                ``trust_env``.
            cert: Client certificate for this request (keyword only), as
                for the client's ``cert``; default: the client's. Not with ``ssl=``.

        Returns:
            The response; small bodies are already read unless ``stream``.

        Raises:
            InvalidURL: The URL cannot be requested (no host, bad port or
                scheme); an InvalidRequest.
            InvalidRequest: A header, parameter or body that cannot be sent,
                or both ``data`` and ``json``.
            TLSError: The TLS handshake failed; the message says why.
            RequestTimeout: ``request_timeout`` ran out.
            aiosonic.exceptions.AiosonicError: See the exception tree.
        """
        if follow is None:
            follow = self.follow
        if max_redirects is None:
            max_redirects = self.max_redirects
        if (
            verify is True
            and ssl is None
            and timeouts is None
            and not http2
            and not stream
            and max_decompressed_size is None
            and proxy is None
            and cert is None
        ):
            options = self._default_options()
        else:
            options = self._options(
                verify, ssl, timeouts, http2, stream, max_decompressed_size, proxy, cert
            )
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
                # time: keep it, and the heads its leases memoise, for reuse.
                if len(self._simple_requests) >= URL_CACHE_SIZE:
                    self._simple_requests.clear()
                self._simple_requests[(method, url)] = request
        parsed = request.url
        scheme = self.auth if auth is None else as_auth(auth)
        if scheme is None and parsed.username is not None:
            scheme = _userinfo_auth(parsed)
        timeouts = options.timeouts
        self._active += 1
        # One scope per request: it bounds request() here, and a streamed body
        # after (the driver applies its expires_at to every read until release).
        # (The factory must not refer to the scope: a cycle per request costs
        # the collector more than the rest of the request.)
        scope = deadline(
            timeouts.request_timeout,
            lambda: RequestTimeout(
                f"request not complete within request_timeout="
                f"{timeouts.request_timeout}s ({parsed.url})"
            ),
        )
        try:
            with scope:
                if follow or scheme is not None or (self.auths or self._netrc_auth) is not None:
                    return await self._send_following(
                        request, options, scope, scheme, follow, max_redirects
                    )
                hooks = self.event_hooks
                if (
                    hooks["request"]
                    or hooks["response"]
                    or self.cookie_jar is not None
                    or self._env_proxies is not None
                ):
                    # No redirect and no auth flow: the one hop _send_following would send.
                    return await self._send_hop(request, options, scope)
                # Nothing around that hop either (no hook, cookie jar or
                # environment proxy): _send_hop() would only do this, which is
                # send_with_retry() with its first attempt awaited here.
                try:
                    return await self.connector.send(request, options, scope)
                except NetworkError as exc:
                    return await retry_after(exc, request, self.connector.send, options, scope)
        finally:
            self._active -= 1
            if not self._active and self._idle is not None:
                self._idle.set()  # wait_requests() waits
                self._idle = None

    def _options(
        self,
        verify: bool,
        ssl: ssllib.SSLContext | None,
        timeouts: Timeouts | None,
        http2: bool,
        stream: bool,
        max_decompressed_size: int | None,
        proxy: Proxy | None,
        cert: CertType,
    ) -> SendOptions:
        """Resolve ``request()``'s options against the client's settings."""
        verify, http2 = verify and self.verify_ssl, http2 or self.http2
        client_cert = self.cert if cert is None else as_client_cert(cert, check=False)
        if client_cert is not None:
            if ssl is not None:
                raise InvalidRequest(
                    "pass either cert= or an ssl= context (load the certificate into "
                    "it with load_cert_chain), not both"
                )
            ssl = self.connector.context_with_cert(verify, http2, client_cert)
        return SendOptions(
            verify,
            ssl,
            timeouts or self.connector.timeouts,
            self.proxy if proxy is None else proxy,  # the environment's: per hop
            http2,
            stream,
            self.max_decompressed_size if max_decompressed_size is None else max_decompressed_size,
        )

    def _default_options(self) -> SendOptions:
        """Return the options of a request that passes none of its own (memoised).

        They are the client's settings only, so one object serves every such
        request while those settings stay: building a SendOptions costs more
        than the rest of ``request()``'s own work. Rebuilt (by
        :meth:`_options`) when a setting it was made of changed;
        tests/test_client_options.py checks it against a fresh one.
        """
        options = self._defaults
        if (
            options is None
            or options.timeouts is not self.connector.timeouts
            or options.verify is not self.verify_ssl
            or options.http2 is not self.http2
            or options.proxy is not self.proxy
            or options.max_decompressed_size is not self.max_decompressed_size
            or self.cert is not None  # its context is looked up per request
        ):
            options = self._options(True, None, None, False, False, None, None, None)
            self._defaults = options if self.cert is None else None
        return options

    def _cookie_headers(self, url: ParsedURL, headers: HeadersType) -> list[tuple[str, str]] | None:
        jar = self.cookie_jar
        if jar is None:
            return None
        value = jar.header_for(url.scheme, url.host, url.split.path or "/")
        return [("Cookie", value)] if value else None

    async def _send_following(
        self,
        request: Request,
        options: SendOptions,
        scope: deadline | None,
        auth: AuthBase | None,
        follow: bool,
        max_redirects: int,
    ) -> HttpResponse:
        """Send ``request`` with its auth flow, and follow its redirects if ``follow``."""
        history: list[HttpResponse] = []
        # A Cookie header the caller set (rather than the jar) is kept on
        # same-origin hops like any other header; next_request drops it otherwise.
        caller_cookie = False
        if self.cookie_jar is not None:
            sent_cookie = request.header("Cookie")
            caller_cookie = sent_cookie is not None and self._cookie_headers(request.url, None) != [
                ("Cookie", sent_cookie)
            ]
        # ``auth`` goes with the request until a hop crosses the boundary where
        # redirects drop credentials; it is never re-added after that.
        trusted = True
        while True:
            scheme = self._hop_auth(request, auth if trusted else None)
            if scheme is None:
                response = await self._send_hop(request, options, scope)
            else:

                async def send_one(outgoing: Request) -> HttpResponse:
                    if self.cookie_jar is not None and not caller_cookie:
                        # The challenge may have set a cookie the answer needs.
                        outgoing = self._with_jar_cookie(outgoing)
                    return await self._send_hop(outgoing, options, scope)

                response = await send_with_auth(request, scheme, send_one)
            location = _location(response) if follow else None
            if not (follow and location and is_redirect(response.status_code, location)):
                response.history = history
                return response
            if len(history) >= max_redirects:
                await response.aclose()
                raise MaxRedirects(
                    f"more than max_redirects={max_redirects} redirects, last to "
                    f"{location!r} from {response.url}"
                )
            # Read the redirect's body (bounded) so its connection is reused.
            length = response.stream.content_length if response.stream is not None else None
            if length is not None and length <= PRELOAD_LIMIT:
                await response.content()
            else:
                await response.aclose()
            history.append(response)
            previous, request = request, next_request(request, response.status_code, location)
            trusted = trusted and not crosses_credential_boundary(previous.url, request.url)
            if self.cookie_jar is not None and not (caller_cookie and request.header("Cookie")):
                request.headers = [p for p in request.headers if p[0].lower() != "cookie"]
                request.headers.extend(self._cookie_headers(request.url, None) or [])

    def _hop_auth(self, request: Request, auth: AuthBase | None) -> AuthBase | None:
        """Pick the scheme for one hop: a caller's Authorization, ``auth``, the host's, netrc."""
        netrc_auth = self._netrc_auth
        if auth is None and netrc_auth is None and not self.auths:
            return None
        if request.header("Authorization") is not None:
            # An explicit header always wins: no flow at all.
            return None
        if auth is not None:
            return auth
        if self.auths:
            url = request.url
            for_host = auth_for_host(self.auths, url.host, url.port)
            if for_host is not None:
                return for_host
        return netrc_auth

    def _with_jar_cookie(self, request: Request) -> Request:
        """Return ``request`` with the jar's current Cookie header for its URL."""
        cookie = self._cookie_headers(request.url, None)
        return request.with_header(*cookie[0]) if cookie else request

    async def send(
        self,
        request: Request,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        proxy: Proxy | None = None,
        http2: bool = False,
        scope: deadline | None = None,
        stream: bool = False,
        max_decompressed_size: int | None = None,
    ) -> HttpResponse:
        """Send one prepared request (no redirects) and return the response.

        A pooled connection that turns out to be dead is replaced once,
        transparently, when nothing was written or the method is idempotent.
        A request the server says it did not process (HTTP/2 GOAWAY or
        REFUSED_STREAM) is re-sent, up to :data:`aiosonic.retry.MAX_ATTEMPTS`
        times in all, whatever its method, when its body can be replayed.
        ``proxy`` defaults to the client's, then the environment's.
        ``scope`` is the request's whole deadline (``request()`` makes it):
        reading the body stays bounded by it after send() returns.
        ``stream`` keeps a body unread even when it is small.
        ``max_decompressed_size`` overrides the connector's limit for this response.
        Request hooks run here, once per request sent (not per retry);
        response hooks once per response returned.
        """
        options = SendOptions(
            verify,
            ssl,
            timeouts or self.connector.timeouts,
            self.proxy if proxy is None else proxy,
            http2,
            stream,
            max_decompressed_size,
        )
        return await self._send_hop(request, options, scope)

    async def _send_hop(
        self, request: Request, options: SendOptions, scope: deadline | None
    ) -> HttpResponse:
        """Send one hop: request hooks, the environment's proxy, retries, cookies, response hooks.

        The connector's ``send`` does the exchange; :func:`send_with_retry`
        re-sends what it may.
        """
        hooks = self.event_hooks
        if hooks["request"]:
            request = await self._run_request_hooks(request)
        env_proxies = self._env_proxies
        if options.proxy is None and env_proxies is not None and not self.connector.uds:
            url = request.url
            proxy = env_proxies.proxy_for(url.scheme, url.host, url.port)
            if proxy is not None:
                options = options._replace(proxy=proxy)
        response = await send_with_retry(request, self.connector.send, options, scope)
        if self.cookie_jar is not None:
            self._store_cookies(request.url, response)
        if hooks["response"]:
            await self._run_response_hooks(response)
        return response

    async def _run_request_hooks(self, request: Request) -> Request:
        """Call the request hooks; return ``request`` with the headers they left.

        Hooks get the URL without userinfo, and the headers as a mutable
        :class:`HttpHeaders`; a change is sent (checked like any header).
        """
        headers = HttpHeaders(request.headers)
        before = list(headers.items())
        for hook in self.event_hooks["request"]:
            result = hook(request.method, request.url.url, headers)
            if isawaitable(result):
                await result
        after = list(headers.items())
        return request if after == before else request.with_headers(after)

    async def _run_response_hooks(self, response: HttpResponse) -> None:
        """Call the response hooks; a hook that raises closes the response first."""
        try:
            for hook in self.event_hooks["response"]:
                result = hook(response)
                if isawaitable(result):
                    await result
        except BaseException:
            await response.aclose()
            raise

    def _store_cookies(self, url: ParsedURL, response: HttpResponse) -> None:
        assert self.cookie_jar is not None
        values = [
            v.decode("latin-1") for n, v in response.raw_headers if n.lower() == b"set-cookie"
        ]
        if values:
            self.cookie_jar.update_from_response(
                url.scheme, url.host, url.split.path or "/", values
            )

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[HttpResponse]:
        """Send a request and yield its response with the body unread; close it on exit.

        The body is read inside the block (``read_chunks()``, ``iter_bytes()``,
        ``iter_lines()``, ``content()``); leaving the block releases the
        connection whether or not it was read to the end (an unfinished one is
        closed, not reused). ``request_timeout`` still bounds the reads.

        Args:
            method: HTTP method, any case.
            url: Absolute ``http``/``https`` URL.
            **kwargs: Any other argument of :meth:`request` but ``stream``.

        Yields:
            The response, its body not read yet (even a small one).
        """
        response = await self.request(url, method, stream=True, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()

    # --- shutdown -----------------------------------------------------------

    async def wait_requests(self, timeout: float = 30) -> bool:  # noqa: ASYNC109
        """Wait until no request is running and every connection is released.

        WebSockets opened through the same connector (``WebSocketClient(client.connector)``)
        count too: this waits for them to end.

        Args:
            timeout: Seconds to wait at most.

        Returns:
            True when everything finished, False when ``timeout`` ran out.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while self._active:
                        idle = self._idle
                        if idle is None:
                            idle = self._idle = asyncio.Event()
                        await idle.wait()
                    await self.connector.wait_free_pool()
                    await self.connector.wait_websockets()
                    if (
                        not self._active
                        and self.connector.is_all_free()
                        and not self.connector.open_websockets
                    ):
                        return True
        except TimeoutError:
            return False


def _location(response: HttpResponse) -> str | None:
    """Return the Location field of ``response`` (its lines joined), or None."""
    found = response.headers.getall("location", [])
    return ", ".join(found) if found else None


def _userinfo_auth(url: ParsedURL) -> BasicAuth:
    """Basic auth from ``http://user:password@host/``; urls.py keeps userinfo off the wire."""
    return BasicAuth(url.username or "", url.password or "")


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
