"""aiosonic.testing.MockTransport: everything above the network runs for real.

Redirects, cookies, auth, decompression, event hooks, timeouts, streaming
bodies both ways, HTTP/2, and the ``aiosonic_mock`` fixture, all with a
handler instead of a server.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import AsyncIterator, Callable

import pytest

import aiosonic
from aiosonic import HTTPClient, Timeouts
from aiosonic.exceptions import AiosonicError, MaxRedirects, ReadTimeout
from aiosonic.testing import MockRequest, MockResponse, MockTransport

# The aiosonic_mock fixture comes from conftest.py: pytest_plugins = ["aiosonic.testing"],
# as a user would load it.


def routes(request: MockRequest) -> MockResponse:
    path = request.url.split("://", 1)[1].split("/", 1)[1]
    if path == "json":
        return MockResponse(200, {"content-type": "application/json"}, b'{"id": 1}')
    if path == "gzip":
        return MockResponse(200, {"content-encoding": "gzip"}, gzip.compress(b"z" * 5000))
    if path == "login":
        return MockResponse(302, {"location": "/home", "set-cookie": "sid=abc; Path=/"})
    if path == "home":
        return MockResponse(200, body=request.headers.get("cookie", "-").encode())
    if path == "secret":
        expected = "Basic " + base64.b64encode(b"ann:pw").decode()
        if request.headers.get("authorization") != expected:
            return MockResponse(401, {"www-authenticate": 'Basic realm="x"'})
        return MockResponse(200, body=b"in")
    if path == "loop":
        return MockResponse(302, {"location": "/loop"})
    if path == "echo":
        return MockResponse(200, body=request.content)
    return MockResponse(404, body=b"no route")


async def test_handler_answers_and_requests_are_recorded() -> None:
    transport = MockTransport(routes)
    async with HTTPClient(transport) as client:
        response = await client.get("https://api.test/json", headers={"x-a": "1"})
        assert await response.json() == {"id": 1}
        assert response.http_version == "1.1"
        assert (await client.get("https://api.test/nothing")).status_code == 404
    await transport.cleanup()
    first = transport.requests[0]
    assert (first.method, first.url, first.http_version) == ("GET", "https://api.test/json", "1.1")
    assert first.headers["x-a"] == "1"
    assert first.headers["user-agent"].startswith("aiosonic")
    assert len(transport.requests) == 2


async def test_redirects_cookies_auth_and_decoding_run_for_real() -> None:
    transport = MockTransport(routes)
    async with HTTPClient(transport, handle_cookies=True) as client:
        response = await client.get("http://app.test/login", follow=True)
        assert await response.text() == "sid=abc"
        assert [r.status_code for r in response.history] == [302]
        assert await (await client.get("http://app.test/gzip")).content() == b"z" * 5000
        assert await (await client.get("http://app.test/secret", auth=("ann", "pw"))).text() == "in"
        with pytest.raises(MaxRedirects):
            await client.get("http://app.test/loop", follow=True)
    await transport.cleanup()


async def test_async_handler_streamed_bodies_and_hooks() -> None:
    async def handler(request: MockRequest) -> MockResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(3):
                await asyncio.sleep(0)
                yield f"part{i};".encode()

        return MockResponse(200, body=body() if request.method == "GET" else request.content)

    async def upload() -> AsyncIterator[bytes]:
        yield b"a" * 70_000
        yield b"b"

    seen: list[str] = []
    hooks = {"request": [lambda method, url, headers: seen.append(url)]}
    transport = MockTransport(handler)
    async with HTTPClient(transport, event_hooks=hooks) as client:
        response = await client.get("http://s.test/stream")
        assert response.chunked
        assert await response.text() == "part0;part1;part2;"
        posted = await client.post("http://s.test/up", data=upload())
        assert len(await posted.content()) == 70_001
    await transport.cleanup()
    assert seen == ["http://s.test/stream", "http://s.test/up"]
    assert transport.requests[1].headers["transfer-encoding"] == "chunked"


async def test_timeouts_run_for_real() -> None:
    entered = asyncio.Event()

    async def stalled(request: MockRequest) -> MockResponse:
        entered.set()
        await asyncio.Event().wait()  # never set: only the client's timeout ends this wait
        return MockResponse(200)

    transport = MockTransport(stalled, timeouts=Timeouts(sock_read=0.1))
    async with HTTPClient(transport) as client:
        with pytest.raises(ReadTimeout):
            # A sock_read that never fires fails here (a bare TimeoutError), not hangs.
            async with asyncio.timeout(5):
                await client.get("http://s.test/")
        assert entered.is_set()
        assert transport.is_all_free()
    await transport.cleanup()


async def test_http2_over_the_mock() -> None:
    transport = MockTransport(
        lambda request: MockResponse(200, {"x-v": request.http_version}, b"x" * 200_000, "2"),
        http2=True,
    )
    async with HTTPClient(transport) as client:
        responses = await asyncio.gather(*(client.get("https://h2.test/big") for _ in range(4)))
        assert {r.http_version for r in responses} == {"2"}
        assert [len(await r.content()) for r in responses] == [200_000] * 4
        plain = await client.get("http://h2.test/")  # h2c by prior knowledge
        assert plain.headers["x-v"] == "2"
    await transport.cleanup()
    assert {r.http_version for r in transport.requests} == {"2"}


async def test_handler_errors_reach_the_caller_as_the_cause() -> None:
    def broken(request: MockRequest) -> MockResponse:
        raise RuntimeError("handler bug")

    transport = MockTransport(broken)
    async with HTTPClient(transport) as client:
        with pytest.raises(AiosonicError) as caught:
            await client.get("http://s.test/")
    await transport.cleanup()
    chain = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(repr(error))
        error = error.__cause__
    assert any("handler bug" in link for link in chain), chain

    transport = MockTransport(lambda request: MockResponse(200, http_version="2"))
    async with HTTPClient(transport) as client:
        with pytest.raises(AiosonicError) as caught:
            await client.get("http://s.test/")
    await transport.cleanup()
    assert "http2=True" in repr(caught.value.__cause__.__cause__)  # type: ignore[union-attr]


def test_mock_response_checks_its_version() -> None:
    with pytest.raises(ValueError, match="http_version"):
        MockResponse(200, http_version="1.0")


async def test_the_fixture(aiosonic_mock: Callable[..., MockTransport]) -> None:
    transport = aiosonic_mock(lambda request: MockResponse(201, body=json.dumps([1]).encode()))
    async with aiosonic.HTTPClient(transport) as client:
        response = await client.post("http://s.test/items", json={"a": 1})
        assert response.status_code == 201 and await response.json() == [1]
    assert json.loads(transport.requests[0].content) == {"a": 1}
