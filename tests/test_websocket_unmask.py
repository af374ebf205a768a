"""MaskedFrameFilter: server frames unmasked before the core, on every split of the stream.

No sockets. The reference is the plain rule of RFC 6455 §5.3 (payload XOR key,
byte by byte) in :func:`frame` below, and websockets' own parser: the filtered
stream of masked frames must equal the stream of the same frames unmasked, and
a websockets ``ClientProtocol`` must read the same frames from it. Every
stream is fed whole, one byte at a time, split at every offset, and with
trailing bytes of a next frame that must stay held, not emitted half-done.
"""

from __future__ import annotations

import struct

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from aiosonic.protocols.ws_unmask import MaskedFrameFilter

HEAD = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
KEY = b"\x9a\x01\xfe\x37"


def frame(opcode: int, payload: bytes, mask: bool, fin: bool = True, rsv1: bool = False) -> bytes:
    """Build one server frame; masked with :data:`KEY` when ``mask``."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head += bytes([bit | length])
    elif length < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", length)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", length)
    if mask:
        payload = bytes(byte ^ KEY[i % 4] for i, byte in enumerate(payload))
        head += KEY
    return head + payload


PAYLOADS = [
    (0x1, "héllo".encode()),
    (0x2, b""),
    (0x2, bytes(range(256)) * 3),  # 16-bit length
    (0x9, b"ping!"),
    (0x1, b"x" * 70_000),  # 64-bit length
    (0x8, struct.pack(">H", 1000) + b"bye"),
]


def _stream(mask: bool | None) -> bytes:
    """All PAYLOADS as frames; ``mask=None`` alternates masked and unmasked."""
    return b"".join(
        frame(op, data, (index % 2 == 0) if mask is None else mask)
        for index, (op, data) in enumerate(PAYLOADS)
    )


UNMASKED = _stream(False)


def _feed(pieces: list[bytes], in_http_head: bool = False) -> bytes:
    filt = MaskedFrameFilter(in_http_head)
    return b"".join(filt.feed(piece) for piece in pieces)


def _small() -> bytes:
    """A short stream for the every-offset splits (the big frames make them slow)."""
    return frame(0x1, b"abcdefg", True) + frame(0x2, b"z" * 300, True) + frame(0xA, b"", False)


@pytest.mark.parametrize("mask", [True, False, None], ids=["masked", "unmasked", "mixed"])
def test_whole_stream(mask: bool | None) -> None:
    assert _feed([_stream(mask)]) == UNMASKED


@pytest.mark.parametrize("mask", [True, None], ids=["masked", "mixed"])
def test_one_byte_at_a_time(mask: bool | None) -> None:
    data = _stream(mask)
    assert _feed([data[i : i + 1] for i in range(len(data))]) == UNMASKED


def test_split_at_every_offset_and_every_pair() -> None:
    data = _small()
    expected = b"".join(
        frame(op, payload, False)
        for op, payload in ((0x1, b"abcdefg"), (0x2, b"z" * 300), (0xA, b""))
    )
    assert _feed([data]) == expected
    for cut in range(len(data) + 1):
        assert _feed([data[:cut], data[cut:]]) == expected, cut
    for first in range(40):
        for second in range(first, 40):
            pieces = [data[:first], data[first:second], data[second:]]
            assert _feed(pieces) == expected, (first, second)


def test_trailing_partial_header_is_held() -> None:
    data = frame(0x1, b"one", True)
    nxt = frame(0x1, b"two" * 50, True)
    for cut in range(1, 8):  # 2-byte start, 2-byte length, 4-byte key: all inside the header
        filt = MaskedFrameFilter(in_http_head=False)
        assert filt.feed(data + nxt[:cut]) == frame(0x1, b"one", False)
        assert repr(filt).startswith("<MaskedFrameFilter [header,")
        assert filt.feed(nxt[cut:]) == frame(0x1, b"two" * 50, False)


def test_payload_split_keeps_the_key_phase() -> None:
    payload = bytes(range(200))
    data = frame(0x2, payload, True)
    filt = MaskedFrameFilter(in_http_head=False)
    out = filt.feed(data[:9])  # header (2+2+4) and one payload byte
    assert repr(filt) == "<MaskedFrameFilter [masked payload, 199 bytes left]>"
    out += filt.feed(data[9:14]) + filt.feed(data[14:])
    assert out == frame(0x2, payload, False)


def test_http_head_passes_unchanged_then_frames() -> None:
    data = HEAD + _small()
    expected = HEAD + _feed([_small()])
    assert _feed([data], in_http_head=True) == expected
    for cut in range(len(data) + 1):  # the empty line split at every offset too
        assert _feed([data[:cut], data[cut:]], in_http_head=True) == expected, cut
    filt = MaskedFrameFilter()
    assert filt.feed(HEAD[:10]) == HEAD[:10]
    assert repr(filt) == "<MaskedFrameFilter [http head]>"


def test_the_core_reads_the_same_frames() -> None:
    """websockets' parser, fed the filtered masked stream, yields the frames as sent."""
    core = ClientProtocol(parse_uri("ws://h/"), state=State.OPEN, max_size=None)
    data = _stream(True)
    filt = MaskedFrameFilter(in_http_head=False)
    for start in range(0, len(data), 777):
        core.receive_data(filt.feed(data[start : start + 777]))
    events = core.events_received()
    assert core.parser_exc is None
    assert [(e.opcode, e.data) for e in events if isinstance(e, Frame)] == [
        (Opcode(op), data) for op, data in PAYLOADS
    ]


def test_without_the_filter_the_core_refuses_a_masked_frame() -> None:
    """The reference behaviour the filter changes: RFC 6455 §5.1, fail with 1002."""
    core = ClientProtocol(parse_uri("ws://h/"), state=State.OPEN)
    core.receive_data(frame(0x1, b"hi", True))
    assert core.parser_exc is not None and "incorrect masking" in str(core.parser_exc)
    assert core.close_sent is not None and core.close_sent.code == 1002
