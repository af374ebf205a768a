"""Open one transport: DNS through the connector's cache, then TCP (and TLS).

:class:`TCPDialer` resolves a host (both address families), orders the
addresses (RFC 6724, families interleaved) and races connection attempts to
them, Happy Eyeballs style (RFC 8305, :mod:`aiosonic.happy_eyeballs`). One
attempt is TCP, the connector's :class:`~aiosonic.tcp_helpers.SocketOptions`
and, for ``https``, the TLS handshake: a server that takes the TCP connection
but never answers TLS must not win the race and stall the request. It records
the time spent in DNS for the response's timings, and whether the lookups
were answered from the cache (the connector's statistics). The connector uses it
directly, and :mod:`aiosonic.tunnel` uses it to reach proxies. Deadlines are
the caller's (``sock_connect`` around the whole dial, race included).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ConnectError, TLSError
from aiosonic.happy_eyeballs import (
    DEFAULT_DELAY,
    interleave_families,
    race,
    sort_destinations,
    usable_family,
)
from aiosonic.tcp_helpers import SocketOptions

__all__ = ["TCPDialer"]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)
_Answer = dict[str, Any]

#: bind() errors that mean the local address cannot be used (not local, or
#: no port free on it).
_LOCAL_ADDRESS_ERRNOS = frozenset({errno.EADDRNOTAVAIL, errno.EADDRINUSE})


def _host_of(answer: _Answer) -> str:
    return str(answer["host"])


def _family_of(answer: _Answer) -> int:
    return int(answer["family"])


def _label(answer: _Answer) -> str:
    """``[::1]:443`` or ``127.0.0.1:443``, for error messages."""
    host = _host_of(answer)
    return f"[{host}]:{answer['port']}" if ":" in host else f"{host}:{answer['port']}"


def _abort(connection: tuple[asyncio.Transport, Any]) -> None:
    """Close the transport of an attempt that lost the race, without a goodbye.

    (uvloop's transports have ``abort()`` without subclassing asyncio's.)
    """
    connection[0].abort()


class TCPDialer:
    """DNS (through the cache) and TCP (+TLS) for one new connection.

    Implements :class:`aiosonic.tunnel.Dialer`; records the time spent in DNS
    for the response's timings, and how many lookups the cache answered
    (``dns_hits``) or sent to the resolver (``dns_misses``).

    Args:
        dns: The connector's DNS cache.
        socket_options: Options for the new socket; ``None`` leaves the
            loop's defaults (``TCP_NODELAY`` on).
        happy_eyeballs_delay: Seconds between the starts of connection
            attempts to a host's addresses (RFC 8305 §5); ``None`` tries them
            one after another, each only after the one before failed.
        uds: Path of a UNIX domain socket to connect to instead of any host's
            address: no DNS, no race, no socket options. The host still names
            the TLS server (SNI, certificate check).
    """

    __slots__ = ("_delay", "_dns", "_options", "_uds", "dns_hits", "dns_misses", "dns_seconds")

    def __init__(
        self,
        dns: DNSCache,
        socket_options: SocketOptions | None = None,
        happy_eyeballs_delay: float | None = DEFAULT_DELAY,
        uds: str | None = None,
    ) -> None:
        self._dns = dns
        self._options = socket_options
        self._delay = happy_eyeballs_delay
        self._uds = uds
        self.dns_seconds = 0.0
        self.dns_hits = 0
        self.dns_misses = 0

    async def _lookup(self, host: str, port: int) -> list[_Answer]:
        dns = self._dns
        state = dns.cache_state(host, port, socket.AF_UNSPEC)
        if state == "hit":
            self.dns_hits += 1
        elif state == "miss":
            self.dns_misses += 1
        started = time.perf_counter()
        try:
            return await dns.lookup(host, port, socket.AF_UNSPEC)
        finally:
            self.dns_seconds += time.perf_counter() - started

    async def resolve_address(self, host: str, port: int) -> str:
        """Resolve ``host`` to the address it would be tried at first.

        Raises:
            ResolveError: The name did not resolve.
            ConnectError: Only IPv6 addresses, and no IPv6 support here.
        """
        candidates = _order(await self._lookup(host, port), None)
        if not candidates:
            raise ConnectError(f"cannot connect to {host}:{port}: no IPv6 support here")
        return _host_of(candidates[0])

    async def open_transport(
        self,
        host: str,
        port: int,
        factory: Callable[[], _P],
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> tuple[asyncio.Transport, _P]:
        """Resolve ``host`` and race connections to its addresses; keep the first up.

        Raises:
            ConnectError: Every address refused, was unreachable, or (with
                ``local_address``) none is of the local address's family.
            TLSError: The TLS handshake or certificate check failed at every
                address that took the TCP connection.
        """
        if self._uds is not None:
            return await self._open_unix(self._uds, host, port, factory, ssl_ctx, server_hostname)
        options = self._options
        local_family = options.local_family if options is not None else None
        candidates = _order(await self._lookup(host, port), local_family)
        if not candidates:
            if options is None or options.local_address is None:
                reason = "no IPv6 support here"
            else:
                reason = f"none of its addresses is of the family of {options.local_address!r}"
            raise ConnectError(f"cannot connect to {host}:{port}: {reason}")
        if len(candidates) == 1:  # nothing to race: no tasks
            try:
                return await self._attempt(candidates[0], factory, ssl_ctx, server_hostname)
            except OSError as exc:  # ssl.SSLError included
                failure, cause = _failure(host, port, candidates, [exc])
                raise failure from cause
        attempts = [
            _bind_attempt(self._attempt, answer, factory, ssl_ctx, server_hostname)
            for answer in candidates
        ]
        try:
            return await race(attempts, self._delay, _abort)
        except ExceptionGroup as group:
            errors: list[OSError] = []
            for error in group.exceptions:
                if not isinstance(error, OSError):
                    raise error from None  # a bug or a protocol's own error: as it is
                errors.append(error)
            failure, cause = _failure(host, port, candidates, errors)
            raise failure from cause

    async def _open_unix(
        self,
        path: str,
        host: str,
        port: int,
        factory: Callable[[], _P],
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> tuple[asyncio.Transport, _P]:
        """Connect to the UNIX socket at ``path`` (and do TLS as ``server_hostname``)."""
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_unix_connection(
                factory,
                path,
                ssl=ssl_ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=None,
            )
        except ssl.SSLError as exc:
            raise TLSError.from_handshake(f"{host}:{port} (UNIX socket {path!r})", exc) from exc
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {host}:{port} through the UNIX socket {path!r}: "
                f"{exc.strerror or exc}"
            ) from exc
        return transport, protocol

    async def _attempt(
        self,
        answer: _Answer,
        factory: Callable[[], _P],
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> tuple[asyncio.Transport, _P]:
        """Connect to one address: TCP (and TLS when asked), then the socket options."""
        loop = asyncio.get_running_loop()
        options = self._options
        if options is not None and options.needs_own_socket:
            transport, protocol = await _connect_own_socket(
                loop, options, answer, factory, ssl_ctx, server_hostname
            )
        else:
            local = options.local_address if options is not None else None
            try:
                transport, protocol = await loop.create_connection(
                    factory,
                    host=answer["host"],
                    port=answer["port"],
                    family=answer["family"],
                    proto=answer["proto"],
                    flags=answer["flags"],
                    ssl=ssl_ctx,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=None,
                    local_addr=(local, 0) if local is not None else None,
                )
            except OSError as exc:
                if local is not None and exc.errno in _LOCAL_ADDRESS_ERRNOS:
                    # uvloop's bind error does not say which address it was.
                    raise ConnectError(
                        f"cannot connect from local address {local!r}: {exc}"
                    ) from exc
                raise
        if options is not None and options.has_sockopts:
            try:
                options.apply(transport.get_extra_info("socket"))
            except BaseException:
                transport.abort()
                raise
        return transport, protocol


def _order(answers: list[_Answer], local_family: int | None) -> list[_Answer]:
    """Drop unusable and repeated addresses; sort and interleave the rest."""
    seen: set[tuple[str, int]] = set()
    usable: list[_Answer] = []
    for answer in answers:
        family = _family_of(answer)
        where = (_host_of(answer), int(answer["port"]))
        if where in seen or not usable_family(family):
            continue
        if local_family is not None and family != local_family:
            continue
        seen.add(where)
        usable.append(answer)
    if len(usable) < 2:
        return usable
    return interleave_families(sort_destinations(usable, _host_of), _family_of)


def _bind_attempt(
    attempt: Callable[
        [_Answer, Callable[[], _P], ssl.SSLContext | None, str | None],
        Awaitable[tuple[asyncio.Transport, _P]],
    ],
    answer: _Answer,
    factory: Callable[[], _P],
    ssl_ctx: ssl.SSLContext | None,
    server_hostname: str | None,
) -> Callable[[], Awaitable[tuple[asyncio.Transport, _P]]]:
    """Freeze one address into a no-argument attempt for :func:`race`."""
    return lambda: attempt(answer, factory, ssl_ctx, server_hostname)


async def _connect_own_socket(
    loop: asyncio.AbstractEventLoop,
    options: SocketOptions,
    answer: _Answer,
    factory: Callable[[], _P],
    ssl_ctx: ssl.SSLContext | None,
    server_hostname: str | None,
) -> tuple[asyncio.Transport, _P]:
    """Make and bind the socket ourselves (``interface``), connect it, then hand it over.

    ``SO_BINDTODEVICE`` must be set before connect, which
    ``loop.create_connection(host=...)`` gives no way to do. This path costs
    more on uvloop (its own connect is faster), so it is only taken when needed.
    """
    sock = socket.socket(answer["family"], socket.SOCK_STREAM, answer["proto"])
    try:
        sock.setblocking(False)
        options.bind(sock)
        await loop.sock_connect(sock, (answer["host"], answer["port"]))
    except BaseException:
        sock.close()
        raise
    # From here the loop owns the socket and closes it if this fails.
    return await loop.create_connection(
        factory,
        sock=sock,
        ssl=ssl_ctx,
        server_hostname=server_hostname,
        ssl_handshake_timeout=None,
    )


def _failure(
    host: str, port: int, candidates: list[_Answer], errors: list[OSError]
) -> tuple[ConnectError, BaseException | None]:
    """Build the error for a dial where every address failed, and its cause.

    A TLS failure wins over refused or unreachable addresses: it is what the
    caller can act on.
    """
    for error in errors:
        if isinstance(error, TLSError):
            return error, error.__cause__
        if isinstance(error, ssl.SSLError):
            return TLSError.from_handshake(f"{host}:{port}", error), error
    if len(errors) == 1:
        where = _label(candidates[0])
        return ConnectError(f"cannot connect to {host}:{port} ({where}): {errors[0]}"), errors[0]
    tried = "; ".join(
        f"{_label(answer)}: {error}" for answer, error in zip(candidates, errors, strict=True)
    )
    message = f"cannot connect to {host}:{port} ({len(errors)} addresses tried: {tried})"
    return ConnectError(message), errors[-1]
