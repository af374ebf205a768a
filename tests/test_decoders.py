"""Tests for aiosonic.decoders: streamed, strict, size-capped content decoding."""

from __future__ import annotations

import gzip
import os
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import brotli
import pytest

import aiosonic.decoders as decoders_module
from aiosonic.decoders import (
    DECODE_STEP_SIZE,
    MAX_CONTENT_ENCODINGS,
    MAX_DECOMPRESSED_SIZE,
    SUPPORTED_ENCODINGS,
    BrotliDecoder,
    ContentDecoder,
    DeflateDecoder,
    GzipDecoder,
    IdentityDecoder,
    MultiDecoder,
    accept_encoding_value,
    build_decoder,
)
from aiosonic.exceptions import DecompressionError

MiB = 1024 * 1024

# Compressible but not trivial: repeated text with random bytes mixed in.
PAYLOAD = (b"The quick brown fox jumps over the lazy dog. " * 3000) + os.urandom(50_000)
SMALL_PAYLOAD = PAYLOAD[:6000] + PAYLOAD[-2000:]


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: brotli.compress(data, quality=5),  # quality 11 is slow
}
DECODER_CLASSES: dict[str, type[GzipDecoder | DeflateDecoder | BrotliDecoder]] = {
    "gzip": GzipDecoder,
    "deflate": DeflateDecoder,
    "br": BrotliDecoder,
}


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def decode_all(decoder: ContentDecoder, data: bytes, size: int | None = None) -> bytes:
    chunks = [data] if size is None else list(pieces(data, size))
    out = [decoder.decode(chunk) for chunk in chunks]
    out.append(decoder.flush())
    return b"".join(out)


def test_public_surface() -> None:
    for name in decoders_module.__all__:
        assert hasattr(decoders_module, name), name
    assert SUPPORTED_ENCODINGS == ("gzip", "deflate", "br")
    assert accept_encoding_value() == "gzip, deflate, br"
    assert MAX_CONTENT_ENCODINGS == 5
    assert 100 * MiB == MAX_DECOMPRESSED_SIZE
    assert isinstance(DECODE_STEP_SIZE, int) and DECODE_STEP_SIZE > 0


# --- round trips ----------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("size", [None, 7, 4096, 64 * 1024])
def test_round_trip(coding: str, size: int | None) -> None:
    encoded = ENCODERS[coding](PAYLOAD)
    assert decode_all(DECODER_CLASSES[coding](), encoded, size) == PAYLOAD


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_round_trip_one_byte_at_a_time(coding: str) -> None:
    encoded = ENCODERS[coding](SMALL_PAYLOAD)
    assert decode_all(DECODER_CLASSES[coding](), encoded, 1) == SMALL_PAYLOAD


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_highly_compressible_body_spans_many_steps(coding: str) -> None:
    # One small input chunk inflates to many DECODE_STEP_SIZE steps; none lost.
    data = bytes(5 * MiB) + b"end"
    assert decode_all(DECODER_CLASSES[coding](), ENCODERS[coding](data)) == data


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_output_exactly_one_step(coding: str) -> None:
    for length in (DECODE_STEP_SIZE - 1, DECODE_STEP_SIZE, DECODE_STEP_SIZE + 1):
        data = os.urandom(length)
        assert decode_all(DECODER_CLASSES[coding](), ENCODERS[coding](data)) == data


@pytest.mark.parametrize("level", [1, 9])
@pytest.mark.parametrize("extra", [0, 1, 2, 3, 4, 100])
def test_raw_deflate_output_pending_after_input_consumed(level: int, extra: int) -> None:
    # zlib can fill a step exactly with all input consumed yet a match still
    # pending (raw deflate has no trailer to keep in unconsumed_tail): found
    # for 3 steps + 1..4 bytes of zeros. The decoder must drain it.
    data = bytes(3 * DECODE_STEP_SIZE + extra)
    assert decode_all(DeflateDecoder(), raw_deflate(data, level)) == data


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_empty_payload_round_trip(coding: str) -> None:
    assert decode_all(DECODER_CLASSES[coding](), ENCODERS[coding](b"")) == b""


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_empty_body_is_not_truncation(coding: str) -> None:
    decoder = DECODER_CLASSES[coding]()
    assert decoder.decode(b"") == b""
    assert decoder.flush() == b""


def test_brotli_best_quality_and_large_window() -> None:
    encoded = brotli.compress(SMALL_PAYLOAD * 20, quality=11, lgwin=24)
    assert decode_all(BrotliDecoder(), encoded, 333) == SMALL_PAYLOAD * 20


