"""The WebSocket client against real servers and scripted ones.

Real servers, started in-process on 127.0.0.1:0: the ``websockets`` server
(compression on and off, subprotocols) and aiohttp.web's WebSocket. Scripted
servers (tests/conftest.py's raw_server) answer the upgrade and then send
exact bytes, for each way a server can break RFC 6455; each such test checks
the error raised and the close code the client sent back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import websockets.asyncio.server as ws_server
from aiohttp import WSMsgType, web

import aiosonic
from aiosonic import (
    Message,
    MessageType,
    ProtocolHandler,
    TCPConnector,
    WebSocketClient,
    WebSocketConnection,
    WebSocketMessageTooBig,
)
from aiosonic.drivers.websocket_reads import MaskTolerantWebSocketDriver
from aiosonic.exceptions import (
    ConnectionDisconnected,
    ConnectTimeout,
    ReadTimeout,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketProtocolError,
)
from aiosonic.protocols.websocket import LOOP_READ_BUFFER_SIZE
from aiosonic.proxy import Proxy
from aiosonic.timeout import Timeouts
from tests.conftest import RawServer
from tests.test_proxy import (
    PROXY_CREDENTIALS,
    TunnelRelay,
    _start_socks,
    proxy_py,  # noqa: F401 - the fixture, requested by name below
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# --- real servers -----------------------------------------------------------------


async def _echo(ws: Any) -> None:
    async for message in ws:
        if message == "close-me":
            await ws.close(4001, "asked to")
            return
        await ws.send(message)


@pytest.fixture
async def ws_echo() -> AsyncIterator[str]:
    """A ``websockets`` echo server that offers no compression; yields its ws:// URL."""
    async with ws_server.serve(
        _echo, "127.0.0.1", 0, compression=None, max_size=None, subprotocols=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/echo"


@pytest.fixture
async def ws_deflate() -> AsyncIterator[str]:
    """A ``websockets`` echo server that accepts permessage-deflate."""
    async with ws_server.serve(_echo, "127.0.0.1", 0, compression="deflate", max_size=None) as srv:
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"


CLOSES = web.AppKey("closes", list)


class AiohttpWS:
    """An aiohttp.web WebSocket server: its URL, and the close code of each connection."""

    def __init__(self, url: str, closes: list[int | None]) -> None:
        self.url = url
        self.closes = closes


@pytest.fixture
async def aiohttp_ws() -> AsyncIterator[AiohttpWS]:
    """An aiohttp.web WebSocket echo server (``close <code>`` makes it close)."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat", "json"), max_msg_size=0)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and msg.data.startswith("close "):
                await ws.close(code=int(msg.data.split()[1]), message=b"bye")
                break
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        request.app[CLOSES].append(ws.close_code)
        return ws

    app = web.Application()
    closes: list[int | None] = []
    app[CLOSES] = closes
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield AiohttpWS(f"ws://127.0.0.1:{port}/ws", closes)
    await runner.cleanup()


async def test_echo_text_bytes_json(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        assert isinstance(conn, WebSocketConnection) and conn.connected
        await conn.send_text("héllo")
        assert await conn.receive_text(timeout=5) == "héllo"
        await conn.send_bytes(b"\x00\xff")
        assert await conn.receive_bytes(timeout=5) == b"\x00\xff"
        await conn.send_json({"a": [1, 2]})
        assert await conn.receive_json(timeout=5) == {"a": [1, 2]}
        await conn.close()
        assert conn.close_code == 1000 and not conn.connected


async def test_16_mib_message_both_ways(ws_echo: str) -> None:
    payload = os.urandom(16 * 1024 * 1024)
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, start_keepalive=False)
        await conn.send_bytes(payload)
        assert await conn.receive_bytes(timeout=30) == payload


async def test_wrong_kind_raises_value_error_as_published(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        await conn.send_bytes(b"x")
        with pytest.raises(ValueError, match="Expected a text message"):
            await conn.receive_text(timeout=5)


async def test_receive_timeout_is_read_timeout(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        with pytest.raises(
            ReadTimeout, match=r"no message within 0\.05s on the WebSocket connection to ws://"
        ):
            await conn.receive_text(timeout=0.05)
        await conn.send_text("still fine")  # a timeout does not end the connection
        assert await conn.receive_text(timeout=5) == "still fine"


async def test_ping_pong(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        await conn.ping(b"abc")
        assert await conn.receive_pong(timeout=5) == b"abc"
        with pytest.raises(ValueError, match="125 bytes"):
            await conn.ping(b"x" * 126)


async def test_async_iteration_ends_at_server_close(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        for text in ("a", "b", "close-me"):
            await conn.send_text(text)
        got = [message async for message in conn]
        assert [(m.type, m.data) for m in got] == [(MessageType.TEXT, "a"), (MessageType.TEXT, "b")]
        assert conn.close_code == 4001 and conn.close_reason == "asked to"
        with pytest.raises(ConnectionDisconnected, match="closed \\(code 4001 'asked to'\\)"):
            await conn.send_text("late")


async def test_async_with_closes(aiohttp_ws: AiohttpWS) -> None:
    async with WebSocketClient() as client:
        async with await client.connect(aiohttp_ws.url) as conn:
            await conn.send_text("x")
            assert await conn.receive_text(timeout=5) == "x"
        assert not conn.connected
    assert aiohttp_ws.closes == [1000]  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", [1000, 1001, 4000])
async def test_close_codes_from_the_server(aiohttp_ws: AiohttpWS, code: int) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(aiohttp_ws.url)
        await conn.send_text(f"close {code}")
        with pytest.raises(ConnectionDisconnected, match=f"code {code}"):
            await conn.receive_text(timeout=5)
        assert conn.close_code == code and conn.close_reason == "bye"


@pytest.mark.parametrize("code", [1000, 1001, 4321])
async def test_close_codes_from_the_client(aiohttp_ws: AiohttpWS, code: int) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(aiohttp_ws.url)
        await conn.close(code, "done")
    assert aiohttp_ws.closes == [code]  # type: ignore[attr-defined]


async def test_close_rejects_codes_not_to_send(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        with pytest.raises(ValueError, match="close code 1005 may not be sent"):
            await conn.close(1005)
        with pytest.raises(ValueError, match="125 bytes"):
            await conn.close(1000, "x" * 124)
        assert conn.connected


async def test_subprotocol_negotiated(aiohttp_ws: AiohttpWS) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(aiohttp_ws.url, subprotocols=["json", "chat"])
        assert conn.subprotocol == "json"


async def test_subprotocol_none_when_not_offered(aiohttp_ws: AiohttpWS) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(aiohttp_ws.url)
        assert conn.subprotocol is None


async def test_custom_headers_reach_the_handshake(raw_server: Any) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _accept(reader, writer))
        await _until_close(reader, writer)

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        await client.connect(
            _ws(server) + "/p?q=1", headers={"Authorization": "Bearer t", "X-A": "b"}
        )
    head = seen[0]
    assert head.startswith(b"GET /p?q=1 HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in head and b"\r\nX-A: b\r\n" in head


@pytest.mark.parametrize("window_bits", [None, 10])
async def test_compression_negotiated_and_used(ws_deflate: str, window_bits: int | None) -> None:
    text = json.dumps([{"key": i, "value": "abc" * 10} for i in range(2000)])
    async with WebSocketClient() as client:
        conn = await client.connect(
            ws_deflate,
            compression=True,
            client_max_window_bits=window_bits,
            client_no_context_takeover=True,
        )
        assert conn.conn.extensions == ["permessage-deflate"]
        for _ in range(3):
            await conn.send_text(text)
            assert await conn.receive_text(timeout=10) == text


async def test_compression_off_by_default(ws_deflate: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_deflate)
        assert conn.conn.extensions == []


async def test_protocol_handler(ws_echo: str) -> None:
    class Reversed(ProtocolHandler):
        @property
        def name(self) -> str:
            return "reversed"

        def encode(self, data: Any) -> bytes:
            return str(data).encode()[::-1]

        def decode(self, data: bytes) -> Any:
            return data[::-1].decode()

    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, conn_opts={"protocol_handler": Reversed()})
        await conn.send_protocol("abc")
        assert await conn.receive_protocol(timeout=5) == "abc"
        plain = await client.connect(ws_echo)
        with pytest.raises(RuntimeError, match="No protocol handler"):
            await plain.send_protocol("x")


async def test_wss_through_the_connectors_tls(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    serve = ws_server.serve(_echo, "127.0.0.1", 0, ssl=tls_server_context, max_size=None)
    async with serve as server:
        port = server.sockets[0].getsockname()[1]
        async with WebSocketClient() as client:
            conn = await client.connect(f"wss://127.0.0.1:{port}/", ssl=tls_client_context)
            await conn.send_text("secure")
            assert await conn.receive_text(timeout=5) == "secure"
            # Messages of many reads through TLS: read in place on asyncio's loops,
            # header and payload written apart where writelines would join them.
            big = os.urandom(3 * 1024 * 1024 + 17)
            await conn.send_bytes(big)
            assert await conn.receive_bytes(timeout=20) == big
            text = "añ€😀" * 150_000
            await conn.send_text(text)
            assert await conn.receive_text(timeout=20) == text
            assert conn.conn.transport is not None
            assert conn.conn.transport.get_extra_info("ssl_object") is not None
        async with WebSocketClient() as client:
            with pytest.raises(aiosonic.exceptions.TLSError):
                await client.connect(f"wss://127.0.0.1:{port}/")  # our CA is not trusted


async def test_connector_is_shared_and_never_pools_a_websocket(ws_echo: str) -> None:
    connector = TCPConnector()
    client = WebSocketClient(connector)
    conn = await client.connect(ws_echo)
    assert connector.is_all_free() and connector.pool.free_conns() == connector.pool.pool_size
    await client.close()
    assert not conn.connected
    assert not connector._closed  # not ours to close
    await connector.cleanup()


async def test_client_close_closes_open_connections(aiohttp_ws: AiohttpWS) -> None:
    client = WebSocketClient()
    first, second = await client.connect(aiohttp_ws.url), await client.connect(aiohttp_ws.url)
    await client.close()
    assert not first.connected and not second.connected
    # 1001, going away: the client is closed under them (RFC 6455 §7.4.1).
    assert sorted(aiohttp_ws.closes) == [1001, 1001]  # type: ignore[attr-defined]
    assert repr(client) == "<WebSocketClient [open=0]>"


async def test_bad_url_scheme() -> None:
    async with WebSocketClient() as client:
        with pytest.raises(ValueError, match="ws:// or wss://"):
            await client.connect("http://127.0.0.1:1/")


async def test_handshake_bounded_by_sock_connect(raw_server: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await raw_server(silent)
    connector = TCPConnector(timeouts=Timeouts(sock_connect=0.1))
    async with WebSocketClient(connector) as client:
        with pytest.raises(ConnectTimeout, match=r"sock_connect=0\.1s"):
            await client.connect(_ws(server))
    await connector.cleanup()


# --- scripted servers -------------------------------------------------------------


def _ws(server: RawServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


def frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bool = False
) -> bytes:
    """Build one frame as a server would send it (unmasked unless ``mask``)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    length = len(payload)
    bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([bit | length])
    elif length < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", length)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", length)
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split what the client sent after the handshake into (opcode, unmasked payload)."""
    frames = []
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        assert data[1] & 0x80, "a client frame must be masked"
        offset = 2
        if length == 126:
            length, offset = struct.unpack(">H", data[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack(">Q", data[2:10])[0], 10
        key, offset = data[offset : offset + 4], offset + 4
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[offset : offset + length]))
        frames.append((opcode, payload))
        data = data[offset + length :]
    return frames


def close_code_of(frames: list[tuple[int, bytes]]) -> int | None:
    for opcode, payload in frames:
        if opcode == 0x8:
            return int(struct.unpack(">H", payload[:2])[0])
    return None


async def _accept(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extra: bytes = b""
) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n"
    )
    return head


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def scripted(
    send: bytes,
    extra_headers: bytes = b"",
    record: list[bytes] | None = None,
    answer_close: bool = False,
) -> Script:
    """A server that accepts, sends ``send``, then records all the client sends until EOF.

    ``answer_close``: answer the client's close frame, so a test whose client
    closes normally does not wait out ``close_timeout``.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer, extra_headers)
        writer.write(send)
        received = await (_until_close(reader, writer) if answer_close else reader.read(-1))
        if record is not None:
            record.append(received)

    return handler


