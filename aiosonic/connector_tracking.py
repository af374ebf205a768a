"""What a connector tracks so that its close can reach everything in flight.

Two registries, each read only off the request fast path:

* :class:`SlotWaiters`: the tasks waiting for a pool slot, and their pool
  keys. ``close()`` cancels them and each fails with ``ConnectorClosed``;
  ``stats()`` counts them per origin.
* :class:`OpenWebSockets`: the WebSockets opened through the connector and
  still open. They are in no pool; ``close()`` closes them (1001, all at
  once, each bounded by its own close timeout) and ``wait_requests()`` waits
  for them.

They are objects of their own, not attributes of the connector, because the
connector is read on every request and CPython 3.11 keeps an instance's
attributes inline (fast to read) only up to 30 of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from aiosonic.urls import PoolKey

__all__ = ["OpenWebSocket", "OpenWebSockets", "SlotWaiters"]

logger = logging.getLogger(__name__)


class SlotWaiters:
    """Tasks waiting for a connection slot, and those the connector's close cancelled."""

    __slots__ = ("_cancelled", "_waiting")

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Task[Any], PoolKey] = {}
        self._cancelled: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<SlotWaiters [waiting={len(self._waiting)}, cancelled={len(self._cancelled)}]>"

    def __len__(self) -> int:
        return len(self._waiting)

    def enter(self, task: asyncio.Task[Any], key: PoolKey) -> None:
        """Note that ``task`` waits for a slot of the pool for ``key``."""
        self._waiting[task] = key

    def leave(self, task: asyncio.Task[Any]) -> None:
        """Note that ``task`` no longer waits (it got a slot, failed or was cancelled)."""
        del self._waiting[task]

    def cancelled_by_close(self, task: asyncio.Task[Any]) -> bool:
        """Return whether :meth:`cancel_all` cancelled ``task`` (and forget it)."""
        if task in self._cancelled:
            self._cancelled.discard(task)
            return True
        return False

    def cancel_all(self) -> None:
        """Cancel every waiting task; each then asks :meth:`cancelled_by_close`."""
        for task in list(self._waiting):
            self._cancelled.add(task)
            task.cancel()

    def origins(self) -> Iterator[tuple[str, str, int]]:
        """``(scheme, host, port)`` of each wait, one per waiting task."""
        return (key[:3] for key in self._waiting.values())


class OpenWebSocket(Protocol):
    """What the connector needs of an open WebSocket it tracks: a bounded close.

    :class:`aiosonic.web_socket_client.WebSocketConnection` is one. Its
    ``close`` sends a close frame, waits at most its ``close_timeout`` for the
    server's, then drops the transport; it must not raise for a connection
    that already ended.
    """

    async def close(self, code: int, reason: str) -> None:
        """Run the close handshake with ``code``, bounded; idempotent."""
        ...


class OpenWebSockets:
    """The WebSockets open through one connector; waitable until none is left."""

    __slots__ = ("_none_open", "_open")

    def __init__(self) -> None:
        self._open: dict[OpenWebSocket, None] = {}
        # Made only while wait() waits: most connectors never open a WebSocket.
        self._none_open: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<OpenWebSockets [open={len(self._open)}]>"

    def __len__(self) -> int:
        return len(self._open)

    def add(self, websocket: OpenWebSocket) -> None:
        """Count ``websocket`` as open."""
        self._open[websocket] = None
        if self._none_open is not None:
            self._none_open.clear()

    def discard(self, websocket: OpenWebSocket) -> None:
        """Stop counting ``websocket`` (it ended); idempotent."""
        self._open.pop(websocket, None)
        if not self._open and self._none_open is not None:
            self._none_open.set()

    async def wait(self) -> None:
        """Wait until no WebSocket is open."""
        while self._open:
            event = self._none_open
            if event is None:
                event = self._none_open = asyncio.Event()
            event.clear()
            await event.wait()

    async def close_all(self, code: int) -> None:
        """Close every open WebSocket with ``code``, all at once.

        One failed close must not keep the others open: failures are logged
        (each WebSocket drops its transport when its close fails).
        """
        websockets = list(self._open)
        if not websockets:
            return
        results = await asyncio.gather(
            *(ws.close(code, "") for ws in websockets), return_exceptions=True
        )
        for websocket, result in zip(websockets, results, strict=True):
            if isinstance(result, BaseException):
                logger.debug("closing %r failed: %r", websocket, result)
