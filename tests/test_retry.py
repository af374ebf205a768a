"""The retry wrapper around "send once", without sockets.

``send_with_retry`` re-sends what ``may_retry`` allows: a request the server
did not process up to MAX_ATTEMPTS in all, a dead keep-alive connection once
(when nothing was written, or the method is idempotent and the body
replayable), and nothing else. The integration tests (test_faults.py,
test_http2_faults.py) drive the same rules through real servers.
"""

from __future__ import annotations

from typing import Any

import pytest

from aiosonic.exceptions import ConnectionDisconnected, NetworkError
from aiosonic.request import Request, SendOptions, build_request
from aiosonic.retry import MAX_ATTEMPTS, may_retry, retry_after, send_with_retry
from aiosonic.timeout import Timeouts
from aiosonic.urls import parse_url

OPTIONS = SendOptions(True, None, Timeouts())


def request(method: str = "GET", replayable: bool = True) -> Request:
    built = build_request(method, parse_url("http://h.test/x"))
    built.replayable = replayable
    return built


def error(*, unprocessed: bool = False, reused: bool = False, sent: bool = False) -> NetworkError:
    exc = ConnectionDisconnected("lost (http://h.test/x)", reused_connection=reused)
    exc.unprocessed = unprocessed
    exc.request_sent = sent
    return exc


class Script:
    """A send_once that fails with the given errors, then answers."""

    def __init__(self, *errors: NetworkError) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[Request, Any, Any]] = []

    async def __call__(self, req: Request, options: SendOptions, scope: Any) -> str:
        self.calls.append((req, options, scope))
        if self.errors:
            raise self.errors.pop(0)
        return "response"


async def test_a_success_is_sent_once_with_its_options_and_scope() -> None:
    send, req = Script(), request()
    assert await send_with_retry(req, send, OPTIONS, None) == "response"
    assert send.calls == [(req, OPTIONS, None)]


async def test_unprocessed_requests_are_sent_up_to_max_attempts() -> None:
    send = Script(*(error(unprocessed=True, sent=True) for _ in range(MAX_ATTEMPTS - 1)))
    assert await send_with_retry(request("POST"), send, OPTIONS) == "response"
    assert len(send.calls) == MAX_ATTEMPTS
    send = Script(*(error(unprocessed=True) for _ in range(MAX_ATTEMPTS)))
    with pytest.raises(NetworkError):
        await send_with_retry(request(), send, OPTIONS)
    assert len(send.calls) == MAX_ATTEMPTS


async def test_a_dead_keep_alive_connection_is_replaced_once() -> None:
    send = Script(error(reused=True))
    assert await send_with_retry(request("POST"), send, OPTIONS) == "response"  # nothing written
    send = Script(error(reused=True, sent=True), error(reused=True, sent=True))
    with pytest.raises(NetworkError):
        await send_with_retry(request("GET"), send, OPTIONS)
    assert len(send.calls) == 2


@pytest.mark.parametrize(
    ("exc", "method", "replayable", "expected"),
    [
        (error(reused=True, sent=True), "GET", True, True),
        (error(reused=True, sent=True), "POST", True, False),  # not idempotent
        (error(reused=True, sent=True), "PUT", False, False),  # body not replayable
        (error(reused=False), "GET", True, False),  # a fresh connection failed
        (error(unprocessed=True), "POST", True, True),
        (error(unprocessed=True), "POST", False, False),
    ],
)
def test_may_retry_rules(exc: NetworkError, method: str, replayable: bool, expected: bool) -> None:
    assert may_retry(exc, request(method, replayable), 0) is expected
    assert not may_retry(exc, request(method, replayable), MAX_ATTEMPTS - 1)


async def first_then_retry_after(req: Request, send: Script) -> str:
    """The client's hot path: the first attempt awaited, then retry_after()."""
    try:
        return await send(req, OPTIONS, None)
    except NetworkError as exc:
        return await retry_after(exc, req, send, OPTIONS, None)


@pytest.mark.parametrize(
    ("method", "errors"),
    [
        ("GET", []),
        ("POST", [error(reused=True)]),
        ("GET", [error(reused=True, sent=True), error(reused=True, sent=True)]),
        ("POST", [error(reused=True, sent=True)]),
        ("GET", [error()]),
        ("POST", [error(unprocessed=True, sent=True)] * (MAX_ATTEMPTS - 1)),
        ("GET", [error(unprocessed=True)] * MAX_ATTEMPTS),
        ("GET", [error(unprocessed=True), error(reused=True, sent=True)]),
    ],
)
async def test_the_hoisted_first_attempt_retries_as_send_with_retry(
    method: str, errors: list[NetworkError]
) -> None:
    outcomes = []
    for form in (send_with_retry, None):
        send, req = Script(*errors), request(method)
        try:
            if form is None:
                result: object = await first_then_retry_after(req, send)
            else:
                result = await form(req, send, OPTIONS, None)
        except NetworkError as exc:
            result = exc
        outcomes.append((result, len(send.calls)))
    assert outcomes[0] == outcomes[1]
