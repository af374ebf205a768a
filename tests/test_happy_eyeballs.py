"""RFC 6724 destination order, RFC 8305 family interleaving and the attempt race.

Pure code: no sockets. The race is driven with attempts that wait on events
the test sets, so what starts when is decided by the test, not by timing;
the only waits on the clock are the Happy Eyeballs delay itself, which the
tests make either tiny (to see it fire) or huge (to see it not matter).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from aiosonic.happy_eyeballs import (
    check_delay,
    interleave_families,
    race,
    sort_destinations,
)


def order(*hosts: str) -> list[str]:
    return sort_destinations(list(hosts), lambda host: host)


def family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def interleave(*hosts: str) -> list[str]:
    return interleave_families(list(hosts), family)


# --- RFC 6724 §6 ------------------------------------------------------------------


@pytest.mark.parametrize("hosts", [("::1", "127.0.0.1"), ("127.0.0.1", "::1")])
def test_ipv6_loopback_comes_before_ipv4_loopback_in_either_order(hosts: tuple[str, str]) -> None:
    # Rule 6: ::1/128 has precedence 50, IPv4 (::ffff:0:0/96) 35.
    assert order(*hosts) == ["::1", "127.0.0.1"]


def test_global_ipv6_comes_before_ipv4() -> None:
    # Rule 6: ::/0 (40) over ::ffff:0:0/96 (35).
    assert order("192.0.2.7", "2001:db8::7") == ["2001:db8::7", "192.0.2.7"]


def test_transition_and_unique_local_addresses_come_after_ipv4() -> None:
    # Rule 6: IPv4 35 > 6to4 2002::/16 30 > Teredo 2001::/32 5 > ULA fc00::/7 3
    # > the deprecated site-local fec0::/10 and 6bone 3ffe::/16, 1 each.
    hosts = ("fec0::1", "fd00::1", "2001:0:1::1", "2002:c000:0204::1", "192.0.2.1", "3ffe::1")
    assert order(*hosts) == [
        "192.0.2.1",
        "2002:c000:0204::1",
        "2001:0:1::1",
        "fd00::1",
        "fec0::1",
        "3ffe::1",
    ]


def test_an_ipv4_mapped_address_ranks_as_ipv4() -> None:
    # RFC 6724 §3.4: ::ffff:0:0/96 shares IPv4's precedence (35) and scope.
    assert order("::ffff:192.0.2.1", "2001:db8::1") == ["2001:db8::1", "::ffff:192.0.2.1"]
    assert order("192.0.2.1", "::ffff:127.0.0.1") == ["::ffff:127.0.0.1", "192.0.2.1"]


def test_smaller_scope_first_among_equal_precedence() -> None:
    # Rule 8: 169.254/16 and 127/8 are link-local scope, 192.0.2.1 global.
    assert order("192.0.2.1", "169.254.9.9") == ["169.254.9.9", "192.0.2.1"]
    assert order("2001:db8::1", "fe80::1%lo") == ["fe80::1%lo", "2001:db8::1"]
    assert order("ff0e::1", "ff05::1", "ff02::1") == ["ff02::1", "ff05::1", "ff0e::1"]


def test_equal_addresses_keep_the_resolver_order() -> None:
    # Rule 10: leave the order unchanged (the resolver may know the source rules).
    assert order("198.51.100.2", "192.0.2.1", "203.0.113.3") == [
        "198.51.100.2",
        "192.0.2.1",
        "203.0.113.3",
    ]
    assert order("2001:db8::2", "2001:db8::1") == ["2001:db8::2", "2001:db8::1"]


def test_entries_that_are_not_addresses_go_last() -> None:
    assert order("not-an-ip", "192.0.2.1") == ["192.0.2.1", "not-an-ip"]


# --- RFC 8305 §4 ------------------------------------------------------------------


def test_families_alternate_starting_with_the_first() -> None:
    assert interleave("2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2") == [
        "2001:db8::1",
        "192.0.2.1",
        "2001:db8::2",
        "192.0.2.2",
    ]
    assert interleave("192.0.2.1", "2001:db8::1", "2001:db8::2", "2001:db8::3") == [
        "192.0.2.1",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8::3",
    ]


def test_one_family_or_nothing_is_left_as_it_is() -> None:
    assert interleave("192.0.2.2", "192.0.2.1") == ["192.0.2.2", "192.0.2.1"]
    assert interleave() == []


def test_delay_must_not_be_negative() -> None:
    assert check_delay(None) is None
    assert check_delay(0) == 0
    with pytest.raises(ValueError, match="happy_eyeballs_delay must be >= 0 seconds or None"):
        check_delay(-0.1)


# --- RFC 8305 §5: the race ---------------------------------------------------------


class Attempt:
    """One scripted attempt: records its start, then waits for the test's verdict."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = asyncio.Event()
        self.cancelled = False
        self.outcome: asyncio.Future[str] | None = None

    def __call__(self) -> Awaitable[str]:
        return self.run()

    async def run(self) -> str:
        self.outcome = asyncio.get_running_loop().create_future()
        self.started.set()
        try:
            return await self.outcome
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def succeed(self) -> None:
        assert self.outcome is not None
        self.outcome.set_result(self.name)

    def fail(self, error: Exception) -> None:
        assert self.outcome is not None
        self.outcome.set_exception(error)


