"""Names the published aiosonic (0.14 to 1.3.3) had at import paths ours does not use.

Code written against the published package imports helpers from wherever that
package happened to define or import them (``from aiosonic.client import
get_loop``, ``aiosonic.connectors.asyncio_sleep``). Our modules do not need
those names, so instead of importing them eagerly (and slowing down ``import
aiosonic``) each such module ends with a PEP 562 ``__getattr__`` and
``__dir__`` that look the name up in :data:`ALIASES` on first use.

Lives here: the alias table (module -> published name -> where ours is), the
few constants the published modules defined for themselves,
:func:`resolve`/:func:`names` used by those module hooks, and two mixins
with the published attributes of ``HTTPClient`` and ``TCPConnector`` that
ours derives when read (no cost per request). Does not live here: anything
with behaviour of its own; each name leads to the module that owns the job.
Importing this module imports nothing from aiosonic.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from http.cookies import SimpleCookie

    from aiosonic.cookies import CookieJar
    from aiosonic.dns_cache import DNSCache
    from aiosonic.pools import PoolConfig

__all__ = [
    "ALIASES",
    "CRLF",
    "MULTIPART_RANDOM_RANGE",
    "RANDOM_RANGE",
    "PublishedClientAttributes",
    "PublishedConnectorAttributes",
    "dlogger",
    "names",
    "resolve",
]

#: The line end of HTTP/1.1 heads, as published ``aiosonic.client`` defined it.
CRLF = "\r\n"

#: The range 0.16 to 0.31 drew multipart boundary numbers from (``randint(*RANDOM_RANGE)``).
#: Ours draws boundaries from :func:`secrets.token_hex`; the value is kept for readers.
RANDOM_RANGE = (10**8, 10**9)

#: The range published ``aiosonic.multipart`` drew its boundary numbers from.
MULTIPART_RANDOM_RANGE = (1000, 9999)

#: The published modules' ``dlogger = get_debug_logger()``: the ``aiosonic``
#: logger. No handler is added (a library must not configure logging).
dlogger = logging.getLogger("aiosonic")

_HERE = "aiosonic._published"

# Names published ``aiosonic.client`` defined or imported, which ``from
# aiosonic.client import *`` also made top-level names of ``aiosonic``.
_CLIENT_HELPERS = {
    "CaseInsensitiveDict": "aiosonic.structures:CaseInsensitiveDict",
    "DEFAULT_MAX_DECOMPRESSED_SIZE": "aiosonic.compression:DEFAULT_MAX_DECOMPRESSED_SIZE",
    "RANDOM_RANGE": f"{_HERE}:RANDOM_RANGE",
    "REPLACEABLE_HEADERS": "aiosonic.http_parser:REPLACEABLE_HEADERS",
    "decompress_body": "aiosonic.compression:decompress_body",
    "dlogger": f"{_HERE}:dlogger",
    "get_debug_logger": "aiosonic.utils:get_debug_logger",
    "get_decompressor": "aiosonic.compression:get_decompressor",
    "get_default_ssl_context": "aiosonic.tls:get_default_ssl_context",
    "gzip_decompress": "gzip:decompress",
    "json_dumps": "json:dumps",
    "normalize_auths": "aiosonic.auth:normalize_auths",
    "parse_link_header": "aiosonic.utils:parse_link_header",
    "proxy_from_environment": "aiosonic.proxy:proxy_from_environment",
    "resolve_auth": "aiosonic.auth:resolve_auth",
    "url_without_userinfo": "aiosonic.utils:url_without_userinfo",
    "zlib_decompress": "zlib:decompress",
}

#: module -> {published name: "module:attribute" of ours}.
ALIASES: dict[str, dict[str, str]] = {
    "aiosonic": {**_CLIENT_HELPERS, "http_parser": "aiosonic.http_parser"},
    "aiosonic.client": {
        **_CLIENT_HELPERS,
        "CRLF": f"{_HERE}:CRLF",
        "ConnectTimeout": "aiosonic.exceptions:ConnectTimeout",
        "Connection": "aiosonic.connection:Connection",
        "ConnectionDisconnected": "aiosonic.exceptions:ConnectionDisconnected",
        "DataType": "aiosonic.types:DataType",
        "DecompressionError": "aiosonic.exceptions:DecompressionError",
        "HTTPStatusError": "aiosonic.exceptions:HTTPStatusError",
        "HttpParsingError": "aiosonic.exceptions:HttpParsingError",
        "MissingWriterException": "aiosonic.exceptions:MissingWriterException",
        "MultipartFile": "aiosonic.multipart:MultipartFile",
        "MultipartForm": "aiosonic.multipart:MultipartForm",
        "ParsedBodyType": "aiosonic.types:ParsedBodyType",
        "ReadTimeout": "aiosonic.exceptions:ReadTimeout",
        "VERSION": "aiosonic.version:VERSION",
        "get_loop": "aiosonic.resolver:get_loop",
        "http_parser": "aiosonic.http_parser",
    },
    "aiosonic.auth": {
        "default_port": "aiosonic.utils:default_port",
        "http_parser": "aiosonic.http_parser",
    },
    "aiosonic.connection": {
        "BasePool": "aiosonic.pools:BasePool",
        "HttpParsingError": "aiosonic.exceptions:HttpParsingError",
        "MissingReaderException": "aiosonic.exceptions:MissingReaderException",
        "MissingWriterException": "aiosonic.exceptions:MissingWriterException",
        "ParsedBodyType": "aiosonic.types:ParsedBodyType",
        "TCPConnector": "aiosonic.connectors:TCPConnector",
        "Timeouts": "aiosonic.timeout:Timeouts",
        "connection_key": "aiosonic.utils:connection_key",
        "default_port": "aiosonic.utils:default_port",
        "get_default_ssl_context": "aiosonic.tls:get_default_ssl_context",
        "keepalive_flags": "aiosonic.tcp_helpers:keepalive_flags",
    },
    "aiosonic.connectors": {
        "BasePool": "aiosonic.pools:BasePool",
        "Http2MultiplexPool": "aiosonic.pools:Http2MultiplexPool",
        "HttpParsingError": "aiosonic.exceptions:HttpParsingError",
        "asyncio_sleep": "asyncio:sleep",
    },
    "aiosonic.http2": {
        "dlogger": f"{_HERE}:dlogger",
        "get_debug_logger": "aiosonic.utils:get_debug_logger",
    },
    "aiosonic.multipart": {
        "RANDOM_RANGE": f"{_HERE}:MULTIPART_RANDOM_RANGE",
        "get_loop": "aiosonic.resolver:get_loop",
    },
    "aiosonic.pools": {
        "ConnectionPoolAcquireTimeout": "aiosonic.exceptions:ConnectionPoolAcquireTimeout",
        "Http2Config": "aiosonic.http2:Http2Config",
        "Timeouts": "aiosonic.timeout:Timeouts",
        "connection_key": "aiosonic.utils:connection_key",
    },
    "aiosonic.proxy": {
        "url_without_userinfo": "aiosonic.utils:url_without_userinfo",
    },
    "aiosonic.web_socket_client": {
        "dlogger": f"{_HERE}:dlogger",
        "get_debug_logger": "aiosonic.utils:get_debug_logger",
        "http_parser": "aiosonic.http_parser",
    },
}


def resolve(module: str, name: str) -> object:
    """Return the object published ``module.name`` stands for in ours.

    Called by the ``__getattr__`` of ``module``, so only for names the module
    itself lacks. A target without ``:`` is a module.

    Raises:
        AttributeError: ``module`` published no such name (the error a
            missing module attribute always raises).
    """
    target = ALIASES.get(module, {}).get(name)
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    where, _, attribute = target.partition(":")
    found = importlib.import_module(where)
    return getattr(found, attribute) if attribute else found


def names(module: str, defined: Iterable[str]) -> list[str]:
    """Return ``dir()`` of ``module``: its own names plus the published ones served here."""
    return sorted({*defined, *ALIASES.get(module, ())})


class PublishedClientAttributes:
    """Attributes of the published ``HTTPClient`` that ours derives when read."""

    cookie_jar: CookieJar | None

    @property
    def cookies_map(self) -> dict[str, SimpleCookie]:
        """The cookies kept so far, a ``SimpleCookie`` per domain (a snapshot).

        Empty unless the client was made with ``handle_cookies=True``.
        """
        jar = self.cookie_jar
        return {} if jar is None else jar.by_domain()


class PublishedConnectorAttributes:
    """Attributes of the published ``TCPConnector`` that ours derives when read."""

    dns: DNSCache
    pool_configs: dict[str, PoolConfig]

    @property
    def use_dns_cache(self) -> bool:
        """Whether DNS answers are cached (``use_dns_cache=`` of the constructor)."""
        return self.dns.is_enabled

    @property
    def cache(self) -> DNSCache | None:
        """The DNS cache, or None when ``use_dns_cache=False``."""
        dns = self.dns
        return dns if dns.is_enabled else None

    @property
    def pool_size(self) -> int:
        """The size of the default pool (``pool_size=`` of the constructor)."""
        return self.pool_configs[":default"].size
