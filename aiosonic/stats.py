"""Connector statistics per origin, and the connector's book of live connections.

Lives here: the public value objects :class:`OriginStats` and
:class:`ConnectorStats` that ``TCPConnector.stats()`` returns, and
:class:`ConnectionBook`, the connector's record of the connections it opened,
per origin. The book is written only where something already happens once per
connection (a connection opened) and read when someone asks; nothing here runs
per request:

* ``opened``, ``tls_handshakes``, ``dns_hits`` and ``dns_misses`` are counted
  when a connection is opened;
* ``closed`` and ``reused`` are derived from the drivers when the book is
  swept (read, or a connection opened): a driver that is closed counts once,
  and each request it carried after its first counts as reused;
* ``idle``, ``leased`` and ``waiting`` are the pools' state at read time.

It also answers the DNS question of :meth:`ConnectionBook.stale`: which live
connections to a host talk to an address no longer in its current answer.

Does not live here: opening or closing anything (the connector does), and the
pools' own bookkeeping (:mod:`aiosonic.pools`). This module does no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any, Protocol

__all__ = ["ConnectionBook", "ConnectorStats", "OriginStats", "StatsCounts"]

#: Origins whose counters are kept one by one. A crawler talks to many hosts:
#: past this, origins with no live connection left are folded into the
#: connector's totals (oldest first) so the book stays bounded.
MAX_ORIGINS_KEPT = 1024

#: ``(scheme, host, port)``, as :class:`aiosonic.urls.Origin`.
OriginKey = tuple[str, str, int]


class Driver(Protocol):
    """What the book reads from a connection's driver."""

    is_closed: bool
    requests_count: int


