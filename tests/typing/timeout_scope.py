"""``aiosonic.timeout`` is both the published module and a callable scope: both type-check.

Checked by ``mypy --strict`` in ``make test`` (a type checker cannot call a
module, so ``aiosonic/__init__.py`` declares ``timeout``'s type for it).
"""

from __future__ import annotations

import aiosonic
import aiosonic.timeout
from aiosonic.timeout import Timeouts, TimeoutScope


async def bounded(client: aiosonic.HTTPClient, url: str) -> bytes:
    policy: Timeouts = aiosonic.timeout.Timeouts(sock_read=5)
    async with aiosonic.timeout(3.0) as scope:
        response = await client.get(url, timeouts=policy)
        kept: TimeoutScope = scope
        kept.cancel()
        return await response.content()
