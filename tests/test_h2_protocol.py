"""Sans-IO HTTP/2 pieces: the frame-size guard and the header-block mapping and checks."""

from __future__ import annotations

import pytest

from aiosonic.exceptions import InvalidRequest, LimitExceeded, RemoteProtocolError
from aiosonic.protocols.h2_frames import FrameSizeGuard, PrefaceCheck
from aiosonic.protocols.h2_headers import (
    MAX_CHECKED_BLOCKS,
    BlockChecker,
    checked_block,
    request_header_list,
    response_head,
)


def frame(length: int, payload: bytes | None = None) -> bytes:
    body = bytes(length) if payload is None else payload
    return length.to_bytes(3, "big") + b"\x00\x00" + b"\x00\x00\x00\x01" + body


STREAM = frame(0) + frame(5) + frame(16_384) + frame(3)


@pytest.mark.parametrize("step", [1, 2, 7, 9, 10, 100, len(STREAM)])
def test_guard_follows_boundaries_in_any_split(step: int) -> None:
    guard = FrameSizeGuard(16_384)
    for i in range(0, len(STREAM), step):
        guard.feed(STREAM[i : i + step])
    assert guard._skip == 0 and guard._header == b""  # at a frame boundary


@pytest.mark.parametrize("step", [1, 4, 9, 50])
def test_guard_rejects_oversized_header_before_payload(step: int) -> None:
    data = frame(10) + frame(16_385, b"")  # only the header of the second frame
    guard = FrameSizeGuard(16_384)
    with pytest.raises(RemoteProtocolError, match="16385 bytes"):
        for i in range(0, len(data), step):
            guard.feed(data[i : i + step])


def test_guard_rejects_http11_bytes() -> None:
    with pytest.raises(RemoteProtocolError, match="HTTP/2"):
        FrameSizeGuard(65_536).feed(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def test_request_header_list_maps_host_and_drops_connection_fields() -> None:
    headers = request_header_list(
        "POST",
        "https",
        "example.com:443",
        "/p?q=1",
        [
            ("Host", "example.com"),
            ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"),
            ("X-Thing", "v"),
            ("TE", "trailers"),
        ],
    )
    assert headers == [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", b"example.com"),
        (b":path", b"/p?q=1"),
        (b"x-thing", b"v"),
        (b"te", b"trailers"),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        [("X-Bad", "a\r\nInjected: 1")],
        [("Bad Name", "v")],
        [("TE", "gzip")],
        [("Host", "evil.com/path")],
    ],
)
def test_request_header_list_rejects_bad_fields(fields: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidRequest):
        request_header_list("GET", "https", "example.com", "/", fields)


def test_request_header_list_enforces_peer_limit() -> None:
    with pytest.raises(InvalidRequest, match="at most 100"):
        request_header_list("GET", "https", "h", "/", [("x", "y" * 200)], max_size=100)


def test_response_head_validates_status_and_length() -> None:
    head = response_head(
        [(b":status", b"200"), (b"content-length", b"5"), (b"x", b"y")], "GET", False, 65_536
    )
    assert (head.status_code, head.http_version, head.content_length) == (200, "2", 5)
    assert head.headers == [(b"content-length", b"5"), (b"x", b"y")]
    assert head.has_body
    assert not response_head([(b":status", b"204")], "GET", False, 65_536).has_body
    assert not response_head([(b":status", b"200")], "HEAD", False, 65_536).has_body
    with pytest.raises(RemoteProtocolError):
        response_head([(b"x", b"y")], "GET", False, 65_536)
    with pytest.raises(RemoteProtocolError):
        response_head([(b":status", b"2000")], "GET", False, 65_536)
    with pytest.raises(RemoteProtocolError):
        response_head([(b":status", b"200"), (b"content-length", b"-1")], "GET", False, 65_536)
    with pytest.raises(LimitExceeded):
        response_head([(b":status", b"200"), (b"x", b"y" * 100)], "GET", False, 64)


GOOD_BLOCK = [
    (b":status", b"200"),
    (b"content-type", b"text/plain"),
    (b"cookie", b"a=1"),
    (b"x-empty", b""),
    (b"cookie", b"b=2"),
    (b"content-length", b"12"),
]


