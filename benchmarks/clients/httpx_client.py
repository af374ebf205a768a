"""httpx benchmark client: one AsyncClient with max_connections=max_keepalive=C.

HTTP/1.1, except h2_get_small: ``AsyncClient(http2=True)`` (needs the ``httpx[http2]``
extra).  https scenarios pass the harness's SSL context as ``verify=ctx`` (httpx 0.28's
documented way); httpx itself sets its ALPN list (``h2`` only when ``http2=True``).
"""

from __future__ import annotations

from typing import Any

from _harness import Tls, main


def load() -> Any:
    import httpx

    class Client:
        name = "httpx"
        version = httpx.__version__
        module_path = httpx.__file__

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency
            self.tls = tls

        async def __aenter__(self) -> Client:
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            # Default 5 s timeouts can trip on 10 MiB transfers of a busy pinned core.
            if self.tls is None:
                self.client = httpx.AsyncClient(limits=limits, timeout=60.0)
            else:
                self.client = httpx.AsyncClient(
                    limits=limits,
                    timeout=60.0,
                    verify=self.tls.context(),
                    http2=self.tls.http2,
                )
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.client.aclose()

        async def get(self, url: str) -> tuple[int, bytes, Any]:
            r = await self.client.get(url)
            return r.status_code, r.content, r.http_version

        async def post(self, url: str, data: bytes) -> tuple[int, bytes, Any]:
            r = await self.client.post(url, content=data)
            return r.status_code, r.content, r.http_version

    return Client


if __name__ == "__main__":
    main(load, dist="httpx")
