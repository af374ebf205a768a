"""Timeout policy (:class:`Timeouts`) and the one scope that enforces a deadline.

Each field of :class:`Timeouts` is enforced in exactly one layer:

* ``sock_connect``: DNS + TCP + TLS (+ proxy), by ``TCPConnector.acquire``;
* ``sock_read``: every wait for server bytes, by the connection's read timer;
* ``pool_acquire``: the wait for a pool slot, by ``TCPConnector.acquire``
  around ``pool.acquire()`` (so user-written pools get it too);
* ``request_timeout``: ``request()`` as a whole, by ``HTTPClient.request``,
  and then, until the response is released, every wait for more of its
  body, however the body is read: the drivers put the scope's
  :attr:`deadline.expires_at` on the timer they keep for ``sock_read``. Body
  bytes that arrived before the deadline are still handed over after it.

``sock_read`` is not a scope: each wait for server bytes moves the deadline of
the connection's one :class:`~aiosonic.timer.LazyTimer`, with no task or loop
timer per read (see ``aiosonic.drivers.http11`` and ``aiosonic.drivers.h2_stream``).

For callers, the module is also callable: ``async with aiosonic.timeout(3.0)
as t:`` is a :class:`TimeoutScope`, one deadline over everything in the
block however many requests it makes (the httpx 1.0 design's ``timeout()``).
It is plain ``asyncio.timeout`` underneath: opened once per block, not per
request, so its loop timer costs nothing measurable. ``import
aiosonic.timeout`` and ``from aiosonic.timeout import Timeouts`` still find
this module.

Where the loop timer costs nothing measurable (``sock_connect``, once per new
connection) the connector uses plain ``asyncio.timeout``; the scopes opened
per request (``request_timeout``, ``pool_acquire``) are :class:`deadline`.
"""

from __future__ import annotations

import asyncio
import math
import sys
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from aiosonic.exceptions import BaseTimeout, InvalidRequest, ScopeTimeout
from aiosonic.timer import LazyTimer

