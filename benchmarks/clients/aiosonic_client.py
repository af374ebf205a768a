"""aiosonic benchmark client, used for both our package and the PyPI release.

Whichever ``aiosonic`` the running interpreter imports is measured: run it with the
python of ``.venvs/ours`` (editable install of this repository) or of
``.venvs/aiosonic-pypi``.  The pool is sized to C through ``TCPConnector(pool_size=C)``
(our API) or, for releases that only have it, ``pool_configs={":default":
PoolConfig(size=C, max_conn_requests=None)}`` (no forced reconnects, like the other
clients).
"""

from __future__ import annotations

import inspect
from typing import Any

from _harness import main


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

    def make_connector(concurrency: int) -> Any:
        if "pool_size" in params:
            return TCPConnector(pool_size=concurrency)
        if "pool_configs" in params:
            from aiosonic.pools import PoolConfig

            config = PoolConfig(size=concurrency, max_conn_requests=None)
            return TCPConnector(pool_configs={":default": config})
        raise TypeError("TCPConnector accepts neither pool_size nor pool_configs")

    class Client:
        name = "aiosonic"
        version = _version(aiosonic)
        module_path = aiosonic.__file__

        def __init__(self, concurrency: int) -> None:
            self.concurrency = concurrency

        async def __aenter__(self) -> Client:
            self.connector = make_connector(self.concurrency)
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

        async def get(self, url: str) -> tuple[int, bytes]:
            resp = await self.client.get(url)
            return resp.status_code, await resp.content()

        async def post(self, url: str, data: bytes) -> tuple[int, bytes]:
            resp = await self.client.post(url, data=data)
            return resp.status_code, await resp.content()

    return Client


if __name__ == "__main__":
    main(load, dist="aiosonic")
