"""Tests for URL parsing and validation (aiosonic.urls)."""

from __future__ import annotations

from typing import Any

import pytest

from aiosonic.exceptions import HttpParsingError, InvalidRequest, InvalidURL
from aiosonic.protocols.h11_request import build_request_head
from aiosonic.urls import Origin, ParsedURL, encode_params, parse_url

# --- ports and Host ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "port", "host_header"),
    [
        ("http://example.com/", 80, "example.com"),
        ("https://example.com/", 443, "example.com"),
        ("ws://example.com/", 80, "example.com"),
        ("wss://example.com/", 443, "example.com"),
        ("http://example.com:80/", 80, "example.com"),
        ("https://example.com:443/", 443, "example.com"),
        ("http://example.com:8080/", 8080, "example.com:8080"),
        ("https://example.com:80/", 80, "example.com:80"),
        ("http://example.com:443/", 443, "example.com:443"),
    ],
)
def test_default_ports_and_host_header(url: str, port: int, host_header: str) -> None:
    parsed = parse_url(url)
    assert parsed.port == port
    assert parsed.host == "example.com"
    assert parsed.host_header == host_header


def test_scheme_and_host_are_lower_cased() -> None:
    parsed = parse_url("HTTPS://Example.COM:8443/Path")
    assert (parsed.scheme, parsed.host, parsed.port) == ("https", "example.com", 8443)
    assert parsed.target == "/Path"
    assert parsed.url == "https://example.com:8443/Path"
    assert parsed.is_secure
    assert parsed.origin == Origin("https", "example.com", 8443)


def test_plain_schemes_are_not_secure() -> None:
    assert not parse_url("http://h/").is_secure
    assert not parse_url("ws://h/").is_secure
    assert parse_url("wss://h/").is_secure


@pytest.mark.parametrize(
    ("url", "port", "host_header", "clean"),
    [
        ("http://[::1]/", 80, "[::1]", "http://[::1]/"),
        ("http://[::1]:8080/x", 8080, "[::1]:8080", "http://[::1]:8080/x"),
        ("https://[2001:DB8::1]:443/", 443, "[2001:db8::1]", "https://[2001:db8::1]:443/"),
    ],
)
def test_ipv6_hosts(url: str, port: int, host_header: str, clean: str) -> None:
    parsed = parse_url(url)
    assert ":" in parsed.host and "[" not in parsed.host
    assert parsed.port == port
    assert parsed.host_header == host_header
    assert parsed.url == clean


def test_ipv4_host() -> None:
    parsed = parse_url("http://127.0.0.1:8000/a")
    assert (parsed.host, parsed.port, parsed.host_header) == ("127.0.0.1", 8000, "127.0.0.1:8000")


# --- IDNA ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://bücher.example/", "http://BÜCHER.example/", "http://bücher.EXAMPLE"]
)
def test_idna_host(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.host == "xn--bcher-kva.example"
    assert parsed.host_header == "xn--bcher-kva.example"
    assert parsed.url == "http://xn--bcher-kva.example/"
    assert parsed.split.netloc == "xn--bcher-kva.example"


def test_idna_host_with_port_is_ascii_in_the_request_head() -> None:
    parsed = parse_url("http://bücher.example:8080/ü")
    head = build_request_head("GET", parsed.target, [("Host", parsed.host_header)])
    assert head == b"GET /%C3%BC HTTP/1.1\r\nHost: xn--bcher-kva.example:8080\r\n\r\n"


def test_host_that_cannot_be_idna_encoded() -> None:
    with pytest.raises(InvalidRequest, match="IDNA"):
        parse_url("http://bü..example/")


# --- target: path, query, params ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://h", "/"),
        ("http://h?x=1", "/?x=1"),
        ("http://h/", "/"),
        ("http://h/a/b/", "/a/b/"),
        ("http://h/a b", "/a%20b"),
        ("http://h/a?q=a b", "/a?q=a%20b"),
        ("http://h/ü?q=ü", "/%C3%BC?q=%C3%BC"),
        ("http://h/a%20b?x=%2F", "/a%20b?x=%2F"),
        ("http://h/p;x=1/@:!$&'()*+,=~._-", "/p;x=1/@:!$&'()*+,=~._-"),
        ("http://h/p?a=1&b=2?c", "/p?a=1&b=2?c"),
        ("http://h/p#fragment", "/p"),
        ("http://h/p?q=1#frag", "/p?q=1"),
        ('http://h/a"b<c>', "/a%22b%3Cc%3E"),
    ],
)
def test_targets_are_percent_encoded(url: str, target: str) -> None:
    parsed = parse_url(url)
    assert parsed.target == target
    assert parsed.url == "http://h" + target
    # Whatever the input, the target can go on the wire as it is.
    build_request_head("GET", parsed.target, [])