async def _until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Read what the client sends; answer its close frame; return everything up to EOF.

    The close handshake of a server that has nothing more to say, for tests
    that are not about closing: without it the client's close waits
    ``close_timeout`` (10 s) for an answer. Frame headers are walked as they
    arrive; only a close frame's payload is unmasked.
    """
    data = bytearray()
    pos = 0  # the start of the next frame not walked yet
    answered = False
    while chunk := await reader.read(65536):
        data += chunk
        while not answered and len(data) - pos >= 2:
            length, head = data[pos + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            end = pos + head + 4 + length
            if end > len(data):
                break  # the rest of this frame has not arrived
            if data[pos] & 0x0F == 0x8:
                ((_, payload),) = client_frames(bytes(data[pos:end]))
                writer.write(frame(0x8, payload[:2]))
                answered = True
            pos = end
    return bytes(data)


async def _fails_with(
    raw_server: Any,
    send: bytes,
    error: type[Exception],
    code: int,
    match: str,
    extra_headers: bytes = b"",
    **settings: Any,
) -> WebSocketConnection:
    record: list[bytes] = []
    server = await raw_server(scripted(send, extra_headers, record))
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), **settings)
        with pytest.raises(error, match=match) as info:
            await conn.receive_bytes(timeout=10)
        assert isinstance(info.value, WebSocketError) and info.value.close_code == code
        assert not conn.connected
        await conn.conn.lost  # the client closed TCP: the server's read ended
    assert await _wait_for(lambda: bool(record))
    assert close_code_of(client_frames(record[0])) == code
    return conn


async def test_masked_server_frame_fails_1002(raw_server: Any) -> None:
    await _fails_with(
        raw_server, frame(0x2, b"hi", mask=True), WebSocketProtocolError, 1002, "incorrect masking"
    )


async def test_masked_server_frames_accepted_when_asked(raw_server: Any) -> None:
    """accept_masked_frames=True: masked frames, sent with the 101 in one write, are read."""
    record: list[bytes] = []
    send = (
        frame(0x1, "masked é".encode(), mask=True)
        + frame(0x2, b"\x00" * 200, mask=False)  # unmasked ones still pass
        + frame(0x2, b"ab", fin=False, mask=True)
        + frame(0x0, b"c" * 70_000, mask=True)
        + frame(0x9, b"ping?", mask=True)
        + frame(0x8, struct.pack(">H", 1000) + b"done", mask=True)
    )

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)  # the 101 ...
        writer.write(send)  # ... and the frames go out before the client reads either
        record.append(await reader.read(-1))

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), accept_masked_frames=True, read_buffer_size=100)
        # The unmasking driver, reading 100 bytes at a time into its own buffer.
        assert type(conn.conn).__name__ == "BufferedMaskTolerantWebSocketDriver"
        assert isinstance(conn.conn, asyncio.BufferedProtocol)
        got = [message.data async for message in conn]
        assert got == ["masked é", b"\x00" * 200, b"ab" + b"c" * 70_000]
        assert conn.close_code == 1000 and conn.close_reason == "done"
    assert await _wait_for(lambda: bool(record))
    frames = client_frames(record[0])
    assert (0xA, b"ping?") in frames  # the masked ping was answered
    assert close_code_of(frames) == 1000


async def test_accepting_masked_frames_keeps_every_other_check(raw_server: Any) -> None:
    conn = await _fails_with(
        raw_server,
        frame(0x2, b"x", rsv1=True, mask=True),
        WebSocketProtocolError,
        1002,
        "reserved bits must be 0",
        accept_masked_frames=True,
    )
    assert isinstance(conn.conn, MaskTolerantWebSocketDriver)


async def test_default_driver_has_no_unmasking_step(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        assert not isinstance(conn.conn, MaskTolerantWebSocketDriver)
        assert isinstance(conn.conn, aiosonic.drivers.websocket.WebSocketDriver)


async def test_frame_over_max_frame_size_fails_1009_on_its_header(raw_server: Any) -> None:
    header_only = frame(0x2, b"")[:1] + bytes([127]) + struct.pack(">Q", 2**31)
    conn = await _fails_with(
        raw_server,
        header_only,
        WebSocketMessageTooBig,
        1009,
        "frame with 2147483648 bytes exceeds limit of 1024 bytes",
        max_frame_size=1024,
    )
    assert isinstance(conn.conn.error, WebSocketMessageTooBig)


async def test_fragments_over_max_message_size_fail_1009(raw_server: Any) -> None:
    chunks = frame(0x2, b"a" * 600, fin=False) + frame(0x0, b"b" * 600, fin=False)
    await _fails_with(
        raw_server,
        chunks,
        WebSocketMessageTooBig,
        1009,
        "after reading 600 bytes exceeds limit of 1000 bytes",
        max_message_size=1000,
    )


async def test_published_max_msg_size_limits_frames(raw_server: Any) -> None:
    await _fails_with(
        raw_server,
        frame(0x2, b"x" * 2000),
        WebSocketMessageTooBig,
        1009,
        "frame with 2000 bytes exceeds limit of 1000 bytes",
        max_msg_size=1000,
    )


async def test_invalid_utf8_fails_1007(raw_server: Any) -> None:
    await _fails_with(raw_server, frame(0x1, b"\xff"), WebSocketProtocolError, 1007, "not UTF-8")


async def test_invalid_utf8_in_first_fragment_fails_before_the_last(raw_server: Any) -> None:
    """Only the first fragment is sent: the error cannot wait for FIN (RFC 6455 §8.1)."""
    await _fails_with(
        raw_server, frame(0x1, b"ok\xc0", fin=False), WebSocketProtocolError, 1007, "not UTF-8"
    )


async def test_utf8_character_split_across_fragments_is_fine(raw_server: Any) -> None:
    euro = "€".encode()
    server = await raw_server(
        scripted(
            frame(0x1, euro[:1], fin=False)
            + frame(0x0, euro[1:2], fin=False)
            + frame(0x0, euro[2:]),
            answer_close=True,
        )
    )
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server))
        assert await conn.receive_text(timeout=5) == "€"


@pytest.mark.parametrize(
    ("send", "match"),
    [
        (frame(0x1, b"x", rsv1=True), "reserved bits"),
        (frame(0x3, b"x"), "invalid opcode"),
        (frame(0x9, b"p" * 126), "control frame too long"),
        (frame(0x9, b"p", fin=False), "fragmented control frame"),
        (struct.pack(">BB", 0x88, 1) + b"\x03", "close frame too short"),
        (frame(0x8, struct.pack(">H", 999)), "invalid status code"),
        (frame(0x8, struct.pack(">H", 1005)), "invalid status code"),
        (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), "expected a continuation frame"),
        (frame(0x0, b"a"), "unexpected continuation frame"),
    ],
    ids=[
        "rsv1-without-extension",
        "unknown-opcode",
        "ping-over-125",
        "fragmented-ping",
        "close-1-byte",
        "close-code-999",
        "close-code-1005",
        "text-inside-fragmented",
        "stray-continuation",
    ],
)
async def test_framing_errors_fail_1002(raw_server: Any, send: bytes, match: str) -> None:
    await _fails_with(raw_server, send, WebSocketProtocolError, 1002, match)


async def test_close_reason_not_utf8_fails_1007(raw_server: Any) -> None:
    await _fails_with(
        raw_server,
        frame(0x8, struct.pack(">H", 1000) + b"\xff"),
        WebSocketProtocolError,
        1007,
        "invalid start byte",
    )


async def test_deflate_bomb_is_stopped_while_inflating(raw_server: Any) -> None:
    """64 MiB of zeros deflate to ~64 KiB; inflation stops at max_message_size (1 MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\x00" * (64 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]  # RFC 7692 §7.2.1: the empty block's tail is not sent
    assert len(bomb) < 100_000
    await _fails_with(
        raw_server,
        frame(0x2, bomb, rsv1=True),
        WebSocketMessageTooBig,
        1009,
        "exceeds limit of 1048576 bytes",
        extra_headers=b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
        compression=True,
        max_message_size=1024 * 1024,
    )


async def test_server_ping_answered_while_not_receiving(raw_server: Any) -> None:
    pong = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        writer.write(frame(0x9, b"are you there"))
        data = await reader.read(64)
        pong.set_result(client_frames(data))
        await _until_close(reader, writer)

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        await client.connect(_ws(server))
        assert await asyncio.wait_for(pong, 5) == [(0xA, b"are you there")]


async def test_server_that_never_answers_close_is_dropped(raw_server: Any) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        await reader.read()  # reads our close frame, answers nothing

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), close_timeout=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await conn.close()
        # 0.2 s expected; unbounded or the 10 s default would fail. 5 s, not a tight
        # bound, so a stalled CI machine does not fail a close that was bounded.
        assert loop.time() - started < 5
        assert conn.conn.transport is None and not conn.connected


