"""Helpers the published aiosonic kept in this module, for code that imports them.

aiosonic itself does not use this module: each helper is written here on the
module that owns the job (URLs on :mod:`urllib.parse`, links on
:mod:`aiosonic.protocols.links`). One difference: :func:`get_debug_logger`
returns the ``aiosonic`` logger without adding a handler to it (a library
must not configure logging; the published one added a stream handler).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import ParseResult, SplitResult

from aiosonic.protocols.links import parse_link_header
from aiosonic.urls import ParamsType

__all__ = [
    "connection_key",
    "default_port",
    "get_debug_logger",
    "join_url",
    "merge_params",
    "parse_link_header",
    "url_without_userinfo",
]

_Parsed = ParseResult | SplitResult


def get_debug_logger() -> logging.Logger:
    """Return the ``aiosonic`` logger (no handler is added)."""
    return logging.getLogger("aiosonic")


def join_url(base_url: str, url: str) -> str:
    """Return ``url`` if absolute (http/https), else ``base_url`` and ``url`` joined by ``/``."""
    if url.startswith(("http://", "https://")):
        return url
    return f"{base_url.rstrip('/')}/{url.lstrip('/')}"


def default_port(urlparsed: _Parsed) -> int:
    """Return the URL's port, else 443 for ``https``/``wss`` and 80 for the rest."""
    if urlparsed.port:
        return urlparsed.port
    return 443 if urlparsed.scheme in ("https", "wss") else 80


def connection_key(urlparsed: _Parsed) -> str:
    """Return ``scheme://host:port`` (the default port filled in)."""
    return f"{urlparsed.scheme}://{urlparsed.hostname}:{default_port(urlparsed)}"


def url_without_userinfo(urlparsed: _Parsed) -> str:
    """Return the URL without its ``user:password@`` part."""
    host_part = urlparsed.netloc.rsplit("@", 1)[-1]
    return urlparsed._replace(netloc=host_part).geturl()


def merge_params(base: ParamsType, extra: ParamsType) -> ParamsType:
    """Merge query parameters; a name in ``extra`` replaces every pair of that name in ``base``."""
    if not base:
        return extra
    if not extra:
        return base
    base_pairs = _pairs(base)
    extra_pairs = _pairs(extra)
    replaced = {name for name, _ in extra_pairs}
    return [pair for pair in base_pairs if pair[0] not in replaced] + extra_pairs


def _pairs(params: ParamsType) -> list[tuple[str, Any]]:
    items = params.items() if isinstance(params, Mapping) else params or ()
    return [(str(name), value) for name, value in items]
