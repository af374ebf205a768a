"""Streams of one HTTP/2 connection: their ``sock_read`` deadlines and their bodies.

The waits of all streams share one timer (``h2_stream.ReadDeadlines``): a
shorter deadline after a longer one must still fire on time, and a deadline
must still fire after the wait the timer was armed for has ended. A body that
has fully arrived can be taken in one step (``HTTP2Body.read_all_nowait``)
with the same effect as reading its events. Scripted server, prior knowledge.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from h2_servers import H2ScriptConn

import aiosonic
from aiosonic import HTTPClient, TCPConnector, Timeouts
from aiosonic.drivers.http2 import HTTP2Body
from aiosonic.exceptions import ReadTimeout

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(10)
MIB = 1024 * 1024


def pk_client() -> HTTPClient:
    config = aiosonic.Http2Config(prior_knowledge=True)
    return HTTPClient(TCPConnector(http2=True, http2_config=config))


async def test_shorter_deadline_after_longer_one_fires_on_time(h2_server) -> None:
    slow_arrived = asyncio.Event()

    async def script(conn: H2ScriptConn) -> None:
        slow = await conn.next_request()  # sock_read=5: answered once the other gave up
        slow_arrived.set()
        quick = await conn.next_request()  # sock_read=0.3: never answered
        await conn.wait_until(lambda: quick.stream_id in conn.resets)
        await conn.respond(slow.stream_id, b"slow")
        await conn.wait_closed()

    server = await h2_server(script)
    async with pk_client() as client:
        slow = asyncio.create_task(client.get(f"{server.url}/slow", timeouts=Timeouts(sock_read=5)))
        await asyncio.wait_for(slow_arrived.wait(), 3)  # its deadline is armed first
        started = time.monotonic()
        with pytest.raises(ReadTimeout, match=r"sock_read=0\.3s"):
            await asyncio.wait_for(
                client.get(f"{server.url}/quick", timeouts=Timeouts(sock_read=0.3)), 3
            )
        assert time.monotonic() - started < 2  # not held back to the 5 s deadline
        response = await asyncio.wait_for(slow, 3)
        assert await response.content() == b"slow"
        assert client.connector.is_all_free()
    assert len(server.conns) == 1


async def test_deadline_fires_after_the_wait_the_timer_was_armed_for_ended(h2_server) -> None:
    async def script(conn: H2ScriptConn) -> None:
        first = await conn.next_request()
        await conn.respond(first.stream_id, b"first")
        await conn.wait_closed()  # the second request is never answered

    server = await h2_server(script)
    async with pk_client() as client:
        timeouts = Timeouts(sock_read=0.3)
        response = await client.get(f"{server.url}/first", timeouts=timeouts)
        assert await response.content() == b"first"
        with pytest.raises(ReadTimeout):
            await asyncio.wait_for(client.get(f"{server.url}/second", timeouts=timeouts), 3)
        assert client.connector.is_all_free()


async def test_read_all_nowait_ends_the_stream_like_reading_it(h2_server) -> None:
    size = MIB + 1  # above the client's preload limit: the response keeps its lease
    body = bytes(range(256)) * (size // 256) + b"!"

    async def script(conn: H2ScriptConn) -> None:
        while request := await conn.next_request(timeout=30):
            await conn.respond(request.stream_id, body)

    server = await h2_server(script)
    async with pk_client() as client:
        response = await client.get(f"{server.url}/big")
        body_stream = response.stream
        assert isinstance(body_stream, HTTP2Body)
        stream = body_stream._stream
        while (taken := body_stream.read_all_nowait()) is None:
            await stream.wait_data()  # more of the body to come
        assert taken == body
        assert not body_stream._driver._streams  # the stream ended, without RST_STREAM
        assert response.is_consumed and client.connector.is_all_free()
        await response.aclose()
        again = await client.get(f"{server.url}/big")
        assert await again.content() == body
        conn = server.conns[0]
        assert conn.resets == {} and len(server.conns) == 1
        assert client.connector.is_all_free()
