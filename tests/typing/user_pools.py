"""Pools a user writes, as the docs describe them: ``make test`` runs ``mypy --strict`` on this.

Not collected by pytest (no ``test_`` functions): it only has to type-check.
An override of the documented ``acquire`` signature, a pool that implements
the :class:`aiosonic.pools.Pool` protocol without subclassing anything, and
one written for the published contract must each be accepted where the
connector takes them.
"""

from __future__ import annotations

from typing import Any

from aiosonic.connectors import TCPConnector
from aiosonic.pools import Pool, PublishedPool, SmartPool, URLParts


class CountingPool(SmartPool):
    """Overrides ``acquire`` with the documented signature."""

    acquired = 0

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        self.acquired += 1
        return await super().acquire(urlparsed, key)


class OwnPool:
    """Implements the Pool protocol structurally."""

    def __init__(self, connector: Any, pool_size: int, connection_cls: Any, config: Any) -> None:
        self.pool_size = pool_size
        self.slot = connection_cls(connector)

    async def acquire(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        return self.slot

    def acquire_nowait(self, urlparsed: URLParts | None = None, key: Any = None) -> Any:
        return None

    def release(self, conn: Any) -> None:
        return None

    def free_conns(self) -> int:
        return 1

    def is_all_free(self) -> bool:
        return True

    async def close_idle(self) -> None:
        return None

    async def cleanup(self) -> None:
        return None


class OldStylePool:
    """Written for the published contract: five methods, no key."""

    def __init__(self, connector: Any, pool_size: int, connection_cls: Any) -> None:
        self.slot = connection_cls(connector)

    async def acquire(self, urlparsed: URLParts | None = None) -> Any:
        return self.slot

    def release(self, conn: Any) -> None:
        return None

    def free_conns(self) -> int:
        return 1

    def is_all_free(self) -> bool:
        return True

    async def cleanup(self) -> None:
        return None


def build() -> list[TCPConnector]:
    own: Pool = OwnPool(None, 1, object, None)
    old: PublishedPool = OldStylePool(None, 1, object)
    counting: Pool = CountingPool(None, 1, object)
    assert own and old and counting
    return [TCPConnector(pool_cls=cls) for cls in (CountingPool, OwnPool, OldStylePool)]
