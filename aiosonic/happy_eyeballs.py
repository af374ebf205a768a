"""Happy Eyeballs v2 (RFC 8305): which addresses to try, in what order, and the race.

Lives here: the destination address order of RFC 6724 §6 (the rules that need
no source address), the interleaving of address families of RFC 8305 §4, and
:func:`race`, which starts connection attempts one after another, a delay
apart or as soon as one fails, and keeps the first that succeeds (RFC 8305 §5).

Does not live here: resolving names (:mod:`aiosonic.dns_cache`), what one
attempt does (:mod:`aiosonic.dialer`: TCP, socket options, TLS) and the
deadline on the whole race (the connector's ``sock_connect`` scope).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_DELAY",
    "check_delay",
    "interleave_families",
    "race",
    "sort_destinations",
    "usable_family",
]

_T = TypeVar("_T")
_A = TypeVar("_A")

#: RFC 8305 §5: the recommended "Connection Attempt Delay" is 250 ms.
DEFAULT_DELAY = 0.25

#: RFC 6724 §2.1: the default policy table as (prefix, prefix length in bits,
#: precedence), longest prefix first so that the first match is the longest.
#: Labels (rule 5) are left out: they compare a destination with its source
#: address, and this module orders destinations without a routing lookup.
#: Prefixes are packed bytes: one ``inet_pton`` per address, then byte
#: compares (``ipaddress`` objects cost ~20 µs per address here).
_PRECEDENCE: tuple[tuple[bytes, int, int], ...] = tuple(
    (socket.inet_pton(socket.AF_INET6, prefix), bits, precedence)
    for prefix, bits, precedence in (
        ("::1", 128, 50),
        ("::ffff:0:0", 96, 35),  # every IPv4 address, mapped (RFC 6724 §3.4)
        ("::", 96, 1),  # IPv4-compatible (deprecated)
        ("2001::", 32, 5),  # Teredo
        ("2002::", 16, 30),  # 6to4
        ("fec0::", 10, 1),  # site-local (deprecated)
        ("3ffe::", 16, 1),  # 6bone (returned)
        ("fc00::", 7, 3),  # unique local
        ("::", 0, 40),
    )
)

_V4_MAPPED = socket.inet_pton(socket.AF_INET6, "::ffff:0:0")[:12]
_LOOPBACK = socket.inet_pton(socket.AF_INET6, "::1")

#: RFC 4291 §2.7 scope values, as RFC 6724 §3.1 uses them.
_SCOPE_LINK_LOCAL = 0x2
_SCOPE_SITE_LOCAL = 0x5
_SCOPE_GLOBAL = 0xE


def _in_prefix(packed: bytes, prefix: bytes, bits: int) -> bool:
    whole, rest = divmod(bits, 8)
    if packed[:whole] != prefix[:whole]:
        return False
    if not rest:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return packed[whole] & mask == prefix[whole] & mask


def _precedence(packed: bytes) -> int:
    for prefix, bits, precedence in _PRECEDENCE:
        if _in_prefix(packed, prefix, bits):
            return precedence
    return 40  # pragma: no cover - ::/0 matches everything


def _scope(packed: bytes) -> int:
    """RFC 6724 §3.1: the scope of a destination (as IPv6 bytes)."""
    if packed[:12] == _V4_MAPPED:
        # 127/8 and 169.254/16 are link-local; every other IPv4 address is global.
        if packed[12] == 127 or packed[12:14] == b"\xa9\xfe":
            return _SCOPE_LINK_LOCAL
        return _SCOPE_GLOBAL
    if packed[0] == 0xFF:  # multicast: the scope is in the address
        return packed[1] & 0x0F
    if packed == _LOOPBACK or (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80):
        return _SCOPE_LINK_LOCAL
    if packed[0] == 0xFE and packed[1] & 0xC0 == 0xC0:
        return _SCOPE_SITE_LOCAL
    return _SCOPE_GLOBAL


def _packed(host: str) -> bytes | None:
    """The address as 16 IPv6 bytes (IPv4 mapped, RFC 6724 §3.4), or None."""
    text = host.partition("%")[0]  # drop an IPv6 zone
    try:
        if ":" in text:
            return socket.inet_pton(socket.AF_INET6, text)
        return _V4_MAPPED + socket.inet_pton(socket.AF_INET, text)
    except OSError:
        return None


def sort_destinations(answers: Sequence[_A], host_of: Callable[[_A], str]) -> list[_A]:
    """Order destinations by RFC 6724 §6 as far as the addresses alone tell.

    Applied: rule 6 (higher precedence of the default policy table first:
    ``::1``, then global IPv6, then IPv4, then 6to4, Teredo, unique-local and
    the deprecated ranges) and rule 8 (smaller scope first). Rules 2, 5 and 9
    need the source address the kernel would pick (a routing lookup) and are
    left out; a host's own resolver (glibc, c-ares) may have applied them, and
    rule 10 keeps its order among equals. Entries that are not IP addresses
    go last, in their order.

    Args:
        answers: Resolver answers (or anything holding an address).
        host_of: Returns the IP address text of an answer.

    Returns:
        A new list in the order to try.
    """

    def key(answer: _A) -> tuple[int, int]:
        packed = _packed(host_of(answer))
        if packed is None:
            return (1, 0)
        return (-_precedence(packed), _scope(packed))

    return sorted(answers, key=key)  # sorted() is stable: rule 10


def interleave_families(answers: Sequence[_A], family_of: Callable[[_A], Any]) -> list[_A]:
    """Alternate address families, starting with the first answer's (RFC 8305 §4).

    The order within each family is kept; the "First Address Family Count"
    is 1. With ``[v6a, v6b, v4a, v4b]`` the result is ``[v6a, v4a, v6b, v4b]``.

    Args:
        answers: Answers in preference order (see :func:`sort_destinations`).
        family_of: Returns the address family of an answer.

    Returns:
        A new list in the order to try.
    """
    if not answers:
        return []
    first_family = family_of(answers[0])
    first = [answer for answer in answers if family_of(answer) == first_family]
    other = [answer for answer in answers if family_of(answer) != first_family]
    result: list[_A] = []
    for index in range(max(len(first), len(other))):
        result.extend(group[index] for group in (first, other) if index < len(group))
    return result


def check_delay(delay: float | None) -> float | None:
    """Return a valid Happy Eyeballs delay, in seconds.

    Raises:
        ValueError: ``delay`` is negative.
    """
    if delay is not None and delay < 0:
        raise ValueError(f"happy_eyeballs_delay must be >= 0 seconds or None, got {delay!r}")
    return delay


def usable_family(family: int) -> bool:
    """RFC 6724 rule 1, the part known without a routing lookup: IPv6 needs IPv6 support."""
    return family != socket.AF_INET6 or socket.has_ipv6


async def race(
    attempts: Sequence[Callable[[], Awaitable[_T]]],
    delay: float | None,
    discard: Callable[[_T], None],
) -> _T:
    """Run connection attempts staggered; return the first that succeeds (RFC 8305 §5).

    The first attempt starts at once; each next one ``delay`` seconds after
    the one before started, or as soon as a running one fails. With ``delay``
    ``None``, an attempt starts only when the one before failed. When one
    succeeds, the others are cancelled at once, and any that succeeded too are
    passed to ``discard``. No deadline here: cancel the caller to stop it all.

    Args:
        attempts: Each starts one attempt when called.
        delay: Seconds between starts, or ``None`` for one at a time.
        discard: Closes the result of an attempt that succeeded but lost.

    Returns:
        The result of the winning attempt.

    Raises:
        ExceptionGroup: Every attempt failed; its exceptions are in the order
            the attempts were given.
        ValueError: ``attempts`` is empty.
    """
    if not attempts:
        raise ValueError("race() needs at least one attempt")
    running: dict[asyncio.Future[_T], int] = {}
    errors: dict[int, Exception] = {}
    started = 0
    start_next = True
    try:
        while True:
            if start_next and started < len(attempts):
                running[asyncio.ensure_future(attempts[started]())] = started
                started += 1
                start_next = False
            if not running:
                break
            wait_for = None if delay is None or started == len(attempts) else delay
            done, _ = await asyncio.wait(
                running, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:  # the delay passed: RFC 8305 §5, start the next attempt
                start_next = True
                continue
            winners: list[_T] = []
            for future in done:
                index = running.pop(future)
                error = (
                    ConnectionAbortedError("the attempt was cancelled")
                    if future.cancelled()
                    else future.exception()
                )
                if error is None:
                    winners.append(future.result())
                elif isinstance(error, Exception):
                    errors[index] = error
                    start_next = True  # a failure starts the next one at once
                else:
                    raise error  # KeyboardInterrupt and the like: not an attempt's failure
            if winners:
                for extra in winners[1:]:
                    discard(extra)
                return winners[0]
    finally:
        await _cancel_losers(running, discard)
    raise ExceptionGroup(
        f"all {len(attempts)} connection attempts failed",
        [errors[index] for index in sorted(errors)],
    )


async def _cancel_losers(
    running: dict[asyncio.Future[_T], int], discard: Callable[[_T], None]
) -> None:
    """Cancel the attempts still running and wait until they have unwound.

    One that finishes with a result anyway is discarded when it does, even if
    this wait is itself cancelled; reading a failure keeps asyncio from
    logging it as never retrieved.
    """
    if not running:
        return

    def settle(future: asyncio.Future[_T]) -> None:
        if not future.cancelled() and future.exception() is None:
            discard(future.result())

    for future in running:
        future.cancel()
        future.add_done_callback(settle)
    await asyncio.wait(running)  # their sockets close as they unwind
