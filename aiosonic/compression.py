"""The published 1.3 decompression helpers, on aiosonic's decoders.

Kept for code that imports them from here; the decoders themselves (gzip,
deflate, brotli, chains, the size cap checked while decoding) live in
:mod:`aiosonic.decoders`.
"""

from __future__ import annotations

from aiosonic.decoders import MAX_DECOMPRESSED_SIZE, ContentDecoder, build_decoder

__all__ = ["DEFAULT_MAX_DECOMPRESSED_SIZE", "decompress_body", "get_decompressor"]

#: The published name of the default cap (100 MiB), the same value as
#: :data:`aiosonic.decoders.MAX_DECOMPRESSED_SIZE`.
DEFAULT_MAX_DECOMPRESSED_SIZE = MAX_DECOMPRESSED_SIZE


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