__all__ = ["TimeoutScope", "Timeouts", "deadline"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Four separate deadlines, in seconds; ``None`` disables one.

    Args:
        sock_connect: DNS resolution, TCP connect, TLS handshake and proxy
            set-up, together. Raises ``ConnectTimeout``.
        sock_read: Each wait for bytes from the server, in the head and the
            body, whatever the framing. Raises ``ReadTimeout``.
        pool_acquire: The wait for a free connection slot in the pool;
            ``None`` (unbounded) by default, so ``request_timeout`` bounds it.
            Raises ``ConnectionPoolAcquireTimeout``.
        request_timeout: ``HTTPClient.request()`` as a whole, redirects
            included, and then each wait for more of the response body, until
            the response is released (bytes that arrived in time are still
            handed over after it). Raises ``RequestTimeout``.
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

    It behaves as ``asyncio.timeout`` (same cancel rule, see :meth:`__exit__`)
    with one timer for all scopes: the running loop's :class:`_Book` keeps the
    open scopes and one :class:`~aiosonic.timer.LazyTimer` for the earliest.
    Why not ``asyncio.timeout``: ``request()`` opens one scope per request,
    and there ``asyncio.timeout`` makes and cancels a loop timer and runs two
    coroutine frames each time: 41k instructions per scope against this
    one's 10k, with 64 tasks (callgrind; a whole small GET is 117k-140k).
    Entering and leaving never wait, so it is a plain ``with`` scope as well
    as an ``async with`` one (the former costs no coroutine frames); either
    way it must be used inside a task.

    Args:
        seconds: The budget; ``None`` means unbounded.
        error: Builds the exception raised on expiry.

    Raises:
        BaseTimeout: The subclass ``error`` builds, chained to a ``TimeoutError``.
    """

    __slots__ = (
        "_book",
        "_cancelling",
        "_error",
        "_seconds",
        "_state",
        "_task",
        "_when",
        "waiting_on",
    )

    def __init__(self, seconds: float | None, error: Callable[[], BaseTimeout]) -> None:
        self._error = error
        self._seconds = seconds
        self._state = _CREATED
        #: What the scope's code waits for now, added to the error's message
        #: (set by the layer that waits: the connector while it waits for a
        #: pool slot, a driver reading a streamed body).
        self.waiting_on: Callable[[], str] | None = None
        # Set by __enter__: _task, _cancelling, _book, _when.

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __enter__(self) -> None:
        seconds = self._seconds
        if seconds is None:
            return
        if self._state != _CREATED:
            raise RuntimeError("a deadline scope cannot be entered twice")
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("deadline should be used inside a task")
        self._task = task
        # Cancellations pending at entry: not ours (see __exit__).
        self._cancelling = task.cancelling()
        self._state = _ENTERED
        book = _last_book() if _last_loop() is loop else None
        self._book = book = book or _book_for(loop)
        # Open the scope in the book: one group per ``seconds``, in entry order.
        # (A budget of 0 or less is due at once: the book's timer runs on the
        # loop's next turn, so the scope expires as soon as the task yields.)
        when = self._when = loop.time() + seconds
        group = book.groups.get(seconds)
        if group is None:
            group = book.groups[seconds] = {}
        group[self] = None
        book.timer.fire_by(when)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        seconds = self._seconds
        if seconds is None:
            return
        # _Book.discard(), inline: once per request.
        groups = self._book.groups
        group = groups.get(seconds)
        if group is not None:
            group.pop(self, None)
            if not group:
                del groups[seconds]
        if self._state == _EXPIRING:
            # asyncio.timeout's rule: expire() cancelled the task; take that
            # cancellation back. If no other is pending (none came from outside
            # since entry), the CancelledError ending the block is ours: turn it
            # into the error. Otherwise it propagates: an outer cancel wins.
            self._state = _EXITED
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                try:
                    raise TimeoutError from exc
                except TimeoutError as timeout_exc:
                    raise self.make_error() from timeout_exc
        else:
            self._state = _EXITED

    @property
    def expires_at(self) -> float | None:
        """The loop time the deadline runs out at; None if unbounded or not entered."""
        if self._seconds is None or self._state == _CREATED:
            return None
        return self._when

    def make_error(self) -> BaseTimeout:
        """Build the error this scope raises at expiry, saying what was awaited then.

        Also for a layer that enforces the deadline after the scope exited (a
        driver reading a streamed body). ``"; " + waiting_on()`` is added to
        the message when set.
        """
        error = self._error()
        waiting_on = self.waiting_on
        if waiting_on is not None and error.args:
            error.args = (f"{error.args[0]}; {waiting_on()}", *error.args[1:])
        return error

    def expire(self) -> None:
        """Cancel the task in the scope (called by the book at its deadline)."""
        if self._state == _ENTERED:
            self._state = _EXPIRING
            self._task.cancel()


# States of a deadline scope.
_CREATED, _ENTERED, _EXPIRING, _EXITED = range(4)


class _Book:
    """The open deadline scopes of one event loop, and one lazy timer for the earliest.

    Scopes are grouped by their ``seconds``: within a group, entry order is
    deadline order (the loop clock only grows), so each group's first scope is
    its earliest and no heap is needed. Leaving a scope only drops it from its
    group; the timer is not moved then, so when it fires it may find nothing
    due, and waits for the earliest open scope. Entering and leaving cost a
    dict insert and delete; the timer fires about once per ``seconds``.

    Args:
        loop: The loop whose scopes this keeps; held weakly (books are kept
            per loop, and must not keep their loop alive).
    """

    __slots__ = ("__weakref__", "groups", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        #: Open scopes by their ``seconds``, in entry order (a dict as an ordered set).
        self.groups: dict[float, dict[deadline, None]] = {}
        self.timer = LazyTimer(weakref.proxy(loop), self._expire_due)

    def __repr__(self) -> str:
        scopes = sum(len(group) for group in self.groups.values())
        return f"<_Book [scopes={scopes}, {self.timer!r}]>"

    def discard(self, scope: deadline) -> None:
        """Close ``scope`` (``deadline.__exit__`` does the same, inline)."""
        seconds = scope._seconds
        assert seconds is not None
        group = self.groups.get(seconds)
        if group is not None:
            group.pop(scope, None)
            if not group:
                del self.groups[seconds]

    def _expire_due(self, now: float) -> float:
        """Expire the scopes due at ``now``; return the earliest deadline left."""
        due: list[deadline] = []
        earliest = math.inf
        for group in self.groups.values():
            for scope in group:
                if scope._when > now:
                    earliest = min(earliest, scope._when)
                    break
                due.append(scope)
        for scope in due:
            self.discard(scope)
            scope.expire()
        return earliest


# The book of the loop used last, and of the others, all held weakly. A
# book's armed timer handle holds its loop, and a closed loop's handle never
# fires: a strong reference here would keep every loop that ever opened a
# scope alive (one per asyncio.run()). What keeps a book alive instead: its
# open scopes, and while its timer is armed the loop itself (loop -> handle
# -> timer -> book), a cycle the collector frees with the loop.
def _dead() -> None:
    return None


_last_loop: Callable[[], asyncio.AbstractEventLoop | None] = _dead
_last_book: Callable[[], _Book | None] = _dead
_books: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[_Book]] = (
    weakref.WeakKeyDictionary()
)


def _book_for(loop: asyncio.AbstractEventLoop) -> _Book:
    global _last_loop, _last_book
    known = _books.get(loop)
    book = known() if known is not None else None
    if book is None:
        book = _Book(loop)
        _books[loop] = weakref.ref(book)
    _last_loop, _last_book = weakref.ref(loop), weakref.ref(book)
    return book


class TimeoutScope:
    """One deadline over a whole ``async with`` block: ``aiosonic.timeout(seconds)``.

    Everything awaited inside is bounded, however many requests, redirects or
    body reads it makes. Scopes nest and compose with :class:`Timeouts`: the
    tightest deadline fires first. A ``Timeouts`` deadline that fires raises
    its own error; this scope's expiry raises :class:`ScopeTimeout` (a
    ``RequestTimeout``), whose message gives the budget and where the scope
    was made. A connection the scope interrupted mid-response is closed, not
    pooled.

    :meth:`cancel` lifts the deadline, e.g. once a streamed response has
    started, so that reading its body is not bounded::

        async with aiosonic.timeout(3.0) as t:
            async with client.stream("GET", url) as response:
                t.cancel()
                async for chunk in response.stream:
                    ...

    Args:
        seconds: The budget from entering the block; ``None`` means unbounded.

    Raises:
        InvalidRequest: ``seconds`` is negative, not a number, or not finite.
    """

    __slots__ = ("_cancelled", "_exited", "_inner", "_made_at", "_seconds")

    def __init__(self, seconds: float | None, *, _depth: int = 1) -> None:
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds < math.inf
        ):
            raise InvalidRequest(
                f"aiosonic.timeout() takes a number of seconds >= 0 or None, not {seconds!r}"
            )
        self._seconds = seconds
        self._cancelled = self._exited = False
        self._inner: asyncio.Timeout | None = None
        caller = sys._getframe(_depth)
        self._made_at = f"{caller.f_code.co_filename}:{caller.f_lineno}"

    def __repr__(self) -> str:
        return f"<TimeoutScope [{self._seconds} s, {self.state}]>"

    @property
    def state(self) -> str:
        """``"created"``, ``"active"``, ``"cancelled"``, ``"expired"`` or ``"exited"``."""
        if self.expired():
            return "expired"
        if self._cancelled:
            return "cancelled"
        if self._inner is None:
            return "created"
        return "exited" if self._exited else "active"

    @property
    def seconds(self) -> float | None:
        """The budget this scope was made with."""
        return self._seconds

    @property
    def deadline(self) -> float | None:
        """The loop time the scope runs out at; None if unbounded, cancelled or not entered."""
        inner = self._inner
        if inner is None or self._cancelled:
            return None
        return inner.when()

    def expired(self) -> bool:
        """Whether the scope ran out (its block was interrupted)."""
        return self._inner is not None and self._inner.expired()

    def cancel(self) -> None:
        """Lift the deadline: the rest of the block runs unbounded by this scope.

        Harmless before entering (the scope then never arms), after the
        block ended, and twice. Too late once the scope has run out.
        """
        if self._cancelled or self._exited or self.expired():
            return
        self._cancelled = True
        if self._inner is not None:
            self._inner.reschedule(None)

    async def __aenter__(self) -> TimeoutScope:
        if self._inner is not None:
            raise RuntimeError("an aiosonic.timeout() scope cannot be entered twice")
        seconds = None if self._cancelled else self._seconds
        inner = self._inner = asyncio.timeout(seconds)
        await inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        inner = self._inner
        assert inner is not None, "__aexit__ without __aenter__"
        try:
            await inner.__aexit__(exc_type, exc, tb)
        except TimeoutError as timeout_exc:
            if not inner.expired() or timeout_exc is exc:
                raise
            raise ScopeTimeout(
                f"aiosonic.timeout({self._seconds}) ran out: the block made at "
                f"{self._made_at} took longer than {self._seconds} s"
            ) from timeout_exc
        finally:
            self._exited = True


_Scope = TimeoutScope  # for _TimeoutModule, whose attribute of that name shadows it


class _TimeoutModule(types.ModuleType):
    """This module's class: it is also callable, as ``aiosonic.timeout(seconds)``.

    The annotations tell a type checker what the module holds (``aiosonic``'s
    ``__init__`` declares ``timeout`` with this type), so ``aiosonic.timeout(3.0)``
    and ``aiosonic.timeout.Timeouts`` both type-check.
    """

    Timeouts: type[Timeouts]
    TimeoutScope: type[TimeoutScope]
    deadline: type[deadline]

    def __call__(self, seconds: float | None) -> _Scope:
        """Return a :class:`TimeoutScope` of ``seconds``; see there."""
        return _Scope(seconds, _depth=2)


sys.modules[__name__].__class__ = _TimeoutModule
