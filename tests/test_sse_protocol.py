"""Tests for the sans-IO event-stream parser (aiosonic.protocols.sse).

Every case is fed the ways of STYLE.md: whole, one byte at a time, in two
reads split at every offset (a CR that ends one read and the LF that starts
the next is one line end, not two), and whole with the start of another event
behind it, which must not be dispatched and must not be lost: it comes out
intact once its blank line arrives.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from aiosonic.exceptions import AiosonicError, SSEParsingError
from aiosonic.protocols.sse import (
    MAX_EVENT_DATA_SIZE,
    MAX_LINE_SIZE,
    EventStreamParser,
    SSEEvent,
    SSELimits,
)

# The start of an event with no blank line yet: never dispatched, never lost.
TRAILING = b"id: t\nevent: e\ndata: u"
TRAILING_EVENT: SSEEvent = {"data": "u", "event": "e", "id": "t", "retry": None}


# --- helpers -----------------------------------------------------------------


def ev(
    data: str, event: str | None = None, id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return {"data": data, "event": event, "id": id, "retry": retry}


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def splits(data: bytes) -> list[tuple[str, list[bytes]]]:
    return [(f"split at {i}", [data[:i], data[i:]]) for i in range(1, len(data))]


def run(parser: EventStreamParser, pieces: Iterable[bytes]) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events


def parse(
    data: bytes, *, limits: SSELimits | None = None, state: tuple[str, int | None] | None = None
) -> list[SSEEvent]:
    """Parse ``data`` every way; all must agree. Return the events.

    ``state`` is the ``(last_event_id, retry)`` every way must end with.
    """
    results = {}
    for name, pieces in (("whole", [data]), ("bytewise", bytewise(data)), *splits(data)):
        parser = EventStreamParser(limits)
        results[name] = run(parser, pieces)
        assert results[name] == results["whole"], name
        if state is not None:
            assert (parser.last_event_id, parser.retry) == state, name
    # With the start of another event behind: the same events, and that one held back.
    parser = EventStreamParser(limits)
    assert run(parser, [data + TRAILING]) == results["whole"]
    if state is not None:
        assert parser.last_event_id == state[0]  # not dispatched, so not taken yet
    assert parser.feed(b"\n\n") == [TRAILING_EVENT]
    return results["whole"]


def parse_error(data: bytes, limits: SSELimits) -> tuple[SSEParsingError, int]:
    """Feed ``data`` whole and byte by byte; both must raise. Return the error and
    how many bytes the byte-by-byte feed took before raising."""
    with pytest.raises(SSEParsingError) as whole:
        EventStreamParser(limits).feed(data)
    parser = EventStreamParser(limits)
    for index, piece in enumerate(bytewise(data)):
        try:
            parser.feed(piece)
        except SSEParsingError:
            return whole.value, index + 1
    raise AssertionError("byte-by-byte feed did not raise")


# --- line ends ---------------------------------------------------------------


@pytest.mark.parametrize(
    "stream",
    [
        b"data: a\ndata: b\n\n",
        b"data: a\r\ndata: b\r\n\r\n",
        b"data: a\rdata: b\r\r",
        b"data: a\r\ndata: b\r\r",
        b"data: a\rdata: b\n\r",
    ],
    ids=["LF", "CRLF", "CR", "CRLF+CR", "CR+LF"],
)
def test_every_line_end_ends_a_line(stream: bytes) -> None:
    assert parse(stream) == [ev("a\nb")]


def test_mixed_line_ends_in_one_stream() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    assert parse(stream) == [ev("a\nb\nc"), ev("d")]


def test_cr_lf_split_across_reads_is_one_line_end() -> None:
    # Were the LF a second line end, "x" would be dispatched alone.
    parser = EventStreamParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\ndata: y\r") == []
    assert parser.feed(b"\n\r") == [ev("x\ny")]


def test_an_empty_read_between_cr_and_lf_changes_nothing() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"") == []
    assert parser.feed(b"\ndata: y\r\n\r\n") == [ev("x\ny")]


def test_a_cr_dispatches_without_waiting_for_the_next_byte() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: x\r\r") == [ev("x")]
    assert parser.feed(b"\ndata: y\n\n") == [ev("y")]


def test_only_cr_and_lf_end_lines() -> None:
    # Vertical tab, form feed, file/record separators, NEL, U+2028: all data.
    stream = b"data: a\x0bb\x0cc\x1cd\x1ee\xc2\x85f\xe2\x80\xa8g\n\n"
    assert parse(stream) == [ev("a\x0bb\x0cc\x1cd\x1ee\x85f\u2028g")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse(b"\n\n\r\n\rdata: x\n\n\n\n") == [ev("x")]


# --- BOM ---------------------------------------------------------------------


def test_one_leading_bom_is_stripped() -> None:
    assert parse(b"\xef\xbb\xbfdata: x\n\n") == [ev("x")]


def test_a_second_bom_is_part_of_the_field_name() -> None:
    # "\ufeffdata" is an unknown field, ignored.
    assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_a_bom_after_the_start_is_not_stripped() -> None:
    assert parse(b"data: x\n\n\xef\xbb\xbfdata: y\n\n") == [ev("x")]


def test_a_bom_alone_on_the_first_line_leaves_a_blank_line() -> None:
    assert parse(b"\xef\xbb\xbf\ndata: x\n\n") == [ev("x")]


# --- fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "data"),
    [
        (b"data: hello\n\n", "hello"),
        (b"data:hello\n\n", "hello"),
        (b"data:  two spaces\n\n", " two spaces"),
        (b"data: a: b\n\n", "a: b"),
        (b"data:\n\n", ""),
        (b"data\n\n", ""),
        (b"data\ndata\n\n", "\n"),
        (b"data: \n\n", ""),
        (b"data: a\n\ndata: b\n\n", None),
        (b"data: tab\t\n\n", "tab\t"),
        (b"data:\ttab\n\n", "\ttab"),
    ],
)
def test_data_fields(stream: bytes, data: str | None) -> None:
    events = parse(stream)
    if data is None:
        assert events == [ev("a"), ev("b")]
    else:
        assert events == [ev(data)]


def test_comments_are_skipped_anywhere() -> None:
    stream = b": keep-alive\n\n:\n:data: no\ndata: x\n: between\ndata: y\n\n"
    assert parse(stream) == [ev("x\ny")]


def test_unknown_fields_and_wrong_case_are_ignored() -> None:
    assert parse(b"foo: bar\nData: no\nDATA: no\n data: no\ndata: x\n\n") == [ev("x")]


def test_event_type() -> None:
    stream = b"event: add\ndata: 1\n\nevent:\ndata: 2\n\nevent: lost\n\ndata: 3\n\n"
    # The type of a block without data is dropped with it, not carried over.
    assert parse(stream) == [ev("1", "add"), ev("2"), ev("3")]


def test_the_last_event_type_line_wins() -> None:
    assert parse(b"event: a\nevent: b\ndata: x\n\n") == [ev("x", "b")]


def test_id_is_reported_per_event_and_kept_for_reconnection() -> None:
    stream = b"id: 7\ndata: x\n\ndata: y\n\n"
    assert parse(stream, state=("7", None)) == [ev("x", id="7"), ev("y")]


def test_id_containing_nul_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert parse(stream, state=("1", None)) == [ev("a", id="1"), ev("b")]


def test_empty_id_resets_the_last_event_id() -> None:
    stream = b"id: 1\ndata: a\n\nid\ndata: b\n\n"
    assert parse(stream, state=("", None)) == [ev("a", id="1"), ev("b", id="")]


def test_id_of_a_block_without_data_still_counts() -> None:
    # §9.2.6 dispatch step 1 takes the ID before checking for data.
    assert parse(b"id: 5\n\n", state=("5", None)) == []


def test_id_is_taken_only_at_dispatch() -> None:
    parser = EventStreamParser()
    parser.feed(b"id: 9\ndata: x\n")
    assert parser.last_event_id == ""
    assert parser.feed(b"\n") == [ev("x", id="9")]
    assert parser.last_event_id == "9"


def test_invalid_utf8_is_replaced() -> None:
    stream = b"id: \xff1\ndata: \xc3\xa9 \xff\xfe ok \xe2\x82\n\n"
    assert parse(stream, state=("\ufffd1", None)) == [ev("é \ufffd\ufffd ok \ufffd", id="\ufffd1")]


def test_multibyte_characters_split_anywhere() -> None:
    assert parse("data: héllo → 世界 🎉\n\n".encode()) == [ev("héllo → 世界 🎉")]


# --- retry -------------------------------------------------------------------


def test_retry_sets_the_reconnection_time() -> None:
    assert parse(b"retry: 50\ndata: x\n\n", state=("", 50)) == [ev("x", retry=50)]


def test_retry_takes_effect_without_a_dispatch() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"retry: 1500\n") == []
    assert parser.retry == 1500


def test_retry_block_without_data_dispatches_nothing() -> None:
    assert parse(b"retry: 50\n\ndata: x\n\n", state=("", 50)) == [ev("x")]


@pytest.mark.parametrize(
    "value", [b"5x", b"-1", b"+1", b" 50", b"", b"1.5", b"\xd9\xa1", b"1e3", b"50 "]
)
def test_retry_that_is_not_all_ascii_digits_is_ignored(value: bytes) -> None:
    stream = b"retry: 20\n\nretry: " + value + b"\ndata: x\n\n"
    assert parse(stream, state=("", 20)) == [ev("x")]


def test_huge_retry_is_read_as_a_very_long_time() -> None:
    parser = EventStreamParser()
    parser.feed(b"retry: " + b"9" * 10_000 + b"\n")
    assert parser.retry == 10**18 - 1


# --- restart -----------------------------------------------------------------


def test_restart_drops_the_unfinished_event_and_keeps_id_and_retry() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"id: 3\nretry: 40\ndata: x\n\nid: 4\ndata: partial\ndata: li") == [
        ev("x", id="3", retry=40)
    ]
    parser.restart()
    assert (parser.last_event_id, parser.retry) == ("3", 40)
    # The new stream may start with a BOM again; the old half line is gone.
    assert parser.feed(b"\xef\xbb\xbfdata: y\n\n") == [ev("y")]
    assert parser.last_event_id == "3"


def test_a_parser_can_resume_from_an_id() -> None:
    parser = EventStreamParser(last_event_id="41")
    assert parser.feed(b"data: x\n\n") == [ev("x")]
    assert parser.last_event_id == "41"


def test_repr_shows_state() -> None:
    parser = EventStreamParser()
    parser.feed(b"id: 2\nretry: 10\n\ndata: a\ndata: b\nda")
    assert repr(parser) == (
        "<EventStreamParser [last_event_id='2', retry=10, pending_data_lines=2, partial_line=2]>"
    )


# --- limits ------------------------------------------------------------------


def test_default_limits() -> None:
    assert SSELimits() == SSELimits(MAX_LINE_SIZE, MAX_EVENT_DATA_SIZE)
    assert MAX_LINE_SIZE == 1024 * 1024
    assert MAX_EVENT_DATA_SIZE == 16 * 1024 * 1024


def test_a_line_at_the_limit_passes() -> None:
    limits = SSELimits(max_line_size=8)
    assert parse(b"data: 12\n\n", limits=limits) == [ev("12")]


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_an_ended_line_past_the_limit_raises(end: bytes) -> None:
    error, taken = parse_error(b"data: 123" + end, SSELimits(max_line_size=8))
    assert str(error) == (
        "event-stream line longer than max_line_size=8 bytes (9 bytes; starts b'data: 123')"
    )
    assert taken == 9  # byte by byte, it raises as the 9th byte arrives
    assert isinstance(error, AiosonicError)


def test_an_unended_line_past_the_limit_raises_at_once() -> None:
    limits = SSELimits(max_line_size=8)
    with pytest.raises(SSEParsingError, match=r"max_line_size=8 bytes \(20 bytes"):
        EventStreamParser(limits).feed(b": " + b"c" * 18)
    parser = EventStreamParser(limits)
    parser.feed(b"data: 12")
    with pytest.raises(SSEParsingError, match="no line end yet"):
        parser.feed(b"3")


def test_a_long_line_in_one_read_raises() -> None:
    with pytest.raises(SSEParsingError, match=r"\(12 bytes; starts b': 1234567890'\)"):
        EventStreamParser(SSELimits(max_line_size=8)).feed(b"data: x\n: 1234567890\n\n")


def test_event_data_at_the_limit_passes() -> None:
    limits = SSELimits(max_event_data_size=10)
    assert parse(b"data: 1234\ndata: 12345\n\n", limits=limits) == [ev("1234\n12345")]


def test_event_data_past_the_limit_raises() -> None:
    limits = SSELimits(max_event_data_size=10)
    error, taken = parse_error(b"data: 12345\ndata: 12345\n\n", limits)
    assert str(error) == (
        "event data longer than max_event_data_size=10 bytes (11 bytes without a blank line)"
    )
    assert taken == 24  # at the line end of the second data line


def test_event_data_limit_is_per_event() -> None:
    limits = SSELimits(max_event_data_size=5)
    assert parse(b"data: 12345\n\ndata: 12345\n\n", limits=limits) == [ev("12345"), ev("12345")]


def test_many_lines_in_one_read() -> None:
    stream = b"".join(b"id: %d\ndata: %d\n\n" % (i, i) for i in range(1000))
    events = EventStreamParser().feed(stream)
    assert events == [ev(str(i), id=str(i)) for i in range(1000)]
