"""Retry: re-send a request that failed before the server processed it.

A wrapper around "send one request", as :func:`aiosonic.auth.send_with_auth`
and the redirect loop are: :func:`send_with_retry` calls ``send_once`` again
when :func:`may_retry` allows it. The rules:

* A request the server says it did not process (HTTP/2 GOAWAY above its
  stream, or REFUSED_STREAM: ``NetworkError.unprocessed``) is re-sent, up to
  :data:`MAX_ATTEMPTS` in all, whatever its method, when its body can be
  replayed.
* A pooled connection that turns out to be dead (``reused_connection``) is
  replaced once: when nothing was written, or the method is idempotent
  (RFC 9110 §9.2.2) and the body can be replayed.
* Anything else is raised at once.

``send_once`` gives back its lease when it fails (the connector's
``send`` does), so a retry starts from a clean pool. No I/O here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from aiosonic.exceptions import NetworkError

if TYPE_CHECKING:
    from aiosonic.request import Request, SendOptions
    from aiosonic.timeout import deadline

__all__ = ["IDEMPOTENT_METHODS", "MAX_ATTEMPTS", "may_retry", "retry_after", "send_with_retry"]

#: Methods that may be re-sent after a failure once bytes were written
#: (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Attempts per request when the server said it did not process it (HTTP/2).
MAX_ATTEMPTS = 3

_R = TypeVar("_R")

#: Sends one request once: ``send_once(request, options, scope)``.
SendOnce = Callable[["Request", "SendOptions", "deadline | None"], Awaitable[_R]]


def may_retry(exc: NetworkError, request: Request, attempt: int) -> bool:
    """Return whether attempt ``attempt`` (from 0), failed with ``exc``, may be re-sent.

    Unprocessed requests (HTTP/2 GOAWAY, REFUSED_STREAM) may be re-sent up to
    :data:`MAX_ATTEMPTS` in all; a dead pooled connection only once.
    """
    if exc.unprocessed:
        return attempt + 1 < MAX_ATTEMPTS and request.replayable
    if attempt > 0 or not exc.reused_connection:
        return False
    if not exc.request_sent:
        return True
    return request.method in IDEMPOTENT_METHODS and request.replayable


async def send_with_retry(
    request: Request,
    send_once: SendOnce[_R],
    options: SendOptions,
    scope: deadline | None = None,
) -> _R:
    """Send ``request`` with ``send_once``, re-sending it while :func:`may_retry` allows.

    Args:
        request: The request; re-sent as it is.
        send_once: Sends it once and returns the response (releasing its
            lease when it fails).
        options: How to send it (passed to ``send_once``).
        scope: The request's whole deadline (passed to ``send_once``).

    Returns:
        What ``send_once`` returned.

    Raises:
        NetworkError: The last attempt's error, when no retry is allowed.
    """
    try:
        return await send_once(request, options, scope)
    except NetworkError as exc:
        return await retry_after(exc, request, send_once, options, scope)


async def retry_after(
    exc: NetworkError,
    request: Request,
    send_once: SendOnce[_R],
    options: SendOptions,
    scope: deadline | None = None,
) -> _R:
    """Go on from a first attempt of ``send_once`` that failed with ``exc``.

    :func:`send_with_retry` is "first attempt, then this". The client's hot
    path awaits the first attempt itself and calls this only when it fails,
    which saves a coroutine frame on every request that succeeds at once
    (tests/test_retry.py runs both forms on the same failures).

    Raises:
        NetworkError: ``exc`` or a later attempt's error, when no retry is allowed.
    """
    attempt = 0
    while True:
        if not may_retry(exc, request, attempt):
            raise exc
        attempt += 1
        try:
            return await send_once(request, options, scope)
        except NetworkError as again:
            exc = again
