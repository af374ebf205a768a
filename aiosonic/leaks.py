"""Forgotten resources: where an object was made, and closing what a dropped connector owned.

A connector that is garbage collected without ``close()`` would leave its
sockets open: the event loop keeps each transport, and the transport its
driver, alive. :class:`OwnedTransports` is the connector's list of the drivers
it opened, held by a ``weakref.finalize`` rather than by the connector, so the
finalizer can close them once the connector is gone and warn with a
``ResourceWarning`` that names where the client or connector was made (as
asyncio does for an unclosed transport).

"Where it was made" costs little: :func:`caller_site` walks a few frames to
the first one outside aiosonic (about a microsecond). The whole stack is
captured only in asyncio debug mode, as asyncio does for its own objects.

This module holds no I/O of its own and imports nothing else from aiosonic.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
import warnings
import weakref
from typing import Any, Protocol

__all__ = ["Closable", "OwnedTransports", "caller_site", "creation_site"]

#: How many frames caller_site() walks at most looking for code outside aiosonic.
MAX_FRAMES_WALKED = 20


class Closable(Protocol):
    """A driver: what a finalizer can close and ask about."""

    is_closed: bool

    def close(self) -> None: ...


def caller_site() -> str:
    """Return ``file:line in function`` of the nearest caller outside aiosonic."""
    frame = sys._getframe(1)
    for _ in range(MAX_FRAMES_WALKED):
        if not frame.f_globals.get("__name__", "").startswith("aiosonic."):
            break
        if frame.f_back is None:
            break
        frame = frame.f_back
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"


def creation_site() -> str:
    """Return where the caller's object is being made; the whole stack in asyncio debug mode."""
    site = caller_site()
    loop = asyncio.events._get_running_loop()
    if loop is not None and loop.get_debug():
        stack = "".join(traceback.format_stack(sys._getframe(1)))
        return f"{site}\nstack (asyncio debug mode):\n{stack}"
    return site


class OwnedTransports:
    """The drivers (protocols) one connector opened, for a finalizer to close.

    Args:
        owner: The object whose collection means "nobody will close these".
        what: How to name the owner in the warning (``TCPConnector``).
        site: Where the owner was made.

    The finalizer holds this object, never the owner. Closed drivers drop out
    on their own (a ``WeakSet``): the loop lets a closed transport go, and
    its driver is collected.
    """

    __slots__ = ("_finalizer", "drivers", "site", "what")

    def __init__(self, owner: object, what: str, site: str) -> None:
        self.drivers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.what = what
        self.site = site
        self._finalizer = weakref.finalize(owner, self.close_forgotten)
        self._finalizer.atexit = False

    def __repr__(self) -> str:
        return f"<OwnedTransports [open={self.open_count()}, armed={self._finalizer.alive}]>"

    def add(self, driver: Closable) -> None:
        """Remember a driver just opened."""
        self.drivers.add(driver)

    def open_count(self) -> int:
        """Return how many of the drivers are still open."""
        return sum(not driver.is_closed for driver in list(self.drivers))

    def disarm(self) -> None:
        """The owner was closed properly: nothing to do at its collection."""
        self._finalizer.detach()

    def close_forgotten(self) -> None:
        """Close the open drivers of a collected owner and say where it was made.

        Nothing is said when nothing was open: no socket leaked.
        """
        still_open = [driver for driver in list(self.drivers) if not driver.is_closed]
        if not still_open:
            return
        warnings.warn(
            f"{self.what} made at {self.site} was never closed; closing its "
            f"{len(still_open)} open connection(s). Use 'async with' or 'await client.close()'",
            ResourceWarning,
            stacklevel=2,
        )
        for driver in still_open:
            driver.close()
