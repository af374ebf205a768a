"""aiohttp benchmark client: one ClientSession over TCPConnector(limit=C)."""

from __future__ import annotations

from typing import Any

from _harness import main


def load() -> Any:
    import aiohttp

    class Client:
        name = "aiohttp"
        version = aiohttp.__version__
        module_path = aiohttp.__file__

        def __init__(self, concurrency: int) -> None:
            self.concurrency = concurrency

        async def __aenter__(self) -> Client:
            connector = aiohttp.TCPConnector(limit=self.concurrency)
            self.session = aiohttp.ClientSession(connector=connector)
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.session.close()

        async def get(self, url: str) -> tuple[int, bytes]:
            async with self.session.get(url) as r:
                return r.status, await r.read()

        async def post(self, url: str, data: bytes) -> tuple[int, bytes]:
            async with self.session.post(url, data=data) as r:
                return r.status, await r.read()

    return Client


if __name__ == "__main__":
    main(load, dist="aiohttp")
