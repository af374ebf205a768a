"""The sans-I/O WebSocket rules: message assembly, UTF-8 across fragments, the config's bounds.

No sockets: aiosonic.protocols.websocket is pure. Every message is fed whole,
split into fragments at every offset, and one byte per fragment.
"""

from __future__ import annotations

import pytest

from aiosonic.protocols.websocket import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    InvalidUTF8,
    Message,
    MessageAssembler,
    MessageType,
    WebSocketConfig,
)

TEXT = "añb€c😀d".encode()


def _feed_split(payload: bytes, cuts: list[int], is_text: bool) -> Message | None:
    assembler = MessageAssembler()
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    result = None
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        result = assembler.feed(is_text, piece, last)
        if not last:
            assert result is None, "a message came out before its last fragment"
    assert repr(assembler) == "<MessageAssembler [idle]>"
    return result


def test_whole_text_and_binary() -> None:
    assembler = MessageAssembler()
    text = assembler.feed(True, TEXT, True)
    assert text == Message(MessageType.TEXT, TEXT.decode(), TEXT, 0x1)
    binary = assembler.feed(False, b"\xff\x00", True)
    assert binary == Message(MessageType.BINARY, b"\xff\x00", b"\xff\x00", 0x2)


@pytest.mark.parametrize("cut", range(1, len(TEXT)))
def test_text_split_at_every_offset(cut: int) -> None:
    """A character split between fragments is valid UTF-8 (RFC 6455 §5.6)."""
    message = _feed_split(TEXT, [cut], True)
    assert message is not None and message.data == TEXT.decode() and message.raw_data == TEXT


def test_text_one_byte_per_fragment() -> None:
    message = _feed_split(TEXT, list(range(1, len(TEXT))), True)
    assert message is not None and message.data == TEXT.decode()


def test_binary_fragments_are_joined() -> None:
    message = _feed_split(b"\x00\xff" * 10, [1, 5, 19], False)
    assert message is not None and message.type is MessageType.BINARY
    assert message.data == b"\x00\xff" * 10


def test_invalid_utf8_whole() -> None:
    with pytest.raises(InvalidUTF8, match="not UTF-8"):
        MessageAssembler().feed(True, b"ok\xff", True)


def test_invalid_utf8_fails_at_the_first_fragment() -> None:
    """RFC 6455 §8.1: fail as soon as the bytes so far cannot be UTF-8, not at FIN."""
    assembler = MessageAssembler()
    with pytest.raises(InvalidUTF8, match="at byte 2"):
        assembler.feed(True, b"ok\xc0\xaf", False)  # overlong encoding
    assert repr(assembler) == "<MessageAssembler [idle]>"


def test_truncated_character_at_the_end_fails() -> None:
    assembler = MessageAssembler()
    assert assembler.feed(True, "é".encode()[:1], False) is None  # may still complete
    assert repr(assembler) == "<MessageAssembler [text, 1 fragments, 1 bytes]>"
    with pytest.raises(InvalidUTF8):
        assembler.feed(True, b"", True)


def test_binary_is_never_decoded() -> None:
    message = _feed_split(b"\xff\xfe", [1], False)
    assert message is not None and message.raw_data == b"\xff\xfe"


def test_published_constructors() -> None:
    assert Message.create_text("é") == Message(MessageType.TEXT, "é", "é".encode(), 0x1)
    assert Message.create_binary(b"x") == Message(MessageType.BINARY, b"x", b"x", 0x2)
    assert MessageType.TEXT.value == "text" and MessageType.PONG.value == "pong"


def test_config_defaults_are_the_reference_limits() -> None:
    config = WebSocketConfig()
    assert config.max_message_size == DEFAULT_MAX_MESSAGE_SIZE == 64 * 1024 * 1024
    assert config.max_frame_size == DEFAULT_MAX_FRAME_SIZE == 16 * 1024 * 1024
    assert config.compression is False


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("max_message_size", 0, "max_message_size=0"),
        ("max_frame_size", -1, "max_frame_size=-1"),
        ("read_buffer_size", 0, "read_buffer_size=0"),
        ("write_buffer_size", 0, "write_buffer_size=0"),
        ("max_write_buffer_size", 0, "max_write_buffer_size=0"),
        ("client_max_window_bits", 8, "zlib has no 8"),
        ("server_max_window_bits", 16, "8 to 15"),
        ("close_timeout", -1.0, "close_timeout"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WebSocketConfig(**{field: value})  # type: ignore[arg-type]