class Slot(Protocol):
    """What the book reads from a pool slot (:class:`aiosonic.connection.Connection`)."""

    driver: Any

    def is_idle(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsCounts:
    """Connection counts: for one origin, or summed over all of them.

    Attributes:
        idle: Connections in a pool, open, waiting for a request.
        leased: Connections carrying requests now. An HTTP/2 connection counts
            once, however many streams it carries.
        waiting: Requests waiting for a connection slot (or an HTTP/2 stream).
        opened: Connections opened (TCP, and TLS for ``https``).
        reused: Requests sent on a connection that had carried one before. On
            HTTP/2 each stream after a connection's first counts, concurrent
            streams included: it is the requests that did not cost a
            connection.
        closed: Connections closed, by either side; counted when the book
            sees it (a read of :meth:`TCPConnector.stats`, or a new connection).
        dns_hits: Lookups for new connections answered from the DNS cache.
        dns_misses: Lookups for new connections that asked the resolver (or
            waited on a lookup in flight). IP literals and UNIX sockets count
            neither.
        tls_handshakes: TLS handshakes done with the origin (one per new
            ``https`` connection).
        tls_resumed: Those of the handshakes that resumed an earlier TLS
            session (``TCPConnector(tls_session_resumption=True)``).
    """

    idle: int = 0
    leased: int = 0
    waiting: int = 0
    opened: int = 0
    reused: int = 0
    closed: int = 0
    dns_hits: int = 0
    dns_misses: int = 0
    tls_handshakes: int = 0
    tls_resumed: int = 0

    def _counts_text(self) -> str:
        return (
            f"idle={self.idle}, leased={self.leased}, waiting={self.waiting}, "
            f"opened={self.opened}, reused={self.reused}, closed={self.closed}, "
            f"dns hits/misses={self.dns_hits}/{self.dns_misses}, tls={self.tls_handshakes}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginStats(StatsCounts):
    """Connection counts of one origin (see :class:`StatsCounts` for each field).

    Attributes:
        scheme: ``"http"`` or ``"https"``.
        host: Lower-case host, IPv6 without brackets.
        port: The port.
    """

    scheme: str
    host: str
    port: int

    def __repr__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"<OriginStats [{self.scheme}://{host}:{self.port}, {self._counts_text()}]>"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectorStats(StatsCounts):
    """What ``TCPConnector.stats()`` returns: totals, and the counts per origin.

    The counter fields (see :class:`StatsCounts`) are the totals over every
    origin, including origins no longer listed one by one (past
    ``MAX_ORIGINS_KEPT``, origins with no live connection are folded in).

    Attributes:
        origins: Counts per origin, keyed by ``(scheme, host, port)``.
    """

    origins: dict[OriginKey, OriginStats]

    def __repr__(self) -> str:
        return f"<ConnectorStats [origins={len(self.origins)}, {self._counts_text()}]>"

    def get(self, scheme: str, host: str, port: int) -> OriginStats:
        """Return the counts of one origin (all zero if it was never used)."""
        found = self.origins.get((scheme, host, port))
        return found if found is not None else OriginStats(scheme=scheme, host=host, port=port)


_COUNTED = tuple(f.name for f in fields(StatsCounts))
#: The counters that only grow (the others are the state now).
_CUMULATIVE = (
    "opened",
    "closed",
    "reused",
    "dns_hits",
    "dns_misses",
    "tls_handshakes",
    "tls_resumed",
)


class _Live:
    """One connection the book knows about: its slot, driver and peer address."""

    __slots__ = ("driver", "peer_ip", "slot")

    def __init__(self, slot: Slot, driver: Driver, peer_ip: str | None) -> None:
        self.slot = slot
        self.driver = driver
        self.peer_ip = peer_ip


class _OriginBook:
    """Counters of one origin and its connections not yet seen closed."""

    __slots__ = (
        "closed",
        "dns_hits",
        "dns_misses",
        "live",
        "opened",
        "reused",
        "tls_handshakes",
        "tls_resumed",
    )

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.reused = 0  # of connections already closed; live ones are added at read time
        self.dns_hits = 0
        self.dns_misses = 0
        self.tls_handshakes = 0
        self.tls_resumed = 0
        self.live: list[_Live] = []

    def sweep(self) -> None:
        """Count the connections found closed since the last sweep, and forget them."""
        live = self.live
        if not any(entry.driver.is_closed for entry in live):
            return
        kept = []
        for entry in live:
            driver = entry.driver
            if driver.is_closed:
                self.closed += 1
                self.reused += max(driver.requests_count - 1, 0)
            else:
                kept.append(entry)
        self.live = kept


class ConnectionBook:
    """The connector's record of its connections and their counts, per origin.

    Written once per connection opened (:meth:`opened`); read by
    ``TCPConnector.stats()`` (:meth:`snapshot`) and by DNS following
    (:meth:`stale`).
    """

    def __init__(self) -> None:
        self._origins: dict[OriginKey, _OriginBook] = {}
        # Counters of origins dropped past MAX_ORIGINS_KEPT.
        self._folded = _OriginBook()

    def __repr__(self) -> str:
        live = sum(len(book.live) for book in self._origins.values())
        return f"<ConnectionBook [origins={len(self._origins)}, live={live}]>"

    def opened(
        self,
        origin: OriginKey,
        slot: Slot,
        driver: Driver,
        *,
        tls: bool,
        tls_resumed: bool = False,
        dns_hits: int,
        dns_misses: int,
        peer_ip: str | None,
    ) -> None:
        """Record a connection just opened to ``origin`` on ``slot``.

        Args:
            origin: ``(scheme, host, port)`` of the request that opened it.
            slot: The pool slot it is attached to.
            driver: Its driver (closed drivers count as closed connections).
            tls: A TLS handshake with the origin was done.
            tls_resumed: That handshake resumed an earlier session.
            dns_hits: Lookups answered from the DNS cache to open it.
            dns_misses: Lookups that went to the resolver to open it.
            peer_ip: The address it is connected to, when it is the origin's
                own (not a proxy's or a UNIX socket's): DNS following uses it.
        """
        book = self._origins.get(origin)
        if book is None:
            if len(self._origins) >= MAX_ORIGINS_KEPT:
                self._fold_unused()
            book = self._origins[origin] = _OriginBook()
        else:
            book.sweep()  # keeps ``live`` bounded by the open connections (+1)
        book.opened += 1
        book.tls_handshakes += tls
        book.tls_resumed += tls_resumed
        book.dns_hits += dns_hits
        book.dns_misses += dns_misses
        book.live.append(_Live(slot, driver, peer_ip))

    def _fold_unused(self) -> None:
        """Fold the oldest origins with no live connection into the totals."""
        folded = self._folded
        for origin in list(self._origins):
            book = self._origins[origin]
            book.sweep()
            if book.live:
                continue
            for name in _CUMULATIVE:
                setattr(folded, name, getattr(folded, name) + getattr(book, name))
            del self._origins[origin]
            if len(self._origins) < MAX_ORIGINS_KEPT // 2:
                return

    def stale(self, host: str, port: int, addresses: Iterable[str]) -> tuple[list[Any], bool]:
        """Find the live connections to ``host``:``port`` whose peer is not in ``addresses``.

        Args:
            host: The host name that was resolved.
            port: The port of the lookup.
            addresses: The addresses of the host's current answer.

        Returns:
            ``(slots, kept)``: the slots to take out of reuse, and whether any
            connection to ``host``:``port`` at an address still in the answer
            remains (the connector keeps the answer fresh while one does).
        """
        current = {_normal_ip(address) for address in addresses}
        slots: list[Any] = []
        kept = False
        for (_, origin_host, origin_port), book in self._origins.items():
            if origin_host != host or origin_port != port:
                continue
            book.sweep()
            for entry in book.live:
                if entry.peer_ip is None:
                    continue
                if _normal_ip(entry.peer_ip) in current:
                    kept = True
                elif entry.slot.driver is entry.driver:
                    slots.append(entry.slot)
        return slots, kept

    def snapshot(self, waiting: Iterable[OriginKey]) -> ConnectorStats:
        """Return the counts now, with ``waiting`` the origin of each waiting request."""
        waits: dict[OriginKey, int] = {}
        for origin in waiting:
            waits[origin] = waits.get(origin, 0) + 1
        per_origin: dict[OriginKey, OriginStats] = {}
        for origin in dict.fromkeys([*self._origins, *waits]):
            book = self._origins.get(origin)
            idle = leased = reused = 0
            if book is not None:
                book.sweep()
                for entry in book.live:
                    reused += max(entry.driver.requests_count - 1, 0)
                    if entry.slot.driver is not entry.driver:
                        continue  # the slot moved on (its old driver closes)
                    if entry.slot.is_idle():
                        idle += 1
                    else:
                        leased += 1
            book = book or _OriginBook()
            scheme, host, port = origin
            per_origin[origin] = OriginStats(
                scheme=scheme,
                host=host,
                port=port,
                idle=idle,
                leased=leased,
                waiting=waits.get(origin, 0),
                opened=book.opened,
                reused=book.reused + reused,
                closed=book.closed,
                dns_hits=book.dns_hits,
                dns_misses=book.dns_misses,
                tls_handshakes=book.tls_handshakes,
                tls_resumed=book.tls_resumed,
            )
        folded = self._folded
        totals = {name: sum(getattr(one, name) for one in per_origin.values()) for name in _COUNTED}
        for name in _CUMULATIVE:
            totals[name] += getattr(folded, name)
        return ConnectorStats(origins=per_origin, **totals)

    def live_slots(self) -> Iterator[Any]:
        """Yield the slots of every connection not yet seen closed (for tests and repr)."""
        for book in self._origins.values():
            for entry in book.live:
                yield entry.slot


def _normal_ip(address: str) -> str:
    """``::0001`` -> ``::1``: the one spelling of an address, to compare answers with peers."""
    try:
        return str(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return address