def test_identity_passes_through() -> None:
    decoder = IdentityDecoder()
    assert decoder.decode(b"abc") == b"abc"
    assert decoder.decode(b"") == b""
    assert decoder.flush() == b""


# --- deflate: zlib-wrapped and raw ------------------------------------------------


@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("size", [None, 1, 1000])
def test_deflate_raw(level: int, size: int | None) -> None:
    data = SMALL_PAYLOAD
    assert decode_all(DeflateDecoder(), raw_deflate(data, level), size) == data


@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("wbits", [9, 12, 15])
def test_deflate_zlib_every_header(level: int, wbits: int) -> None:
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)
    encoded = compressor.compress(SMALL_PAYLOAD) + compressor.flush()
    assert decode_all(DeflateDecoder(), encoded, 1) == SMALL_PAYLOAD


def test_deflate_raw_fixed_huffman() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_FIXED)
    encoded = compressor.compress(SMALL_PAYLOAD) + compressor.flush()
    assert decode_all(DeflateDecoder(), encoded) == SMALL_PAYLOAD


def test_deflate_first_byte_alone_is_held() -> None:
    encoded = zlib.compress(b"hello")
    decoder = DeflateDecoder()
    assert decoder.decode(encoded[:1]) == b""
    assert decoder.decode(encoded[1:]) == b"hello"
    assert decoder.flush() == b""


def test_deflate_single_byte_body_is_truncated() -> None:
    decoder = DeflateDecoder()
    decoder.decode(b"x")
    with pytest.raises(DecompressionError, match="truncated deflate"):
        decoder.flush()


# --- gzip members -------------------------------------------------------------------


@pytest.mark.parametrize("size", [None, 1, 13])
def test_gzip_concatenated_members(size: int | None) -> None:
    encoded = gzip.compress(b"first ") + gzip.compress(b"second ") + gzip.compress(b"third")
    assert decode_all(GzipDecoder(), encoded, size) == b"first second third"


@pytest.mark.parametrize("size", [None, 1])
def test_gzip_nul_padding_after_member_is_skipped(size: int | None) -> None:
    encoded = gzip.compress(b"one") + b"\x00" * 10 + gzip.compress(b"two") + b"\x00" * 3
    assert decode_all(GzipDecoder(), encoded, size) == b"onetwo"


@pytest.mark.parametrize("size", [None, 1])
def test_gzip_trailing_garbage_raises(size: int | None) -> None:
    encoded = gzip.compress(b"data") + b"garbage!"
    with pytest.raises(DecompressionError, match="invalid gzip data") as info:
        decode_all(GzipDecoder(), encoded, size)
    assert isinstance(info.value.__cause__, zlib.error)


def test_gzip_leading_nul_is_not_padding() -> None:
    with pytest.raises(DecompressionError, match="invalid gzip data"):
        decode_all(GzipDecoder(), b"\x00" + gzip.compress(b"data"))


def test_gzip_second_member_truncated() -> None:
    encoded = gzip.compress(b"one") + gzip.compress(b"two")[:-3]
    decoder = GzipDecoder()
    assert decoder.decode(encoded).startswith(b"one")
    with pytest.raises(DecompressionError, match="truncated gzip"):
        decoder.flush()


# --- trailing data on single-stream codings -----------------------------------------


@pytest.mark.parametrize("coding", ["deflate", "br"])
@pytest.mark.parametrize("split", [False, True])
def test_bytes_after_end_of_stream_raise(coding: str, split: bool) -> None:
    encoded = ENCODERS[coding](b"payload")
    decoder = DECODER_CLASSES[coding]()
    with pytest.raises(DecompressionError, match=f"invalid {coding} data"):
        if split:
            assert decoder.decode(encoded) == b"payload"
            decoder.decode(b"x")
        else:
            decoder.decode(encoded + b"x")


def test_raw_deflate_trailing_data_raises() -> None:
    with pytest.raises(DecompressionError, match="after the end of the stream"):
        DeflateDecoder().decode(raw_deflate(b"payload") + b"\x00")


# --- a stream ending exactly at a decode step (found by fuzz/fuzz_response.py) -------

#: The fuzzer's input: one gzip member of 262,144 zeros (four decode steps
#: exactly) and one byte of NUL padding. CPython's zlib, when a stream ends in
#: a call fed from ``unconsumed_tail`` with the output full, keeps the bytes
#: after it in ``unconsumed_tail`` as well as ``unused_data``; decoding that tail
#: again yields nothing and never empties it, so the step loop spun forever and
#: froze the event loop.
FUZZ_GZIP_STEP_END = (
    bytes.fromhex("1f8b08003de4016b02ffedc13101000000c2a0f54fed6d07a0")
    + bytes(254)
    + bytes.fromhex("de0022ea0ee2000004000000")
)


