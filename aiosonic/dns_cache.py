"""The DNS cache in front of a resolver, as used by the connector.

Lives here: :class:`DNSCache`, which answers IP literals at once, keeps
answers for a time-to-live, bounds how many it keeps, and lets concurrent
lookups of one name share a single resolver call (single flight). It also
tells its owner of every answer it stores (``on_answer``), and refreshes an
answer when it expires while the owner still wants it (the connector, while
it holds connections to the host): connections follow the DNS records.

Does not live here: how names are resolved (:mod:`aiosonic.resolver`) and
any deadline on the lookup (the connector's ``sock_connect`` scope).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from aiosonic.exceptions import ResolveError
from aiosonic.resolver import AbstractResolver, ip_literal_answer

__all__ = ["DNSCache"]

#: What a cache entry is keyed on: host, port and address family.
_Key = tuple[str, int, int]
_Answers = list[dict[str, Any]]
#: ``on_answer(host, port, answers) -> keep fresh``: see :attr:`DNSCache.on_answer`.
AnswerListener = Callable[[str, int, _Answers], bool]


def _copy(answers: _Answers) -> _Answers:
    """Return a copy a caller may change without touching the cache."""
    return [dict(answer) for answer in answers]


class DNSCache:
    """Cache and share lookups made through a resolver.

    The cache is an async context manager; leaving the block closes it.

    Args:
        resolver: The resolver asked on a miss; the cache owns it and closes
            it in :meth:`close`.
        ttl_ms: How long an answer is kept at most, in milliseconds; an
            answer with its own DNS TTL (a ``"ttl"`` key) is kept no longer
            than that. ``None``: only the DNS TTL, if any, limits it.
        enabled: ``False`` sends every lookup to the resolver (IP literals
            still never reach it).
        max_entries: How many (host, port, family) answers are kept at most;
            past it the oldest stored answer is dropped.
        clock: Monotonic time source in seconds (tests inject a fake one).

    Attributes:
        on_answer: Called with ``(host, port, answers)`` each time the
            resolver's answer for a name is stored (in any family), in the
            first lookup and in every refresh. It returns whether the answer
            should be kept fresh: if so, the name is resolved again, in the
            background, as soon as the answer expires (and ``on_answer`` is
            called again). ``None``: nobody listens, nothing is refreshed.

    Raises:
        ValueError: ``ttl_ms`` is negative or ``max_entries`` is below 1.
    """

    def __init__(
        self,
        resolver: AbstractResolver,
        ttl_ms: int | None = 10000,
        enabled: bool = True,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_ms is not None and ttl_ms < 0:
            raise ValueError(f"ttl_ms must be >= 0 or None, got {ttl_ms}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self._resolver = resolver
        self._ttl_ms = ttl_ms
        self._enabled = enabled
        self._max_entries = max_entries
        self._clock = clock
        # key -> (expiry on self._clock or None for never, answers); oldest first.
        self._entries: OrderedDict[_Key, tuple[float | None, _Answers]] = OrderedDict()
        self._in_flight: dict[_Key, asyncio.Task[_Answers]] = {}
        # key -> the timer that refreshes its answer when it expires.
        self._refreshes: dict[_Key, asyncio.TimerHandle] = {}
        self._closed = False
        self.on_answer: AnswerListener | None = None

    def __repr__(self) -> str:
        ttl = "forever" if self._ttl_ms is None else f"{self._ttl_ms}ms"
        state = "closed" if self._closed else "enabled" if self._enabled else "disabled"
        return (
            f"<DNSCache [{state}, entries: {len(self._entries)}/{self._max_entries}, "
            f"ttl: {ttl}, in flight: {len(self._in_flight)}, "
            f"refreshing: {len(self._refreshes)}, resolver: {self._resolver!r}]>"
        )

    @property
    def is_enabled(self) -> bool:
        """Whether answers are kept (``enabled=`` of the constructor)."""
        return self._enabled

    async def __aenter__(self) -> DNSCache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def lookup(
        self, host: str, port: int, family: int = socket.AF_UNSPEC
    ) -> list[dict[str, Any]]:
        """Return the addresses of ``host``, from the cache when fresh.

        Concurrent lookups of the same (host, port, family) share one
        resolver call. If a caller is cancelled, the shared call goes on for
        the others; if it fails, every caller gets the error and nothing is
        cached.

        Args:
            host: Host name or IP literal (``[::1]`` accepted).
            port: The TCP port to put into each answer.
            family: ``socket.AF_INET``, ``socket.AF_INET6`` or
                ``socket.AF_UNSPEC``.

        Returns:
            A fresh list of answer dicts (see :mod:`aiosonic.resolver`).

        Raises:
            ResolveError: The name did not resolve, the cache is closed, or
                ``host`` is an IP literal of another family than ``family``.
        """
        literal = ip_literal_answer(host, port)
        if literal is not None:
            if family not in (socket.AF_UNSPEC, literal[0]["family"]):
                raise ResolveError(
                    f"cannot resolve {host}:{port}: the IP literal does not "
                    f"match the address family asked for ({family})"
                )
            return literal
        if self._closed:
            raise ResolveError(f"cannot resolve {host}:{port}: {self!r} is closed")
        if not self._enabled:
            return await self._resolver.resolve(host, port, family)
        key = (host, port, family)
        cached = self._fresh(key)
        if cached is not None:
            return _copy(cached)
        task = self._in_flight.get(key)
        if task is None:
            task = self._start(key)
        return _copy(await self._wait(task, host, port))

    def _start(self, key: _Key) -> asyncio.Task[_Answers]:
        """Start the shared resolver call for ``key``."""
        host, port, family = key
        task = asyncio.get_running_loop().create_task(
            self._resolver.resolve(host, port, family),
            name=f"aiosonic DNS lookup {host}:{port}",
        )
        self._in_flight[key] = task
        task.add_done_callback(lambda done: self._settle(key, done))
        return task

    def cache_state(
        self, host: str, port: int, family: int = socket.AF_UNSPEC
    ) -> Literal["literal", "hit", "miss"]:
        """Say how :meth:`lookup` would answer now, without looking anything up.

        Returns:
            ``"literal"``: ``host`` is an IP address (no DNS at all);
            ``"hit"``: a fresh answer is cached; ``"miss"``: the lookup asks
            the resolver, or waits for a lookup in flight.
        """
        if ip_literal_answer(host, port) is not None:
            return "literal"
        if self._enabled and self._fresh((host, port, family)) is not None:
            return "hit"
        return "miss"

    def keep_fresh(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> None:
        """Refresh the cached answer for ``host`` when it expires (see ``on_answer``).

        Does nothing for a name with no cached answer, one with no expiry, or
        one already being kept fresh. Cheap: the connector calls it once per
        new connection.
        """
        key = (host, port, family)
        if key in self._refreshes or self._closed:
            return
        entry = self._entries.get(key)
        if entry is not None and entry[0] is not None:
            self._schedule_refresh(key, entry[0])

    def _schedule_refresh(self, key: _Key, expires_at: float) -> None:
        old = self._refreshes.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(expires_at - self._clock(), 0.0)
        loop = asyncio.get_running_loop()
        self._refreshes[key] = loop.call_later(delay, self._refresh, key)

    def _refresh(self, key: _Key) -> None:
        """Resolve ``key`` again in the background (its answer expired while wanted)."""
        del self._refreshes[key]
        if not self._closed and key not in self._in_flight:
            self._start(key)

    async def _wait(self, task: asyncio.Task[_Answers], host: str, port: int) -> _Answers:
        """Wait for a shared lookup; cancelling this caller leaves it running.

        Raises:
            ResolveError: The lookup failed, or :meth:`close` abandoned it.
        """
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                # The shared lookup was cancelled (by close()), not this caller.
                raise ResolveError(
                    f"cannot resolve {host}:{port}: the lookup was abandoned "
                    "because the DNS cache closed"
                ) from None
            raise

    def _settle(self, key: _Key, task: asyncio.Task[_Answers]) -> None:
        """Store a finished shared lookup, or forget it if it failed."""
        if self._in_flight.get(key) is task:
            del self._in_flight[key]
        if task.cancelled():
            return
        # Reading the exception also marks it retrieved when no caller is
        # left waiting, so asyncio does not log it as lost.
        if task.exception() is not None or self._closed or not self._enabled:
            return
        self._store(key, task.result())

    def _fresh(self, key: _Key) -> _Answers | None:
        """Return the cached answers for ``key`` unless absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, answers = entry
        if expires_at is not None and self._clock() >= expires_at:
            del self._entries[key]
            return None
        return answers

    def _store(self, key: _Key, answers: _Answers) -> None:
        """Cache ``answers`` and drop the oldest entries past the bound.

        An answer that carries its DNS TTL (``"ttl"``, seconds, from
        :class:`~aiosonic.resolver.AsyncResolver`) is kept no longer than the
        shortest of them, and never longer than ``ttl_ms``.
        """
        if self._ttl_ms == 0:
            return
        ttls = [answer["ttl"] for answer in answers if answer.get("ttl")]
        keep = self._ttl_ms / 1000 if self._ttl_ms is not None else None
        if ttls:
            keep = min(ttls) if keep is None else min(keep, min(ttls))
        expires_at = None if keep is None else self._clock() + keep
        self._entries[key] = (expires_at, _copy(answers))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        listener = self.on_answer
        if listener is not None and listener(key[0], key[1], answers) and expires_at is not None:
            self._schedule_refresh(key, expires_at)

    def invalidate(self, host: str, port: int) -> None:
        """Forget the cached answers for ``host``:``port`` in every family.

        A lookup already in flight is not affected.
        """
        for key in [key for key in self._entries if key[0] == host and key[1] == port]:
            del self._entries[key]

    def clear(self) -> None:
        """Forget every cached answer. Lookups in flight are not affected."""
        self._entries.clear()

    async def close(self) -> None:
        """Abandon lookups in flight, drop the cache and close the resolver.

        Callers still waiting get :class:`ResolveError`. Calling it again
        does nothing.
        """
        if self._closed:
            return
        self._closed = True
        for timer in self._refreshes.values():
            timer.cancel()
        self._refreshes.clear()
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight.clear()
        self._entries.clear()
        await self._resolver.close()
