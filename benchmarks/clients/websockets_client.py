"""websockets benchmark client (WebSocket scenarios only): its asyncio client.

``websockets.asyncio.client.connect(url, compression=None, max_size=2 MiB)``: no
compression, like the other clients, and room for the 1 MiB messages (its default
``max_size`` is exactly 1 MiB). The adapter's methods are the connection's own bound
``send`` and ``recv`` (they take and return ``str`` for text, ``bytes`` for binary).
It is no HTTP client: the HTTP scenarios fail (compare.py never runs it on them).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from _harness import Tls, main


def load() -> Any:
    import websockets
    from websockets.asyncio.client import connect

    class Client:
        name = "websockets"
        version = websockets.__version__
        module_path = websockets.__file__

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency

        async def __aenter__(self) -> Client:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        async def ws_connect(self, url: str) -> Any:
            ws = await connect(url, compression=None, max_size=2 * 1024 * 1024)
            return SimpleNamespace(
                send_text=ws.send, receive_text=ws.recv,
                send_bytes=ws.send, receive_bytes=ws.recv, close=ws.close,
            )  # fmt: skip

        async def get(self, url: str) -> tuple[int, bytes, Any]:
            raise NotImplementedError("websockets has no HTTP client")

        async def post(self, url: str, data: bytes) -> tuple[int, bytes, Any]:
            raise NotImplementedError("websockets has no HTTP client")

    return Client


if __name__ == "__main__":
    main(load, dist="websockets")