def test_checked_block_splits_and_joins_cookies_last() -> None:
    status, fields, size, length, bad_length = checked_block(GOOD_BLOCK, "head", True)
    assert (status, length, bad_length) == (b"200", 12, None)
    assert fields == [
        (b"content-type", b"text/plain"),
        (b"x-empty", b""),
        (b"content-length", b"12"),
        (b"cookie", b"a=1; b=2"),
    ]
    assert size == sum(len(n) + len(v) + 32 for n, v in GOOD_BLOCK)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([(b":status", b"200"), (b"Upper", b"v")], "field name"),
        ([(b":status", b"200"), (b"a\x7fb", b"v")], "field name"),
        ([(b":status", b"200"), (b"a:b", b"v")], "field name"),
        ([(b":status", b"200"), (b"", b"v")], "field name"),
        ([(b":status", b"200"), (b":method", b"GET")], "pseudo-header"),
        ([(b":status", b"200"), (b"x", b"a\rb")], "invalid value"),
        ([(b":status", b"200"), (b"x", b"v ")], "invalid value"),
        ([(b":status", b"200"), (b"x", b"\tv")], "invalid value"),
        ([(b":status", b"200"), (b"upgrade", b"h2c")], "connection-specific"),
        ([(b":status", b"200"), (b"te", b"gzip")], "connection-specific"),
        ([(b"cookie", b"a=1"), (b":status", b"200")], ":status repeated or late"),
        ([(b":status", b"200"), (b":status", b"204")], ":status repeated or late"),
        ([(b"x", b"y")], "no :status"),
    ],
)
def test_checked_block_rejects_malformed_heads(fields, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        checked_block(fields, "response header block", True)


def test_checked_block_rejects_pseudo_headers_in_trailers() -> None:
    assert checked_block([(b"x-sum", b"1")], "trailers", False)[1] == [(b"x-sum", b"1")]
    with pytest.raises(RemoteProtocolError, match="pseudo-header"):
        checked_block([(b":status", b"200")], "trailers", False)


def test_bad_content_length_is_kept_for_the_stream_error() -> None:
    block = checked_block([(b":status", b"200"), (b"content-length", b"1e3")], "head", True)
    assert block[4] == b"1e3"  # the connection is fine; the stream fails on it
    with pytest.raises(RemoteProtocolError, match="content-length"):
        response_head([(b":status", b"200"), (b"content-length", b"1e3")], "GET", False, 1024)


def test_block_checker_remembers_a_bounded_number_of_blocks() -> None:
    checker = BlockChecker()
    first = checker.check(GOOD_BLOCK, "head", True)
    again = checker.check(list(GOOD_BLOCK), "head", True)
    assert again == first == checked_block(GOOD_BLOCK, "head", True)
    assert again[1] is not first[1]  # each response gets its own field list
    again[1].append((b"mutated", b"by the user"))
    assert checker.check(GOOD_BLOCK, "head", True) == first
    with pytest.raises(RemoteProtocolError):
        checker.check([(b"Bad", b"v")], "trailers", False)
    for i in range(3 * MAX_CHECKED_BLOCKS):
        checker.check([(b":status", b"200"), (b"x", str(i).encode())], "head", True)
    assert 0 < len(checker._memo) <= MAX_CHECKED_BLOCKS


SETTINGS_PREFACE = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\x00\x03\x00\x00\x00\x64"
PING_FIRST = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"pingpong"


def feed_preface(data: bytes, step: int) -> bool:
    check = PrefaceCheck()
    done = False
    for i in range(0, len(data), step):
        done = check.feed(data[i : i + step])
        if done:
            break
    return done


@pytest.mark.parametrize("step", [1, 4, 9, len(SETTINGS_PREFACE)])
@pytest.mark.parametrize("trailing", [b"", PING_FIRST])
def test_preface_settings_first_is_accepted_in_any_split(step: int, trailing: bytes) -> None:
    assert feed_preface(SETTINGS_PREFACE + trailing, step)
    assert not feed_preface(SETTINGS_PREFACE[:8], 1)  # the header is not all in yet


@pytest.mark.parametrize("step", [1, 4, 9, len(PING_FIRST)])
@pytest.mark.parametrize("trailing", [b"", SETTINGS_PREFACE])
def test_preface_other_frame_first_is_rejected_naming_it(step: int, trailing: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match=r"first frame was PING \(type 0x6\)"):
        feed_preface(PING_FIRST + trailing, step)


def test_preface_settings_ack_first_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="SETTINGS acknowledgement"):
        PrefaceCheck().feed(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