async def test_data_after_the_servers_close_is_not_delivered(raw_server: Any) -> None:
    record: list[bytes] = []
    send = (
        frame(0x1, b"before")
        + frame(0x8, struct.pack(">H", 1000))
        + frame(0x1, b"after")
        + frame(0x2, b"more")
    )
    server = await raw_server(scripted(send, record=record))
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server))
        got = [message.data async for message in conn]
        assert got == ["before"]
        assert conn.close_code == 1000
        await conn.close()
    assert await _wait_for(lambda: bool(record))
    assert close_code_of(client_frames(record[0])) == 1000  # the close reply, nothing else


async def test_wrong_accept_key_fails_the_handshake(raw_server: Any) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"
        )
        await reader.read()

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        with pytest.raises(WebSocketHandshakeError, match="Sec-WebSocket-Accept"):
            await client.connect(_ws(server))


async def test_refused_upgrade_carries_the_status(raw_server: Any) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
        await reader.read()

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        with pytest.raises(WebSocketHandshakeError, match="HTTP 403") as info:
            await client.connect(_ws(server))
    assert info.value.status_code == 403
    assert isinstance(info.value, ConnectionError)  # the published client raised ConnectionError


async def test_server_closing_during_the_handshake(raw_server: Any) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # then the fixture closes the socket

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        with pytest.raises(WebSocketHandshakeError, match="closed the connection before"):
            await client.connect(_ws(server))


