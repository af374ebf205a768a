"""Resolver strategies: turn a host name into the addresses to connect to.

Lives here: the :class:`AbstractResolver` seam, a resolver that runs the
system's ``getaddrinfo()`` in the loop's thread pool (:class:`ThreadedResolver`,
the default), one that speaks DNS itself through c-ares
(:class:`AsyncResolver`), and :func:`ip_literal_answer`, which answers IP
literals without any lookup.

Does not live here: caching and single-flight of lookups
(:mod:`aiosonic.dns_cache`), connect deadlines (the connector owns the
``sock_connect`` scope around resolve + connect), and opening sockets.

Every answer is a list of dicts with exactly the keys ``hostname`` (the name
asked), ``host`` (the IP as text, with ``%scope`` for a scoped IPv6 address),
``port``, ``family``, ``proto`` and ``flags``. ``flags`` is
``AI_NUMERICHOST | AI_NUMERICSERV`` so that the connector can hand an answer
straight to ``loop.create_connection()`` without a second lookup.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import aiodns
import pycares

from aiosonic.exceptions import ResolveError

__all__ = [
    "AbstractResolver",
    "AsyncResolver",
    "DefaultResolver",
    "ThreadedResolver",
    "get_loop",
    "ip_literal_answer",
]

#: Flags put on every answer: the host and port are already numeric, so the
#: ``getaddrinfo()`` inside ``loop.create_connection()`` must not look again.
ANSWER_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV

#: getnameinfo() flags that format a socket address without any lookup.
_NUMERIC_NAMEINFO = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
#: pycares 5 takes ``"ip:port"`` nameservers itself; pycares 4 (under the
#: oldest aiodns we allow, 3.2) takes bare addresses and one port for all.
_PYCARES_TAKES_PORTS = int(pycares.__version__.split(".")[0]) >= 5


def get_loop() -> asyncio.AbstractEventLoop:
    """Return the running event loop (kept from the published package).

    Raises:
        RuntimeError: No event loop is running in this thread.
    """
    return asyncio.get_running_loop()


def _family_name(family: int) -> str:
    """Return a readable name for an address family, for error messages."""
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


def _answer(
    hostname: str, host: str, port: int, family: int, proto: int, ttl: int = 0
) -> dict[str, Any]:
    """Build one answer dict with the keys every resolver promises.

    ``ttl`` (seconds) is added as a ``"ttl"`` key when the resolver knows it
    (a DNS answer's, above 0); the DNS cache keeps the answer no longer.
    """
    answer = {
        "hostname": hostname,
        "host": host,
        "port": port,
        "family": family,
        "proto": proto,
        "flags": ANSWER_FLAGS,
    }
    if ttl > 0:
        answer["ttl"] = ttl
    return answer


def ip_literal_answer(host: str, port: int) -> list[dict[str, Any]] | None:
    """Answer an IP literal without any lookup.

    Accepts dotted IPv4 (``127.0.0.1``), IPv6 (``::1``), bracketed IPv6 as it
    appears in a URL (``[::1]``), and a scoped IPv6 address (``fe80::1%eth0``;
    inside brackets the RFC 6874 ``%25`` zone separator is accepted too).

    Args:
        host: The host as given by the caller.
        port: The TCP port, copied into the answer.

    Returns:
        A one-element answer list when ``host`` is an IP literal, else
        ``None`` (the host is a name that needs resolving).
    """
    text = host
    if text.startswith("[") and text.endswith("]"):
        # RFC 6874 §2: in a URL the zone separator "%" is written "%25".
        text = text[1:-1].replace("%25", "%", 1)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return [_answer(host, str(address), port, family, socket.IPPROTO_TCP)]


def _literal_for_family(host: str, port: int, family: int) -> list[dict[str, Any]] | None:
    """Answer an IP literal if its family is acceptable for ``family``.

    Raises:
        ResolveError: ``host`` is a literal of another family than asked.
    """
    answer = ip_literal_answer(host, port)
    if answer is None:
        return None
    literal_family = answer[0]["family"]
    if family not in (socket.AF_UNSPEC, literal_family):
        raise ResolveError(
            f"cannot resolve {host}:{port}: an {_family_name(literal_family)} "
            f"literal was asked for as {_family_name(family)}"
        )
    return answer


def _sockaddr_host(family: int, sockaddr: tuple[Any, ...]) -> str:
    """Return the connectable host text of a socket address.

    A scoped IPv6 address (link-local ``fe80::/10``) needs its zone to be
    reachable, and the first item of the sockaddr tuple drops it: format the
    whole tuple numerically (no lookup happens) to get ``fe80::1%eth0``.
    """
    address = sockaddr[0]
    if isinstance(address, bytes):
        address = address.decode("ascii")
    if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]:
        scoped, _service = socket.getnameinfo(
            (address, int(sockaddr[1]), int(sockaddr[2]), int(sockaddr[3])),
            _NUMERIC_NAMEINFO,
        )
        return scoped
    return str(address)


def _unique(answers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated answers (same host, port and family), keeping order."""
    seen: set[tuple[str, int, int]] = set()
    unique: list[dict[str, Any]] = []
    for answer in answers:
        key = (answer["host"], answer["port"], answer["family"])
        if key not in seen:
            seen.add(key)
            unique.append(answer)
    return unique


class AbstractResolver(ABC):
    """The seam between the connector and a way of resolving names.

    A resolver is an async context manager; leaving the block closes it.
    """

    @abstractmethod
    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        """Resolve ``host`` to the addresses to connect to.

        Args:
            host: The host name (or IP literal) to resolve.
            port: The TCP port to put into each answer.
            family: ``socket.AF_INET``, ``socket.AF_INET6`` or
                ``socket.AF_UNSPEC`` for both.

        Returns:
            At least one answer dict, without repeats, in preference order.

        Raises:
            ResolveError: The name did not resolve to any address.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release what the resolver holds. Calling it again does nothing."""

    async def __aenter__(self) -> AbstractResolver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class ThreadedResolver(AbstractResolver):
    """Resolve with the system ``getaddrinfo()`` in the loop's thread pool.

    It honours ``/etc/hosts``, NSS and the system's DNS settings, at the cost
    of a worker thread per lookup in flight.
    """

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, whose thread pool runs the lookups (the published attribute).

        Raises:
            RuntimeError: No event loop is running in this thread.
        """
        return get_loop()

    async def resolve(
        self, hostname: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        """Resolve ``hostname`` with ``getaddrinfo()`` (see :class:`AbstractResolver`).

        Raises:
            ResolveError: ``getaddrinfo()`` failed or found nothing.
        """
        literal = _literal_for_family(hostname, port, family)
        if literal is not None:
            return literal
        loop = asyncio.get_running_loop()
        try:
            # No AI_ADDRCONFIG: it hides every address on a hostname whose only
            # interface is loopback, which is exactly where tests run.
            infos = await loop.getaddrinfo(hostname, port, family=family, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ResolveError(
                f"cannot resolve {hostname}:{port} ({_family_name(family)}): "
                f"getaddrinfo failed: {exc.strerror} [gaierror {exc.errno}]"
            ) from exc
        except (OSError, UnicodeError) as exc:
            raise ResolveError(
                f"cannot resolve {hostname}:{port} ({_family_name(family)}): {exc!r}"
            ) from exc
        answers = _unique(
            _answer(
                hostname,
                _sockaddr_host(info_family, sockaddr),
                int(sockaddr[1]),
                info_family,
                proto,
            )
            for info_family, _type, proto, _canonname, sockaddr in infos
        )
        if not answers:
            raise ResolveError(
                f"cannot resolve {hostname}:{port} ({_family_name(family)}): "
                "getaddrinfo returned no address"
            )
        return answers

    async def close(self) -> None:
        """Do nothing: the thread pool belongs to the event loop."""


class AsyncResolver(AbstractResolver):
    """Resolve through c-ares (the ``aiodns`` package), without threads.

    The c-ares channel is made on the first lookup, inside the running loop,
    so the resolver itself may be built before the loop starts. c-ares reads
    ``/etc/hosts`` as well as DNS, and answers ``localhost`` itself.

    Args:
        nameservers: DNS servers to ask instead of the system's, as
            ``"ip"`` or ``"ip:port"`` (``"[ipv6]:port"``) strings.
        *args: Passed on to ``aiodns.DNSResolver`` after ``nameservers``.
        **kwargs: Passed on to ``aiodns.DNSResolver`` (``timeout``,
            ``tries``, ``rotate``, ...).
    """

    def __init__(self, nameservers: list[str] | None = None, *args: Any, **kwargs: Any) -> None:
        self._nameservers = list(nameservers) if nameservers else None
        self._args = args
        self._kwargs = kwargs
        self._dns: aiodns.DNSResolver | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._dns is not None else "idle"
        return f"<{type(self).__name__} nameservers={self._nameservers!r} {state}>"

    def _channel(self, host: str, port: int) -> aiodns.DNSResolver:
        """Return the c-ares resolver, making it on first use.

        Raises:
            ResolveError: The resolver is closed, or c-ares refused its
                configuration.
        """
        if self._closed:
            raise ResolveError(f"cannot resolve {host}:{port}: {self!r} is closed")
        if self._dns is None:
            kwargs = dict(self._kwargs)
            if not self._args:
                kwargs.setdefault("loop", asyncio.get_running_loop())
            nameservers = self._nameservers
            try:
                if nameservers and not _PYCARES_TAKES_PORTS:
                    nameservers = _with_one_port(nameservers, kwargs)
                self._dns = aiodns.DNSResolver(nameservers, *self._args, **kwargs)
            except (aiodns.error.DNSError, ValueError, TypeError) as exc:
                raise ResolveError(
                    f"cannot resolve {host}:{port}: c-ares refused its "
                    f"configuration (nameservers={self._nameservers!r}): {exc!r}"
                ) from exc
        return self._dns

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        """Resolve ``host`` with c-ares (see :class:`AbstractResolver`).

        Raises:
            ResolveError: The lookup failed (NXDOMAIN, no data, timeout, bad
                name), found nothing, or the resolver is closed.
        """
        literal = _literal_for_family(host, port, family)
        if literal is not None:
            return literal
        dns = self._channel(host, port)
        where = f"{host}:{port} ({_family_name(family)})"
        try:
            result = await dns.getaddrinfo(
                host, family=socket.AddressFamily(family), port=port, type=socket.SOCK_STREAM
            )
        except aiodns.error.DNSError as exc:
            # aiodns raises DNSError(code, reason), code being an ARES_* status.
            code = exc.args[0] if exc.args else None
            reason = exc.args[1] if len(exc.args) > 1 else "DNS lookup failed"
            raise ResolveError(f"cannot resolve {where}: {reason} [c-ares error {code}]") from exc
        except ValueError as exc:  # includes the UnicodeError of a bad IDNA name
            raise ResolveError(f"cannot resolve {where}: {exc!r}") from exc
        answers = _unique(
            _answer(
                host,
                _sockaddr_host(node.family, node.addr),
                int(node.addr[1]),
                int(node.family),
                node.protocol,
                # c-ares gives 0 for an /etc/hosts answer: no TTL, the cache's own applies.
                int(node.ttl),
            )
            for node in result.nodes
        )
        if not answers:
            raise ResolveError(f"cannot resolve {where}: c-ares returned no address")
        return answers

    async def close(self) -> None:
        """Cancel lookups in flight and release the c-ares channel.

        Lookups still waiting fail with :class:`ResolveError`. Calling it
        again does nothing.
        """
        self._closed = True
        dns, self._dns = self._dns, None
        if dns is None:
            return
        close = getattr(dns, "close", None)
        if close is None:
            # aiodns before 3.3 has no close(): cancel what is in flight and
            # let the channel go with the object.
            dns.cancel()
            return
        result = close()
        if inspect.isawaitable(result):
            await result


def _with_one_port(nameservers: list[str], kwargs: dict[str, Any]) -> list[str]:
    """Return ``nameservers`` without ports, setting pycares 4's one port in ``kwargs``.

    Raises:
        ValueError: The nameservers name different ports (pycares 4 has one
            port for all; pycares 5 takes each its own).
    """
    hosts: list[str] = []
    ports: set[int] = set()
    for server in nameservers:
        host, port = _split_nameserver(server)
        hosts.append(host)
        if port is not None:
            ports.add(port)
    if len(ports) > 1:
        raise ValueError(
            f"pycares {pycares.__version__} takes one port for all nameservers, "
            f"not {sorted(ports)}; install pycares>=5 for a port each"
        )
    if ports:
        port = ports.pop()
        kwargs.setdefault("udp_port", port)
        kwargs.setdefault("tcp_port", port)
    return hosts


def _split_nameserver(server: str) -> tuple[str, int | None]:
    """Split ``"ip"``, ``"ip:port"`` or ``"[ipv6]:port"`` into address and port."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, None


#: The resolver a connector uses when given none.
DefaultResolver = ThreadedResolver
