"""The floor of the WebSocket rows: no WebSocket library at all (not a client).

What is left when the WebSocket work is taken away: one ``asyncio.Protocol`` per
connection, one ``transport.write`` of a frame built once per payload, and one future
woken per echo. The handshake is a fixed upgrade request, checked only for ``101``;
an echo is "enough bytes came back" (the length of the server's unmasked frame), with
no parsing, no UTF-8 check and no copy: ``receive_*`` returns the object that was sent.

Reads take the cheaper way of each loop, as ours does: uvloop's own (``data_received``
with bytes of the size read), and on asyncio's loops a buffer kept by the connection
(``BufferedProtocol``), because their own reads allocate 256 KiB per read.

No real client can cost less per message than this on the same loop, so the column
shows how much of a row is the loop, the socket and the echo server, and the "ours vs
floor" ratio how close our client comes to that bound. Standard library only (it runs
in the ``ours`` venv for uvloop).
"""

from __future__ import annotations

import asyncio
import os
import platform
import struct
from typing import Any
from urllib.parse import urlsplit

from _harness import Tls, main

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 16 * 1024


def _frame_header(opcode: int, length: int, masked: bool) -> bytes:
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((0x80 | opcode, mask_bit | length))
    if length < 1 << 16:
        return bytes((0x80 | opcode, mask_bit | 126)) + struct.pack("!H", length)
    return bytes((0x80 | opcode, mask_bit | 127)) + struct.pack("!Q", length)


class FloorProtocol(asyncio.Protocol):
    """One connection: the upgrade, then "write a frame, wait for its echo's length"."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.head = b""
        self.want = 0
        self.got = 0
        self.waiter: asyncio.Future[None] | None = None
        self.loop = loop
        self.frames: dict[int, tuple[bytes, int]] = {}  # id(payload) -> (frame, echo length)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.head += data
            end = self.head.find(_HEAD_END)
            if end < 0:
                if len(self.head) > _MAX_HEAD:
                    self.opened.set_exception(ConnectionError("no end of the upgrade head"))
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                status = self.head.split(b"\r\n", 1)[0].decode("latin-1")
                self.opened.set_exception(ConnectionError(f"upgrade refused: {status}"))
                return
            self.got = len(self.head) - end - len(_HEAD_END)
            self.opened.set_result(None)
            return
        self.received(len(data))

    def received(self, nbytes: int) -> None:
        self.got += nbytes
        waiter = self.waiter
        if self.got >= self.want and waiter is not None:
            self.got -= self.want
            self.waiter = None
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"connection lost: {exc!r}")
        for future in (self.opened, self.waiter):
            if future is not None and not future.done():
                future.set_exception(error)

    def frame_for(self, payload: str | bytes) -> tuple[bytes, int]:
        built = self.frames.get(id(payload))
        if built is None:
            raw = payload.encode() if isinstance(payload, str) else payload
            opcode = 0x1 if isinstance(payload, str) else 0x2
            # An all-zero mask key leaves the payload as it is (RFC 6455 §5.3).
            frame = _frame_header(opcode, len(raw), True) + b"\x00\x00\x00\x00" + raw
            echo_length = len(_frame_header(opcode, len(raw), False)) + len(raw)
            built = self.frames[id(payload)] = (frame, echo_length)
        return built


class BufferedFloorProtocol(FloorProtocol, asyncio.BufferedProtocol):
    """The floor on asyncio's loops: reads into one kept buffer."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.buffer = memoryview(bytearray(128 * 1024))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.opened.done():
            self.received(nbytes)
        else:
            self.data_received(bytes(self.buffer[:nbytes]))


class FloorConnection:
    def __init__(self, protocol: FloorProtocol) -> None:
        self.protocol = protocol
        self.last: str | bytes = b""

    async def send_text(self, payload: str | bytes) -> None:
        protocol = self.protocol
        frame, protocol.want = protocol.frame_for(payload)
        self.last = payload
        assert protocol.transport is not None
        protocol.transport.write(frame)

    send_bytes = send_text

    async def receive_text(self) -> str | bytes:
        protocol = self.protocol
        if protocol.got < protocol.want:
            protocol.waiter = protocol.loop.create_future()
            await protocol.waiter
        else:
            protocol.got -= protocol.want
        return self.last

    receive_bytes = receive_text

    async def close(self) -> None:
        if self.protocol.transport is not None:
            self.protocol.transport.close()


def load() -> Any:
    class Client:
        name = "ws-floor"
        version = "stdlib " + platform.python_version()
        module_path = os.path.abspath(__file__)

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency

        async def __aenter__(self) -> Client:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        async def ws_connect(self, url: str) -> FloorConnection:
            parts = urlsplit(url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            request = (
                f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            loop = asyncio.get_running_loop()
            on_uvloop = type(loop).__module__.partition(".")[0] == "uvloop"
            kind = FloorProtocol if on_uvloop else BufferedFloorProtocol
            _, protocol = await loop.create_connection(lambda: kind(request), host, port)
            await protocol.opened
            return FloorConnection(protocol)

        async def get(self, url: str) -> tuple[int, bytes, Any]:
            raise NotImplementedError("the WebSocket floor has no HTTP client")

        async def post(self, url: str, data: bytes) -> tuple[int, bytes, Any]:
            raise NotImplementedError("the WebSocket floor has no HTTP client")

    return Client


if __name__ == "__main__":
    main(load)
