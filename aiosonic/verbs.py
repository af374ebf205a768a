"""Convenience verbs of the client: ``get``, ``post``, ``put``... as thin calls of ``request()``.

:class:`HTTPVerbs` holds only the per-method signatures of the published API;
everything they do is ``HTTPClient.request`` (aiosonic.client). Kept apart so
the client module holds behaviour, not signatures.
"""

from __future__ import annotations

import json as jsonlib
import ssl as ssllib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiosonic.auth import AuthType
from aiosonic.request import BodyType, HeadersType
from aiosonic.timeout import Timeouts
from aiosonic.urls import ParamsType

if TYPE_CHECKING:
    from aiosonic.proxy import Proxy
    from aiosonic.response import HttpResponse

__all__ = ["HTTPVerbs"]


class HTTPVerbs:
    """``get/head/options/post/put/patch/delete``, each a call of ``request()``."""

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
    ) -> HttpResponse:
        """Send a request; implemented by ``HTTPClient``."""
        raise NotImplementedError

    async def get(
        self,
        url: str,
        headers: HeadersType = None,
        params: ParamsType = None,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            proxy=proxy,
            auth=auth,
        )

    async def head(
        self,
        url: str,
        headers: HeadersType = None,
        params: ParamsType = None,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            proxy=proxy,
            auth=auth,
        )

    async def options(
        self,
        url: str,
        headers: HeadersType = None,
        params: ParamsType = None,
        verify: bool = True,
        ssl: ssllib.SSLContext | None = None,
        timeouts: Timeouts | None = None,
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            proxy=proxy,
            auth=auth,
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
        follow: bool | None,
        http2: bool,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            auth=auth,
            proxy=proxy,
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
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            auth=auth,
            proxy=proxy,
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
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            auth=auth,
            proxy=proxy,
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
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            auth=auth,
            proxy=proxy,
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
        follow: bool | None = None,
        http2: bool = False,
        auth: AuthType = None,
        *,
        proxy: Proxy | None = None,
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
            auth=auth,
            proxy=proxy,
        )
