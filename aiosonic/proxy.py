"""Proxy configuration: where a proxy is, how to authenticate to it, which URLs use it.

Lives here: :class:`Proxy`, an immutable value, and :class:`EnvironmentProxies`,
the ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` policy read once
from the environment. How requests travel through a proxy (absolute form,
CONNECT tunnels, SOCKS5) lives in :mod:`aiosonic.tunnel`. No I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import ParseResult, SplitResult, unquote, urlsplit

from aiosonic.exceptions import InvalidRequest

__all__ = ["EnvironmentProxies", "Proxy", "proxy_from_environment"]

# urllib's own NO_PROXY matcher: undocumented but there since Python 2;
# typeshed leaves it out.
_proxy_bypass: Callable[[str, Mapping[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]

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

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        """Build a proxy from its URL, with the credentials of its ``user:password@`` part.

        The published 1.3 constructor; ``Proxy(url)`` does the same.

        Raises:
            InvalidRequest: The URL is not a usable proxy URL.
        """
        return cls(url)

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

    @property
    def pool_id(self) -> str:
        """Return ``key`` plus a digest of the credentials, for ``PoolKey.proxy``.

        A tunnel is authenticated once, when it is opened, so two sets of
        credentials for one proxy must never share a connection. The digest
        keeps the secret itself out of pool keys and ``repr()``.
        """
        if self.auth is None:
            return self.key
        digest = hashlib.sha256(self.auth.encode()).hexdigest()[:16]
        return f"{self.key}#{digest}"

    @property
    def is_socks(self) -> bool:
        """Whether this is a SOCKS5 proxy (``socks5://`` or ``socks5h://``)."""
        return self.scheme in ("socks5", "socks5h")

    def authorization_header(self) -> str | None:
        """Return the ``Proxy-Authorization`` value for HTTP proxies, if any."""
        if self.auth is None:
            return None
        return "Basic " + base64.b64encode(self.auth.encode()).decode()


class EnvironmentProxies:
    """The proxies the environment asks for, read once.

    ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (lowercase wins, as in
    curl and the standard library) choose a proxy per URL scheme; ``NO_PROXY``
    lists hosts that go direct: ``*``, a host or IP, ``host:port``, or a domain
    suffix (``example.com`` and ``.example.com`` both match ``a.example.com``).

    Args:
        environ: ``scheme -> proxy URL`` as returned by
            :func:`urllib.request.getproxies_environment` (``"no"`` holds
            ``NO_PROXY``); read from ``os.environ`` when omitted.

    Raises:
        InvalidRequest: A proxy variable holds an unusable URL.
    """

    __slots__ = ("_no_proxy", "_proxies")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        found = dict(urllib.request.getproxies_environment() if environ is None else environ)
        self._no_proxy = {"no": found["no"]} if "no" in found else {}
        self._proxies: dict[str, Proxy] = {}
        for scheme in ("http", "https", "all"):
            url = found.get(scheme)
            if url:
                try:
                    self._proxies[scheme] = Proxy(url)
                except InvalidRequest as exc:
                    raise InvalidRequest(f"{scheme.upper()}_PROXY: {exc}") from exc

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._proxies.items())
        return f"<EnvironmentProxies [{shown}, no_proxy={self._no_proxy.get('no')!r}]>"

    def __bool__(self) -> bool:
        return bool(self._proxies)

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """Return the proxy for a URL, or None when it goes direct.

        Args:
            scheme: ``http`` or ``https`` (``ws``/``wss`` map to them).
            host: The URL's host, IPv6 without brackets.
            port: The URL's effective port.
        """
        proxies = self._proxies
        if not proxies:
            return None
        base = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        proxy = proxies.get(base) or proxies.get("all")
        if proxy is None or self.is_bypassed(host, port):
            return None
        return proxy

    def is_bypassed(self, host: str, port: int) -> bool:
        """Return whether ``NO_PROXY`` sends ``host:port`` direct."""
        if not self._no_proxy:
            return False
        if ":" in host:
            # IPv6: the stdlib splits "host:port" at the last colon, so try the
            # bare address and the bracketed "[addr]:port" form separately.
            return bool(
                _proxy_bypass(host, self._no_proxy)
                or _proxy_bypass(f"[{host}]:{port}", self._no_proxy)
            )
        return bool(_proxy_bypass(f"{host}:{port}", self._no_proxy))


def proxy_from_environment(urlparsed: ParseResult | SplitResult) -> Proxy | None:
    """Return the proxy the environment sets for a URL (the published 1.3 helper).

    ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` are read by the URL's
    scheme, and ``NO_PROXY`` sends hosts direct, as :class:`EnvironmentProxies`
    does for ``HTTPClient(trust_env=True)``; the environment is read on each call.

    Args:
        urlparsed: The parsed request URL.

    Returns:
        The proxy, or None when the URL goes direct.

    Raises:
        InvalidRequest: A proxy variable holds an unusable URL.
    """
    if not urlparsed.hostname:
        return None
    try:
        port = urlparsed.port
    except ValueError:
        return None
    scheme = urlparsed.scheme.lower()
    if port is None:
        port = 443 if scheme in ("https", "wss") else 80
    return EnvironmentProxies().proxy_for(scheme, urlparsed.hostname, port)


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
