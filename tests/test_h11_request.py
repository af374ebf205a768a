"""Tests for HTTP/1.1 request serialisation (aiosonic.protocols.h11_request)."""

from __future__ import annotations

import pytest

from aiosonic.exceptions import InvalidRequest
from aiosonic.protocols.h11_request import LAST_CHUNK, build_request_head, encode_chunk

# --- exact bytes -------------------------------------------------------------


def test_request_head_exact_bytes() -> None:
    head = build_request_head(
        "GET",
        "/search?q=a%20b&x=1",
        [("Host", "example.com"), ("User-Agent", "aiosonic"), ("Accept", "*/*")],
    )
    assert head == (
        b"GET /search?q=a%20b&x=1 HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"User-Agent: aiosonic\r\n"
        b"Accept: */*\r\n"
        b"\r\n"
    )


def test_request_head_without_fields() -> None:
    assert build_request_head("OPTIONS", "*", []) == b"OPTIONS * HTTP/1.1\r\n\r\n"


def test_fields_keep_order_case_and_duplicates() -> None:
    head = build_request_head(
        "POST", "/", [("x-b", "2"), ("X-A", "1"), ("Cookie", "a=1"), ("Cookie", "b=2")]
    )
    assert head == b"POST / HTTP/1.1\r\nx-b: 2\r\nX-A: 1\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"


def test_fields_from_any_iterable() -> None:
    pairs = [("Host", "h"), ("A", "1")]
    expected = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n"
    assert build_request_head("GET", "/", iter(pairs)) == expected
    assert build_request_head("GET", "/", tuple(pairs)) == expected
    assert build_request_head("GET", "/", (p for p in pairs)) == expected


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("CONNECT", "example.com:443"),
        ("GET", "http://example.com/absolute?form"),
        ("PROPFIND", "/dav/"),
        ("M-SEARCH", "*"),
        ("get", "/"),
    ],
)
def test_other_methods_and_target_forms(method: str, target: str) -> None:
    head = build_request_head(method, target, [("Host", "h")])
    assert head == f"{method} {target} HTTP/1.1\r\nHost: h\r\n\r\n".encode()


def test_values_may_hold_tabs_spaces_and_empty_strings() -> None:
    head = build_request_head("GET", "/", [("X-Tab", "a\tb"), ("X-Empty", ""), ("X-Sp", " a b ")])
    assert head == b"GET / HTTP/1.1\r\nX-Tab: a\tb\r\nX-Empty: \r\nX-Sp:  a b \r\n\r\n"


def test_latin1_value_is_sent_as_latin1() -> None:
    head = build_request_head("GET", "/", [("X-Name", "caf\u00e9")])
    assert head == b"GET / HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n"


def test_non_latin1_value_is_sent_as_utf8() -> None:
    head = build_request_head("GET", "/", [("X-Price", "5 \u20ac"), ("X-Emoji", "\U0001f600")])
    assert head == (
        b"GET / HTTP/1.1\r\nX-Price: 5 \xe2\x82\xac\r\nX-Emoji: \xf0\x9f\x98\x80\r\n\r\n"
    )


# --- rejected input ------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    ["GE T", "GET\r\n", "", "GET\n", "GET\r", "GET\x00", "G\u00c9T", "GET/", "(GET)", " GET"],
)
def test_invalid_method_tokens(method: str) -> None:
    with pytest.raises(InvalidRequest, match="method is not an RFC 9110 token"):
        build_request_head(method, "/", [("Host", "h")])


@pytest.mark.parametrize(
    "target",
    [
        "",
        "/a b",
        "/a\r\nX-Injected: 1",
        "/a\n",
        "/a\r",
        "/a\x00",
        "/a\t",
        "/a\x7f",
        "/caf\u00e9",
        "/\u20ac",
    ],
)
def test_invalid_targets(target: str) -> None:
    with pytest.raises(InvalidRequest, match="request target"):
        build_request_head("GET", target, [("Host", "h")])


@pytest.mark.parametrize(
    "name",
    ["", "X Name", "X-Name\r\nX-Evil", "X-Name\n", "X-Name\r", "X\x00", "X:", "Caf\u00e9", "X\t"],
)
def test_invalid_header_names(name: str) -> None:
    with pytest.raises(InvalidRequest, match="header name is not an RFC 9110 token") as info:
        build_request_head("GET", "/", [("Host", "h"), (name, "v")])
    assert repr(name[:60]) in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "\r\n", "a\x1bb", "a\x7fb", "a\x0bb"],
)
def test_invalid_header_values(value: str) -> None:
    with pytest.raises(InvalidRequest, match="control character") as info:
        build_request_head("GET", "/", [("Host", "h"), ("X-Value", value)])
    assert "'X-Value'" in str(info.value)
    assert repr(value) in str(info.value)


def test_bad_value_found_among_many_good_ones() -> None:
    fields = [(f"X-{i}", "ok") for i in range(50)]
    fields.insert(25, ("X-Bad", "v\r\n\r\nGET /smuggled HTTP/1.1"))
    with pytest.raises(InvalidRequest, match="X-Bad"):
        build_request_head("GET", "/", fields)


def test_bad_name_after_good_fields() -> None:
    with pytest.raises(InvalidRequest, match="header name"):
        build_request_head("GET", "/", [("A", "1"), ("B", "2"), ("", "3")])


def test_invalid_request_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="control character"):
        build_request_head("GET", "/", [("X", "\n")])


# --- chunked framing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"hello", b"5\r\nhello\r\n"),
        (b"x", b"1\r\nx\r\n"),
        (b"\r\n", b"2\r\n\r\n\r\n"),
        (b"a" * 255, b"ff\r\n" + b"a" * 255 + b"\r\n"),
        (b"b" * 4096, b"1000\r\n" + b"b" * 4096 + b"\r\n"),
    ],
)
def test_encode_chunk(data: bytes, expected: bytes) -> None:
    assert encode_chunk(data) == expected


def test_encode_chunk_size_is_lower_case_hex_without_padding() -> None:
    assert encode_chunk(b"z" * 0xABC).startswith(b"abc\r\n")


def test_last_chunk() -> None:
    assert LAST_CHUNK == b"0\r\n\r\n"
