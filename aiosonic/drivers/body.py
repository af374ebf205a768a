"""Request bodies as the drivers take them, and one way to walk a streamed one."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

__all__ = ["RequestBody", "StreamedBody", "body_pieces"]

#: A streamed request body: any sync or async iterable of bytes.
StreamedBody = AsyncIterable[bytes] | Iterable[bytes]
#: Body of a request as the drivers accept it.
RequestBody = bytes | StreamedBody | None


async def body_pieces(body: StreamedBody) -> AsyncIterator[bytes]:
    """Yield the non-empty pieces of a sync or async iterable body."""
    if isinstance(body, AsyncIterable):
        async for piece in body:
            if piece:
                yield piece
    else:
        for piece in body:
            if piece:
                yield piece