async def test_extension_not_offered_fails_the_handshake(raw_server: Any) -> None:
    server = await raw_server(scripted(b"", b"Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    async with WebSocketClient() as client:
        with pytest.raises(WebSocketHandshakeError, match="extension"):
            await client.connect(_ws(server))


async def test_slow_consumer_pauses_reading(raw_server: Any) -> None:
    """queue_maxsize messages wait unread: the socket is not read until one is taken."""
    many = frame(0x1, b"m") * 50

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        writer.write(many)
        await _until_close(reader, writer)

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), conn_opts={"queue_maxsize": 3})
        assert await _wait_for(lambda: "reading=paused" in repr(conn.conn))
        first = await conn.receive_text(timeout=5)
        assert first == "m"
        received = 1
        while received < 50:
            await conn.receive_text(timeout=5)
            received += 1
        assert "reading=on" in repr(conn.conn)


async def test_close_reads_the_answer_past_a_full_queue(raw_server: Any) -> None:
    """Reading paused by a full queue does not keep the server's close frame unread."""
    flood = frame(0x1, b"m") * 50
    server = await raw_server(scripted(flood, answer_close=True))
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), conn_opts={"queue_maxsize": 2}, close_timeout=30)
        assert await _wait_for(lambda: "reading=paused" in repr(conn.conn))
        await asyncio.wait_for(conn.close(), 5)  # the handshake, not close_timeout
        assert conn.close_code == 1000


