"""Tests for aiosonic.timer.LazyTimer, on a fake clock: no socket, no real time.

The fake clock is a loop's ``time()`` and ``call_at()`` that move only when
told to, and count the handles made and cancelled, so a test can say how many
loop timers a run of deadlines cost, which is the point of the class.
"""

from __future__ import annotations

import asyncio
import gc
import math
import weakref
from collections.abc import Callable

import pytest

from aiosonic.exceptions import BaseTimeout
from aiosonic.timeout import deadline
from aiosonic.timer import LazyTimer


class FakeHandle:
    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """An event loop's clock and timers; time moves only in :meth:`advance`.

    ``early`` runs each timer that much before its time, as a loop may
    (clock resolution).
    """

    def __init__(self, early: float = 0.0) -> None:
        self.now = 1000.0
        self.early = early
        self.handles: list[FakeHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object], /) -> FakeHandle:
        handle = FakeHandle(when, callback)
        self.handles.append(handle)
        return handle

    @property
    def armed(self) -> list[float]:
        """When the live (not cancelled, not run) handles fire."""
        return sorted(h.when for h in self.handles if not h.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time on, running the handles due on the way, in order (new ones too)."""
        end = self.now + seconds
        while True:
            due = [h for h in self.handles if not h.cancelled and h.when - self.early <= end]
            if not due:
                break
            handle = min(due, key=lambda h: h.when)
            self.now = max(self.now, handle.when - self.early)
            handle.cancelled = True  # run: no longer live
            handle.callback()
        self.now = end


class Calls:
    """An ``on_due`` that records when it ran and returns the next deadlines given."""

    def __init__(self, *after: float) -> None:
        self.times: list[float] = []
        self.after = list(after)

    def __call__(self, now: float) -> float:
        self.times.append(now)
        return self.after.pop(0) if self.after else math.inf


def make(clock: FakeClock, on_due: Calls | None = None) -> tuple[LazyTimer, Calls]:
    calls = on_due or Calls()
    return LazyTimer(clock, calls), calls


def test_calls_back_once_the_deadline_passes_not_before() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    timer.set(1005.0)
    clock.advance(4.9)
    assert calls.times == []
    clock.advance(0.1)
    assert calls.times == [1005.0]
    assert timer.at == math.inf
    clock.advance(100)
    assert calls.times == [1005.0]  # once


def test_a_deadline_moved_later_costs_no_timer_until_the_armed_one_fires() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    for _ in range(100):  # a wait a second, each wanting 30 s from its start
        timer.set(clock.now + 30)
        clock.advance(1)
    assert calls.times == []
    # 100 s of waits: the first timer, then one re-arm per 30 s period.
    assert len(clock.handles) == 4
    assert timer.at == 1099.0 + 30  # the last wait's deadline
    assert clock.armed == [1117.0]  # armed in the last period, lazily behind it
    clock.advance(30)
    assert calls.times == [1129.0]


def test_an_earlier_deadline_re_arms_now() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    timer.set(1030.0)
    first = clock.handles[0]
    timer.set(1002.0)
    assert first.cancelled
    assert clock.armed == [1002.0]
    clock.advance(2)
    assert calls.times == [1002.0]


def test_fire_by_keeps_the_earlier_deadline() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    timer.fire_by(1010.0)
    timer.fire_by(1020.0)  # later: ignored
    assert timer.at == 1010.0
    assert len(clock.handles) == 1
    timer.fire_by(1005.0)
    assert timer.at == 1005.0
    clock.advance(30)
    assert calls.times == [1005.0]


def test_on_due_returns_the_next_deadline_and_infinity_stops() -> None:
    clock = FakeClock()
    timer, calls = make(clock, Calls(1003.0, 1007.0))
    timer.set(1001.0)
    clock.advance(100)
    assert calls.times == [1001.0, 1003.0, 1007.0]
    assert timer.at == math.inf
    assert clock.armed == []


def test_on_due_may_want_the_next_deadline_itself() -> None:
    clock = FakeClock()
    seen: list[float] = []

    def on_due(now: float) -> float:
        seen.append(now)
        if len(seen) < 3:
            timer.set(now + 2)
        return math.inf  # does not drop the deadline just set

    timer = LazyTimer(clock, on_due)
    timer.set(1001.0)
    clock.advance(100)
    assert seen == [1001.0, 1003.0, 1005.0]


def test_cancel_drops_the_deadline_and_the_timer_and_is_idempotent() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    timer.set(1001.0)
    timer.cancel()
    timer.cancel()
    assert clock.handles[0].cancelled
    assert timer.at == math.inf
    clock.advance(100)
    assert calls.times == []
    timer.set(1200.0)  # usable again
    clock.advance(100)
    assert calls.times == [1200.0]


def test_a_deadline_dropped_to_infinity_lets_the_armed_timer_lapse() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    timer.set(1001.0)
    timer.set(math.inf)  # lazily: the handle stays until it fires
    assert clock.armed == [1001.0]
    clock.advance(100)
    assert calls.times == []
    assert clock.armed == []  # and is not re-armed


def test_a_timer_run_a_tick_early_counts_as_on_time() -> None:
    clock = FakeClock(early=0.001)
    timer, calls = make(clock)
    timer.set(1001.0)
    clock.advance(0.9995)
    # The clock reads 1000.999, the deadline is 1001.0: due, not re-armed.
    assert calls.times == [1001.0]
    assert len(clock.handles) == 1


def test_moved_later_while_armed_fires_at_the_new_deadline() -> None:
    clock = FakeClock()
    timer, calls = make(clock)
    timer.set(1001.0)
    timer.set(1004.0)
    clock.advance(1)
    assert calls.times == []
    assert clock.armed == [1004.0]
    clock.advance(3)
    assert calls.times == [1004.0]


def test_repr_shows_the_deadline_and_the_timer() -> None:
    clock = FakeClock()
    timer, _ = make(clock)
    assert repr(timer) == "<LazyTimer [at=inf, idle]>"
    timer.set(1001.0)
    timer.set(1009.0)
    assert repr(timer) == "<LazyTimer [at=1009.0, armed at 1001.0]>"


@pytest.mark.parametrize("moves", [1, 10, 1000])
def test_many_deadlines_cost_one_timer_per_earlier_one(moves: int) -> None:
    # Only a deadline earlier than the armed one makes a handle.
    clock = FakeClock()
    timer, calls = make(clock)
    for i in range(moves):
        timer.fire_by(1100.0 + i)  # later and later: one handle
    assert len(clock.handles) == 1
    for i in range(moves):
        timer.fire_by(1099.0 - i * 0.01)  # earlier and earlier: one each
    assert len(clock.handles) == 1 + moves
    clock.advance(200)
    assert len(calls.times) == 1


async def test_an_event_loop_is_a_clock() -> None:
    loop = asyncio.get_running_loop()
    fired: asyncio.Future[float] = loop.create_future()

    def on_due(now: float) -> float:
        fired.set_result(now)
        return math.inf

    timer = LazyTimer(loop, on_due)
    at = loop.time()  # already due: runs on the loop's next turn
    timer.set(at)
    assert await fired >= at


# --- the deadline scope, on its loop's book and lazy timer ---------------------


class Expired(BaseTimeout):
    pass


async def test_a_scope_of_no_time_expires_at_the_first_await() -> None:
    scope = deadline(0, lambda: Expired("out of time"))
    with pytest.raises(Expired, match="out of time") as caught, scope:
        await asyncio.sleep(3600)  # cancelled on the loop's next turn
    assert type(caught.value.__cause__) is TimeoutError
    assert scope.expires_at is not None


async def test_only_the_scopes_own_expiry_is_converted() -> None:
    outer = deadline(3600, lambda: Expired("outer"))
    with outer:
        with pytest.raises(Expired, match="inner"), deadline(-1, lambda: Expired("inner")):
            await asyncio.sleep(3600)
        await asyncio.sleep(0)  # the outer scope did not expire
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_an_outside_cancel_wins_over_the_scopes_expiry() -> None:
    entered = asyncio.Event()

    async def body() -> None:
        with deadline(0, lambda: Expired("never raised")):
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(body())
    await entered.wait()
    task.cancel()  # before the book's timer expires the scope on this same turn
    with pytest.raises(asyncio.CancelledError):
        await task


def test_an_idle_book_does_not_keep_its_loop_alive() -> None:
    # Books are kept per loop, weakly: once its timer has no handle armed, a
    # book must hold nothing that keeps the loop (its clock is a weak proxy).
    async def use_a_scope() -> None:
        with pytest.raises(Expired), deadline(0, lambda: Expired("x")):
            await asyncio.sleep(3600)  # the timer fires, and finds nothing else

    loop = asyncio.new_event_loop()
    loop.run_until_complete(use_a_scope())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None
