"""The send fast path's frame encoder against websockets' own Frame.serialize.

No sockets. Every length class of RFC 6455 §5.2 (7-bit, 16-bit, 64-bit, and
the edges between them) is encoded both ways with the same masking key and
must give the same bytes, and websockets' parser must read it back.
"""

from __future__ import annotations

import itertools
import secrets

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from aiosonic.protocols.websocket_frames import MASK_POOL_SIZE, DataFrameEncoder

LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def _counting_random() -> tuple[list[int], DataFrameEncoder]:
    calls: list[int] = []
    counter = itertools.count()

    def random_bytes(n: int) -> bytes:
        calls.append(n)
        return b"".join(next(counter).to_bytes(4, "big") for _ in range(n // 4))

    return calls, DataFrameEncoder(random_bytes)


def _parse(raw: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(raw)
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame was incomplete")


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_same_bytes_as_frame_serialize(
    monkeypatch: pytest.MonkeyPatch, opcode: Opcode, length: int
) -> None:
    payload = bytes(i % 251 for i in range(length))
    encoder = DataFrameEncoder(lambda n: b"\x12\x34\x56\x78" * (n // 4))
    head, body = encoder.encode(opcode, payload)
    monkeypatch.setattr(secrets, "token_bytes", lambda n: b"\x12\x34\x56\x78")
    reference = Frame(opcode, payload).serialize(mask=True)
    assert head + body == reference
    assert encoder.frame(opcode, payload) == reference  # the one-piece form, the same bytes
    parsed = _parse(head + body)
    assert (parsed.opcode, parsed.data, parsed.fin) == (opcode, payload, True)


def test_masking_keys_come_from_the_pool_in_order() -> None:
    calls, encoder = _counting_random()
    keys = [encoder.encode(Opcode.BINARY, b"")[0][2:6] for _ in range(MASK_POOL_SIZE + 1)]
    assert calls == [4 * MASK_POOL_SIZE, 4 * MASK_POOL_SIZE]  # one draw per 256 frames
    assert keys[0] == bytes([0, 0, 0, 0]) and keys[1] == bytes([0, 0, 0, 1])
    assert len(set(keys[:MASK_POOL_SIZE])) == MASK_POOL_SIZE  # never a key twice
    assert repr(encoder) == f"<DataFrameEncoder [{MASK_POOL_SIZE - 1} masking keys left]>"
    # frame() takes the next key from the same pool.
    assert encoder.frame(Opcode.BINARY, b"")[2:6] == (MASK_POOL_SIZE + 1).to_bytes(4, "big")


def test_default_keys_are_random() -> None:
    encoder = DataFrameEncoder()
    keys = {encoder.encode(Opcode.TEXT, b"x")[0][2:6] for _ in range(3 * MASK_POOL_SIZE)}
    assert len(keys) > 3 * MASK_POOL_SIZE - 3  # 32 random bits: a repeat is ~1e-4 likely