async def test_drop_frames_drops_instead_of_pausing(raw_server: Any) -> None:
    frames = b"".join(frame(0x1, str(i).encode()) for i in range(10))
    server = await raw_server(scripted(frames, answer_close=True))
    async with WebSocketClient() as client:
        conn = await client.connect(
            _ws(server), conn_opts={"queue_maxsize": 2, "drop_frames": True}
        )
        assert await _wait_for(lambda: conn.conn.dropped_messages == 8)
        assert [await conn.receive_text(timeout=5) for _ in range(2)] == ["0", "1"]


async def test_0_23_queue_keywords(raw_server: Any) -> None:
    server = await raw_server(scripted(frame(0x1, b"x") * 10, answer_close=True))
    async with WebSocketClient() as client:
        conn = await client.connect(
            _ws(server), conn_opts={"text_queue_maxsize": 4, "binary_queue_maxsize": 2}
        )
        # 4 (the larger) bounds the one queue: 10 unread messages pause reading
        # (with the default of 100 they would not).
        assert await _wait_for(lambda: "reading=paused" in repr(conn.conn))


async def test_keepalive_closes_when_no_pong(raw_server: Any) -> None:
    record: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        record.append(await reader.read())  # answers no ping

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), keepalive_interval=0.05, close_timeout=0.2)
        with pytest.raises(ConnectionDisconnected, match="code 1011"):
            await conn.receive_text(timeout=5)
    assert await _wait_for(lambda: bool(record))
    frames = client_frames(record[0])
    assert frames[0][0] == 0x9 and close_code_of(frames) == 1011