def start(attempts: list[Attempt], delay: float | None, discarded: list[str]) -> asyncio.Task[str]:
    calls: list[Callable[[], Awaitable[str]]] = list(attempts)
    return asyncio.ensure_future(race(calls, delay, discarded.append))


async def test_a_failure_starts_the_next_attempt_at_once() -> None:
    first, second = Attempt("a"), Attempt("b")
    discarded: list[str] = []
    task = start([first, second], 3600, discarded)
    await first.started.wait()
    assert not second.started.is_set()
    first.fail(ConnectionRefusedError("refused"))
    await asyncio.wait_for(second.started.wait(), 5)  # not after an hour
    second.succeed()
    assert await task == "b"
    assert discarded == []


async def test_the_delay_starts_the_next_attempt_and_the_first_up_wins() -> None:
    first, second = Attempt("stalls"), Attempt("answers")
    task = start([first, second], 0.01, [])
    await first.started.wait()
    await asyncio.wait_for(second.started.wait(), 5)  # the first is still running
    second.succeed()
    assert await task == "answers"
    assert first.cancelled  # the loser is stopped at once, not left to finish


async def test_without_a_delay_an_attempt_waits_for_the_one_before_to_fail() -> None:
    first, second = Attempt("stalls"), Attempt("never")
    task = start([first, second], None, [])
    await first.started.wait()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(second.started.wait()), 0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert first.cancelled and not second.started.is_set()


async def test_a_second_success_is_discarded() -> None:
    first, second = Attempt("a"), Attempt("b")
    discarded: list[str] = []
    task = start([first, second], 0, discarded)
    await first.started.wait()
    await second.started.wait()
    first.succeed()
    second.succeed()  # both done before the race looks
    winner = await task
    assert [winner, *discarded] in (["a", "b"], ["b", "a"])


async def test_every_failure_is_reported_in_attempt_order() -> None:
    attempts = [Attempt("a"), Attempt("b"), Attempt("c")]
    task = start(attempts, 0, [])
    for attempt in attempts:
        await attempt.started.wait()
    attempts[2].fail(ConnectionRefusedError("c refused"))
    attempts[0].fail(TimeoutError("a timed out"))
    attempts[1].fail(OSError("b unreachable"))
    with pytest.raises(ExceptionGroup) as caught:
        await task
    assert [str(error) for error in caught.value.exceptions] == [
        "a timed out",
        "b unreachable",
        "c refused",
    ]


async def test_cancelling_the_race_cancels_every_attempt() -> None:
    attempts = [Attempt("a"), Attempt("b")]
    task = start(attempts, 0, [])
    await attempts[1].started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(attempt.cancelled for attempt in attempts)


async def test_an_attempt_that_wins_while_the_race_is_cancelled_is_discarded() -> None:
    discarded: list[str] = []
    running = asyncio.Event()

    async def finishes_despite_cancel() -> str:
        running.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            return "late"  # a connection that completed as it was cancelled
        raise AssertionError("unreachable")

    task = asyncio.ensure_future(race([finishes_despite_cancel], 0, discarded.append))
    await running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert discarded == ["late"]


async def test_no_attempts_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        await race([], 0.25, lambda result: None)