@pytest.mark.timeout(5)
def test_gzip_member_ending_at_a_step_boundary_before_padding() -> None:
    assert GzipDecoder().decode(FUZZ_GZIP_STEP_END) == bytes(4 * DECODE_STEP_SIZE)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_gzip_member_ending_at_a_step_boundary_before_the_next_member(steps: int) -> None:
    body = bytes(steps * DECODE_STEP_SIZE)
    encoded = gzip.compress(body, mtime=0) + gzip.compress(b"next", mtime=0)
    assert decode_all(GzipDecoder(), encoded) == body + b"next"


@pytest.mark.timeout(5)
@pytest.mark.parametrize("encode", [zlib.compress, raw_deflate], ids=["zlib", "raw"])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_deflate_ending_at_a_step_boundary_then_trailing_bytes_raise(
    encode: Callable[[bytes], bytes], steps: int
) -> None:
    with pytest.raises(DecompressionError, match="1 bytes after the end of the stream"):
        DeflateDecoder().decode(encode(bytes(steps * DECODE_STEP_SIZE)) + b"\x00")


# --- corrupt and truncated input ------------------------------------------------------


@pytest.mark.parametrize(
    ("coding", "garbage", "cause"),
    [
        ("gzip", b"this is not gzip data at all", zlib.error),
        ("gzip", b"\x1f\x8b\x09\x00" + b"\x00" * 20, zlib.error),
        ("deflate", b"\x78\x9c" + b"\xff" * 30, zlib.error),
        ("deflate", b"\xff" * 30, zlib.error),
        ("br", b"this is not brotli data at all", brotli.error),
    ],
)
def test_garbage_raises_with_cause(coding: str, garbage: bytes, cause: type) -> None:
    decoder = DECODER_CLASSES[coding]()
    with pytest.raises(DecompressionError, match=f"invalid {coding} data") as info:
        decoder.decode(garbage)
        decoder.flush()
    assert isinstance(info.value.__cause__, cause)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_corrupted_middle_raises(coding: str) -> None:
    # Brotli carries no checksum, so only gzip (CRC-32) and zlib (Adler-32)
    # are sure to notice a damaged stored region.
    encoded = bytearray(ENCODERS[coding](PAYLOAD))
    middle = len(encoded) // 2
    encoded[middle : middle + 64] = bytes(64)
    with pytest.raises(DecompressionError):
        decode_all(DECODER_CLASSES[coding](), bytes(encoded), 4096)


def test_gzip_crc_mismatch_raises() -> None:
    encoded = bytearray(gzip.compress(b"checksummed"))
    encoded[-8] ^= 0xFF  # CRC32 in the member trailer (RFC 1952 §2.3.1)
    with pytest.raises(DecompressionError, match="invalid gzip data"):
        GzipDecoder().decode(bytes(encoded))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("cut", [1, 4, 100])
def test_truncated_stream_raises_at_flush(coding: str, cut: int) -> None:
    encoded = ENCODERS[coding](PAYLOAD)[:-cut]
    decoder = DECODER_CLASSES[coding]()
    decoded = b"".join(decoder.decode(chunk) for chunk in pieces(encoded, 1000))
    assert PAYLOAD.startswith(decoded)
    with pytest.raises(DecompressionError, match=f"truncated {coding} body"):
        decoder.flush()


def test_raw_deflate_truncated_raises_at_flush() -> None:
    decoder = DeflateDecoder()
    decoder.decode(raw_deflate(SMALL_PAYLOAD)[:-2])
    with pytest.raises(DecompressionError, match="truncated deflate"):
        decoder.flush()


def test_truncation_message_counts_bytes() -> None:
    encoded = gzip.compress(b"abc")[:-1]
    decoder = GzipDecoder()
    decoder.decode(encoded)
    with pytest.raises(DecompressionError, match=f"after {len(encoded)} encoded bytes"):
        decoder.flush()


# --- size cap --------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_cap_boundary(coding: str) -> None:
    data = b"z" * 1000
    encoded = ENCODERS[coding](data)
    assert decode_all(DECODER_CLASSES[coding](max_size=1000), encoded) == data
    with pytest.raises(DecompressionError, match="max_size=999"):
        decode_all(DECODER_CLASSES[coding](max_size=999), encoded)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_cap_enforced_while_streaming(coding: str) -> None:
    cap = 100_000
    decoder = DECODER_CLASSES[coding](max_size=cap)
    released = 0
    with pytest.raises(DecompressionError, match=f"{coding} body decodes past max_size={cap}"):
        for chunk in pieces(ENCODERS[coding](PAYLOAD), 512):
            released += len(decoder.decode(chunk))
    assert released <= cap