@pytest.mark.parametrize(
    ("url", "params", "target"),
    [
        ("http://h/p", {"a": "1", "b": "x y"}, "/p?a=1&b=x+y"),
        ("http://h/p?z=0", {"a": "1"}, "/p?z=0&a=1"),
        ("http://h/p?z=0", [("a", "1"), ("a", "2")], "/p?z=0&a=1&a=2"),
        ("http://h/p", [["k", 3]], "/p?k=3"),
        ("http://h/p?z=0", {}, "/p?z=0"),
        ("http://h/p?z=0", None, "/p?z=0"),
        ("http://h/p", {"q": "ü&=?"}, "/p?q=%C3%BC%26%3D%3F"),
        ("http://h/p#f", {"a": "1"}, "/p?a=1"),
    ],
)
def test_params_are_merged_with_the_query(url: str, params: Any, target: str) -> None:
    assert parse_url(url, params).target == target


def test_encode_params() -> None:
    assert encode_params(None) == ""
    assert encode_params({"a": 1, "b": "c d"}) == "a=1&b=c+d"
    assert encode_params([("a", 1), ("a", 2)]) == "a=1&a=2"


@pytest.mark.parametrize(
    ("params", "query"),
    [
        # A list or tuple value is one pair per item, in order.
        ({"tag": ["a", "b"]}, "tag=a&tag=b"),
        ({"tag": ("a", "b"), "x": "1"}, "tag=a&tag=b&x=1"),
        ({"tag": []}, ""),
        ([("tag", ["a", "b"]), ("tag", "c")], "tag=a&tag=b&tag=c"),
        # Booleans are JSON-style words, as httpx sends them.
        ({"on": True, "off": False}, "on=true&off=false"),
        ({"flags": [True, False]}, "flags=true&flags=false"),
        # None is an empty value: the key stays (as httpx does).
        ({"none": None, "x": "1"}, "none=&x=1"),
        ([("none", None)], "none="),
        ({"l": [None, 1]}, "l=&l=1"),
        # Numbers are str(); text as is; bytes are percent-encoded as they are.
        ({"i": 3, "f": 1.5, "neg": -2}, "i=3&f=1.5&neg=-2"),
        ({"b": b"\xff a", "ba": bytearray(b"x")}, "b=%FF+a&ba=x"),
        ({b"raw": "1", 7: "seven"}, "raw=1&7=seven"),
        ((("k", 1),), "k=1"),
    ],
)
def test_param_values_are_never_sent_as_python_reprs(params: Any, query: str) -> None:
    assert encode_params(params) == query


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": _Opaque()}, "query parameter 'k': cannot send a value of type _Opaque"),
        ({"k": {"nested": 1}}, "query parameter 'k': cannot send a value of type dict"),
        ({"k": [["nested"]]}, "query parameter 'k': cannot send a value of type list"),
        ({"k": {1, 2}}, "query parameter 'k': cannot send a value of type set"),
        ([("k", object())], "query parameter 'k': cannot send a value of type object"),
        ({None: "v"}, "query parameter name must be str, bytes or a number, got NoneType"),
        ({True: "v"}, "query parameter name must be str, bytes or a number, got bool"),
    ],
)
def test_param_values_of_other_types_are_refused(params: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_url("http://h/", params)
    assert str(info.value) == message


@pytest.mark.parametrize("params", [[("a",)], [("a", "b", "c")], ["abc"]])
def test_params_that_are_not_pairs(params: Any) -> None:
    with pytest.raises(InvalidRequest, match="not a \\(name, value\\) pair"):
        parse_url("http://h/", params)


# --- userinfo --------------------------------------------------------------------


def test_userinfo_is_exposed_but_never_sent() -> None:
    parsed = parse_url("https://al%40ice:s%3Ae%20cret@example.com:8443/p?q=1")
    assert (parsed.username, parsed.password) == ("al@ice", "s:e cret")
    assert parsed.host_header == "example.com:8443"
    assert parsed.target == "/p?q=1"
    assert parsed.url == "https://example.com:8443/p?q=1"
    assert parsed.split.netloc == "example.com:8443"
    for text in (parsed.host_header, parsed.target, parsed.url, parsed.split.geturl()):
        assert "ice" not in text and "cret" not in text and "@" not in text


def test_user_without_password() -> None:
    parsed = parse_url("http://bob@h/")
    assert (parsed.username, parsed.password) == ("bob", None)
    assert parsed.host_header == "h"


def test_no_userinfo() -> None:
    parsed = parse_url("http://h/")
    assert (parsed.username, parsed.password) == (None, None)


def test_parsed_url_is_frozen() -> None:
    parsed = parse_url("http://h/")
    assert isinstance(parsed, ParsedURL)
    with pytest.raises(AttributeError):
        parsed.host = "other"  # type: ignore[misc]


# --- rejected URLs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://h/\r\nX-Injected: 1",
        "http://h/a\nb",
        "http://h/a\rb",
        "http://h/a\x00b",
        "http://h\r\n/",
        "http://h/?q=\n",
        "http://h/\x7f",
        "http://h/\x1b",
    ],
)
def test_control_characters_are_rejected(url: str) -> None:
    with pytest.raises(InvalidRequest, match="control character"):
        parse_url(url)


