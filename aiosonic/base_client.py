"""A base class for API clients: :class:`BaseClient` (base URL, defaults, hooks).

Subclass it, set :attr:`BaseClient.base_url`, :attr:`BaseClient.default_headers`
and :attr:`BaseClient.default_params`, and call ``get``/``post``/... with paths.
Two hooks shape every call: :meth:`BaseClient.process_request` sends it (after
joining the URL and merging the defaults) and :meth:`BaseClient.process_response`
turns the response into the value the call returns. Everything goes through the
public :class:`~aiosonic.client.HTTPClient` API; nothing here touches the network
itself. :class:`AioSonicBaseClient` is the 0.24 name, kept with its behaviour.

What does not live here: sending, redirects, retries (:mod:`aiosonic.client`),
and how headers and query values are encoded (:mod:`aiosonic.request`,
:mod:`aiosonic.urls`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, ClassVar

from multidict import MultiMapping

from aiosonic.client import HTTPClient
from aiosonic.headers import HttpHeaders
from aiosonic.request import HeadersType
from aiosonic.urls import ParamsType

__all__ = ["AioSonicBaseClient", "BaseClient"]

_ABSOLUTE_PREFIXES = ("http://", "https://")
# Methods the client has its own verb for; others go through client.request
# (getattr alone would turn "CLOSE" into client.close()).
_CLIENT_VERBS = frozenset({"get", "head", "options", "post", "put", "patch", "delete"})


def _pairs(values: Any) -> list[tuple[Any, Any]]:
    """Return query ``values`` (a mapping or pairs) as a list of pairs."""
    if isinstance(values, MultiMapping | Mapping):
        return list(values.items())
    return [(pair[0], pair[1]) for pair in values]


class BaseClient:
    """Base class for an API client: relative URLs, default headers and params.

    Example::

        class GitHub(BaseClient):
            base_url = "https://api.github.com"
            default_headers = {"Accept": "application/vnd.github+json"}

            async def process_response(self, response):
                return await response.json()

        async with GitHub() as github:
            repo = await github.get("/repos/sonic182/aiosonic")

    Args:
        http_client: The client to send with, shared with other code; it is
            not closed by :meth:`close`. Default: a new :class:`HTTPClient`
            owned (and closed) by this object.

    Attributes:
        base_url: Prefix of every URL that is not absolute.
        default_headers: Headers sent with every request; a header given to
            the call replaces the default of the same name (in any case).
        default_params: Query parameters sent with every request; a
            parameter given to the call replaces the default of the same name.
        client: The :class:`HTTPClient` the requests go through.
    """

    base_url: ClassVar[str] = ""
    default_headers: ClassVar[Mapping[str, str]] = {}
    default_params: ClassVar[ParamsType] = {}

    def __init__(self, http_client: HTTPClient | None = None) -> None:
        self._owns_client = http_client is None
        self.client = http_client if http_client is not None else HTTPClient()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r} client={self.client!r}>"

    async def __aenter__(self) -> BaseClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP client if this object created it; idempotent."""
        if self._owns_client:
            await self.client.close()

    def process_request_url(self, url: str) -> str:
        """Return ``url`` if absolute, else ``base_url`` and ``url`` joined by one slash."""
        if url.startswith(_ABSOLUTE_PREFIXES):
            return url
        return self.base_url.rstrip("/") + "/" + url.lstrip("/")

    def merge_headers(self, headers: HeadersType = None) -> HttpHeaders:
        """Return the default headers overridden by ``headers``.

        Args:
            headers: A mapping or ``(name, value)`` pairs. A name here drops
                the default of the same name, compared case-insensitively;
                repeated names here are all kept.

        Returns:
            The headers to send, defaults first.
        """
        merged = HttpHeaders(self.default_headers)
        if headers:
            given = HttpHeaders(headers)
            for name in given:
                merged.popall(name, None)
            merged.extend(given)
        return merged

    def merge_params(self, params: ParamsType = None) -> ParamsType:
        """Return the default query parameters overridden by ``params``.

        Args:
            params: A mapping or ``(name, value)`` pairs. A name here drops
                every default pair of the same name.

        Returns:
            ``params`` or the defaults when only one is non-empty, else the
            defaults left over followed by ``params``, as pairs.
        """
        if not self.default_params:
            return params
        if not params:
            return self.default_params
        given = _pairs(params)
        overridden = {name for name, _ in given}
        kept = [pair for pair in _pairs(self.default_params) if pair[0] not in overridden]
        return kept + given

    async def process_request(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send the request: join the URL, merge the defaults, call the client.

        Override it to change what is sent (sign a request, add a header that
        depends on the call); call ``super().process_request`` to send.

        Args:
            method: The HTTP method, any case.
            url: A path relative to :attr:`base_url`, or an absolute URL.
            **kwargs: Passed to the client's method for ``method``
                (``client.get``, ``client.post``, ...), or to
                ``client.request`` for a method without its own.

        Returns:
            The client's :class:`~aiosonic.response.HttpResponse`.
        """
        full_url = self.process_request_url(url)
        kwargs["headers"] = self.merge_headers(kwargs.pop("headers", None))
        params = self.merge_params(kwargs.pop("params", None))
        if params:
            kwargs["params"] = params
        if method.lower() in _CLIENT_VERBS:
            verb = getattr(self.client, method.lower())
            return await verb(full_url, **kwargs)
        return await self.client.request(full_url, method.upper(), **kwargs)

    async def process_response(self, response: Any) -> Any:
        """Return what a call returns for ``response``: the response itself here.

        Override it to decode the body (``return await response.json()``),
        raise on error statuses, or wrap the result.
        """
        return response

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send ``method`` to ``url`` through both hooks and return the result."""
        response = await self.process_request(method, url, **kwargs)
        return await self.process_response(response)

    async def get(self, url: str, **kwargs: Any) -> Any:
        """Send a GET request through :meth:`request`."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Any:
        """Send a POST request through :meth:`request`."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Any:
        """Send a PUT request through :meth:`request`."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> Any:
        """Send a PATCH request through :meth:`request`."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Any:
        """Send a DELETE request through :meth:`request`."""
        return await self.request("DELETE", url, **kwargs)

    async def head(self, url: str, **kwargs: Any) -> Any:
        """Send a HEAD request through :meth:`request`."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Any) -> Any:
        """Send an OPTIONS request through :meth:`request`."""
        return await self.request("OPTIONS", url, **kwargs)


class AioSonicBaseClient(BaseClient):
    """The 0.24 name of :class:`BaseClient`; deprecated.

    As in 0.24, a call returns the decoded body, not the response: the body
    parsed as JSON, or its text when it is not JSON
    (:meth:`process_response_body`).

    Args:
        http_client: As for :class:`BaseClient`.
    """

    def __init__(self, http_client: HTTPClient | None = None) -> None:
        warnings.warn(
            "AioSonicBaseClient is deprecated; subclass aiosonic.BaseClient and "
            "override process_response to decode the body",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(http_client)

    def process_response_body(self, body: str) -> Any:
        """Return ``body`` parsed as JSON, or ``body`` itself if it is not JSON."""
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            return body

    async def process_response(self, response: Any) -> Any:
        """Return the response body through :meth:`process_response_body`."""
        return self.process_response_body(await response.text())