def test_cap_is_settable_on_instance() -> None:
    decoder = GzipDecoder()
    decoder.max_size = 10
    with pytest.raises(DecompressionError, match="max_size=10 "):
        decoder.decode(gzip.compress(b"x" * 11))


def test_cap_counts_all_gzip_members() -> None:
    encoded = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
    with pytest.raises(DecompressionError, match="max_size=1000"):
        decode_all(GzipDecoder(max_size=1000), encoded, 1)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """200 MiB of zeros per coding (50 MiB for deflate), compressed in 1 MiB slices."""
    block = bytes(MiB)
    result: dict[str, bytes] = {}
    for coding, wbits, blocks in (("gzip", 31, 200), ("deflate", 15, 50)):
        compressor = zlib.compressobj(1, zlib.DEFLATED, wbits)
        parts = [compressor.compress(block) for _ in range(blocks)]
        result[coding] = b"".join([*parts, compressor.flush()])
    brotli_compressor = brotli.Compressor(quality=5)
    parts = [brotli_compressor.process(block) for _ in range(200)]
    result["br"] = b"".join([*parts, brotli_compressor.finish()])
    return result


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_bomb_stops_early_and_memory_stays_bounded(coding: str, bombs: dict[str, bytes]) -> None:
    cap = MiB
    bomb = bombs[coding]
    decoder = build_decoder(coding, max_size=cap)
    assert decoder is not None
    fed = 0
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionError, match=f"max_size={cap}"):
            for chunk in pieces(bomb, 64 * 1024):
                fed += 1
                decoder.decode(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The first 64 KiB of input already inflates past 1 MiB: stop there, not later.
    assert fed == 1
    # Never more than the cap plus a few steps (brotli's step overshoots ~1.5x).
    assert peak < cap + 16 * DECODE_STEP_SIZE


def test_bomb_in_a_chain_is_capped(bombs: dict[str, bytes]) -> None:
    decoder = build_decoder("gzip, br", max_size=MiB)
    assert decoder is not None
    outer = brotli.compress(bombs["gzip"][: 256 * 1024], quality=1)
    with pytest.raises(DecompressionError, match=f"max_size={MiB}"):
        decode_all(decoder, outer, 64 * 1024)


# --- chains and build_decoder -------------------------------------------------------------


def encode_chain(data: bytes, codings: list[str]) -> bytes:
    for coding in codings:  # in the order the header lists them: applied first to last
        data = ENCODERS[coding](data)
    return data


@pytest.mark.parametrize(
    "codings",
    [
        ["gzip", "br"],
        ["br", "gzip"],
        ["deflate", "gzip"],
        ["gzip", "deflate", "br"],
        ["gzip", "gzip", "gzip", "br", "deflate"],
    ],
)
@pytest.mark.parametrize("size", [None, 1, 999])
def test_chain_round_trip(codings: list[str], size: int | None) -> None:
    data = SMALL_PAYLOAD if size == 1 else PAYLOAD
    decoder = build_decoder(", ".join(codings))
    assert isinstance(decoder, MultiDecoder)
    assert decode_all(decoder, encode_chain(data, codings), size) == data


def test_multidecoder_direct_order() -> None:
    decoder = MultiDecoder([GzipDecoder(), BrotliDecoder()])
    assert decode_all(decoder, brotli.compress(gzip.compress(b"layers"))) == b"layers"


def test_chain_wrong_order_raises() -> None:
    decoder = build_decoder("br, gzip")
    assert decoder is not None
    with pytest.raises(DecompressionError):
        decode_all(decoder, encode_chain(b"layers", ["gzip", "br"]))


def test_chain_truncated_outer_raises_at_flush() -> None:
    decoder = build_decoder("gzip, br")
    assert decoder is not None
    decoder.decode(encode_chain(PAYLOAD, ["gzip", "br"])[:-5])
    with pytest.raises(DecompressionError, match="truncated br"):
        decoder.flush()


class HoldUntilFlush(ContentDecoder):
    """A decoder that releases everything only at flush, to test chain flushing."""

    def __init__(self) -> None:
        self.held: list[bytes] = []

    def decode(self, data: bytes) -> bytes:
        self.held.append(data)
        return b""

    def flush(self) -> bytes:
        return b"".join(self.held)


def test_chain_flush_feeds_released_bytes_to_next_stage() -> None:
    # The outermost coding (last listed) releases its bytes at flush only; the
    # gzip stage must still decode them and then check its own end.
    decoder = MultiDecoder([GzipDecoder(), HoldUntilFlush()])
    assert decoder.decode(gzip.compress(b"late")) == b""
    assert decoder.flush() == b"late"


def test_chain_flush_detects_inner_truncation() -> None:
    decoder = MultiDecoder([GzipDecoder(), HoldUntilFlush()])
    decoder.decode(gzip.compress(b"late")[:-2])
    with pytest.raises(DecompressionError, match="truncated gzip"):
        decoder.flush()


@pytest.mark.parametrize("value", [None, "", "identity", " Identity ", "identity, identity", " , "])
def test_build_decoder_nothing_to_do(value: str | None) -> None:
    assert build_decoder(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip", GzipDecoder),
        ("GZIP", GzipDecoder),
        (" x-gzip ", GzipDecoder),
        ("Deflate", DeflateDecoder),
        ("br", BrotliDecoder),
        ("identity, br", BrotliDecoder),
        ("gzip,br", MultiDecoder),
        ("  gzip ,\tBR  ", MultiDecoder),
    ],
)
def test_build_decoder_types(value: str, expected: type) -> None:
    assert type(build_decoder(value)) is expected


