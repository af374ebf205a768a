"""URL handling: parse and validate a request URL into what the layers below need.

:func:`parse_url` turns a user URL (plus ``params``) into a :class:`ParsedURL`:
scheme, IDNA host, effective port, the percent-encoded request target, the
``Host`` header value and any userinfo. :class:`Origin` and :class:`PoolKey`
are the identities pools and connections are matched by. Pure functions only.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import SplitResult, quote, unquote, urlsplit

from aiosonic.exceptions import InvalidURL
from aiosonic.urlencoded import urlencode_fields

__all__ = ["DEFAULT_PORTS", "Origin", "ParsedURL", "PoolKey", "encode_params", "parse_url"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SUPPORTED_SCHEMES = frozenset(DEFAULT_PORTS)
# Characters that could split the request line or smuggle a header; spaces and
# other unsafe characters are percent-encoded instead (RFC 3986 §2.1).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"

ParamsType = Mapping[str, Any] | Sequence[tuple[str, Any]] | Sequence[list[Any]] | None


class Origin(NamedTuple):
    """``(scheme, host, port)``: what SmartPool groups connections by."""

    scheme: str
    host: str
    port: int


class PoolKey(NamedTuple):
    """Everything that shapes a connection; a connection is reused only on equality.

    ``ssl`` compares by identity: two distinct contexts never share a socket.
    """

    scheme: str
    host: str
    port: int
    verify: bool
    ssl: ssl.SSLContext | None
    proxy: str | None
    #: HTTP/2 may be negotiated (ALPN h2, or h2c prior knowledge).
    http2: bool = False

    @property
    def origin(self) -> Origin:
        """The ``(scheme, host, port)`` part of the key."""
        return Origin(self.scheme, self.host, self.port)


@dataclass(frozen=True, slots=True)
class ParsedURL:
    """A validated absolute URL, split into what a request needs.

    Attributes:
        url: The URL without userinfo and fragment, as shown on responses.
        scheme: Lower-case scheme.
        host: Lower-case ASCII host (IDNA-encoded), IPv6 without brackets.
        port: Explicit port, or the scheme's default.
        target: Percent-encoded ``path?query``, never empty.
        host_header: Value for the ``Host`` header.
        username: Decoded userinfo user, if any.
        password: Decoded userinfo password, if any.
        split: The ``urlsplit`` result, for pools written against it.
    """

    url: str
    scheme: str
    host: str
    port: int
    target: str
    host_header: str
    username: str | None
    password: str | None
    split: SplitResult

    @property
    def origin(self) -> Origin:
        """The ``(scheme, host, port)`` of this URL."""
        return Origin(self.scheme, self.host, self.port)

    @property
    def is_secure(self) -> bool:
        """Whether the scheme uses TLS."""
        return self.scheme in ("https", "wss")


def encode_params(params: ParamsType) -> str:
    """Encode query parameters given as a mapping or a sequence of pairs.

    Values follow :mod:`aiosonic.urlencoded`: a list gives one pair per item,
    ``True``/``False`` are ``true``/``false``, ``None`` is an empty value.

    Raises:
        InvalidRequest: A pair, name or value that cannot be sent.
    """
    if not params:
        return ""
    return urlencode_fields(params, "query parameter")


_USERINFO = re.compile(r"(//)[^/?#@]*@")


def _shown(url: str) -> str:
    """The URL as quoted in error messages: userinfo masked, cut to 80 chars."""
    return _USERINFO.sub(r"\1***@", url, count=1)[:80]


def _idna_host(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidURL(f"host {host!r} cannot be IDNA-encoded") from exc


def parse_url(url: str, params: ParamsType = None) -> ParsedURL:
    """Validate ``url`` and split it for a request.

    Args:
        url: An absolute ``http``/``https`` URL.
        params: Query parameters appended to the URL's own query.

    Returns:
        The parsed URL.

    Raises:
        InvalidURL: CR/LF/NUL or another control character in the URL, an
            unsupported scheme, an invalid port, or no host. It is an
            InvalidRequest (and, for code written against the published
            package, an HttpParsingError too).
        InvalidRequest: ``params`` holds a value that cannot be sent.
    """
    if not isinstance(url, str):
        raise InvalidURL(f"URL must be a str, got {type(url).__name__}")
    if _FORBIDDEN.search(url):
        raise InvalidURL(f"URL contains a control character (CR, LF or NUL?): {_shown(url)!r}")
    url = url.strip(" ")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL {_shown(url)!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _SUPPORTED_SCHEMES:
        raise InvalidURL(f"unsupported URL scheme {parts.scheme!r} in {_shown(url)!r}")
    raw_host = parts.hostname
    if not raw_host:
        raise InvalidURL(f"URL has no host: {_shown(url)!r}")
    host = _idna_host(raw_host)
    default_port = DEFAULT_PORTS[scheme]
    effective_port = port if port is not None else default_port

    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = quote(parts.query, safe=_QUERY_SAFE) if parts.query else ""
    extra = encode_params(params)
    if extra:
        query = f"{query}&{extra}" if query else extra
    target = f"{path}?{query}" if query else path

    host_in_header = f"[{host}]" if ":" in host else host
    if effective_port != default_port:
        host_header = f"{host_in_header}:{effective_port}"
    else:
        host_header = host_in_header
    netloc = f"{host_in_header}:{port}" if port is not None else host_in_header
    clean = f"{scheme}://{netloc}{target}"
    return ParsedURL(
        url=clean,
        scheme=scheme,
        host=host,
        port=effective_port,
        target=target,
        host_header=host_header,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        split=SplitResult(scheme, netloc, parts.path, parts.query, ""),
    )
