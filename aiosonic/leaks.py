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
import os
import sys
import traceback
import warnings
import weakref
from types import CodeType, FrameType
from typing import Protocol

__all__ = ["Closable", "OwnedTransports", "Site", "caller_site", "creation_site", "format_site"]

#: How many frames caller_site() walks at most looking for code outside aiosonic.
MAX_FRAMES_WALKED = 20


class Closable(Protocol):
    """A driver: what a finalizer can close and ask about."""

    is_closed: bool

    def close(self) -> None: ...


#: Where aiosonic's own modules live: frames from there are not "the caller".
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: Where something was made: (code, line) of the caller, formatted only if
#: needed, or the text of the whole stack (asyncio debug mode).
Site = tuple[CodeType, int] | str


def _outside_caller() -> FrameType:
    frame = sys._getframe(2)
    for _ in range(MAX_FRAMES_WALKED):
        back = frame.f_back
        if back is None or not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            break
        frame = back
    return frame


def caller_site() -> str:
    """Return ``file:line in function`` of the nearest caller outside aiosonic."""
    return format_site(site_of(_outside_caller()))


def site_of(frame: FrameType) -> tuple[CodeType, int]:
    """Return what :func:`format_site` needs of ``frame``, without formatting it."""
    return (frame.f_code, frame.f_lineno)


def format_site(site: Site) -> str:
    """Format a :data:`Site` as ``file:line in function`` (or the stack, as captured)."""
    if isinstance(site, str):
        return site
    code, line = site
    return f"{code.co_filename}:{line} in {code.co_name}"


def creation_site() -> Site:
    """Return where the caller's object is being made, cheaply (about a microsecond).

    The caller's code and line, formatted only if a warning needs them; in
    asyncio debug mode, the whole stack as text.
    """
    frame = _outside_caller()
    loop = asyncio.events._get_running_loop()
    if loop is not None and loop.get_debug():
        stack = "".join(traceback.format_stack(frame))
        return f"{format_site(site_of(frame))}\nstack (asyncio debug mode):\n{stack}"
    return site_of(frame)


class OwnedTransports:
    """The drivers (protocols) one connector opened, for a finalizer to close.

    Args:
        owner: The object whose collection means "nobody will close these".
        what: How to name the owner in the warning (``TCPConnector``).
        site: Where the owner was made.

    The finalizer holds this object, never the owner (drivers do not refer to
    their connector either, or the loop would keep the owner alive through
    the transports). Closed drivers are dropped as new ones are added.
    """

    __slots__ = ("_finalizer", "drivers", "site", "what")

    def __init__(self, owner: object, what: str, site: Site) -> None:
        self.drivers: list[Closable] = []
        self.what = what
        self.site = site
        self._finalizer = weakref.finalize(owner, self.close_forgotten)
        self._finalizer.atexit = False

    def __repr__(self) -> str:
        return f"<OwnedTransports [open={self.open_count()}, armed={self._finalizer.alive}]>"

    def add(self, driver: Closable) -> None:
        """Remember a driver just opened (and forget the closed ones)."""
        drivers = self.drivers
        if drivers:
            drivers[:] = [kept for kept in drivers if not kept.is_closed]
        drivers.append(driver)

    def open_count(self) -> int:
        """Return how many of the drivers are still open."""
        return sum(not driver.is_closed for driver in self.drivers)

    def disarm(self) -> None:
        """The owner was closed properly: nothing to do at its collection."""
        self._finalizer.detach()

    def close_forgotten(self) -> None:
        """Close the open drivers of a collected owner and say where it was made.

        Nothing is said when nothing was open: no socket leaked.
        """
        still_open = [driver for driver in self.drivers if not driver.is_closed]
        self.drivers = []
        if not still_open:
            return
        warnings.warn(
            f"{self.what} made at {format_site(self.site)} was never closed; closing its "
            f"{len(still_open)} open connection(s). Use 'async with' or 'await client.close()'",
            ResourceWarning,
            stacklevel=2,
        )
        for driver in still_open:
            try:
                driver.close()
            except RuntimeError:
                # The loop is closed already: it can run no close now, and each
                # transport closes its own socket when it is collected.
                break
