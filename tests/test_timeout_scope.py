"""``aiosonic.timeout(seconds)``: one cancellable deadline over a block (issue 13).

The module ``aiosonic.timeout`` is also the published home of ``Timeouts``;
both uses must keep working, in any import order. The scope bounds everything
in its block, composes with ``Timeouts`` (the tightest wins), raises
``ScopeTimeout`` (a ``RequestTimeout``) naming itself, and ``cancel()`` lifts
it, as in the httpx 1.0 design's examples.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import RawServer, let_loop_run, read_request
from h2_servers import HypercornServer

import aiosonic
from aiosonic.exceptions import InvalidRequest, RequestTimeout, ScopeTimeout
from aiosonic.timeout import Timeouts, TimeoutScope

RawFactory = Callable[..., Awaitable[RawServer]]

pytest_plugins = ["h2_servers"]


@pytest.mark.parametrize(
    "program",
    [
        # Each order of the three published and new forms, in a fresh interpreter.
        "import aiosonic; import aiosonic.timeout; from aiosonic.timeout import Timeouts",
        "import aiosonic.timeout; from aiosonic.timeout import Timeouts; import aiosonic",
        "from aiosonic.timeout import Timeouts; import aiosonic.timeout; import aiosonic",
        "from aiosonic.timeout import Timeouts; import aiosonic; import aiosonic.timeout",
    ],
)
def test_module_and_scope_in_any_import_order(program: str) -> None:
    check = (
        f"{program}\n"
        "assert aiosonic.timeout.Timeouts is Timeouts\n"
        "assert Timeouts(sock_read=1).sock_read == 1\n"
        "scope = aiosonic.timeout(3.0)\n"
        "assert type(scope).__name__ == 'TimeoutScope', scope\n"
        "assert aiosonic.Timeouts is Timeouts\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("bad", [-1, "3", float("nan"), float("inf"), True, [1]])
def test_bad_budgets_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest, match=r"aiosonic.timeout\(\) takes a number of seconds"):
        aiosonic.timeout(bad)  # type: ignore[arg-type]


async def _slow_server(raw_server: RawFactory, delay: float | None) -> RawServer:
    """Answer each request on a connection after ``delay`` seconds.

    With ``delay=None``, never answer: wait until the client hangs up (or the
    fixture closes the server), so a deadline under test is the only way out.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            if delay is None:
                await reader.read()
                return
            await asyncio.sleep(delay)  # latency: each request succeeds on its own
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    return await raw_server(handler)


async def test_scope_bounds_many_requests(raw_server: RawFactory) -> None:
    server = await _slow_server(raw_server, 0.15)
    answers = []
    async with aiosonic.HTTPClient() as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ScopeTimeout) as caught:
            async with aiosonic.timeout(0.5) as scope:
                for _ in range(10):  # 1.5 s in all; each one alone is fast enough
                    response = await client.get(server.url + "/")
                    answers.append(await response.text())
        elapsed = loop.time() - started
    assert 0.45 <= elapsed < 1.0, elapsed
    assert 2 <= len(answers) <= 4 and set(answers) == {"ok"}
    message = str(caught.value)
    assert "aiosonic.timeout(0.5) ran out" in message
    assert "test_timeout_scope.py" in message  # where the scope was made
    assert isinstance(caught.value, RequestTimeout)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert scope.expired() and scope.state == "expired"
    assert "expired" in repr(scope)


async def test_tightest_deadline_wins(raw_server: RawFactory) -> None:
    server = await _slow_server(raw_server, None)
    async with aiosonic.HTTPClient() as client:
        # The request's own request_timeout is tighter: its error, not the scope's.
        tight = Timeouts(request_timeout=0.1)
        with pytest.raises(RequestTimeout) as caught:
            async with aiosonic.timeout(5) as scope:
                await client.get(server.url + "/", timeouts=tight)
        assert type(caught.value) is RequestTimeout
        assert not scope.expired() and scope.state == "exited"
        # The scope is tighter: ScopeTimeout.
        loose = Timeouts(request_timeout=5, sock_read=5)
        with pytest.raises(ScopeTimeout):
            async with aiosonic.timeout(0.1):
                await client.get(server.url + "/", timeouts=loose)


async def test_nested_scopes_name_the_one_that_fired(raw_server: RawFactory) -> None:
    server = await _slow_server(raw_server, None)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(ScopeTimeout, match=r"aiosonic.timeout\(0.1\)"):
            async with aiosonic.timeout(5) as outer, aiosonic.timeout(0.1) as inner:
                await client.get(server.url + "/")
        assert inner.expired() and not outer.expired()
        with pytest.raises(ScopeTimeout, match=r"aiosonic.timeout\(0.1\)"):
            async with aiosonic.timeout(0.1), aiosonic.timeout(5):
                await client.get(server.url + "/")


