"""The grammar rules of ``h11_rules``, and every fast path that must decide as they do.

Each rule's validator is checked against a plain statement of its ABNF (a
regular expression written here from the RFC, independent of the code). Each
speed trick is then checked against the validator on generated lines, valid
and invalid (the pattern of tests/test_http2_core.py's HPACK memo test):

* ``FieldCache.parse`` (lines remembered per connection) against
  ``split_field_line``;
* ``parse_field_block`` (all names of a block checked at once) against
  ``parse_field_line``, line by line;
* ``parse_head`` (status lines and field lines remembered) against
  ``parse_full_head`` (no memo);
* the parser's memo of the last head (``CachedHead``) against a fresh parser;
* the request serialiser's ``check_field`` (on ``str``) against the same
  rules, and ``build_request_head``'s one-pass check against ``check_field``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiosonic.exceptions import HttpParsingError, InvalidRequest, LimitExceeded
from aiosonic.protocols.h11_events import NEED_DATA, H11Limits, ResponseHead
from aiosonic.protocols.h11_fields import (
    CachedHead,
    FieldCache,
    FramingDecision,
    check_head_bytes,
    decide_framing,
    parse_field_block,
    parse_full_head,
    parse_head,
)
from aiosonic.protocols.h11_request import build_request_head, check_field
from aiosonic.protocols.h11_response import ResponseParser
from aiosonic.protocols.h11_rules import (
    FIELD_VALUE_BYTES,
    TCHAR,
    is_field_value,
    is_token,
    known_status_line,
    parse_chunk_size,
    parse_field_line,
    parse_status_line,
    split_field_line,
)

URL = "http://rules.test/"
RULE_SETTINGS = settings(max_examples=400, deadline=None)

# --- the rules, stated plainly from the RFCs --------------------------------

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-"
# / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
_TCHAR_CLASS = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
# RFC 9110 §5.5: field-vchar = VCHAR / obs-text; SP and HTAB only between them.
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_FIELD_VALUE = rb"(?:%s(?:[ \t%s]*%s)?)?" % (_VCHAR, _VCHAR[1:-1], _VCHAR)
# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
FIELD_LINE_RE = re.compile(rb"(%s+):[ \t]*(%s)[ \t]*" % (_TCHAR_CLASS, _FIELD_VALUE))
# RFC 9112 §7.1: chunk-size [ chunk-ext ], with BWS before the extensions
# (what the parser accepts of them: the bytes of a field value).
CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\x20-\x7e\x80-\xff\t]*)?")


def reference_field_line(line: bytes) -> tuple[bytes, bytes] | None:
    match = FIELD_LINE_RE.fullmatch(line)
    return None if match is None else (match[1], match[2])


# --- generated lines, valid and not ------------------------------------------

tokens = st.lists(st.sampled_from(list(TCHAR)), min_size=1, max_size=8).map(bytes)
# Bytes that break or test each rule: controls, DEL, obs-text, CR, LF, the
# colon, whitespace, and characters that are not tchar.
TRICKY = b'aZ0!~:; \t\x00\x01\x1f\x7f\x80\xff\r\n",()'
tricky_bytes = st.lists(st.sampled_from(list(TRICKY)), max_size=12).map(bytes)
value_bytes = st.lists(st.sampled_from(list(FIELD_VALUE_BYTES)), max_size=12).map(bytes)
NOT_FIELD_VALUE = bytes(range(256)).translate(None, FIELD_VALUE_BYTES)
ows = st.sampled_from([b"", b" ", b"\t", b"  \t"])


@st.composite
def field_lines(draw: st.DrawFn, clean: bool = False) -> bytes:
    """A field line: mostly valid, else broken in one of the ways servers break them.

    ``clean``: no CR, LF or control bytes (what passed check_head_bytes).
    """
    name = draw(st.one_of(tokens, st.sampled_from([b"Content-Length", b"connection"])))
    value = draw(value_bytes)
    line = name + b":" + draw(ows) + value + draw(ows)
    kind = draw(st.sampled_from(["valid", "valid", "fold", "ws", "noname", "nocolon", "junk"]))
    if kind == "fold":
        line = draw(st.sampled_from([b" ", b"\t"])) + line
    elif kind == "ws":
        line = name + draw(st.sampled_from([b" ", b"\t"])) + line[len(name) :]
    elif kind == "noname":
        line = line[len(name) :]
    elif kind == "nocolon":
        line = line.replace(b":", b"")
    elif kind == "junk":
        line = draw(tricky_bytes)
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(tricky_bytes) + line[at:]
    if clean:
        line = line.translate(None, NOT_FIELD_VALUE)
    return line


def outcome(call: Callable[[], object]) -> object:
    """The value ``call`` returns, or the type and message of what it raises."""
    try:
        return call()
    except (HttpParsingError, LimitExceeded) as exc:
        return (type(exc), str(exc))


# --- each rule against its plain statement -----------------------------------


@RULE_SETTINGS
@given(line=st.one_of(field_lines(), tricky_bytes))
def test_split_field_line_is_rfc_9112_field_line(line: bytes) -> None:
    assert split_field_line(line) == reference_field_line(line)


@RULE_SETTINGS
@given(line=st.one_of(field_lines(), tricky_bytes), limit=st.sampled_from([8, 64]))
def test_parse_field_line_agrees_with_split_field_line(line: bytes, limit: int) -> None:
    pair = split_field_line(line)
    if len(line) > limit:
        with pytest.raises(LimitExceeded):
            parse_field_line(line, limit, URL)
    elif pair is None:
        with pytest.raises(HttpParsingError, match=re.escape(URL)):
            parse_field_line(line, limit, URL)
    else:
        assert parse_field_line(line, limit, URL) == pair


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b" folded", "obsolete line folding"),
        (b"\tX: y", "obsolete line folding"),
        (b": y", "header line without a name"),
        (b"no colon", "header line without a name"),
        (b"X : y", "whitespace before colon"),
        (b"X\t: y", "whitespace before colon"),
        (b"X(y): z", "invalid header name"),
        (b"X: a\x00b", "forbidden byte b'\\x00' in header line"),
        (b"X: a\x7f", "forbidden byte b'\\x7f' in header line"),
    ],
)
def test_parse_field_line_names_what_breaks_the_rule(line: bytes, message: str) -> None:
    with pytest.raises(HttpParsingError, match=re.escape(message)):
        parse_field_line(line, 100, URL)


@RULE_SETTINGS
@given(value=st.one_of(tricky_bytes, value_bytes))
def test_token_and_field_value_rules(value: bytes) -> None:
    assert is_token(value) == bool(re.fullmatch(_TCHAR_CLASS + rb"+", value))
    assert is_field_value(value) == bool(re.fullmatch(rb"[\t\x20-\x7e\x80-\xff]*", value))


chunk_lines = st.one_of(
    st.builds(
        lambda size, pad, ext: size + pad + ext,
        st.lists(st.sampled_from(list(b"0123456789abcdefABCDEFg ")), max_size=18).map(bytes),
        ows,
        st.one_of(
            st.just(b""), st.builds(lambda e: b";" + e, st.one_of(value_bytes, tricky_bytes))
        ),
    ),
    tricky_bytes,
)


@RULE_SETTINGS
@given(line=chunk_lines)
def test_parse_chunk_size_is_rfc_9112_chunk_size(line: bytes) -> None:
    match = CHUNK_SIZE_RE.fullmatch(line)
    if match is None:
        with pytest.raises(HttpParsingError, match="invalid chunk"):
            parse_chunk_size(line, URL)
    else:
        assert parse_chunk_size(line, URL) == int(match[1], 16)


status_lines = st.one_of(
    st.builds(
        lambda minor, code, reason: b"HTTP/1.%s %s%s" % (minor, code, reason),
        st.sampled_from([b"0", b"1", b"9", b"x", b""]),
        st.sampled_from([b"200", b"404", b"101", b"099", b"20", b"2000", b"abc"]),
        st.sampled_from([b"", b" ", b" OK", b" Not Found", b"OK", b" \xe9t\xe9"]),
    ),
    tricky_bytes,
)


@RULE_SETTINGS
@given(line=status_lines)
def test_remembered_status_lines_are_exactly_the_parsed_ones(line: bytes) -> None:
    remembered = known_status_line(line)
    parsed = outcome(lambda: parse_status_line(line, 64, URL))
    if remembered is not None:
        assert parsed == remembered
    if isinstance(parsed, tuple) and not isinstance(parsed[0], type):
        # Accepted once, it is remembered (the memo has room in a test run).
        assert known_status_line(line) == parsed


# --- the fast paths decide as the rules do -----------------------------------

FRAMING = {b"content-length", b"transfer-encoding", b"connection", b"content-encoding"}


@RULE_SETTINGS
@given(
    rounds=st.lists(st.lists(field_lines(), max_size=6), min_size=1, max_size=4),
    limit=st.sampled_from([10, 16, 40]),
)
def test_field_cache_decides_as_split_field_line(rounds: list[list[bytes]], limit: int) -> None:
    cache = FieldCache()
    # Each round twice: lines new to the cache, then remembered.
    for lines in [r for r in rounds for _ in (0, 1)]:
        pairs = [split_field_line(line) if len(line) <= limit else None for line in lines]
        got = cache.parse(lines, limit)
        if any(pair is None for pair in pairs):
            assert got is None
            continue
        expected = [pair for pair in pairs if pair is not None]
        assert got == (expected, [(n.lower(), v) for n, v in expected if n.lower() in FRAMING])


@RULE_SETTINGS
@given(
    lines=st.lists(field_lines(clean=True).filter(bool), min_size=1, max_size=6),
    limit=st.sampled_from([12, 64]),
)
def test_field_block_decides_as_parse_field_line(lines: list[bytes], limit: int) -> None:
    block = b"\r\n".join(lines)
    check_head_bytes(block, URL)  # what the block's callers have done
    # The rule: line by line, the first bad line named.
    expected = outcome(lambda: [parse_field_line(line, limit, URL) for line in lines])
    got = outcome(lambda: parse_field_block(block, limit, URL))
    if isinstance(expected, list):
        framing = [(n.lower(), v) for n, v in expected if n.lower() in FRAMING]
        assert got == (expected, framing)
    else:
        assert got == expected


@RULE_SETTINGS
@given(
    status=status_lines,
    heads=st.lists(st.lists(field_lines().filter(bool), max_size=5), min_size=1, max_size=3),
    limit=st.sampled_from([10, 16, 40]),
)
def test_parse_head_decides_as_parse_full_head(
    status: bytes, heads: list[list[bytes]], limit: int
) -> None:
    limits = H11Limits(max_status_line_size=limit, max_header_line_size=limit)
    cache = FieldCache()
    for lines in [h for h in heads for _ in (0, 1)]:
        head = b"\r\n".join([status, *lines])
        if b"\n" in head.replace(b"\r\n", b"") or head.endswith(b"\r"):
            continue  # not a head ReceiveBuffer.take_head() cuts (bare LFs: own tests)
        reference = outcome(partial(parse_full_head, head, limits, URL))
        fast = outcome(partial(parse_head, head, limits, cache, URL))
        assert fast == reference


FIXED_HEAD = (
    b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Encoding: gzip\r\n"
    b"Content-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
)


def test_a_remembered_head_parses_as_a_fresh_one() -> None:
    parser = ResponseParser()
    heads = []
    for _ in range(3):
        parser.start(b"GET", URL)
        parser.receive_data(FIXED_HEAD)
        event = parser.next_event()
        assert isinstance(event, ResponseHead)
        heads.append(event)
        event.headers.append((b"X-Changed", b"by the caller"))  # must not reach the memo
        while parser.next_event() is not NEED_DATA:
            pass
    fresh = ResponseParser()
    fresh.start(b"GET", URL)
    fresh.receive_data(FIXED_HEAD)
    first = fresh.next_event()
    assert isinstance(first, ResponseHead)
    expected = [*first.headers, (b"X-Changed", b"by the caller")]
    for head in heads:
        assert head == ResponseHead(
            200, b"OK", "1.1", expected, True, 2, False, True, content_coding=b"gzip"
        )
        assert head.content_coding == b"gzip"


def test_cached_head_and_framing_decision_are_named_and_frozen() -> None:
    cache = FieldCache()
    parser = ResponseParser()
    parser.start(b"GET", URL)
    parser.receive_data(FIXED_HEAD)
    parser.next_event()
    last = parser._field_cache.last
    assert isinstance(last, CachedHead)
    assert (last.status, last.version, last.content_coding, last.content_length) == (
        200,
        "1.1",
        b"gzip",
        2,
    )
    with pytest.raises(AttributeError):
        last.status = 500  # type: ignore[misc]
    decided = decide_framing([(b"transfer-encoding", b"chunked")], True, URL)
    assert decided == FramingDecision(keep_alive=True, content_length=None, chunked=True)
    assert repr(cache) == "<FieldCache [0 lines, 0 framings]>"


# --- the request side uses the same rules ------------------------------------

latin1_text = st.text(st.characters(max_codepoint=0xFF), max_size=10)


@RULE_SETTINGS
@given(name=st.one_of(tokens.map(bytes.decode), latin1_text), value=latin1_text)
def test_check_field_uses_the_token_and_field_value_rules(name: str, value: str) -> None:
    valid = is_token(name.encode("latin-1")) and is_field_value(value.encode("latin-1"))
    if valid:
        check_field(name, value)
    else:
        with pytest.raises(InvalidRequest):
            check_field(name, value)


@RULE_SETTINGS
@given(
    fields=st.lists(
        st.tuples(st.one_of(tokens.map(bytes.decode), latin1_text), latin1_text), max_size=4
    )
)
def test_request_head_fast_check_decides_as_check_field(fields: list[tuple[str, str]]) -> None:
    # build_request_head checks all names, then all values, in one pass each.
    try:
        for name, value in fields:
            check_field(name, value)
    except InvalidRequest:
        with pytest.raises(InvalidRequest):
            build_request_head("GET", "/", fields)
    else:
        assert build_request_head("GET", "/", fields).startswith(b"GET / HTTP/1.1\r\n")
