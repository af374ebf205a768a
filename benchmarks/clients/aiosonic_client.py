"""aiosonic benchmark client, used for both our package and the PyPI release.

Whichever ``aiosonic`` the running interpreter imports is measured: run it with the
python of ``.venvs/ours`` (editable install of this repository) or of
``.venvs/aiosonic-pypi``.  The pool is sized to C through ``TCPConnector(pool_size=C,
conn_max_requests=None)`` (our API) or, for releases that only have it,
``pool_configs={":default": PoolConfig(size=C, max_conn_requests=None)}``: in both
cases no forced reconnects (the default recycles a connection after 100 requests),
like the other clients, which keep connections open.

https scenarios: the harness's SSL context is passed per request (``get(url, ssl=ctx)``,
both versions' documented way).  h2_get_small also passes ``http2=True`` to
``TCPConnector`` (if this version accepts it; 1.3.3 then uses its one-shared-connection
``Http2MultiplexPool``) and to every request, and sets ALPN ``h2, http/1.1`` on its
context (ours offers only what a caller's context offers).

backend_get_small (ours only): ``TCPConnector(network_backend=...)`` with a
pass-through backend written as a user would (``NetworkBackendInterface`` around the
default ``NetworkBackend``), so requests go through the stream adapter.
"""

from __future__ import annotations

import inspect
from typing import Any

from _harness import Tls, main


def _version(aiosonic: Any) -> str:
    from importlib import metadata

    try:
        return metadata.version("aiosonic")
    except metadata.PackageNotFoundError:
        return str(getattr(aiosonic, "__version__", "unknown"))


def load() -> Any:
    import aiosonic
    from aiosonic import HTTPClient
    from aiosonic.connectors import TCPConnector

    params = inspect.signature(TCPConnector).parameters
    connector_http2 = "http2" in params

    def make_connector(concurrency: int, http2: bool, backend: Any = None) -> Any:
        extra: dict[str, Any] = {"http2": True} if http2 and connector_http2 else {}
        if backend is not None:
            extra["network_backend"] = backend
        if "pool_size" in params:
            return TCPConnector(pool_size=concurrency, conn_max_requests=None, **extra)
        if "pool_configs" in params:
            from aiosonic.pools import PoolConfig

            config = PoolConfig(size=concurrency, max_conn_requests=None)
            return TCPConnector(pool_configs={":default": config}, **extra)
        raise TypeError("TCPConnector accepts neither pool_size nor pool_configs")

    class Client:
        name = "aiosonic"
        version = _version(aiosonic)
        module_path = aiosonic.__file__
        http2_hint = "" if connector_http2 else "TCPConnector has no http2 parameter"
        scenario = ""  # set by the harness

        def __init__(self, concurrency: int, tls: Tls | None = None) -> None:
            self.concurrency = concurrency
            self.tls = tls
            self.kw: dict[str, Any] = {}

        async def __aenter__(self) -> Client:
            http2 = self.tls is not None and self.tls.http2
            if self.tls is not None:
                context = self.tls.context()
                if http2:
                    # Ours never changes a caller's context, so the context offers
                    # h2 itself, as our docs say (1.3.3 would add it on its own).
                    context.set_alpn_protocols(["h2", "http/1.1"])
                self.kw = {"ssl": context, **({"http2": True} if http2 else {})}
            backend = _passthrough_backend() if self.scenario == "backend_get_small" else None
            self.connector = make_connector(self.concurrency, http2, backend)
            self.cm = HTTPClient(connector=self.connector)
            self.client = await self.cm.__aenter__()
            return self

        async def __aexit__(self, *exc: object) -> None:
            try:
                await self.cm.__aexit__(None, None, None)
            finally:
                # Releases that do not close a caller-supplied connector on exit.
                cleanup = getattr(self.connector, "cleanup", None)
                if cleanup is not None:
                    await cleanup()

        async def get(self, url: str) -> tuple[int, bytes, Any]:
            resp = await self.client.get(url, **self.kw)
            return resp.status_code, await resp.content(), resp.http_version

        async def post(self, url: str, data: bytes) -> tuple[int, bytes, Any]:
            resp = await self.client.post(url, data=data, **self.kw)
            return resp.status_code, await resp.content(), resp.http_version

    return Client


def _passthrough_backend() -> Any:
    """A user-written backend that only forwards to the default one (ours only)."""
    from aiosonic import NetworkBackend, NetworkBackendInterface, NetworkStreamInterface

    class PassThroughBackend(NetworkBackendInterface):
        def __init__(self) -> None:
            self._inner = NetworkBackend()

        async def connect(self, host: str, port: int) -> NetworkStreamInterface:
            return await self._inner.connect(host, port)

    return PassThroughBackend()


if __name__ == "__main__":
    main(load, dist="aiosonic")
