"""Property tests for the HTTP/1.1 response parser.

(a) The outcome never depends on how the bytes are split: any input, cut at any
    points, yields the same events, or fails with the same kind of error.
(b) Responses generated from random parts parse back to exactly those parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiosonic.exceptions import HttpParsingError, NetworkError
from aiosonic.protocols.h11_events import (
    Data,
    EndOfMessage,
    Event,
    H11Limits,
    InformationalResponse,
    NeedData,
    ResponseHead,
)
from aiosonic.protocols.h11_fields import TCHAR
from aiosonic.protocols.h11_response import ResponseParser

FUZZ_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TRAILING = b"HTTP/1.1 200 OK\r\n\r\n"

# Small limits so generated inputs reach every one of them.
TIGHT_LIMITS = H11Limits(
    max_status_line_size=24,
    max_header_line_size=28,
    max_header_count=4,
    max_head_size=64,
    max_trailer_count=2,
    max_trailer_size=20,
    max_chunk_line_size=8,
    max_informational_responses=1,
)


@dataclass(frozen=True)
class Outcome:
    """What a parse produced, in a form independent of the split."""

    events: tuple[Event, ...]
    error: str | None  # "parsing", "network", or None
    state: str
    trailing: bytes  # unconsumed bytes; empty after an error
    reusable: bool


def merge_data(events: Sequence[Event]) -> tuple[Event, ...]:
    merged: list[Event] = []
    for event in events:
        if isinstance(event, Data) and merged and isinstance(merged[-1], Data):
            merged[-1] = Data(merged[-1].data + event.data)
        else:
            merged.append(event)
    return tuple(merged)


def split_at(data: bytes, points: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def drain(parser: ResponseParser, events: list[Event]) -> None:
    while not isinstance(event := parser.next_event(), NeedData):
        events.append(event)


def outcome(
    pieces: Sequence[bytes], *, method: bytes, limits: H11Limits | None, eof: bool
) -> Outcome:
    parser = ResponseParser(limits)
    parser.start(method, "http://fuzz.test/")
    events: list[Event] = []
    error: str | None = None
    try:
        for piece in pieces:
            parser.receive_data(piece)
            drain(parser, events)
        if eof:
            parser.receive_eof()
            drain(parser, events)
    except HttpParsingError:
        error = "parsing"
    except NetworkError:
        error = "network"
    # After an error the bytes left depend on where feeding stopped: not compared.
    trailing = parser.trailing_data if error is None else b""
    return Outcome(merge_data(events), error, parser.state, trailing, parser.is_reusable)


# --- (a) split independence --------------------------------------------------

FRAGMENTS = [
    b"HTTP/1.1 ",
    b"HTTP/1.0 ",
    b"200 OK",
    b"204 ",
    b"100 Continue",
    b"101 ",
    b"\r\n",
    b"\r\n\r\n",
    b"\r",
    b"\n",
    b"Content-Length: ",
    b"Content-Length: 3",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b"Connection: close",
    b"Connection: keep-alive",
    b"X-Header: value",
    b"0",
    b"3",
    b"5",
    b"f",
    b";ext=1",
    b"abc",
    b"hello",
    b":",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
]

VALID_HEAD = st.sampled_from(
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        # RFC 9112 §2.2: bare LF line endings, alone and mixed with CRLF.
        b"HTTP/1.1 200 OK\nContent-Length: 5\n\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\n\r\n",
        b"HTTP/1.1 100 Continue\n\n",
    ]
)
fragments = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)


def near_limits(head_pad: int, ext_pad: int, trailer_pad: int) -> bytes:
    """A chunked response whose head, chunk line and trailer sizes are chosen
    around TIGHT_LIMITS, where an off-by-one would depend on the split."""
    return (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: "
        + b"p" * head_pad
        + b"\r\n\r\n3;"
        + b"e" * ext_pad
        + b"\r\nabc\r\n0\r\nT: "
        + b"t" * trailer_pad
        + b"\r\n\r\n"
    )


pads = st.integers(0, 24)
raw_inputs = st.one_of(
    st.binary(max_size=120),
    fragments,
    st.builds(near_limits, pads, pads, pads),
    st.tuples(VALID_HEAD, fragments).map(b"".join),
    st.tuples(VALID_HEAD, st.binary(max_size=60)).map(b"".join),
)


@FUZZ_SETTINGS
@given(
    data=st.data(),
    raw=raw_inputs,
    method=st.sampled_from([b"GET", b"HEAD"]),
    limits=st.sampled_from([None, TIGHT_LIMITS]),
    eof=st.booleans(),
)
def test_outcome_does_not_depend_on_the_split(
    data: st.DataObject, raw: bytes, method: bytes, limits: H11Limits | None, eof: bool
) -> None:
    points = data.draw(st.lists(st.integers(0, len(raw)), max_size=8), label="split points")
    whole = outcome([raw], method=method, limits=limits, eof=eof)
    split = outcome(split_at(raw, points), method=method, limits=limits, eof=eof)
    assert split == whole
    bytewise = [raw[i : i + 1] for i in range(len(raw))]
    assert outcome(bytewise, method=method, limits=limits, eof=eof) == whole


# --- (b) generated valid responses round-trip ---------------------------------

TOKEN_BYTES = list(TCHAR)
VISIBLE = [b for b in range(0x21, 0x100) if b != 0x7F]
FRAMING_NAMES = {b"content-length", b"transfer-encoding", b"connection"}

tokens = st.lists(st.sampled_from(TOKEN_BYTES), min_size=1, max_size=12).map(bytes)
words = st.lists(st.sampled_from(VISIBLE), min_size=1, max_size=10).map(bytes)
# Field values: visible words with inner spaces/tabs; outer whitespace is not
# part of a value (RFC 9110 §5.5), so none is generated.
values = st.one_of(
    st.just(b""),
    st.lists(st.tuples(words, st.sampled_from([b" ", b"\t", b"  "])), max_size=3).flatmap(
        lambda parts: words.map(lambda last: b"".join(w + s for w, s in parts) + last)
    ),
)
fields = st.lists(
    st.tuples(tokens.filter(lambda n: n.lower() not in FRAMING_NAMES), values), max_size=6
)
reasons = st.lists(st.sampled_from([*VISIBLE, 0x20, 0x09]), max_size=20).map(bytes)


# Line endings of head and trailer lines: CRLF, or a bare LF (RFC 9112 §2.2).
EOLS = [b"\r\n", b"\r\n", b"\n"]


def field_lines(
    pairs: Sequence[tuple[bytes, bytes]], spacing: Sequence[bytes], eols: Sequence[bytes]
) -> bytes:
    return b"".join(
        name + b":" + pad + value + pad + eol
        for (name, value), pad, eol in zip(pairs, spacing, eols, strict=True)
    )


def line_endings(draw: st.DrawFn, count: int) -> list[bytes]:
    return draw(st.lists(st.sampled_from(EOLS), min_size=count, max_size=count))


@dataclass
class Generated:
    wire: bytes
    method: bytes
    events: tuple[Event, ...]


@st.composite
def responses(draw: st.DrawFn) -> Generated:
    method = draw(st.sampled_from([b"GET", b"GET", b"POST", b"HEAD"]))
    wire = b""
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 2))):
        code = draw(st.sampled_from([100, 102, 103]))
        reason, headers = draw(reasons), draw(fields)
        pads = draw(
            st.lists(
                st.sampled_from([b"", b" ", b"\t"]), min_size=len(headers), max_size=len(headers)
            )
        )
        eols = line_endings(draw, len(headers) + 2)
        wire += b"HTTP/1.1 %d %b%b%b%b" % (
            code, reason, eols[0], field_lines(headers, pads, eols[2:]), eols[1]
        )  # fmt: skip
        events.append(InformationalResponse(code, reason, list(headers)))

    minor = draw(st.sampled_from([b"0", b"1"]))
    status = draw(st.integers(200, 599))
    reason = draw(reasons)
    headers = list(draw(fields))
    connection = draw(
        st.sampled_from(
            [None, b"close", b"keep-alive", b"Keep-Alive, Upgrade", b"keep-alive, close"]
        )
    )
    if connection is not None:
        headers.insert(draw(st.integers(0, len(headers))), (b"Connection", connection))
    tokens = [t.strip() for t in (connection or b"").lower().split(b",")]
    # RFC 9112 §9.3: "close" wins; HTTP/1.0 persists only with "keep-alive".
    keep_alive = b"close" not in tokens and (minor == b"1" or b"keep-alive" in tokens)
    has_body = method != b"HEAD" and status not in (204, 304)
    chunked = draw(st.booleans())
    body = draw(st.binary(max_size=300)) if has_body else b""
    if chunked and minor == b"0":
        # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing: close after.
        keep_alive = False

    framing = (
        (b"Transfer-Encoding", b"chunked") if chunked else (b"Content-Length", b"%d" % len(body))
    )
    headers.insert(draw(st.integers(0, len(headers))), framing)
    pads = draw(
        st.lists(st.sampled_from([b"", b" ", b"\t"]), min_size=len(headers), max_size=len(headers))
    )
    eols = line_endings(draw, len(headers) + 2)
    wire += b"HTTP/1.%b %d %b%b%b%b" % (
        minor, status, reason, eols[0], field_lines(headers, pads, eols[2:]), eols[1]
    )  # fmt: skip
    events.append(
        ResponseHead(
            status_code=status,
            reason=reason,
            http_version="1." + minor.decode(),
            headers=headers,
            keep_alive=keep_alive,
            content_length=None if chunked or not has_body else len(body),
            chunked=chunked and has_body,
            has_body=has_body,
        )
    )
    trailers: list[tuple[bytes, bytes]] = []
    if not has_body:
        pass
    elif chunked:
        cuts = draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=6))
        for piece in split_at(body, cuts if body else []):
            if piece:
                size = draw(st.sampled_from([b"%x", b"%X", b"00%x"])) % len(piece)
                ext = draw(st.sampled_from([b"", b";a=b", b" ;name", b';q="x y"']))
                wire += size + ext + b"\r\n" + piece + b"\r\n"
        trailers = draw(fields)
        eols = line_endings(draw, len(trailers) + 1)
        wire += b"0\r\n" + field_lines(trailers, [b" "] * len(trailers), eols[1:]) + eols[0]
    else:
        wire += body
    if body:
        events.append(Data(body))
    events.append(EndOfMessage(list(trailers)))
    return Generated(wire, method, tuple(events))


@FUZZ_SETTINGS
@given(generated=responses(), data=st.data())
def test_generated_responses_parse_back_exactly(generated: Generated, data: st.DataObject) -> None:
    wire, method = generated.wire, generated.method
    points = data.draw(st.lists(st.integers(0, len(wire)), max_size=10), label="split points")
    head = next(e for e in generated.events if isinstance(e, ResponseHead))
    expected = Outcome(generated.events, None, "DONE", b"", head.keep_alive)
    for pieces in ([wire], split_at(wire, points)):
        assert outcome(pieces, method=method, limits=None, eof=False) == expected
    with_trailing = outcome(
        split_at(wire + TRAILING, points), method=method, limits=None, eof=False
    )
    assert with_trailing == Outcome(generated.events, None, "DONE", TRAILING, False)