def test_control_characters_in_params_are_percent_encoded() -> None:
    parsed = parse_url("http://h/", {"a": "1\r\nX: 2"})
    assert parsed.target == "/?a=1%0D%0AX%3A+2"


@pytest.mark.parametrize("url", ["http://:8080/", "http:///path", "http://", "https://:443"])
def test_url_without_host(url: str) -> None:
    # A caller's bad URL is an InvalidRequest (HttpParsingError is for responses);
    # InvalidURL also derives from HttpParsingError, which the published package
    # raised here, so code written against it keeps catching it.
    with pytest.raises(InvalidRequest, match="no host") as info:
        parse_url(url)
    assert isinstance(info.value, InvalidURL)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, HttpParsingError)
    assert str(info.value) == f"URL has no host: {url!r}"


@pytest.mark.parametrize(
    "url",
    ["http://h:99999/", "ftp://h/", "http://h/\r\n", "http://\udcff/", "http:///path"],
)
def test_every_bad_caller_url_is_an_invalid_url(url: str) -> None:
    with pytest.raises(InvalidURL):
        parse_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://h/", "file:///etc/passwd", "h/p", "//h/p", "mailto:a@b", "gopher://h/"]
)
def test_unsupported_scheme(url: str) -> None:
    with pytest.raises(InvalidRequest, match="unsupported URL scheme"):
        parse_url(url)


@pytest.mark.parametrize(
    "url", ["http://h:99999/", "http://h:abc/", "http://[::1/", "http://h:-1/"]
)
def test_invalid_port_or_brackets(url: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid URL"):
        parse_url(url)


def test_url_must_be_a_string() -> None:
    with pytest.raises(InvalidRequest, match="must be a str, got bytes"):
        parse_url(b"http://h/")  # type: ignore[arg-type]