async def test_keepalive_pongs_are_not_shown_to_receive_pong(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, keepalive_interval=0.005)
        for round_ in range(20):  # keep-alive pings interleave with ours
            await conn.ping(b"mine %d" % round_)
            assert await conn.receive_pong(timeout=5) == b"mine %d" % round_
        assert conn._keep_alive_task is not None and conn.connected
        conn.stop_keep_alive()
        assert conn._keep_alive_task is None


async def test_lost_connection_without_close(raw_server: Any) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        writer.write(frame(0x1, b"last"))
        await writer.drain()
        writer.transport.abort()

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server))
        assert await conn.receive_text(timeout=5) == "last"
        with pytest.raises(ConnectionDisconnected, match="without a close frame"):
            await conn.receive_text(timeout=5)


async def test_message_repr_and_module_paths() -> None:
    import aiosonic.web_socket_client as published

    assert published.Message is Message and aiosonic.WsPool is aiosonic.pools.WsPool
    assert aiosonic.exceptions.WebSocketMessageTooBig is WebSocketMessageTooBig
    assert issubclass(WebSocketMessageTooBig, ConnectionDisconnected)
    assert published.WEBSOCKET_GUID.encode() == GUID


async def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    from tests.conftest import wait_until

    return await wait_until(predicate, timeout)


