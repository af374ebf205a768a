"""pyreqwest benchmark client (Rust reqwest, on tokio): one async ``Client`` from
``ClientBuilder``, with a pool of C connections.

Set-up as pyreqwest documents it: ``ClientBuilder().max_connections(C)
.pool_max_idle_per_host(C).build()``, then ``r = await client.get(url).build().send();
await r.bytes()`` (the whole body, as pyreqwest's ``Bytes``).  pyreqwest runs its
requests on a tokio runtime on a thread of its own (single-threaded by default); the
harness counts that thread's CPU time too (``getrusage`` of the whole process).

https scenarios: the CA is handed as pyreqwest documents it,
``add_root_certificate_pem(<the CA's PEM>)`` (pyreqwest uses rustls, not Python's
``ssl``, so it cannot take the harness's SSL context); the PEM is read when the client
is created, so it is part of each cold iteration.  HTTP/1.1 is pyreqwest's default
(``http1_only``); the HTTP/2 row enables ``http2(True)`` (ALPN ``h2`` + ``http/1.1``).

pyreqwest 0.15.1's runtime thread sometimes aborts the interpreter while it finalizes
after HTTPS runs ("Fatal Python error: PyGILState_Release ..."), after the measurement
and its record: the script exits without finalizing (``skip_finalization``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _harness import Tls, main


def load() -> Any:
    import pyreqwest
    from pyreqwest.client import ClientBuilder

    class Client:
        name = "pyreqwest"
        version = pyreqwest.__version__
        module_path = pyreqwest.__file__

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency
            self.tls = tls

        async def __aenter__(self) -> Client:
            builder = (
                ClientBuilder()
                .max_connections(self.concurrency)
                .pool_max_idle_per_host(self.concurrency)
            )
            if self.tls is not None:
                builder = builder.add_root_certificate_pem(Path(self.tls.ca).read_bytes())
                builder = builder.http2(True) if self.tls.http2 else builder.http1_only()
            self.client = await builder.build().__aenter__()
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.client.close()

        async def get(self, url: str) -> tuple[int, Any, Any]:
            r = await self.client.get(url).build().send()
            return r.status, await r.bytes(), r.version

        async def post(self, url: str, data: bytes) -> tuple[int, Any, Any]:
            r = await self.client.post(url).body_bytes(data).build().send()
            return r.status, await r.bytes(), r.version

    return Client


if __name__ == "__main__":
    main(load, dist="pyreqwest", skip_finalization=True)
