"""wreq benchmark client (Rust, on tokio): one ``wreq.Client`` with a pool of C connections.

Set-up as wreq documents it: ``Client(pool_max_idle_per_host=C, pool_max_size=C)``, no
browser emulation (the plain client), ``async with client.get(url) as r: await
r.bytes()`` (the whole body, as a zero-copy ``memoryview``: wreq's fast way to read it).
``async with`` releases the response and returns a fully read connection to the pool.

The requests run on wreq's shared tokio runtime, on threads of its own (its default
size is the CPUs available to the process: 1 under ``taskset -c 1``); the harness
counts their CPU time too (``getrusage`` of the whole process).

https scenarios: the CA is handed as wreq documents it, ``tls_verify=Path(CA)`` (wreq
uses BoringSSL, not Python's ``ssl``, so it cannot take the harness's SSL context).  The
plain client offers ``h2`` and ``http/1.1`` through ALPN, so the HTTPS/1.1 rows ask for
``http1_only=True`` (like the other clients, which offer only ``http/1.1`` there), and
the HTTP/2 row for ``http2_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _harness import Tls, main


def load() -> Any:
    import wreq

    class Client:
        name = "wreq"
        version = getattr(wreq, "__version__", None) or _dist_version()
        module_path = wreq.__file__

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency
            self.tls = tls

        async def __aenter__(self) -> Client:
            kw: dict[str, Any] = {}
            if self.tls is not None:
                kw["tls_verify"] = Path(self.tls.ca)
                kw["http2_only" if self.tls.http2 else "http1_only"] = True
            self.client = wreq.Client(
                pool_max_idle_per_host=self.concurrency, pool_max_size=self.concurrency, **kw
            )
            return self

        async def __aexit__(self, *exc: object) -> None:
            self.client.close()

        async def get(self, url: str) -> tuple[int, Any, Any]:
            async with self.client.get(url) as r:
                return r.status.as_int(), await r.bytes(), r.version

        async def post(self, url: str, data: bytes) -> tuple[int, Any, Any]:
            async with self.client.post(url, body=data) as r:
                return r.status.as_int(), await r.bytes(), r.version

    return Client


def _dist_version() -> str:
    from importlib import metadata

    return metadata.version("wreq")


if __name__ == "__main__":
    main(load, dist="wreq")
