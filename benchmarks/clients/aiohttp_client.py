"""aiohttp benchmark client: one ClientSession over TCPConnector(limit=C).

https scenarios: ``TCPConnector(limit=C, ssl=ctx)`` with the harness's SSL context.
WebSocket scenarios: ``session.ws_connect(url)`` with its defaults (no compression:
``compress=0``); the adapter's methods are the ``ClientWebSocketResponse``'s own bound
methods (``send_str``, ``receive_str``, ``send_bytes``, ``receive_bytes``, ``close``).
aiohttp has no HTTP/2 client, so h2_get_small is not applicable (compare.py skips it;
run by hand it fails the protocol check).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from _harness import Tls, main


def load() -> Any:
    import aiohttp

    class Client:
        name = "aiohttp"
        version = aiohttp.__version__
        module_path = aiohttp.__file__
        http2_hint = "aiohttp has no HTTP/2 client"

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency
            self.tls = tls

        async def __aenter__(self) -> Client:
            if self.tls is None:
                connector = aiohttp.TCPConnector(limit=self.concurrency)
            else:
                connector = aiohttp.TCPConnector(limit=self.concurrency, ssl=self.tls.context())
            self.session = aiohttp.ClientSession(connector=connector)
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.session.close()

        async def get(self, url: str) -> tuple[int, bytes, Any]:
            async with self.session.get(url) as r:
                return r.status, await r.read(), r.version

        async def post(self, url: str, data: bytes) -> tuple[int, bytes, Any]:
            async with self.session.post(url, data=data) as r:
                return r.status, await r.read(), r.version

        async def ws_connect(self, url: str) -> Any:
            ws = await self.session.ws_connect(url)
            return SimpleNamespace(
                send_text=ws.send_str, receive_text=ws.receive_str,
                send_bytes=ws.send_bytes, receive_bytes=ws.receive_bytes, close=ws.close,
            )  # fmt: skip

    return Client


if __name__ == "__main__":
    main(load, dist="aiohttp")
