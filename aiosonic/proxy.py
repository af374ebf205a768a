"""Proxy configuration: where a proxy is and how to authenticate to it.

A :class:`Proxy` is an immutable value; how requests travel through it (absolute
form, CONNECT tunnels) is the connector's business.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit

from aiosonic.exceptions import InvalidRequest

__all__ = ["Proxy"]

_PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})


class Proxy:
    """A proxy server.

    Args:
        host: Proxy URL (``http://proxy:3128``, ``socks5://h:1080``); a bare
            ``host:port`` means ``http://``. Userinfo in the URL is used as
            credentials when ``auth`` is not given.
        auth: Credentials as ``"user:password"``.
    """

    __slots__ = ("auth", "host", "password", "port", "scheme", "username")

    def __init__(self, host: str, auth: str | None = None) -> None:
        url = host if "://" in host else f"http://{host}"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise InvalidRequest(f"invalid proxy URL {host!r}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in _PROXY_SCHEMES or not parts.hostname:
            raise InvalidRequest(f"unsupported proxy URL {host!r}")
        self.scheme = scheme
        self.host = parts.hostname
        self.port = port or {"http": 80, "https": 443}.get(scheme, 1080)
        if auth is None and parts.username is not None:
            auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        self.auth = auth
        user, _, password = (auth or "").partition(":")
        self.username = user if auth is not None else None
        self.password = password if auth is not None else None

    def __repr__(self) -> str:
        shown = " (with auth)" if self.auth else ""
        return f"<Proxy {self.scheme}://{self.host}:{self.port}{shown}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and self.key == other.key and self.auth == other.auth

    def __hash__(self) -> int:
        return hash((self.key, self.auth))

    @property
    def key(self) -> str:
        """Identity of the proxy in a pool key (credentials excluded)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def authorization_header(self) -> str | None:
        """Return the ``Proxy-Authorization`` value for HTTP proxies, if any."""
        if self.auth is None:
            return None
        return "Basic " + base64.b64encode(self.auth.encode()).decode()
