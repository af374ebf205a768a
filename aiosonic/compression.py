"""The published 1.3 decompression helpers, on aiosonic's decoders.

Kept for code that imports them from here; the decoders themselves (gzip,
deflate, brotli, chains, the size cap checked while decoding) live in
:mod:`aiosonic.decoders`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from aiosonic.decoders import MAX_DECOMPRESSED_SIZE, ContentDecoder, build_decoder
from aiosonic.exceptions import DecompressionError

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_SIZE",
    "DEFLATE_WBITS",
    "ENCODING_WBITS",
    "GZIP_WBITS",
    "BoundedDecompressor",
    "DecompressionError",
    "decompress_body",
    "decompress_bounded",
    "get_decompressor",
]

#: The published name of the default cap (100 MiB), the same value as
#: :data:`aiosonic.decoders.MAX_DECOMPRESSED_SIZE`.
DEFAULT_MAX_DECOMPRESSED_SIZE = MAX_DECOMPRESSED_SIZE

#: zlib ``wbits`` for a gzip stream (RFC 1952): the largest window, plus 16.
GZIP_WBITS = zlib.MAX_WBITS | 16
#: zlib ``wbits`` for a zlib-wrapped deflate stream (RFC 1950).
DEFLATE_WBITS = zlib.MAX_WBITS
#: ``wbits`` by ``Content-Encoding``, for :class:`BoundedDecompressor`.
ENCODING_WBITS = {"gzip": GZIP_WBITS, "deflate": DEFLATE_WBITS}


class BoundedDecompressor:
    """A zlib decompressor that refuses to produce more than ``max_size`` bytes.

    The published 1.3 building block; aiosonic's own responses decode with
    :mod:`aiosonic.decoders`, which also handle raw deflate, brotli and chains.

    Args:
        wbits: The zlib window setting (:data:`GZIP_WBITS`, :data:`DEFLATE_WBITS`).
        max_size: Most bytes the whole output may have.
    """

    def __init__(self, wbits: int, max_size: int) -> None:
        self._inflater = zlib.decompressobj(wbits)
        self._max_size = max_size
        self._produced = 0

    def __repr__(self) -> str:
        return f"<BoundedDecompressor [{self._produced} of {self._max_size} bytes produced]>"

    def _counted(self, out: bytes) -> bytes:
        self._produced += len(out)
        if self._produced > self._max_size:
            raise DecompressionError(
                f"decompressed body passes the {self._max_size} byte limit "
                f"({self._produced} bytes so far)"
            )
        return out

    def _inflate(self, call: str, run: Callable[[], bytes]) -> bytes:
        try:
            return self._counted(run())
        except zlib.error as exc:
            raise DecompressionError(f"corrupt compressed body ({call}): {exc}") from exc

    def feed(self, data: bytes) -> bytes:
        """Return what ``data`` decompresses to.

        Raises:
            DecompressionError: The data is corrupt or the output passes ``max_size``.
        """
        # Ask zlib for one byte past the budget: enough to tell "over" without
        # inflating a bomb whole.
        budget = self._max_size - self._produced + 1
        return self._inflate("feed", lambda: self._inflater.decompress(data, budget))

    def flush(self) -> bytes:
        """Return the output still buffered once every chunk was fed.

        Raises:
            DecompressionError: The data is corrupt or the output passes ``max_size``.
        """
        return self._inflate("flush", self._inflater.flush)


def decompress_bounded(data: bytes, wbits: int, max_size: int) -> bytes:
    """Decompress a whole zlib/gzip body of at most ``max_size`` bytes.

    Raises:
        DecompressionError: The data is corrupt or the output passes ``max_size``.
    """
    decompressor = BoundedDecompressor(wbits, max_size)
    return decompressor.feed(data) + decompressor.flush()


def get_decompressor(
    encoding: str, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE
) -> ContentDecoder | None:
    """Return a decoder for a ``Content-Encoding`` value, or None for none.

    Feed it with ``decode(data)`` and finish with ``flush()``.

    Raises:
        DecompressionError: The coding is not supported.
    """
    return build_decoder(encoding, max_size)


def decompress_body(
    data: bytes, encoding: str, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE
) -> bytes:
    """Decode a whole body of the given ``Content-Encoding``.

    Raises:
        DecompressionError: The data is corrupt, the coding unsupported, or
            the result would pass ``max_size`` bytes.
    """
    decoder = build_decoder(encoding, max_size)
    return data if decoder is None else decoder.decode(data) + decoder.flush()
