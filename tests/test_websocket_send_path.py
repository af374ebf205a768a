"""Which frames the client puts on the wire: the send fast path and the core's path.

A scripted server (exact bytes, tests/test_websocket.py's helpers) accepts the
upgrade, with or without permessage-deflate, and records everything the client
sends. Whole uncompressed messages take the fast path
(aiosonic.protocols.websocket_frames); with compression negotiated every
message must still go through the core and be compressed (RSV1 set, RFC 7692 §6).
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

from aiosonic import WebSocketClient
from aiosonic.drivers.websocket import _joins_pieces
from tests.conftest import wait_until
from tests.test_websocket import _ws, client_frames, close_code_of, scripted

DEFLATE = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
TEXT = "añb€c" * 400  # 2.4 kB of UTF-8: the 16-bit length form, and deflates well


def _raw_frames(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(first header byte, masking key, masked payload) of each client frame."""
    frames = []
    while len(data) >= 2:
        length, offset = data[1] & 0x7F, 2
        if length == 126:
            length, offset = struct.unpack(">H", data[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack(">Q", data[2:10])[0], 10
        key = data[offset : offset + 4]
        frames.append((data[0], key, data[offset + 4 : offset + 4 + length]))
        data = data[offset + 4 + length :]
    return frames


async def _sent_by_client(raw_server: Any, extra: bytes, **settings: Any) -> bytes:
    record: list[bytes] = []
    server = await raw_server(scripted(b"", extra, record))
    async with WebSocketClient() as client:
        conn = await client.connect(
            _ws(server), start_keepalive=False, close_timeout=0.2, **settings
        )
        await conn.send_text(TEXT)
        await conn.send_bytes(b"\x00\x01" * 40_000)  # 80 kB: two writes, 64-bit length
        await conn.send_text("")
        await conn.close(4002, "bye")  # the server never answers: dropped after 0.2 s
    assert await wait_until(lambda: bool(record), 5.0)
    return record[0]


async def test_uncompressed_messages_on_the_fast_path(raw_server: Any) -> None:
    sent = await _sent_by_client(raw_server, b"")
    assert client_frames(sent) == [
        (0x1, TEXT.encode()),
        (0x2, b"\x00\x01" * 40_000),
        (0x1, b""),
        (0x8, struct.pack(">H", 4002) + b"bye"),
    ]
    raw = _raw_frames(sent)
    assert [head for head, _, _ in raw] == [0x81, 0x82, 0x81, 0x88]  # FIN, no RSV bits
    keys = [key for _, key, _ in raw]
    assert len(set(keys)) == len(keys), "a masking key was used twice"
    assert close_code_of(client_frames(sent)) == 4002


async def test_compressed_messages_go_through_the_core(raw_server: Any) -> None:
    sent = await _sent_by_client(raw_server, DEFLATE, compression=True)
    raw = _raw_frames(sent)
    assert [head for head, _, _ in raw[:2]] == [0xC1, 0xC2]  # FIN + RSV1: compressed
    first = client_frames(sent)[0][1]
    assert len(first) < len(TEXT.encode()) // 4
    inflated = zlib.decompressobj(-15).decompress(first + b"\x00\x00\xff\xff")
    assert inflated == TEXT.encode()


def test_big_messages_avoid_a_joining_writelines() -> None:
    """asyncio's default writelines joins the pieces (a copy of the payload); a
    transport with its own (uvloop's, asyncio's socket transports from 3.12) does not."""

    class Joining(asyncio.WriteTransport):
        pass

    class Vectored(asyncio.WriteTransport):
        def writelines(self, list_of_data: Any) -> None:
            pass

    assert _joins_pieces(Joining())
    assert not _joins_pieces(Vectored())
