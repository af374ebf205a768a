"""Tests for the sans-IO HTTP/1.1 response parser (aiosonic.protocols.h11_response).

Every case is fed the three ways of STYLE.md: whole, one byte at a time, and
whole with the start of another response behind it, which must stay untouched
in ``trailing_data`` and make the connection non-reusable. Also in two reads
split at every offset, since a read that ends one message and starts the next
takes a buffer path none of the three reaches.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from aiosonic.exceptions import (
    ConnectionDisconnected,
    HttpParsingError,
    LimitExceeded,
    NetworkError,
    ResponseIncomplete,
)
from aiosonic.protocols.h11_events import (
    NEED_DATA,
    Data,
    EndOfMessage,
    Event,
    H11Limits,
    InformationalResponse,
    NeedData,
    ResponseHead,
)
from aiosonic.protocols.h11_fields import FIELD_CACHE_SIZE
from aiosonic.protocols.h11_response import ResponseParser

URL = "http://example.test/path"
# Unsolicited bytes after a response: they must never be consumed or lost.
TRAILING = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad"


# --- helpers -----------------------------------------------------------------


def merge_data(events: Iterable[Event]) -> list[Event]:
    """Join consecutive Data events: their boundaries depend on how bytes arrive."""
    merged: list[Event] = []
    for event in events:
        if isinstance(event, Data) and merged and isinstance(merged[-1], Data):
            merged[-1] = Data(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


def drain(parser: ResponseParser, events: list[Event]) -> None:
    """Pull events until the parser asks for more bytes."""
    while True:
        event = parser.next_event()
        if isinstance(event, NeedData):
            assert event is NEED_DATA
            return
        events.append(event)


def run(parser: ResponseParser, pieces: Iterable[bytes], events: list[Event], *, eof: bool) -> None:
    """Feed ``pieces`` (pulling events after each) and then EOF if asked."""
    for piece in pieces:
        parser.receive_data(piece)
        drain(parser, events)
    if eof:
        parser.receive_eof()
        drain(parser, events)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def two_pieces(data: bytes) -> list[tuple[str, list[bytes]]]:
    """Split into two reads: one read often ends one message and starts the next.

    Every offset for short inputs; for long ones, both ends and a stride.
    """
    n = len(data)
    points = (
        range(1, n)
        if n <= 2048
        else sorted({*range(1, 512), *range(n - 512, n), *range(1, n, n // 256)})
    )
    return [(f"split at {i}", [data[:i], data[i:]]) for i in points]


def new_parser(method: bytes = b"GET", limits: H11Limits | None = None) -> ResponseParser:
    parser = ResponseParser(limits)
    parser.start(method, URL)
    return parser


def parse(
    data: bytes,
    *,
    method: bytes = b"GET",
    limits: H11Limits | None = None,
    eof: bool = False,
    trailing: bool = True,
) -> list[Event]:
    """Parse ``data`` whole, byte by byte, in two reads split anywhere, and with
    trailing bytes; return the events.

    ``trailing=False`` is for close-delimited bodies, where any later byte is body.
    """
    ways: dict[str, list[Event]] = {}
    for name, pieces in (("whole", [data]), ("bytewise", bytewise(data)), *two_pieces(data)):
        parser = new_parser(method, limits)
        events: list[Event] = []
        run(parser, pieces, events, eof=eof)
        ways[name] = merge_data(events)
        assert ways[name] == ways["whole"], name
    if trailing:
        parser = new_parser(method, limits)
        events = []
        run(parser, [data + TRAILING], events, eof=eof)
        assert merge_data(events) == ways["whole"]
        assert parser.is_done
        assert parser.trailing_data == TRAILING
        assert parser.buffered == len(TRAILING)
        assert not parser.is_reusable
    return ways["whole"]


def parse_error(
    data: bytes,
    expected: type[Exception] = HttpParsingError,
    *,
    method: bytes = b"GET",
    limits: H11Limits | None = None,
    eof: bool = False,
    trailing: bool = True,
) -> tuple[Exception, list[Event]]:
    """Feed ``data`` every way ``parse`` does; each must raise exactly ``expected``.

    Returns the error and the events seen before it, both from the whole feed.
    Afterwards the parser must refuse any further use.
    """
    ways: list[list[bytes]] = [[data], bytewise(data), *(p for _, p in two_pieces(data))]
    if trailing:
        ways.append([data + TRAILING])
    results: list[tuple[Exception, list[Event]]] = []
    for pieces in ways:
        parser = new_parser(method, limits)
        events: list[Event] = []
        with pytest.raises(expected) as info:
            run(parser, pieces, events, eof=eof)
        assert type(info.value) is expected
        assert parser.state == "ERROR"
        with pytest.raises(HttpParsingError, match="unusable"):
            parser.next_event()
        with pytest.raises(HttpParsingError, match="restarted in state ERROR"):
            parser.start(b"GET", URL)
        results.append((info.value, merge_data(events)))
    assert all(events == results[0][1] for _, events in results)
    return results[0]


def quoted(raw: bytes) -> str:
    """How quote_bytes shows ``raw`` inside a message, without the b'' wrapper."""
    return repr(raw)[2:-1]


def head(*lines: bytes, status: bytes = b"HTTP/1.1 200 OK", body: bytes = b"") -> bytes:
    return b"\r\n".join([status, *lines]) + b"\r\n\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked"


# --- Content-Length ----------------------------------------------------------


def test_content_length_body() -> None:
    events = parse(head(b"Content-Length: 5", b"X-Trace: abc", body=b"hello"))
    assert events == [
        ResponseHead(
            status_code=200,
            reason=b"OK",
            http_version="1.1",
            headers=[(b"Content-Length", b"5"), (b"X-Trace", b"abc")],
            keep_alive=True,
            content_length=5,
            chunked=False,
            has_body=True,
        ),
        Data(b"hello"),
        EndOfMessage(),
    ]


def test_content_length_zero_has_no_data_event() -> None:
    events = parse(head(b"Content-Length: 0"))
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]
    assert isinstance(events[0], ResponseHead)
    assert events[0].content_length == 0


def test_body_bytes_are_passed_through_untouched() -> None:
    body = bytes(range(256)) + b"\r\n\r\nHTTP/1.1 200 OK\r\n"
    events = parse(head(b"Content-Length: %d" % len(body), body=body))
    assert events[1:] == [Data(body), EndOfMessage()]


def test_header_case_and_order_kept_value_whitespace_stripped() -> None:
    events = parse(
        head(
            b"content-LENGTH: 2",
            b"X-Empty:",
            b"X-Padded: \t  inner  value \t ",
            b"x-padded: second",
            b"X-Obs: caf\xe9",
            body=b"ok",
        )
    )
    assert isinstance(events[0], ResponseHead)
    assert events[0].headers == [
        (b"content-LENGTH", b"2"),
        (b"X-Empty", b""),
        (b"X-Padded", b"inner  value"),
        (b"x-padded", b"second"),
        (b"X-Obs", b"caf\xe9"),
    ]
    assert events[0].content_length == 2


@pytest.mark.parametrize(
    "lines",
    [
        (b"Content-Length: 3", b"Content-Length: 3"),
        (b"Content-Length: 3, 3",),
        (b"Content-Length:3",),
        (b"Content-Length: 003",),
    ],
)
def test_agreeing_content_lengths_are_accepted(lines: tuple[bytes, ...]) -> None:
    events = parse(head(*lines, body=b"abc"))
    assert isinstance(events[0], ResponseHead)
    assert events[0].content_length == 3
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


def test_status_line_without_reason_and_with_odd_reason() -> None:
    bare = parse(head(b"Content-Length: 0", status=b"HTTP/1.1 404"))
    assert isinstance(bare[0], ResponseHead)
    assert (bare[0].status_code, bare[0].reason) == (404, b"")
    odd = parse(head(b"Content-Length: 0", status=b"HTTP/1.1 599 Custom\tReason \xff"))
    assert isinstance(odd[0], ResponseHead)
    assert (odd[0].status_code, odd[0].reason) == (599, b"Custom\tReason \xff")


# --- chunked -----------------------------------------------------------------


def test_chunked_with_extensions_and_trailers() -> None:
    body = (
        b"5;name=value\r\nhello\r\n"
        b"6 ; a=b;c\r\n world\r\n"
        b"0\r\n"
        b"X-Checksum: abc123\r\n"
        b"grpc-status:  0 \r\n"
        b"\r\n"
    )
    events = parse(head(CHUNKED, body=body))
    assert events == [
        ResponseHead(
            status_code=200,
            reason=b"OK",
            http_version="1.1",
            headers=[(b"Transfer-Encoding", b"chunked")],
            keep_alive=True,
            content_length=None,
            chunked=True,
            has_body=True,
        ),
        Data(b"hello world"),
        EndOfMessage(trailers=[(b"X-Checksum", b"abc123"), (b"grpc-status", b"0")]),
    ]


@pytest.mark.parametrize("coding", [b"CHUNKED", b"Chunked", b" chunked ", b"chunked,"])
def test_chunked_coding_is_case_insensitive(coding: bytes) -> None:
    events = parse(head(b"Transfer-Encoding:" + coding, body=b"3\r\nabc\r\n0\r\n\r\n"))
    assert isinstance(events[0], ResponseHead)
    assert events[0].chunked
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


def test_chunk_sizes_in_hex_any_case_with_leading_zeros() -> None:
    body = b"a\r\n" + b"x" * 10 + b"\r\n00B\r\n" + b"y" * 11 + b"\r\n000\r\n\r\n"
    events = parse(head(CHUNKED, body=body))
    assert events[1:] == [Data(b"x" * 10 + b"y" * 11), EndOfMessage()]


def test_chunked_empty_body() -> None:
    events = parse(head(CHUNKED, body=b"0\r\n\r\n"))
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]
    assert events[-1] == EndOfMessage(trailers=[])


def test_chunk_data_containing_crlf_and_chunk_syntax() -> None:
    payload = b"\r\n0\r\n\r\n"
    events = parse(head(CHUNKED, body=b"7\r\n" + payload + b"\r\n0\r\n\r\n"))
    assert events[1:] == [Data(payload), EndOfMessage()]


def test_encoded_chunks_round_trip() -> None:
    from aiosonic.protocols.h11_request import LAST_CHUNK, encode_chunk

    pieces = [b"a", b"b" * 300, bytes(range(256)) * 70]
    wire = b"".join(encode_chunk(p) for p in pieces) + LAST_CHUNK
    events = parse(head(CHUNKED, body=wire))
    assert events[1:] == [Data(b"".join(pieces)), EndOfMessage()]


# --- close-delimited ---------------------------------------------------------


def test_close_delimited_body_needs_eof() -> None:
    data = head(body=b"abc")
    events = parse(data, trailing=False)
    assert isinstance(events[0], ResponseHead)
    assert not events[0].keep_alive
    assert events[0].content_length is None and not events[0].chunked
    assert events[1:] == [Data(b"abc")]

    parser = new_parser()
    pending: list[Event] = []
    run(parser, [data], pending, eof=False)
    assert parser.state == "BODY_CLOSE" and not parser.is_done

    events = parse(data, eof=True, trailing=False)
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


def test_close_delimited_takes_every_later_byte_as_body() -> None:
    events = parse(head(body=b"abc") + TRAILING, eof=True, trailing=False)
    assert events[1:] == [Data(b"abc" + TRAILING), EndOfMessage()]


def test_close_delimited_is_never_reusable() -> None:
    parser = new_parser()
    events: list[Event] = []
    run(parser, [head(b"Connection: keep-alive", body=b"x")], events, eof=True)
    assert parser.is_done
    assert isinstance(events[0], ResponseHead)
    assert not events[0].keep_alive
    assert not parser.is_reusable


def test_close_delimited_empty_body() -> None:
    events = parse(head(), eof=True, trailing=False)
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]


# --- responses without a body ------------------------------------------------


@pytest.mark.parametrize(
    "lines", [(b"Content-Length: 10",), (CHUNKED,), ()], ids=["length", "chunked", "none"]
)
def test_head_response_has_no_body(lines: tuple[bytes, ...]) -> None:
    events = parse(head(*lines), method=b"HEAD")
    assert len(events) == 2
    first = events[0]
    assert isinstance(first, ResponseHead)
    assert not first.has_body
    assert first.keep_alive
    assert first.content_length is None
    assert not first.chunked
    assert events[1] == EndOfMessage()


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
@pytest.mark.parametrize("lines", [(b"Content-Length: 10",), (CHUNKED,), ()])
def test_204_and_304_have_no_body(status: bytes, lines: tuple[bytes, ...]) -> None:
    events = parse(head(*lines, status=b"HTTP/1.1 " + status))
    first = events[0]
    assert isinstance(first, ResponseHead)
    assert not first.has_body
    assert first.keep_alive
    assert events[1:] == [EndOfMessage()]


def test_head_response_is_reusable_without_eof() -> None:
    parser = new_parser(b"HEAD")
    events: list[Event] = []
    run(parser, [head(b"Content-Length: 10")], events, eof=False)
    assert parser.is_done and parser.is_reusable


# --- 1xx interim responses ---------------------------------------------------


def test_interim_responses_before_the_final_one() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + head(b"Content-Length: 2", body=b"ok")
    )
    events = parse(data)
    assert events[:2] == [
        InformationalResponse(100, b"Continue", []),
        InformationalResponse(103, b"Early Hints", [(b"Link", b"</style.css>; rel=preload")]),
    ]
    assert isinstance(events[2], ResponseHead)
    assert events[2].status_code == 200
    assert events[3:] == [Data(b"ok"), EndOfMessage()]


def test_interim_response_ignores_framing_headers() -> None:
    data = b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n" + head(b"Content-Length: 0")
    events = parse(data)
    assert [type(e) for e in events] == [InformationalResponse, ResponseHead, EndOfMessage]


def test_101_switching_protocols_is_rejected() -> None:
    error, events = parse_error(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    assert "101" in str(error)
    assert events == []


def test_too_many_interim_responses() -> None:
    limits = H11Limits(max_informational_responses=2)
    interim = b"HTTP/1.1 103 Early Hints\r\n\r\n"
    events = parse(interim * 2 + head(b"Content-Length: 0"), limits=limits)
    assert len(events) == 4
    error, events = parse_error(interim * 3, LimitExceeded, limits=limits)
    assert isinstance(error, LimitExceeded)
    assert (error.limit, error.value) == ("max_informational_responses", 2)
    assert len(events) == 2


# --- keep-alive rules --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "lines", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK", (), True),
        (b"HTTP/1.1 200 OK", (b"Connection: close",), False),
        (b"HTTP/1.1 200 OK", (b"Connection: CLOSE",), False),
        (b"HTTP/1.1 200 OK", (b"Connection: keep-alive, close",), False),
        (b"HTTP/1.1 200 OK", (b"Connection: keep-alive", b"Connection: close"), False),
        (b"HTTP/1.1 200 OK", (b"Connection: closed",), True),
        (b"HTTP/1.0 200 OK", (), False),
        (b"HTTP/1.0 200 OK", (b"Connection: keep-alive",), True),
        (b"HTTP/1.0 200 OK", (b"Connection: Keep-Alive",), True),
        (b"HTTP/1.0 200 OK", (b"Connection: upgrade, keep-alive",), True),
        (b"HTTP/1.0 200 OK", (b"Connection: keep-alive, close",), False),
    ],
)
def test_keep_alive_rules(status: bytes, lines: tuple[bytes, ...], keep_alive: bool) -> None:
    data = head(*lines, b"Content-Length: 1", status=status, body=b"x")
    events = parse(data)
    first = events[0]
    assert isinstance(first, ResponseHead)
    assert first.http_version == status[5:8].decode()
    assert first.keep_alive is keep_alive
    parser = new_parser()
    run(parser, [data], [], eof=False)
    assert parser.is_done
    assert parser.is_reusable is keep_alive


def test_http10_keep_alive_without_length_is_close_delimited() -> None:
    events = parse(
        head(b"Connection: keep-alive", status=b"HTTP/1.0 200 OK", body=b"abc"),
        eof=True,
        trailing=False,
    )
    assert isinstance(events[0], ResponseHead)
    assert not events[0].keep_alive
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


def test_eof_after_complete_response_makes_it_non_reusable() -> None:
    parser = new_parser()
    events: list[Event] = []
    run(parser, [head(b"Content-Length: 1", body=b"x")], events, eof=False)
    assert parser.is_reusable
    parser.receive_eof()
    assert parser.next_event() is NEED_DATA
    assert parser.is_done and not parser.is_reusable


# --- rejected heads ----------------------------------------------------------


@pytest.mark.parametrize(
    "status_line",
    [
        b"HTTP/2.0 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 2000",
        b"HTTP/1.1 099 Low",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1 200\tOK",
        b"HTTP/1.1 2x0 OK",
        b"HTTP/1.11 200 OK",
        b"HTTP/1 200 OK",
        b"HTTP/1.1",
        b"ICY 200 OK",
        b"http/1.1 200 OK",
        b" HTTP/1.1 200 OK",
    ],
)
def test_bad_status_lines(status_line: bytes) -> None:
    error, events = parse_error(head(b"Content-Length: 0", status=status_line))
    assert quoted(status_line[:5]) in str(error)
    assert events == []


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"NoColonHere", "without a name"),
        (b": no-name", "without a name"),
        (b"X-Space : value", "whitespace before colon"),
        (b"X-Tab\t: value", "whitespace before colon"),
        (b"X Name: value", "invalid header name"),
        (b"X@Name: value", "invalid header name"),
        (b"X-A: b\x00c", "forbidden byte"),
        (b"X-A: b\x7fc", "forbidden byte"),
        (b"X-A: b\x1bc", "forbidden byte"),
        (b"X-A: b\rc", "bare CR"),
        (b"X-A: value\r", "bare CR"),
    ],
)
def test_bad_header_lines(line: bytes, words: str) -> None:
    error, _ = parse_error(head(b"Content-Length: 0", line))
    assert words in str(error)
    assert quoted(line[:6]) in str(error)
    assert URL in str(error)


@pytest.mark.parametrize("fold", [b" continued", b"\tcontinued", b" X-B: c"])
def test_obs_fold_is_rejected(fold: bytes) -> None:
    error, _ = parse_error(head(b"X-A: b", fold, b"Content-Length: 0"))
    assert "obsolete line folding" in str(error)
    assert quoted(fold) in str(error)


@pytest.mark.parametrize(
    "lines",
    [
        (b"Content-Length: 3", CHUNKED),
        (CHUNKED, b"Content-Length: 3"),
        (b"Transfer-Encoding: identity", b"Content-Length: 3"),
    ],
)
def test_transfer_encoding_with_content_length(lines: tuple[bytes, ...]) -> None:
    error, _ = parse_error(head(*lines, body=b"abc"))
    assert "Transfer-Encoding" in str(error) or "transfer-coding" in str(error)


def test_both_framings_rejected_even_for_head_requests() -> None:
    error, _ = parse_error(head(b"Content-Length: 3", CHUNKED), method=b"HEAD")
    assert "both Transfer-Encoding and Content-Length" in str(error)


@pytest.mark.parametrize(
    ("lines", "shown"),
    [
        ((b"Content-Length: 5", b"Content-Length: 6"), b"5, 6"),
        ((b"Content-Length: 5, 6",), b"5, 6"),
        ((b"Content-Length: 5", b"Content-Length: 5, 7"), b"5, 5, 7"),
    ],
)
def test_conflicting_content_lengths(lines: tuple[bytes, ...], shown: bytes) -> None:
    error, _ = parse_error(head(*lines, body=b"hello"))
    assert "conflicting Content-Length" in str(error)
    assert quoted(shown) in str(error)


@pytest.mark.parametrize(
    "value",
    [
        b"-1",
        b"+5",
        b"5_0",
        b"1 2",
        b"1" * 20,
        b"0x5",
        b"5.0",
        b"5,",
        b"",
        b"\xef\xbc\x95",  # FULLWIDTH DIGIT FIVE in UTF-8
    ],
)
def test_invalid_content_length(value: bytes) -> None:
    error, _ = parse_error(head(b"Content-Length: " + value, body=b"hello"))
    assert "invalid Content-Length" in str(error)
    assert quoted(value) in str(error)


def test_nineteen_digit_content_length_is_accepted() -> None:
    parser = new_parser()
    events: list[Event] = []
    run(parser, [head(b"Content-Length: " + b"9" * 19, body=b"abc")], events, eof=False)
    assert isinstance(events[0], ResponseHead)
    assert events[0].content_length == 10**19 - 1
    assert events[1:] == [Data(b"abc")]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"gzip, chunked", b"gzip, chunked"),
        (b"chunked, gzip", b"chunked, gzip"),
        (b"identity", b"identity"),
        (b"chunked, chunked", b"chunked, chunked"),
        (b"x-custom", b"x-custom"),
    ],
)
def test_unsupported_transfer_coding(value: bytes, shown: bytes) -> None:
    error, _ = parse_error(head(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"))
    assert "unsupported transfer-coding" in str(error)
    assert quoted(shown) in str(error)


@pytest.mark.parametrize("value", [b"", b",", b" , "])
def test_empty_transfer_encoding_is_not_ignored(value: bytes) -> None:
    # An empty Transfer-Encoding is still a Transfer-Encoding header: it must not
    # silently fall back to Content-Length (or close-delimited) framing.
    parse_error(head(b"Transfer-Encoding:" + value, body=b"abc"))
    parse_error(head(b"Transfer-Encoding:" + value, b"Content-Length: 3", body=b"abc"))


# --- rejected chunked bodies -------------------------------------------------


@pytest.mark.parametrize(
    "size_line",
    [
        b"xyz",
        b"-1",
        b"1" * 17,
        b"0x5",
        b"",
        b" 5",
        b"5\r",
        b"+5",
        b";ext",
        b"5;ext\x00",
        b"5;ext\x7f",
    ],
)
def test_invalid_chunk_size_lines(size_line: bytes) -> None:
    error, events = parse_error(head(CHUNKED, body=size_line + b"\r\nhello\r\n0\r\n\r\n"))
    assert "chunk" in str(error)
    assert quoted(size_line) in str(error)
    assert len(events) == 1


def test_sixteen_hex_digit_chunk_size_is_accepted() -> None:
    parser = new_parser()
    events: list[Event] = []
    run(parser, [head(CHUNKED, body=b"0" * 15 + b"3\r\nabc\r\n0\r\n\r\n")], events, eof=False)
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


@pytest.mark.parametrize("after", [b"XX", b"\n\r", b"\r\r", b"x\r\n"])
def test_missing_crlf_after_chunk_data(after: bytes) -> None:
    error, events = parse_error(head(CHUNKED, body=b"5\r\nhello" + after + b"0\r\n\r\n"))
    assert "not followed by CRLF" in str(error)
    assert quoted(after[:2]) in str(error)
    assert events[1:] == [Data(b"hello")]


@pytest.mark.parametrize(
    ("trailer", "words"),
    [
        (b"NoColon", "without a name"),
        (b"X-A : b", "whitespace before colon"),
        (b"X-A: b\x00", "forbidden byte"),
        (b"X-A: b\rc", "bare CR"),
        (b"X-A: b\nc", "without a name"),  # a bare LF ends the line: "c" has no name
    ],
)
def test_bad_trailers(trailer: bytes, words: str) -> None:
    error, events = parse_error(head(CHUNKED, body=b"1\r\na\r\n0\r\n" + trailer + b"\r\n\r\n"))
    assert words in str(error)
    assert events[1:] == [Data(b"a")]


def test_obs_fold_in_trailers_is_rejected() -> None:
    error, _ = parse_error(head(CHUNKED, body=b"0\r\nX-A: b\r\n folded\r\n\r\n"))
    assert "obsolete line folding" in str(error)


# --- limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "data", "name", "shown"),
    [
        (
            H11Limits(max_status_line_size=14),
            head(b"Content-Length: 0", status=b"HTTP/1.1 200 OK"),
            "max_status_line_size",
            b"HTTP/1.1 200 OK",
        ),
        (
            H11Limits(max_header_line_size=16),
            head(b"X-Long: 0123456789", b"Content-Length: 0"),
            "max_header_line_size",
            b"X-Long: 0123456789",
        ),
        (
            H11Limits(max_header_count=2),
            head(b"A: 1", b"B: 2", b"Content-Length: 0"),
            "max_header_count",
            b"",
        ),
        (
            H11Limits(max_head_size=40),
            head(b"X-Pad: 0123456789abcdef", b"Content-Length: 0"),
            "max_head_size",
            b"",
        ),
        (
            H11Limits(max_trailer_count=1),
            head(CHUNKED, body=b"0\r\nA: 1\r\nB: 2\r\n\r\n"),
            "max_trailer_count",
            b"",
        ),
        (
            H11Limits(max_trailer_size=16),
            head(CHUNKED, body=b"0\r\nA: 1\r\nX-Sum: 0123456789\r\n\r\n"),
            "max_trailer_size",
            b"",
        ),
        (
            H11Limits(max_chunk_line_size=8),
            head(CHUNKED, body=b"5;ext=long\r\nhello\r\n0\r\n\r\n"),
            "max_chunk_line_size",
            b"",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_limit_is_enforced(limits: H11Limits, data: bytes, name: str, shown: bytes) -> None:
    error, _ = parse_error(data, LimitExceeded, limits=limits)
    assert isinstance(error, LimitExceeded)
    assert error.limit == name
    assert error.value == getattr(limits, name)
    assert f"{name}={error.value}" in str(error)
    assert quoted(shown) in str(error)
    # The same bytes pass with the default limits.
    parse(data)


def test_header_block_longer_than_the_line_limit_is_fine() -> None:
    # max_header_line_size bounds each line, not all the header lines together.
    data = head(b"A: 1", b"B: 2", b"C: 3", b"D: 4", b"Content-Length: 2", body=b"ok")
    events = parse(data, limits=H11Limits(max_header_line_size=20))
    assert isinstance(events[0], ResponseHead)
    assert len(events[0].headers) == 5
    assert events[0].content_length == 2
    assert events[1:] == [Data(b"ok"), EndOfMessage()]


def test_many_large_headers_with_default_limits() -> None:
    lines = [b"X-H%d: %s" % (i, b"v" * 700) for i in range(100)]  # 70 KiB of headers
    events = parse(head(*lines, b"Connection: close", b"Content-Length: 0"))
    first = events[0]
    assert isinstance(first, ResponseHead)
    assert first.headers[:100] == [(b"X-H%d" % i, b"v" * 700) for i in range(100)]
    assert (first.content_length, first.keep_alive) == (0, False)


def test_the_first_bad_field_line_is_named_not_the_longest() -> None:
    # Line by line, as the field-line rule goes (h11_rules.parse_field_line),
    # whichever path parses the head: the first line over the limit...
    limits = H11Limits(max_header_line_size=16)
    data = head(b"X-A: 0123456789ab", b"X-Longer: 0123456789abcdef", b"Content-Length: 0")
    error, _ = parse_error(data, LimitExceeded, limits=limits)
    assert quoted(b"X-A: 0123456789ab") in str(error)
    # ...and a bad name before a line over the limit is the error.
    data = head(b"X(A): 1", b"X-Longer: 0123456789abcdef", b"Content-Length: 0")
    error, _ = parse_error(data, HttpParsingError, limits=limits)
    assert "invalid header name b'X(A): 1'" in str(error)


def head_of_size(size: int) -> bytes:
    """A complete head whose bytes before the final CRLFCRLF number ``size``."""
    base = head(b"Content-Length: 0", b"X-Pad: ")
    return head(b"Content-Length: 0", b"X-Pad: " + b"p" * (size - (len(base) - 4)))


@pytest.mark.parametrize("slack", [0, 1, 2, 3])
def test_head_exactly_at_the_size_limit_passes_however_it_arrives(slack: int) -> None:
    # The limit must not depend on how the bytes are split: a head of N bytes
    # is fine with max_head_size=N even when its CRLFCRLF arrives byte by byte.
    data = head_of_size(100 - slack)
    events = parse(data, limits=H11Limits(max_head_size=100))
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]


def test_head_one_byte_over_the_size_limit_fails_however_it_arrives() -> None:
    error, _ = parse_error(head_of_size(101), LimitExceeded, limits=H11Limits(max_head_size=100))
    assert isinstance(error, LimitExceeded) and error.limit == "max_head_size"


def test_head_without_end_is_bounded() -> None:
    # Without a CRLFCRLF the parser may wait while the head could still fit
    # (up to 3 more bytes could be the terminator), and must fail after that.
    parser = new_parser(limits=H11Limits(max_head_size=100))
    data = b"HTTP/1.1 200 OK\r\nX: " + b"p" * 200
    for size in range(1, len(data) + 1):
        parser.receive_data(data[size - 1 : size])
        try:
            assert parser.next_event() is NEED_DATA
        except LimitExceeded as exc:
            assert exc.limit == "max_head_size"
            break
    else:
        pytest.fail("an endless head was buffered without limit")
    assert 100 < size <= 104


@pytest.mark.parametrize("size", [7, 8])
def test_chunk_line_at_the_limit_passes_however_it_arrives(size: int) -> None:
    line = b"5;" + b"e" * (size - 2)
    data = head(CHUNKED, body=line + b"\r\nhello\r\n0\r\n\r\n")
    events = parse(data, limits=H11Limits(max_chunk_line_size=8))
    assert events[1:] == [Data(b"hello"), EndOfMessage()]


def test_chunk_line_one_byte_over_the_limit_fails_however_it_arrives() -> None:
    data = head(CHUNKED, body=b"5;eeeeeee\r\nhello\r\n0\r\n\r\n")
    error, _ = parse_error(data, LimitExceeded, limits=H11Limits(max_chunk_line_size=8))
    assert isinstance(error, LimitExceeded) and error.limit == "max_chunk_line_size"


def test_trailers_at_the_limits_pass() -> None:
    trailers = b"A: 1\r\nB: 22\r\n"
    data = head(CHUNKED, body=b"0\r\n" + trailers + b"\r\n")
    limits = H11Limits(max_trailer_count=2, max_trailer_size=len(trailers))
    events = parse(data, limits=limits)
    assert events[-1] == EndOfMessage(trailers=[(b"A", b"1"), (b"B", b"22")])


def test_trailer_size_counts_line_endings() -> None:
    trailers = b"A: 1\r\nB: 22\r\n"
    data = head(CHUNKED, body=b"0\r\n" + trailers + b"\r\n")
    limits = H11Limits(max_trailer_size=len(trailers) - 1)
    error, _ = parse_error(data, LimitExceeded, limits=limits)
    assert isinstance(error, LimitExceeded) and error.limit == "max_trailer_size"


@pytest.mark.parametrize("start", [b"\r\n\r\n", b"\n\n", b"\r\n\n", b"\n\r\n"])
def test_an_empty_head_is_a_malformed_status_line(start: bytes) -> None:
    # A fresh parser once took an empty head for the (unset) previous head and
    # returned a ResponseHead with status 0.
    error, events = parse_error(start + head(b"Content-Length: 0"))
    assert "malformed status line" in str(error)
    assert events == []


def test_long_response_does_not_start_with_http() -> None:
    error, _ = parse_error(b"<html><body>hi</body></html>")
    assert quoted(b"<html>") in str(error)


# --- EOF ---------------------------------------------------------------------


def test_eof_before_any_byte() -> None:
    parser = new_parser()
    parser.receive_eof()
    with pytest.raises(ConnectionDisconnected) as info:
        parser.next_event()
    assert type(info.value) is ConnectionDisconnected
    assert info.value.request_sent
    assert "without a response" in str(info.value)
    assert URL in str(info.value)
    assert parser.state == "ERROR"


@pytest.mark.parametrize(
    "partial",
    [b"H", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK\r\nContent-Le", b"HTTP/1.1 200 OK\r\n\r"],
)
def test_eof_mid_head(partial: bytes) -> None:
    error, events = parse_error(partial, ConnectionDisconnected, eof=True, trailing=False)
    assert f"after {len(partial)} bytes of the response head" in str(error)
    assert events == []


def test_eof_after_interim_response() -> None:
    error, events = parse_error(
        b"HTTP/1.1 100 Continue\r\n\r\n", ConnectionDisconnected, eof=True, trailing=False
    )
    assert events == [InformationalResponse(100, b"Continue", [])]
    assert "without a response" in str(error)


def test_eof_mid_content_length_body() -> None:
    error, events = parse_error(
        head(b"Content-Length: 10", body=b"abc"), ResponseIncomplete, eof=True, trailing=False
    )
    assert isinstance(error, ResponseIncomplete)
    assert (error.received, error.expected) == (3, 10)
    assert str(error) == f"peer closed after 3 of 10 body bytes ({URL})"
    assert error.request_sent
    assert events[1:] == [Data(b"abc")]


def test_eof_right_after_head_with_length() -> None:
    error, _ = parse_error(
        head(b"Content-Length: 10"), ResponseIncomplete, eof=True, trailing=False
    )
    assert isinstance(error, ResponseIncomplete)
    assert (error.received, error.expected) == (0, 10)


@pytest.mark.parametrize(
    ("body", "received"),
    [
        (b"", 0),
        (b"5", 0),
        (b"5\r\nhel", 3),
        (b"5\r\nhello", 5),
        (b"5\r\nhello\r", 5),
        (b"5\r\nhello\r\n0\r\n", 5),
        (b"5\r\nhello\r\n0\r\nX-A: 1\r\n", 5),
    ],
)
def test_eof_mid_chunked_body(body: bytes, received: int) -> None:
    error, events = parse_error(
        head(CHUNKED, body=body), ResponseIncomplete, eof=True, trailing=False
    )
    assert isinstance(error, ResponseIncomplete)
    assert (error.received, error.expected) == (received, None)
    assert "chunked body" in str(error)
    assert isinstance(events[0], ResponseHead)


def test_eof_errors_are_network_errors_not_parsing_errors() -> None:
    assert issubclass(ResponseIncomplete, NetworkError)
    assert not issubclass(ConnectionDisconnected, HttpParsingError)


# --- reuse and lifecycle -----------------------------------------------------


def test_parser_reused_for_a_second_response() -> None:
    parser = ResponseParser()
    first = head(b"Content-Length: 3", body=b"one")
    second = head(CHUNKED, body=b"3\r\ntwo\r\n0\r\n\r\n")
    for data, body in ((first, b"one"), (second, b"two")):
        parser.start(b"GET", URL)
        events: list[Event] = []
        run(parser, bytewise(data), events, eof=False)
        assert merge_data(events)[1:] == [Data(body), EndOfMessage()]
        assert parser.is_done and parser.is_reusable


def test_pipelined_bytes_are_kept_for_the_next_response() -> None:
    parser = new_parser(b"HEAD")
    first = head(b"Content-Length: 100")
    second = head(b"Content-Length: 2", body=b"hi")
    events: list[Event] = []
    run(parser, [first + second], events, eof=False)
    assert len(events) == 2
    assert parser.trailing_data == second
    parser.start(b"GET", URL)
    events = []
    drain(parser, events)
    assert events[1:] == [Data(b"hi"), EndOfMessage()]
    assert parser.is_reusable


def test_start_mid_response_is_refused() -> None:
    parser = new_parser()
    parser.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    drain(parser, [])
    with pytest.raises(HttpParsingError, match="restarted in state BODY_LENGTH"):
        parser.start(b"GET", URL)


def test_no_events_before_start() -> None:
    parser = ResponseParser()
    parser.receive_data(head(b"Content-Length: 0"))
    assert parser.next_event() is NEED_DATA
    assert parser.state == "IDLE"
    assert parser.buffered == len(head(b"Content-Length: 0"))


def test_states_and_repr() -> None:
    parser = new_parser()
    assert repr(parser) == "<ResponseParser [HEAD, buffered=0, eof=False]>"
    parser.receive_data(head(CHUNKED, body=b"5\r\nhel"))
    assert isinstance(parser.next_event(), ResponseHead)
    assert parser.state == "CHUNK_SIZE"
    assert parser.next_event() == Data(b"hel")
    assert parser.state == "CHUNK_DATA"
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"lo\r\n0\r\n")
    assert parser.next_event() == Data(b"lo")
    assert parser.state == "CHUNK_CRLF"
    assert parser.next_event() is NEED_DATA
    assert parser.state == "TRAILERS"
    parser.receive_eof()
    assert repr(parser) == "<ResponseParser [TRAILERS, buffered=0, eof=True]>"


def test_large_buffered_chunked_body_keeps_every_byte() -> None:
    # Everything arrives before the first event is pulled, so the parser works
    # through a buffer far past its compaction threshold.
    body = bytes(range(256)) * 1024  # 256 KiB
    wire = b"".join(
        b"%x\r\n%b\r\n" % (len(body[i : i + 16384]), body[i : i + 16384])
        for i in range(0, len(body), 16384)
    )
    data = head(CHUNKED, body=wire + b"0\r\n\r\n")
    parser = new_parser()
    for i in range(0, len(data), 1000):
        parser.receive_data(data[i : i + 1000])
    events: list[Event] = []
    drain(parser, events)
    assert merge_data(events)[1:] == [Data(body), EndOfMessage()]
    assert parser.is_reusable
    assert parser.buffered == 0


# --- heads parsed through the connection's field-line cache -----------------

WARM = head(
    b"Server: test",
    b"Content-Type: text/plain",
    b"X-A: 1",
    b"Content-Length: 2",
    b"Connection: keep-alive",
    body=b"ok",
)


def warm_parser(limits: H11Limits | None = None) -> ResponseParser:
    """A parser that has parsed WARM: its status line and field lines are cached."""
    parser = new_parser(limits=limits)
    events: list[Event] = []
    run(parser, [WARM], events, eof=False)
    assert parser.is_reusable
    parser.start(b"GET", URL)
    return parser


def test_a_repeated_head_parses_the_same_from_the_cache() -> None:
    parser = warm_parser()
    again = warm_parser()
    for _ in range(3):
        events: list[Event] = []
        run(again, [WARM], events, eof=False)
        assert events == parse(WARM)
        assert again.is_reusable
        again.start(b"GET", URL)
    # A head that shares some lines with WARM and changes others.
    changed = head(b"Server: test", b"X-A: 2", b"Content-Length: 3", body=b"hey")
    events = []
    run(parser, [changed], events, eof=False)
    assert events == parse(changed)


@pytest.mark.parametrize(
    "line",
    [
        b"NoColonHere",
        b": no-name",
        b"X-Space : value",
        b"X Name: value",
        b"X-A: b\x00c",
        b"X-A: b\x7fc",
        b"X-A: b\rc",
        b"X-A: b\nc",
        b"X-A: value\r",
        b" folded",
        b"X-A: 1\r\nContent-Length: 2\nX-B: 3",
    ],
)
def test_a_bad_line_after_cached_ones_raises_as_on_a_new_parser(line: bytes) -> None:
    data = head(b"Server: test", b"X-A: 1", line, b"Content-Length: 0")
    fresh_error, _ = parse_error(data)
    parser = warm_parser()
    with pytest.raises(HttpParsingError) as info:
        run(parser, [data], [], eof=False)
    assert type(info.value) is type(fresh_error)
    assert str(info.value) == str(fresh_error)


def test_cached_lines_still_obey_the_limits() -> None:
    parser = warm_parser(H11Limits(max_header_count=5))  # WARM has 5 fields
    more = head(b"Server: test", b"X-A: 1", b"Server: test", b"X-A: 1", b"X-A: 1", b"X-A: 1")
    with pytest.raises(LimitExceeded, match="max_header_count"):
        run(parser, [more], [], eof=False)
    # A line limit is the parser's own: its cache holds no line longer than it.
    narrow = warm_parser(H11Limits(max_header_line_size=len(b"Content-Type: text/plain")))
    events: list[Event] = []
    run(narrow, [WARM], events, eof=False)
    assert isinstance(events[0], ResponseHead)
    narrow.start(b"GET", URL)
    longer = head(b"Server: test", b"X-Long-Name: 0123456789abcdef", b"Content-Length: 0")
    with pytest.raises(LimitExceeded, match="max_header_line_size"):
        run(narrow, [longer], [], eof=False)


def test_the_field_cache_stays_bounded_and_correct() -> None:
    parser = new_parser()
    for index in range(3 * FIELD_CACHE_SIZE):
        data = head(b"X-Id: %d" % index, b"Server: test", b"Content-Length: 1", body=b"x")
        events: list[Event] = []
        run(parser, [data], events, eof=False)
        first = events[0]
        assert isinstance(first, ResponseHead)
        assert first.headers == [
            (b"X-Id", b"%d" % index),
            (b"Server", b"test"),
            (b"Content-Length", b"1"),
        ]
        assert len(parser._field_cache.fields) <= FIELD_CACHE_SIZE
        parser.start(b"GET", URL)


def test_a_repeated_head_gives_each_response_its_own_header_list() -> None:
    parser = warm_parser()
    first: list[Event] = []
    run(parser, [WARM], first, eof=False)
    head_event = first[0]
    assert isinstance(head_event, ResponseHead)
    expected = list(head_event.headers)
    head_event.headers.append((b"X-Added", b"by the caller"))
    head_event.headers[0] = (b"Server", b"changed")
    parser.start(b"GET", URL)
    second: list[Event] = []
    run(parser, [WARM], second, eof=False)
    again = second[0]
    assert isinstance(again, ResponseHead)
    assert again.headers == expected
    assert again.headers is not head_event.headers


def test_a_repeated_head_still_follows_the_request_method() -> None:
    parser = new_parser()
    run(parser, [WARM], [], eof=False)  # WARM answered a GET: 2 body bytes
    head_only = WARM[: -len(b"ok")]
    parser.start(b"HEAD", URL)
    events: list[Event] = []
    run(parser, [head_only], events, eof=False)
    assert events == parse(head_only, method=b"HEAD")
    first = events[0]
    assert isinstance(first, ResponseHead)
    assert not first.has_body
    assert first.content_length is None
    assert parser.is_reusable
    parser.start(b"GET", URL)
    events = []
    run(parser, [WARM], events, eof=False)
    assert events == parse(WARM)


@pytest.mark.parametrize(
    ("lines", "coding"),
    [
        ((), b""),
        ((b"Content-Encoding: gzip",), b"gzip"),
        ((b"content-ENCODING:  br ",), b"br"),
        ((b"Content-Encoding: deflate", b"X-A: 1", b"Content-Encoding: gzip"), b"deflate, gzip"),
    ],
)
def test_content_coding_is_read_with_the_head(lines: tuple[bytes, ...], coding: bytes) -> None:
    data = head(*lines, b"Content-Length: 2", body=b"ok")
    parser = new_parser()
    for _ in range(3):  # the first parse, then the same head again (remembered)
        events: list[Event] = []
        run(parser, [data], events, eof=False)
        first = events[0]
        assert isinstance(first, ResponseHead)
        assert first.content_coding == coding
        assert events == parse(data)
        parser.start(b"GET", URL)


# --- line endings: bare LF where RFC 9112 §2.2 allows it ---------------------


def lf_head(*lines: bytes, status: bytes = b"HTTP/1.1 200 OK", body: bytes = b"") -> bytes:
    """``head`` with every line ending a bare LF."""
    return b"\n".join([status, *lines]) + b"\n\n" + body


@pytest.mark.parametrize(
    "data",
    [
        lf_head(b"Content-Length: 5", b"X-Trace: abc", body=b"hello"),
        # Mixed: each line ends its own way, and so does the empty line.
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\nX-Trace: abc\r\n\nhello",
        b"HTTP/1.1 200 OK\nContent-Length: 5\r\nX-Trace: abc\n\r\nhello",
        b"HTTP/1.1 200 OK\nContent-Length: 5\nX-Trace: abc\r\n\r\nhello",
    ],
    ids=["all-lf", "crlf-then-lf-end", "lf-then-crlf-end", "lf-lines-crlf-end"],
)
def test_bare_lf_heads_parse_like_crlf_heads(data: bytes) -> None:
    events = parse(data)
    assert events == parse(head(b"Content-Length: 5", b"X-Trace: abc", body=b"hello"))
    assert isinstance(events[0], ResponseHead)
    assert events[0].headers == [(b"Content-Length", b"5"), (b"X-Trace", b"abc")]


@pytest.mark.parametrize("end", [b"\n\n", b"\r\n\n", b"\n\r\n"])
def test_bare_lf_head_end_without_fields(end: bytes) -> None:
    events = parse(b"HTTP/1.1 204 No Content" + end)
    assert events == [ResponseHead(204, b"No Content", "1.1", [], True, None, False, False, b""),
                      EndOfMessage()]  # fmt: skip


def test_bare_lf_head_ends_at_its_first_empty_line_not_at_a_later_crlfcrlf() -> None:
    # The body (and the bytes behind it) hold a CRLFCRLF: the head must not run on to it.
    body = b"a\r\n\r\nb\n\nc"
    events = parse(lf_head(b"Content-Length: %d" % len(body), body=body))
    assert isinstance(events[0], ResponseHead)
    assert events[0].headers == [(b"Content-Length", b"%d" % len(body))]
    assert events[1:] == [Data(body), EndOfMessage()]


def test_bare_lf_head_of_a_head_request_leaves_the_next_response_untouched() -> None:
    events = parse(lf_head(b"Content-Length: 10"), method=b"HEAD")
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]


def test_bare_lf_interim_responses() -> None:
    data = (
        b"HTTP/1.1 100 Continue\n\n"
        b"HTTP/1.1 103 Early Hints\nLink: </style.css>; rel=preload\r\n\n"
        + lf_head(b"Content-Length: 2", body=b"ok")
    )
    events = parse(data)
    assert events[:2] == [
        InformationalResponse(100, b"Continue", []),
        InformationalResponse(103, b"Early Hints", [(b"Link", b"</style.css>; rel=preload")]),
    ]
    assert isinstance(events[2], ResponseHead)
    assert events[3:] == [Data(b"ok"), EndOfMessage()]


@pytest.mark.parametrize(
    "trailers",
    [b"X-A: 1\nX-B: 2\n\n", b"X-A: 1\r\nX-B: 2\n\r\n", b"X-A: 1\nX-B: 2\r\n\n"],
    ids=["lf", "mixed", "crlf-then-lf-end"],
)
def test_bare_lf_trailers(trailers: bytes) -> None:
    data = lf_head(CHUNKED, body=b"5\r\nhello\r\n0\r\n" + trailers)
    events = parse(data)
    assert events[1:] == [Data(b"hello"), EndOfMessage([(b"X-A", b"1"), (b"X-B", b"2")])]


def test_bare_lf_ends_an_empty_trailer_section() -> None:
    events = parse(head(CHUNKED, body=b"1\r\na\r\n0\r\n\n"))
    assert events[1:] == [Data(b"a"), EndOfMessage()]


def test_bare_lf_head_through_a_warm_field_cache() -> None:
    lf_warm = WARM.replace(b"\r\n", b"\n")
    parser = warm_parser()
    for data in (lf_warm, WARM, lf_warm):
        events: list[Event] = []
        run(parser, bytewise(data), events, eof=False)
        assert merge_data(events) == parse(WARM)
        assert parser.is_reusable
        parser.start(b"GET", URL)


def lf_head_of_size(size: int, end: bytes) -> bytes:
    """A bare-LF head whose bytes before its last line ending number ``size``."""
    base = b"HTTP/1.1 200 OK\nContent-Length: 0\nX-Pad: "
    return base + b"p" * (size - len(base)) + end


@pytest.mark.parametrize("end", [b"\n\n", b"\r\n\n", b"\n\r\n"])
def test_bare_lf_head_at_the_size_limit_passes_and_one_byte_more_fails(end: bytes) -> None:
    limits = H11Limits(max_head_size=100)
    events = parse(lf_head_of_size(100, end), limits=limits)
    assert [type(e) for e in events] == [ResponseHead, EndOfMessage]
    error, _ = parse_error(lf_head_of_size(101, end), LimitExceeded, limits=limits)
    assert isinstance(error, LimitExceeded) and error.limit == "max_head_size"


@pytest.mark.parametrize("fold", [b" continued", b"\tcontinued"])
def test_obs_fold_after_a_bare_lf_is_rejected(fold: bytes) -> None:
    error, _ = parse_error(lf_head(b"X-A: b", fold, b"Content-Length: 0"))
    assert "obsolete line folding" in str(error)
    assert quoted(fold) in str(error)


def test_obs_fold_in_bare_lf_trailers_is_rejected() -> None:
    error, _ = parse_error(head(CHUNKED, body=b"0\r\nX-A: b\n folded\n\n"))
    assert "obsolete line folding" in str(error)


# Rejected at once: each of these is an error as soon as the bytes shown are
# in, with no more bytes and no EOF (a server holding the connection open must
# not turn them into a read timeout).


def assert_rejected_at_once(data: bytes, words: str, shown: bytes) -> None:
    """``data`` (fed whole, byte by byte, split anywhere) must fail without EOF,
    and fed whole must name ``words`` and quote ``shown``."""
    error, _ = parse_error(data, trailing=False)
    assert words in str(error)
    assert quoted(shown) in str(error)
    assert URL in str(error)


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"HTTP/1.1 200 OK\rX", b"HTTP/1.1 200 OK\rX"),
        (b"HTTP/1.1 200 OK\r\nX-A: b\rc", b"X-A: b\rc"),
        (b"HTTP/1.1 200 OK\nX-A: b\r\r", b"X-A: b\r\r"),
        (b"HTTP/1.1 200 OK\r\n\rX", b"\rX"),
    ],
)
def test_bare_cr_in_a_head_is_rejected_at_once(data: bytes, shown: bytes) -> None:
    assert_rejected_at_once(data, "bare CR", shown)


@pytest.mark.parametrize(
    ("body", "shown"),
    [(b"5\n", b"5\n"), (b"5;ext=1\nhello", b"5;ext=1\n"), (b"5\r\nhello\r\n0\n", b"0\n")],
)
def test_chunk_size_line_ending_in_bare_lf_is_rejected_at_once(body: bytes, shown: bytes) -> None:
    assert_rejected_at_once(head(CHUNKED, body=body), "chunk size line", shown)


@pytest.mark.parametrize("body", [b"5\r\nhello\n", b"5\r\nhello\n0\r\n\r\n", b"5\r\nhellox"])
def test_chunk_data_followed_by_bare_lf_is_rejected_at_once(body: bytes) -> None:
    assert_rejected_at_once(head(CHUNKED, body=body), "not followed by CRLF", body[8:9])


def test_bare_cr_in_a_chunk_size_line_is_rejected_at_once() -> None:
    assert_rejected_at_once(head(CHUNKED, body=b"5\rx"), "chunk size line", b"5\rx")


def test_bare_cr_in_a_trailer_is_rejected_at_once() -> None:
    assert_rejected_at_once(head(CHUNKED, body=b"0\r\nX-A: b\rc"), "bare CR", b"X-A: b\rc")


def test_bare_lf_trailer_size_counts_the_bytes_received() -> None:
    trailers = b"A: 1\nB: 22\n"
    data = head(CHUNKED, body=b"0\r\n" + trailers + b"\n")
    events = parse(data, limits=H11Limits(max_trailer_size=len(trailers)))
    assert events[-1] == EndOfMessage(trailers=[(b"A", b"1"), (b"B", b"22")])
    error, _ = parse_error(
        data, LimitExceeded, limits=H11Limits(max_trailer_size=len(trailers) - 1)
    )
    assert isinstance(error, LimitExceeded) and error.limit == "max_trailer_size"
