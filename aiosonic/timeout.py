"""Timeout policy (:class:`Timeouts`) and the one scope that enforces a deadline.

Each field of :class:`Timeouts` is enforced in exactly one layer:

* ``sock_connect``: DNS + TCP + TLS (+ proxy), by ``TCPConnector.acquire``;
* ``sock_read``: every wait for server bytes, by the connection's read timer;
* ``pool_acquire``: the wait for a pool slot, by ``TCPConnector.acquire``
  around ``pool.acquire()`` (so user-written pools get it too);
* ``request_timeout``: ``request()`` as a whole, by ``HTTPClient.request``.

``sock_read`` is not a scope: a connection re-arms one timer per wait instead of
creating a task per read (see ``aiosonic.connection``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from aiosonic.exceptions import BaseTimeout

__all__ = ["Timeouts", "deadline"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Four separate deadlines, in seconds; ``None`` disables one.

    Args:
        sock_connect: DNS resolution, TCP connect, TLS handshake and proxy
            set-up, together. Raises ``ConnectTimeout``.
        sock_read: Each wait for bytes from the server, in the head and the
            body, whatever the framing. Raises ``ReadTimeout``.
        pool_acquire: The wait for a free connection slot in the pool.
            Raises ``ConnectionPoolAcquireTimeout``.
        request_timeout: ``HTTPClient.request()`` as a whole, redirects
            included. Raises ``RequestTimeout``.
    """

    sock_connect: float | None = 5
    sock_read: float | None = 30
    pool_acquire: float | None = None
    request_timeout: float | None = 60


class deadline:
    """Bound the enclosed block by ``seconds`` and raise ``error()`` when it runs out.

    Only this scope's own expiry is converted: a timeout raised from inside by
    a narrower deadline (a ``ReadTimeout`` within a ``RequestTimeout`` scope)
    propagates unchanged. With ``seconds=None`` it costs nothing.

    Args:
        seconds: The budget; ``None`` means unbounded.
        error: Builds the exception raised on expiry.

    Raises:
        BaseTimeout: The subclass ``error`` builds, chained to the timeout.
    """

    __slots__ = ("_error", "_scope")

    def __init__(self, seconds: float | None, error: Callable[[], BaseTimeout]) -> None:
        self._error = error
        self._scope = asyncio.timeout(seconds) if seconds is not None else None

    async def __aenter__(self) -> None:
        if self._scope is not None:
            await self._scope.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scope = self._scope
        if scope is None:
            return
        try:
            await scope.__aexit__(exc_type, exc, tb)
        except TimeoutError as timeout_exc:
            if scope.expired() and not isinstance(exc, BaseTimeout):
                raise self._error() from timeout_exc
            raise
