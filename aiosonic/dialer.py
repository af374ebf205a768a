"""Open one transport: DNS through the connector's cache, then TCP (and TLS).

:class:`TCPDialer` tries each resolved address in turn and records the time spent
in DNS for the response's timings. The connector uses it directly, and
:mod:`aiosonic.tunnel` uses it to reach proxies. Deadlines are the caller's
(``sock_connect`` around the whole dial).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ConnectError, TLSError

__all__ = ["TCPDialer"]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)


class TCPDialer:
    """DNS (through the cache) and TCP (+TLS) for one new connection.

    Implements :class:`aiosonic.tunnel.Dialer`; records the time spent in DNS
    for the response's timings.
    """

    __slots__ = ("_dns", "dns_seconds")

    def __init__(self, dns: DNSCache) -> None:
        self._dns = dns
        self.dns_seconds = 0.0

    async def _lookup(self, host: str, port: int) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            return await self._dns.lookup(host, port, socket.AF_UNSPEC)
        finally:
            self.dns_seconds += time.perf_counter() - started

    async def resolve_address(self, host: str, port: int) -> str:
        """Resolve ``host`` to its first address."""
        answers = await self._lookup(host, port)
        return str(answers[0]["host"])

    async def open_transport(
        self,
        host: str,
        port: int,
        factory: Callable[[], _P],
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> tuple[asyncio.Transport, _P]:
        """Resolve ``host`` and connect to each address in turn until one answers.

        Raises:
            ConnectError: Every address refused or was unreachable.
            TLSError: The TLS handshake or certificate check failed.
        """
        loop = asyncio.get_running_loop()
        answers = await self._lookup(host, port)
        errors: list[OSError] = []
        for answer in answers:
            try:
                return await loop.create_connection(
                    factory,
                    host=answer["host"],
                    port=answer["port"],
                    family=answer["family"],
                    proto=answer["proto"],
                    flags=answer["flags"],
                    ssl=ssl_ctx,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=None,
                )
            except ssl.SSLError as exc:
                raise TLSError.from_handshake(f"{host}:{port}", exc) from exc
            except OSError as exc:
                errors.append(exc)
        last = errors[-1] if errors else None
        raise ConnectError(
            f"cannot connect to {host}:{port} ({len(errors)} address(es) tried): {last}"
        ) from last