# --- proxies ----------------------------------------------------------------------


@pytest.fixture
async def socks_port() -> AsyncIterator[int]:
    """A pproxy SOCKS5 server (as tests/test_proxy.py starts it); yields its port."""
    listener, port = await _start_socks(None)
    yield port
    listener.close()
    await listener.wait_closed()


@pytest.fixture
async def tunnel_relay(raw_server: Any) -> tuple[TunnelRelay, RawServer]:
    """An HTTP proxy that answers CONNECT and relays bytes (tests/test_proxy.py's)."""
    tunnel = TunnelRelay()
    return tunnel, await raw_server(tunnel.handle)


async def test_ws_through_a_socks5_proxy(ws_echo: str, socks_port: int) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, proxy=Proxy(f"socks5://127.0.0.1:{socks_port}"))
        await conn.send_text("via socks")
        assert await conn.receive_text(timeout=5) == "via socks"


async def test_wss_through_an_http_proxy_tunnel(
    tunnel_relay: tuple[TunnelRelay, RawServer],
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
) -> None:
    tunnel, proxy_server = tunnel_relay
    async with ws_server.serve(_echo, "127.0.0.1", 0, ssl=tls_server_context) as server:
        port = server.sockets[0].getsockname()[1]
        async with WebSocketClient() as client:
            conn = await client.connect(
                f"wss://127.0.0.1:{port}/",
                ssl=tls_client_context,
                proxy=Proxy(f"http://127.0.0.1:{proxy_server.port}"),
            )
            await conn.send_text("via CONNECT")
            assert await conn.receive_text(timeout=5) == "via CONNECT"
    assert tunnel.heads[0].startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1".encode())
    assert b"via CONNECT" not in bytes(tunnel.client_bytes[0])  # TLS inside the tunnel


async def test_plain_ws_through_an_http_proxy_tunnel(
    tunnel_relay: tuple[TunnelRelay, RawServer], ws_echo: str
) -> None:
    """ws:// through an HTTP proxy: CONNECT, then the upgrade in plaintext inside the tunnel."""
    tunnel, proxy_server = tunnel_relay
    port = int(ws_echo.rsplit(":", 1)[1].split("/")[0])
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, proxy=Proxy(f"http://127.0.0.1:{proxy_server.port}"))
        await conn.send_text("via CONNECT")
        assert await conn.receive_text(timeout=5) == "via CONNECT"
    assert tunnel.heads == [
        f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    ]
    # Origin-form inside the tunnel, as on a direct connection.
    assert bytes(tunnel.client_bytes[0]).startswith(b"GET /echo HTTP/1.1\r\n")


async def test_plain_ws_through_proxy_py(proxy_py: str, ws_echo: str) -> None:  # noqa: F811
    """A real HTTP proxy (proxy.py, basic auth): the tunnel carries the WebSocket."""
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, proxy=Proxy(proxy_py, auth=PROXY_CREDENTIALS))
        for text in ("through", "proxy.py", "x" * 100_000):
            await conn.send_text(text)
            assert await conn.receive_text(timeout=5) == text
        with pytest.raises(aiosonic.exceptions.ProxyError, match="407"):
            await client.connect(ws_echo, proxy=Proxy(proxy_py))


