"""httpx benchmark client: one AsyncClient with max_connections=max_keepalive=C (HTTP/1.1)."""

from __future__ import annotations

from typing import Any

from _harness import main


def load() -> Any:
    import httpx

    class Client:
        name = "httpx"
        version = httpx.__version__
        module_path = httpx.__file__

        def __init__(self, concurrency: int) -> None:
            self.concurrency = concurrency

        async def __aenter__(self) -> Client:
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            # Default 5 s timeouts can trip on 10 MiB transfers of a busy pinned core.
            self.client = httpx.AsyncClient(limits=limits, timeout=60.0)
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.client.aclose()

        async def get(self, url: str) -> tuple[int, bytes]:
            r = await self.client.get(url)
            return r.status_code, r.content

        async def post(self, url: str, data: bytes) -> tuple[int, bytes]:
            r = await self.client.post(url, content=data)
            return r.status_code, r.content

    return Client


if __name__ == "__main__":
    main(load, dist="httpx")
