"""Lifetimes: a client that is dropped, closed mid-request, or held by an unread body.

* a client or connector collected while open closes its sockets and warns
  with the place it was made;
* closing a client lets requests and responses in flight finish; a request
  still waiting for a pool slot, or sent after close, raises ConnectorClosed;
* a request stuck behind a pool held by unread responses says so;
* ``request_timeout`` bounds a body however it is read, HTTP/1.1 and HTTP/2;
* a body read in pieces cannot be read again whole (``StreamConsumed``);
* an idle keep-alive connection the server already closed is not reused.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import time
import warnings
import weakref

import pytest
from conftest import open_sockets, read_request, wait_until

import aiosonic
from aiosonic import HTTPClient, TCPConnector
from aiosonic.exceptions import (
    ConnectionDisconnected,
    ConnectorClosed,
    RequestTimeout,
    StreamConsumed,
)
from aiosonic.timeout import Timeouts

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(20)
MIB = 1024 * 1024


def length_response(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body


# --- 2. an unclosed client gives its sockets back when collected --------------


async def use_and_forget(url: str) -> None:
    client = HTTPClient()  # never closed, as in the published docs' examples
    response = await client.get(url)
    assert await response.content() == b"ok"
    assert client.connector.pool._all[0].is_connected  # kept alive in the pool


async def test_unclosed_clients_close_their_sockets_when_collected(raw_server) -> None:
    async def keep_alive(reader, writer) -> None:
        while True:
            await read_request(reader)
            writer.write(length_response(b"ok"))

    server = await raw_server(keep_alive)
    before = open_sockets()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(200):
            await use_and_forget(server.url + "/")
        gc.collect()
        # Our sockets close at once; the server's side follows on EOF.
        assert await wait_until(lambda: open_sockets() <= before)
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(leaks) == 200, [str(w.message) for w in caught[:3]]
    message = str(leaks[0].message)
    assert "HTTPClient" in message and "never closed" in message, message
    assert "test_lifecycle.py" in message and "use_and_forget" in message, message


async def test_collected_connector_closes_its_sockets(raw_server) -> None:
    async def keep_alive(reader, writer) -> None:
        while True:
            await read_request(reader)
            writer.write(length_response(b"ok"))

    server = await raw_server(keep_alive)
    before = open_sockets()

    async def forget() -> None:
        connector = TCPConnector(pool_size=3)
        client = HTTPClient(connector)
        await asyncio.gather(*(use(client) for _ in range(3)))

    async def use(client: HTTPClient) -> None:
        assert await (await client.get(server.url + "/")).content() == b"ok"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        await forget()
        gc.collect()
        assert await wait_until(lambda: open_sockets() <= before)
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1, messages
    assert "TCPConnector" in messages[0] and "in forget" in messages[0], messages


async def test_closed_client_warns_nothing_when_collected(raw_server) -> None:
    async def once(reader, writer) -> None:
        await read_request(reader)
        writer.write(length_response(b"ok"))

    server = await raw_server(once)

    async def use_and_close() -> None:
        async with HTTPClient() as client:
            await (await client.get(server.url + "/")).content()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        await use_and_close()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# --- 3. close lets what is in flight finish -----------------------------------


async def test_response_read_after_the_client_block_ends(raw_server) -> None:
    body = bytes(range(256)) * (2 * MIB // 256)  # streamed: above the preload limit

    async def serve(reader, writer) -> None:
        await read_request(reader)
        writer.write(length_response(body))
        await reader.read()  # until the client closes

    server = await raw_server(serve)
    before = open_sockets()
    async with HTTPClient() as client:
        response = await client.post(server.url + "/", data=b"payload")
    assert await response.content() == body
    # The connection closed as the response was released: nothing is left open.
    assert await wait_until(lambda: open_sockets() <= before)


async def test_close_lets_a_request_in_flight_finish(raw_server) -> None:
    received = asyncio.Event()
    answer = asyncio.Event()

    async def serve(reader, writer) -> None:
        await read_request(reader)
        received.set()
        await answer.wait()
        writer.write(length_response(b"done"))
        await reader.read()

    server = await raw_server(serve)
    client = HTTPClient()
    in_flight = asyncio.create_task(client.get(server.url + "/"))
    await received.wait()
    await client.close()
    with pytest.raises(ConnectorClosed, match="client was closed") as info:
        await client.get(server.url + "/")
    assert info.value.request_sent is False
    answer.set()
    response = await asyncio.wait_for(in_flight, 5)
    assert await response.content() == b"done"
    assert server.connections == 1
    assert not client.connector.pool._all[0].is_connected  # closed as it was released


async def test_close_fails_a_request_waiting_for_a_pool_slot(raw_server) -> None:
    received = asyncio.Event()
    answer = asyncio.Event()

    async def serve(reader, writer) -> None:
        await read_request(reader)
        received.set()
        await answer.wait()
        writer.write(length_response(b"first"))
        await reader.read()

    server = await raw_server(serve)
    client = HTTPClient(TCPConnector(pool_size=1))
    first = asyncio.create_task(client.get(server.url + "/1"))
    await received.wait()
    waiting = asyncio.create_task(client.get(server.url + "/2"))
    # Close only once the request is queued for the pool's one slot (the message
    # below also proves it was waiting, not refused at the door).
    assert await wait_until(lambda: len(client.connector.pool._waiters) == 1)
    await client.connector.cleanup()  # passed in, so closing it is the caller's job
    with pytest.raises(ConnectorClosed, match="client was closed while this request waited"):
        await asyncio.wait_for(asyncio.shield(waiting), 5)
    with pytest.raises(ConnectorClosed) as info:
        await asyncio.wait_for(waiting, 5)
    assert info.value.request_sent is False
    assert "/2" in str(info.value)
    answer.set()
    assert await (await asyncio.wait_for(first, 5)).content() == b"first"
    assert server.connections == 1


async def test_close_lets_an_http2_stream_in_flight_finish(h2_server) -> None:
    from test_http2_faults import pk_client

    started = asyncio.Event()
    answer = asyncio.Event()

    async def script(conn) -> None:
        request = await conn.next_request()
        started.set()
        await answer.wait()
        await conn.respond(request.stream_id, b"late but whole")

    server = await h2_server(script)
    client = pk_client()
    in_flight = asyncio.create_task(client.get(server.url + "/"))
    await started.wait()
    await client.connector.cleanup()  # passed in, so closing it is the caller's job
    answer.set()
    response = await asyncio.wait_for(in_flight, 5)
    assert await response.content() == b"late but whole"
    await server.conns[0].wait_closed(timeout=5)  # closed once the stream ended


# --- 4. a pool held by unread responses ---------------------------------------


async def test_pool_wait_names_the_unread_responses_holding_it(raw_server, caplog) -> None:
    body = b"x" * (MIB + 1)

    async def serve(reader, writer) -> None:
        while True:
            await read_request(reader)
            writer.write(length_response(body))

    server = await raw_server(serve)
    timeouts = Timeouts(request_timeout=0.3)
    async with HTTPClient(TCPConnector(pool_size=1, timeouts=timeouts)) as client:
        held = await client.get(server.url + "/big")  # unread, still referenced
        caplog.set_level(logging.DEBUG, logger="aiosonic.connectors")
        with pytest.raises(RequestTimeout) as info:
            await client.get(server.url + "/next")
        message = str(info.value)
        assert "waiting for a connection slot" in message, message
        assert "1 of 1 slots leased" in message, message
        assert "1 of them by responses whose body was not read" in message, message
        assert f"{server.url}/big" in message and "test_lifecycle.py:" in message, message
        logged = [r.getMessage() for r in caplog.records if "slots leased" in r.getMessage()]
        assert logged and "/next" in logged[0], logged
        await held.aclose()


async def test_pool_acquire_timeout_names_the_pool_facts(raw_server) -> None:
    async def serve(reader, writer) -> None:
        await read_request(reader)
        writer.write(length_response(b"y" * (MIB + 1)))
        await reader.read()

    server = await raw_server(serve)
    timeouts = Timeouts(pool_acquire=0.1)
    async with HTTPClient(TCPConnector(pool_size=1, timeouts=timeouts)) as client:
        held = await client.get(server.url + "/big")
        with pytest.raises(aiosonic.exceptions.ConnectionPoolAcquireTimeout) as info:
            await client.get(server.url + "/next")
        assert "1 of 1 slots leased, 1 of them by responses whose body was not read" in str(
            info.value
        )
        await held.aclose()


# --- 5. request_timeout covers the body, however it is read --------------------


async def test_request_timeout_bounds_a_dripping_chunked_body(raw_server) -> None:
    async def drip(reader, writer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(40):  # 4 s in all: each piece well within sock_read
            writer.write(b"1\r\nx\r\n")
            await asyncio.sleep(0.1)
        writer.write(b"0\r\n\r\n")
        await reader.read()

    server = await raw_server(drip)
    timeouts = Timeouts(request_timeout=0.5, sock_read=5)
    async with HTTPClient(TCPConnector(timeouts=timeouts)) as client:
        started = time.monotonic()
        response = await client.get(server.url + "/")  # streamed: returned at once
        with pytest.raises(RequestTimeout, match=r"request_timeout=0\.5s"):
            async for _ in response.read_chunks():
                pass
        assert time.monotonic() - started < 1.5


async def test_request_timeout_bounds_a_large_length_body(raw_server) -> None:
    async def drip(reader, writer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * MIB))
        for _ in range(40):
            writer.write(b"x" * 1000)
            await asyncio.sleep(0.1)
        await reader.read()

    server = await raw_server(drip)
    timeouts = Timeouts(request_timeout=0.5, sock_read=5)
    async with HTTPClient(TCPConnector(timeouts=timeouts)) as client:
        started = time.monotonic()
        response = await client.get(server.url + "/")
        with pytest.raises(RequestTimeout, match="request_timeout"):
            await response.content()
        assert time.monotonic() - started < 1.5
        assert client.connector.is_all_free()


async def test_request_timeout_bounds_dripping_http2_data_frames(h2_server) -> None:
    from test_http2_faults import pk_client

    async def script(conn) -> None:
        request = await conn.next_request()
        conn.send_headers(request.stream_id, 200)
        for _ in range(40):
            await conn.send_data(request.stream_id, b"x", end=False)
            await asyncio.sleep(0.1)
        await conn.send_data(request.stream_id, b"", end=True)

    server = await h2_server(script)
    timeouts = Timeouts(request_timeout=0.5, sock_read=5)
    async with pk_client(timeouts=timeouts) as client:
        started = time.monotonic()
        response = await client.get(server.url + "/")
        with pytest.raises(RequestTimeout, match="request_timeout"):
            await response.content()
        assert time.monotonic() - started < 1.5


# --- 11. a consumed body is not handed out again -------------------------------


@pytest.mark.parametrize("pieces_read", [1, None])
async def test_content_after_read_chunks_raises_stream_consumed(raw_server, pieces_read) -> None:
    async def serve(reader, writer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            writer.write(b"100000\r\n" + b"z" * MIB + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await reader.read()

    server = await raw_server(serve)
    async with HTTPClient() as client:
        response = await client.get(server.url + "/")
        seen = 0
        async for chunk in response.read_chunks():
            seen += len(chunk)
            if pieces_read == 1:
                break
        with pytest.raises(StreamConsumed, match="read_chunks"):
            await response.content()
        with pytest.raises(StreamConsumed):
            async for _ in response.read_chunks():
                pass
        assert pieces_read == 1 or seen == 3 * MIB


async def test_content_twice_and_read_chunks_after_content_still_work(raw_server) -> None:
    async def serve(reader, writer) -> None:
        await read_request(reader)
        writer.write(length_response(b"whole"))
        await reader.read()

    server = await raw_server(serve)
    async with HTTPClient() as client:
        response = await client.get(server.url + "/")
        assert await response.content() == b"whole"
        assert await response.content() == b"whole"
        assert [c async for c in response.read_chunks()] == [b"whole"]


# --- 14. a keep-alive connection the server closed is not reused ---------------


def closing_server(ssl_context: ssl.SSLContext | None = None):
    async def serve(reader, writer) -> None:
        await read_request(reader)
        # Closes after its response, without saying "Connection: close".
        writer.write(length_response(b"ok"))
        await writer.drain()
        writer.close()

    return serve


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_no_request_goes_out_on_a_connection_the_server_closed(raw_server, method) -> None:
    server = await raw_server(closing_server())
    failures = 0
    async with HTTPClient() as client:
        for index in range(50):
            try:
                response = await client.request(server.url + "/", method, data=b"n=%d" % index)
                assert await response.content() == b"ok"
            except ConnectionDisconnected:
                failures += 1
    assert failures == 0
    assert server.connections == 50  # one each: never a POST replayed


async def test_no_request_goes_out_on_a_tls_connection_the_server_closed(
    raw_server, tls_server_context, tls_client_context
) -> None:
    server = await raw_server(closing_server(), ssl_context=tls_server_context)
    failures = 0
    async with HTTPClient() as client:
        for index in range(20):
            try:
                response = await client.post(
                    server.url + "/", data=b"n=%d" % index, ssl=tls_client_context
                )
                assert await response.content() == b"ok"
            except ConnectionDisconnected:
                failures += 1
    assert failures == 0
    assert server.connections == 20


async def test_unclosed_http2_client_closes_its_connection_when_collected(h2_server) -> None:
    from h2_servers import answer_all
    from test_http2_faults import pk_client

    server = await h2_server(answer_all)

    async def use_and_forget() -> None:
        client = pk_client()
        response = await client.get(server.url + "/x")
        assert await response.content() == b"/x"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        await use_and_forget()
        gc.collect()
        await server.conns[0].wait_closed(timeout=5)  # GOAWAY, then our socket closed
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1 and "in pk_client" in messages[0], messages  # made there


async def test_a_loop_that_made_requests_is_freed_after_it_closes(raw_server) -> None:
    """Each request opens a request_timeout scope, whose per-loop timer stays
    armed after it (for the next request). A closed loop's timer never fires,
    so a registry holding it strongly kept every such loop alive: one per
    asyncio.run() of a program that calls it in a loop."""

    async def keep_alive(reader, writer) -> None:
        while True:
            await read_request(reader)
            writer.write(length_response(b"ok"))

    server = await raw_server(keep_alive)

    async def one_request() -> bytes:
        async with HTTPClient() as client:
            response = await client.get(server.url + "/")
            return await response.content()

    def run_loops() -> list[weakref.ref[asyncio.AbstractEventLoop]]:
        loops = []
        for _ in range(5):
            loop = asyncio.new_event_loop()
            try:
                assert loop.run_until_complete(one_request()) == b"ok"
            finally:
                loop.close()
            loops.append(weakref.ref(loop))
        return loops

    # In a thread: this test's own loop serves the requests meanwhile.
    loops = await asyncio.to_thread(run_loops)
    gc.collect()
    assert [ref() for ref in loops] == [None] * 5