def test_build_decoder_passes_max_size() -> None:
    decoder = build_decoder("gzip", max_size=5)
    assert isinstance(decoder, GzipDecoder)
    assert decoder.max_size == 5
    assert GzipDecoder().max_size == MAX_DECOMPRESSED_SIZE


def test_build_decoder_caps_every_stage_of_a_chain() -> None:
    decoder = build_decoder("gzip, br", max_size=50)
    assert decoder is not None
    with pytest.raises(DecompressionError, match="max_size=50"):
        decode_all(decoder, encode_chain(b"q" * 51, ["gzip", "br"]))


def test_build_decoder_accepts_max_chain() -> None:
    codings = ["gzip"] * MAX_CONTENT_ENCODINGS
    decoder = build_decoder(", ".join(codings))
    assert decoder is not None
    assert decode_all(decoder, encode_chain(b"deep", codings)) == b"deep"


def test_build_decoder_too_many_codings() -> None:
    value = ", ".join(["gzip"] * (MAX_CONTENT_ENCODINGS + 1))
    with pytest.raises(DecompressionError, match="max_content_encodings=5") as info:
        build_decoder(value)
    assert "6 codings" in str(info.value)


def test_build_decoder_chain_limit_is_settable() -> None:
    assert isinstance(build_decoder("gzip, br", max_encodings=2), MultiDecoder)
    with pytest.raises(DecompressionError, match="2 codings, more than max_content_encodings=1"):
        build_decoder("gzip, br", max_encodings=1)
    value = ", ".join(["gzip"] * (MAX_CONTENT_ENCODINGS + 1))
    assert isinstance(build_decoder(value, max_encodings=MAX_CONTENT_ENCODINGS + 1), MultiDecoder)


def test_build_decoder_identity_does_not_count_towards_limit() -> None:
    value = ", ".join(["identity"] * 10 + ["gzip"])
    assert isinstance(build_decoder(value), GzipDecoder)


@pytest.mark.parametrize("value", ["xyz", "gzip, xyz", "compress", "zstd"])
def test_build_decoder_unknown_coding(value: str) -> None:
    name = value.rsplit(",", 1)[-1].strip()
    with pytest.raises(DecompressionError, match=f"unsupported content-coding '{name}'"):
        build_decoder(value)


def test_repr_shows_progress() -> None:
    decoder = GzipDecoder(max_size=123)
    decoder.decode(gzip.compress(b"abc"))
    text = repr(decoder)
    assert "GzipDecoder" in text
    assert "3 out" in text
    assert "max_size=123" in text
    assert "GzipDecoder" in repr(build_decoder("br, gzip"))


# --- performance ---------------------------------------------------------------------


def _decode_seconds(encoded: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        decoder = GzipDecoder()
        started = time.perf_counter()
        for chunk in pieces(encoded, 64 * 1024):
            decoder.decode(chunk)
        decoder.flush()
        best = min(best, time.perf_counter() - started)
    return best


def test_decoding_time_is_linear_in_body_size() -> None:
    # Quadratic buffering (re-joining a growing buffer per chunk) makes 8x the
    # data cost ~64x the time; linear decoding costs ~8x.
    unit = os.urandom(256 * 1024).hex().encode()  # 512 KiB, compresses ~2:1
    small = gzip.compress(unit * 2, compresslevel=1)
    large = gzip.compress(unit * 16, compresslevel=1)
    assert _decode_seconds(large) < 20 * _decode_seconds(small) + 0.05