async def test_trust_env_takes_the_proxy_from_the_environment(
    tunnel_relay: tuple[TunnelRelay, RawServer], ws_echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tunnel, proxy_server = tunnel_relay
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_server.port}")
    async with WebSocketClient() as client:  # trust_env is off by default
        conn = await client.connect(ws_echo)
        await conn.send_text("direct")
        assert await conn.receive_text(timeout=5) == "direct"
    assert tunnel.tunnels == 0
    async with WebSocketClient(trust_env=True) as client:
        conn = await client.connect(ws_echo)
        await conn.send_text("via env")
        assert await conn.receive_text(timeout=5) == "via env"
    assert tunnel.tunnels == 1 and tunnel.heads[0].startswith(b"CONNECT 127.0.0.1:")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with WebSocketClient(trust_env=True) as client:
        await client.connect(ws_echo)
    assert tunnel.tunnels == 1  # NO_PROXY: direct


async def test_proxy_with_uds_is_refused(ws_echo: str) -> None:
    connector = TCPConnector(uds="/nonexistent.sock")
    async with WebSocketClient(connector) as client:
        with pytest.raises(ValueError, match="connects to that socket only"):
            await client.connect(ws_echo, proxy=Proxy("http://127.0.0.1:9"))
    await connector.cleanup()


# --- buffer limits ----------------------------------------------------------------


async def test_tiny_read_buffer_splits_frames_across_reads(ws_echo: str) -> None:
    """read_buffer_size=7: every frame arrives over several reads and is still whole."""
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, read_buffer_size=7)
        assert isinstance(conn.conn, asyncio.BufferedProtocol)
        assert len(conn.conn.get_buffer(-1)) == 7
        for text in ("a", "é" * 70, "z" * 70_000):
            await conn.send_text(text)
            assert await conn.receive_text(timeout=5) == text


async def test_default_reads_follow_the_event_loop(ws_echo: str) -> None:
    """read_buffer_size=None (default): uvloop's own reads; a 128 KiB buffer on asyncio's."""
    on_uvloop = type(asyncio.get_running_loop()).__module__.startswith("uvloop")
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo)
        if on_uvloop:  # the loop reads into its own buffer; the connection keeps none
            assert not isinstance(conn.conn, asyncio.BufferedProtocol)
            assert not hasattr(conn.conn, "get_buffer")
        else:  # its own reads would allocate 256 KiB per read
            assert isinstance(conn.conn, asyncio.BufferedProtocol)
            assert len(conn.conn.get_buffer(-1)) == LOOP_READ_BUFFER_SIZE
        for text in ("a", "é" * 70, "z" * 300_000):  # more than one read of 256 KiB
            await conn.send_text(text)
            assert await conn.receive_text(timeout=5) == text


async def test_send_waits_while_the_server_does_not_read(raw_server: Any) -> None:
    reading = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        await reading.wait()  # reads nothing until told
        await _until_close(reader, writer)

    server = await raw_server(handler)
    async with WebSocketClient() as client:
        conn = await client.connect(_ws(server), write_buffer_size=64 * 1024, start_keepalive=False)
        send = asyncio.create_task(conn.send_bytes(b"x" * (16 * 1024 * 1024)))
        assert await _wait_for(lambda: "writing=paused" in repr(conn.conn))
        assert not send.done()  # backpressure: the send waits for the socket
        reading.set()
        await asyncio.wait_for(send, 10)
        assert "writing=on" in repr(conn.conn)


async def test_message_over_max_write_buffer_size_is_refused(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        conn = await client.connect(ws_echo, max_write_buffer_size=1000)
        with pytest.raises(
            ValueError, match="1001 bytes is bigger than max_write_buffer_size=1000"
        ):
            await conn.send_bytes(b"x" * 1001)
        await conn.send_bytes(b"x" * 1000)
        assert await conn.receive_bytes(timeout=5) == b"x" * 1000


async def test_unknown_setting_is_a_type_error(ws_echo: str) -> None:
    async with WebSocketClient() as client:
        with pytest.raises(TypeError, match="unknown WebSocket setting"):
            await client.connect(ws_echo, max_mesage_size=10)
