"""One lazy timer for a deadline that moves: the timer behind every deadline we keep.

Our deadlines are checked far more often than they run out: every read of a
connection moves its ``sock_read`` deadline, every request opens and closes a
``request_timeout`` scope. A loop timer per wait (``call_at``, then
``cancel``) costs a handle and two heap operations each time. A
:class:`LazyTimer` instead keeps the deadline wanted as a timestamp and at
most one loop timer, armed no later than that deadline:

* a deadline moved *later* costs one assignment: the armed timer, when it
  fires, sees the deadline moved, and re-arms for it;
* only a deadline *earlier* than the armed timer re-arms it now;
* so a steady stream of waits costs about one timer per period.

Its three users (each keeps its own waits, this keeps the timer):
``aiosonic.timeout`` (every open ``deadline`` scope of a loop), the HTTP/1.1
driver (``sock_read`` and ``request_timeout`` on a connection's reads) and
the HTTP/2 driver (the waits of every stream of a connection).

It imports nothing from asyncio: the clock is injected (an event loop is
one; tests pass a fake one that moves only when told to).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "LazyTimer"]


class TimerHandle(Protocol):
    """What ``call_at`` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """The two methods of an event loop a :class:`LazyTimer` uses."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], object], /) -> TimerHandle: ...


class LazyTimer:
    """Call ``on_due`` once the wanted deadline has passed, with at most one loop timer.

    The wanted deadline is :attr:`at` (``math.inf``: none). When the timer
    fires it checks :attr:`at` again: moved later, it re-arms; passed, it
    clears it and calls ``on_due(now)``, which returns the next deadline to
    watch (``math.inf``: none). Owners with many waits keep them themselves,
    want the earliest with :meth:`fire_by`, and find which are due in
    ``on_due``.

    Args:
        clock: ``time()`` and ``call_at()``: the event loop (a weak proxy of
            it where the owner may outlive the loop), or a fake in tests.
        on_due: Called with the time once the deadline passed; returns the
            next deadline (``math.inf``: none).
    """

    __slots__ = ("_armed_at", "_clock", "_handle", "_on_due", "at")

    def __init__(self, clock: Clock, on_due: Callable[[float], float]) -> None:
        self._clock = clock
        self._on_due = on_due
        #: The deadline wanted, in the clock's seconds (``math.inf``: none).
        #: Owners on a hot path may read it, and compare before calling.
        self.at = math.inf
        self._handle: TimerHandle | None = None
        self._armed_at = math.inf  # when the handle fires (infinity: no handle)

    def __repr__(self) -> str:
        armed = "idle" if self._handle is None else f"armed at {self._armed_at}"
        return f"<LazyTimer [at={self.at}, {armed}]>"

    def set(self, at: float) -> None:
        """Want ``on_due`` called once ``at`` passes, in place of the deadline wanted so far.

        Moving the deadline later costs no timer operation; earlier than the
        armed timer, it re-arms.
        """
        self.at = at
        if at < self._armed_at:
            self._arm(at)

    def fire_by(self, at: float) -> None:
        """Want ``on_due`` called by ``at``, or by the deadline wanted so far if earlier."""
        if at < self.at:
            self.set(at)

    def cancel(self) -> None:
        """Want no call: forget the deadline and cancel the loop timer; idempotent."""
        self.at = math.inf
        handle = self._handle
        if handle is not None:
            self._handle = None
            self._armed_at = math.inf
            handle.cancel()

    def _arm(self, at: float) -> None:
        handle = self._handle
        if handle is not None:
            handle.cancel()
        self._armed_at = at
        self._handle = self._clock.call_at(at, self._fire)

    def _fire(self) -> None:
        # The loop may run a timer up to a clock tick early: that is on time here.
        now = max(self._clock.time(), self._armed_at)
        self._handle = None
        self._armed_at = math.inf
        at = self.at
        if at > now:  # moved later since armed (or dropped: infinity)
            if at != math.inf:
                self._arm(at)
            return
        self.at = math.inf
        after = self._on_due(now)
        if after < self.at:
            self.set(after)