async def _streaming_server(raw_server: RawFactory, pause: float) -> RawServer:
    """Send a head and one chunk at once, then the rest of the body after ``pause``.

    To ``GET /stall`` the rest never comes: the server waits for the client to hang up.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            if head.startswith(b"GET /stall "):
                await reader.read()
                return
            # The pause is what the test is about: it must outlast a 0.2 s scope.
            # (Scope and pause run on one loop, so the order of the two is fixed.)
            await asyncio.sleep(pause)
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()

    return await raw_server(handler)


async def test_cancel_lifts_the_deadline_on_a_streamed_body(raw_server: RawFactory) -> None:
    """The seed's example: bound receiving the *start* of a streamed response."""
    server = await _streaming_server(raw_server, 0.4)
    async with aiosonic.HTTPClient() as client:
        chunks = []
        async with (
            aiosonic.timeout(0.2) as t,
            client.stream("GET", server.url + "/") as response,
        ):
            t.cancel()
            assert response.stream is not None
            async for chunk in response.stream:
                chunks.append(chunk)
        assert b"".join(chunks) == b"firstsecond"
        assert t.state == "cancelled" and not t.expired() and t.deadline is None
        # The same, not cancelled, must fail: here the rest never comes.
        with pytest.raises(ScopeTimeout):
            async with (
                aiosonic.timeout(0.2),
                client.stream("GET", server.url + "/stall") as response,
            ):
                assert response.stream is not None
                async for _ in response.stream:
                    pass
        # The interrupted connection was closed, not pooled with half a body:
        # the next request gets a whole, right answer (on the stalled connection
        # it would get none; the guard turns that into a failure, not a hang).
        assert client.connector.is_all_free()
        async with asyncio.timeout(5):
            response = await client.get(server.url + "/")
            assert await response.content() == b"firstsecond"


async def test_cancel_before_entering_never_arms() -> None:
    scope = aiosonic.timeout(0)
    scope.cancel()
    async with scope:
        await let_loop_run()  # a 0 s deadline, had it armed, fires on the next turn
    assert scope.state == "cancelled" and not scope.expired()


async def test_an_outer_cancel_stays_a_cancel(raw_server: RawFactory) -> None:
    arrived = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        await reader.read()  # never answers; ends when the client goes away

    server = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:

        async def call() -> None:
            async with aiosonic.timeout(10):
                await client.get(server.url + "/")

        task = asyncio.create_task(call())
        await asyncio.wait_for(arrived.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_unbounded_scope_and_states() -> None:
    scope = TimeoutScope(None)
    assert scope.state == "created" and scope.deadline is None and scope.seconds is None
    async with scope as entered:
        assert entered is scope and scope.state == "active"
    assert scope.state == "exited"
    with pytest.raises(RuntimeError, match="cannot be entered twice"):
        async with scope:
            pass
    bounded = aiosonic.timeout(30)
    async with bounded:
        deadline = bounded.deadline
        assert deadline is not None
        # The loop clock may not move between enter and here (uvloop caches it at
        # millisecond steps), and now + 30 - now need not be exactly 30 in floats.
        assert 29 < deadline - asyncio.get_running_loop().time() < 30.001
        assert "30 s, active" in repr(bounded)
    bounded.cancel()  # after the block: nothing to lift
    assert bounded.state == "exited"


async def test_seed_example_on_a_network_stream(raw_server: RawFactory) -> None:
    """The seed's backend example: 10 s overall, 3 s for connecting, then cancelled."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        await writer.drain()

    server = await raw_server(handler)
    net = aiosonic.NetworkBackend()
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    async with aiosonic.timeout(10.0):
        async with aiosonic.timeout(3.0) as t:
            stream = await net.connect("127.0.0.1", server.port)
            t.cancel()
        async with stream:
            await stream.write(request)
            buffer = []
            while part := await stream.read():
                buffer.append(part)
    assert b"".join(buffer).endswith(b"\r\n\r\nhi")


async def test_scope_over_http2_resets_its_stream(hypercorn_server: Any, h2_trust: str) -> None:
    server: HypercornServer = await hypercorn_server()
    async with aiosonic.HTTPClient(http2=True) as client:
        first = await client.get(server.url + "/small")
        assert first.http_version == "2"
        await first.content()
        with pytest.raises(ScopeTimeout):
            async with aiosonic.timeout(0.2):
                await client.get(server.url + "/slow?delay=2")
        # The stream was reset; the shared connection still serves others.
        again = await client.get(server.url + "/small")
        assert await again.text() == "small response over 2"
        assert len(server.connections) == 1
        assert await client.wait_requests(5)
