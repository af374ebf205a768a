"""Tests for aiosonic.headers: HttpHeaders construction and header validation."""

from __future__ import annotations

import multidict
import pytest

from aiosonic.exceptions import InvalidRequest
from aiosonic.headers import HttpHeaders, validate_header_field


def test_public_surface() -> None:
    import aiosonic.headers as module

    assert module.__all__ == ["HttpHeaders", "validate_header_field"]
    assert issubclass(HttpHeaders, multidict.CIMultiDict)


# --- construction -------------------------------------------------------------


def test_empty_and_none() -> None:
    assert len(HttpHeaders()) == 0
    assert len(HttpHeaders(None)) == 0


def test_from_dict() -> None:
    headers = HttpHeaders({"Content-Type": "text/plain", "X-A": "1"})
    assert list(headers.items()) == [("Content-Type", "text/plain"), ("X-A", "1")]


def test_from_list_of_tuples_keeps_repeats_in_order() -> None:
    headers = HttpHeaders([("Accept", "a"), ("X", "1"), ("accept", "b")])
    assert headers.getall("ACCEPT") == ["a", "b"]
    assert list(headers.items()) == [("Accept", "a"), ("X", "1"), ("accept", "b")]


def test_from_list_of_lists() -> None:
    headers = HttpHeaders([["A", "1"], ["B", "2"]])
    assert dict(headers) == {"A": "1", "B": "2"}


def test_from_tuple_of_pairs_and_generator() -> None:
    assert dict(HttpHeaders((("A", "1"),))) == {"A": "1"}
    assert dict(HttpHeaders((k, v) for k, v in [("A", "1")])) == {"A": "1"}


def test_from_httpheaders_copies_every_value() -> None:
    original = HttpHeaders([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    copy = HttpHeaders(original)
    assert copy.getall("set-cookie") == ["a=1", "b=2"]
    copy.add("Set-Cookie", "c=3")
    assert len(original) == 2


def test_from_multidict() -> None:
    source = multidict.MultiDict([("X", "1"), ("X", "2")])
    assert HttpHeaders(source).getall("x") == ["1", "2"]


def test_kwargs_are_added_after_data() -> None:
    headers = HttpHeaders({"A": "1"}, B="2", A="3")
    assert list(headers.items()) == [("A", "1"), ("B", "2"), ("A", "3")]
    assert dict(HttpHeaders(Host="example.com")) == {"Host": "example.com"}


def test_non_str_values_are_converted() -> None:
    headers = HttpHeaders({"Content-Length": 12, "X-Float": 1.5, "X-Bool": True}, N=3)
    assert headers["content-length"] == "12"
    assert headers["x-float"] == "1.5"
    assert headers["x-bool"] == "True"
    assert headers["n"] == "3"


def test_bytes_values_decode_latin1() -> None:
    headers = HttpHeaders([("X-B", b"caf\xe9"), ("X-BA", bytearray(b"ok"))])
    assert headers["x-b"] == "café"
    assert headers["x-ba"] == "ok"
    assert all(isinstance(v, str) for v in headers.values())


def test_copy_keeps_type() -> None:
    headers = HttpHeaders({"A": "1"})
    copy = headers.copy()
    assert type(copy) is HttpHeaders
    assert copy == headers


@pytest.mark.parametrize(
    "data",
    [
        {1: "x"},
        [(b"Name", "x")],
        [("A", "1", "extra")],
        [("A",)],
        ["AB"],
        [b"AB"],
        [42],
        "A: b",
        b"A: b",
    ],
)
def test_bad_input_raises_invalid_request(data: object) -> None:
    with pytest.raises(InvalidRequest):
        HttpHeaders(data)  # type: ignore[arg-type]


def test_bad_entry_error_says_which() -> None:
    with pytest.raises(InvalidRequest, match="#1"):
        HttpHeaders([("A", "1"), ("B",)])


# --- mapping behaviour --------------------------------------------------------


def test_case_insensitive_lookup_and_containment() -> None:
    headers = HttpHeaders({"Content-Type": "text/html"})
    assert headers["content-type"] == "text/html"
    assert headers["CONTENT-TYPE"] == "text/html"
    assert "cOnTeNt-TyPe" in headers
    assert headers.get("missing") is None


def test_setitem_replaces_all_case_variants() -> None:
    headers = HttpHeaders([("X", "1"), ("x", "2")])
    headers["X"] = "3"
    assert headers.getall("x") == ["3"]


def test_add_and_getall() -> None:
    headers = HttpHeaders()
    headers.add("Accept-Encoding", "gzip")
    headers.add("accept-encoding", "br")
    assert headers.getall("Accept-Encoding") == ["gzip", "br"]
    assert headers["accept-encoding"] == "gzip"


def test_delete_removes_every_value() -> None:
    headers = HttpHeaders([("X", "1"), ("x", "2"), ("Y", "3")])
    del headers["X"]
    assert list(headers.items()) == [("Y", "3")]


def test_equality_is_case_insensitive() -> None:
    assert HttpHeaders({"A": "1"}) == HttpHeaders({"a": "1"})
    assert HttpHeaders({"A": "1"}) != HttpHeaders({"a": "2"})


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Custom_Header.v2", ""),
        ("!#$%&'*+-.^_`|~09azAZ", "v"),
        ("X", "tab\tinside"),
        ("X", "obs-text \x80\xff café"),
        ("X", 'quotes " and (comments) , ; = / ?'),
    ],
)
def test_valid_fields_pass(name: str, value: str) -> None:
    validate_header_field(name, value)


@pytest.mark.parametrize(
    "name",
    ["", "Bad Name", "Bad:Name", "X\r\nEvil", "X\n", "X\x00", "Na(me)", "Ä", "X\t", "A/B"],
)
def test_invalid_names_raise(name: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid header name"):
        validate_header_field(name, "ok")


@pytest.mark.parametrize(
    "value",
    [
        "a\r\nInjected: yes",
        "a\rb",
        "a\nb",
        "a\x00b",
        "\x01",
        "a\x1fb",
        "a\x7fb",
        "a\x0bb",
        "a\x0cb",
    ],
)
def test_invalid_values_raise(value: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid value for header 'X-Test'"):
        validate_header_field("X-Test", value)


def test_value_error_quotes_and_locates_bad_char() -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_header_field("X-Test", "abc\r\ndef")
    message = str(info.value)
    assert "'\\r'" in message
    assert "index 3" in message
    assert "'abc\\r\\ndef'" in message


def test_long_value_is_cut_in_message() -> None:
    value = "v" * 500 + "\n"
    with pytest.raises(InvalidRequest) as info:
        validate_header_field("X", value)
    message = str(info.value)
    assert "..." in message
    assert len(message) < 200


def test_long_name_is_cut_in_message() -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_header_field("n" * 300 + " ", "v")
    assert len(str(info.value)) < 250


def test_invalid_request_is_value_error() -> None:
    with pytest.raises(ValueError):
        validate_header_field("X", "\n")
