"""Tests for aiosonic.cookies: the RFC 6265 client cookie jar."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.cookies import Morsel

import pytest

import aiosonic.cookies as cookies_module
from aiosonic.cookies import CookieJar

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def http_date(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jar(clock: FakeClock) -> CookieJar:
    return CookieJar(clock=clock)


def store(
    jar: CookieJar, *values: str, host: str = "example.com", path: str = "/", scheme: str = "https"
) -> None:
    jar.update_from_response(scheme, host, path, list(values))


def only_morsel(jar: CookieJar) -> Morsel[str]:
    morsels = list(jar)
    assert len(morsels) == 1
    return morsels[0]


def test_public_surface() -> None:
    assert cookies_module.__all__ == ["CookieJar"]


def test_empty_jar(jar: CookieJar) -> None:
    assert len(jar) == 0
    assert list(jar) == []
    assert jar.header_for("https", "example.com", "/") is None
    assert repr(jar) == "<CookieJar [0 cookies]>"


def test_basic_round_trip(jar: CookieJar) -> None:
    store(jar, "sid=abc123", "theme=dark")
    assert jar.header_for("https", "example.com", "/") == "sid=abc123; theme=dark"
    assert len(jar) == 2
    assert repr(jar) == "<CookieJar [2 cookies]>"
    assert all(isinstance(m, Morsel) for m in jar)


def test_clear(jar: CookieJar) -> None:
    store(jar, "a=1", "b=2; Domain=example.com")
    jar.clear()
    assert len(jar) == 0
    assert jar.header_for("https", "example.com", "/") is None


def test_default_clock_is_wall_time() -> None:
    jar = CookieJar()
    jar.update_from_response("http", "example.com", "/", ["a=1; Max-Age=60", "b=2; Max-Age=0"])
    assert jar.header_for("http", "example.com", "/") == "a=1"


# --- domain -------------------------------------------------------------------------


def test_host_only_cookie_not_sent_to_subdomains_or_parents(jar: CookieJar) -> None:
    store(jar, "a=1", host="www.example.com")
    assert jar.header_for("https", "www.example.com", "/") == "a=1"
    assert jar.header_for("https", "sub.www.example.com", "/") is None
    assert jar.header_for("https", "example.com", "/") is None
    assert jar.header_for("https", "other.com", "/") is None
    assert only_morsel(jar)["domain"] == "www.example.com"


@pytest.mark.parametrize(
    "attribute", ["example.com", ".example.com", "EXAMPLE.com", ".Example.Com"]
)
def test_domain_cookie_sent_to_domain_and_subdomains(jar: CookieJar, attribute: str) -> None:
    store(jar, f"a=1; Domain={attribute}", host="www.example.com")
    for host in ("example.com", "www.example.com", "a.b.example.com", "WWW.EXAMPLE.COM"):
        assert jar.header_for("https", host, "/") == "a=1", host
    for host in ("notexample.com", "example.com.evil.org", "other.com", "com"):
        assert jar.header_for("https", host, "/") is None, host
    assert only_morsel(jar)["domain"] == "example.com"


def test_domain_equal_to_host_is_not_host_only(jar: CookieJar) -> None:
    store(jar, "a=1; Domain=example.com", host="example.com")
    assert jar.header_for("https", "sub.example.com", "/") == "a=1"


def test_empty_domain_attribute_means_host_only(jar: CookieJar) -> None:
    store(jar, "a=1; Domain=", host="example.com")
    assert jar.header_for("https", "example.com", "/") == "a=1"
    assert jar.header_for("https", "sub.example.com", "/") is None


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("example.com", "other.com"),
        ("example.com", "www.example.com"),  # a subdomain of the host
        ("example.com", "ample.com"),  # suffix, but not on a label boundary
        ("www.example.com", "..example.com"),  # only one leading dot is dropped
        ("www.example.com", "com"),  # dotless: stands in for a public suffix
        ("www.example.com", ".com"),
        ("127.0.0.1", "0.0.1"),  # IP hosts match only exactly
        ("10.0.0.1", "0.1"),
    ],
)
def test_domain_that_does_not_match_host_is_rejected(
    jar: CookieJar, host: str, domain: str
) -> None:
    store(jar, f"a=1; Domain={domain}", host=host)
    assert len(jar) == 0


def test_rejected_domain_cookie_does_not_delete_stored_one(jar: CookieJar) -> None:
    store(jar, "a=1")
    store(jar, "a=2; Domain=other.com")
    assert jar.header_for("https", "example.com", "/") == "a=1"


def test_dotless_host_may_name_itself(jar: CookieJar) -> None:
    store(jar, "a=1; Domain=localhost", host="localhost")
    assert jar.header_for("http", "localhost", "/") == "a=1"
    assert jar.header_for("http", "sub.localhost", "/") is None


def test_host_is_case_insensitive(jar: CookieJar) -> None:
    store(jar, "a=1", host="WWW.Example.COM")
    assert jar.header_for("https", "www.example.com", "/") == "a=1"
    assert jar.header_for("https", "WWW.EXAMPLE.COM", "/") == "a=1"


def test_ipv4_host_exact_match_only(jar: CookieJar) -> None:
    store(jar, "a=1", host="127.0.0.1")
    store(jar, "b=2; Domain=127.0.0.1", host="127.0.0.1")
    assert jar.header_for("http", "127.0.0.1", "/") == "a=1; b=2"
    assert jar.header_for("http", "0.0.1", "/") is None
    assert jar.header_for("http", "1.127.0.0.1", "/") is None


def test_ipv6_host_with_or_without_brackets(jar: CookieJar) -> None:
    store(jar, "a=1", host="[::1]")
    assert jar.header_for("http", "::1", "/") == "a=1"
    assert jar.header_for("http", "[::1]", "/") == "a=1"


def test_domain_cookies_of_parents_are_collected(jar: CookieJar) -> None:
    store(jar, "top=1; Domain=example.com", host="example.com")
    store(jar, "mid=2; Domain=b.example.com", host="b.example.com")
    store(jar, "leaf=3", host="a.b.example.com")
    assert jar.header_for("https", "a.b.example.com", "/") == "top=1; mid=2; leaf=3"
    assert jar.header_for("https", "c.example.com", "/") == "top=1"


# --- path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_path", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("/x", "/"),
        ("/a/b/c", "/a/b"),
        ("/a/b/", "/a/b"),
        ("/a/b?q=/x/y", "/a"),
        ("no-slash", "/"),
        ("*", "/"),
    ],
)
def test_default_path(jar: CookieJar, request_path: str, expected: str) -> None:
    store(jar, "a=1", path=request_path)
    assert only_morsel(jar)["path"] == expected


@pytest.mark.parametrize("attribute", ["Path=docs", "Path=", "Path"])
def test_path_attribute_without_slash_uses_default(jar: CookieJar, attribute: str) -> None:
    store(jar, f"a=1; {attribute}", path="/x/y")
    assert only_morsel(jar)["path"] == "/x"


@pytest.mark.parametrize(
    ("request_path", "sent"),
    [
        ("/docs", True),
        ("/docs/", True),
        ("/docs/web/page", True),
        ("/docs?x=1", True),
        ("/docsx", False),
        ("/doc", False),
        ("/", False),
        ("/Docs", False),
        ("", False),
    ],
)
def test_path_match(jar: CookieJar, request_path: str, sent: bool) -> None:
    store(jar, "a=1; Path=/docs")
    assert (jar.header_for("https", "example.com", request_path) == "a=1") is sent


def test_path_with_trailing_slash(jar: CookieJar) -> None:
    store(jar, "a=1; Path=/docs/")
    assert jar.header_for("https", "example.com", "/docs/x") == "a=1"
    assert jar.header_for("https", "example.com", "/docs") is None


def test_last_path_attribute_wins(jar: CookieJar) -> None:
    store(jar, "a=1; Path=/one; Path=/two")
    assert only_morsel(jar)["path"] == "/two"


# --- secure ------------------------------------------------------------------------------


def test_secure_cookie_only_over_secure_schemes(jar: CookieJar) -> None:
    store(jar, "s=1; Secure", "p=2")
    assert jar.header_for("https", "example.com", "/") == "s=1; p=2"
    assert jar.header_for("HTTPS", "example.com", "/") == "s=1; p=2"
    assert jar.header_for("wss", "example.com", "/") == "s=1; p=2"
    assert jar.header_for("http", "example.com", "/") == "p=2"
    assert jar.header_for("ws", "example.com", "/") == "p=2"


def test_secure_flag_is_case_insensitive_and_recorded(jar: CookieJar) -> None:
    store(jar, "s=1; secure")
    assert only_morsel(jar)["secure"] is True
    assert jar.header_for("http", "example.com", "/") is None


def test_secure_cookie_set_over_http_is_kept(jar: CookieJar) -> None:
    # RFC 6265 lets any scheme set it; it is still sent only over https.
    store(jar, "s=1; Secure", scheme="http")
    assert jar.header_for("https", "example.com", "/") == "s=1"
    assert jar.header_for("http", "example.com", "/") is None


# --- expiry --------------------------------------------------------------------------------


def test_max_age_expires(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, "a=1; Max-Age=60")
    clock.now = NOW + 59
    assert jar.header_for("https", "example.com", "/") == "a=1"
    clock.now = NOW + 60
    assert jar.header_for("https", "example.com", "/") is None
    assert len(jar) == 0


def test_expires_in_future_then_passes(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, f"a=1; Expires={http_date(NOW + 3600)}")
    assert jar.header_for("https", "example.com", "/") == "a=1"
    clock.now = NOW + 3600
    assert jar.header_for("https", "example.com", "/") is None
    assert list(jar) == []


@pytest.mark.parametrize(
    "date",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
        "Sun, 06 Nov 1994 08:49:37 -0000",
    ],
)
def test_expires_in_past_formats_delete(jar: CookieJar, date: str) -> None:
    store(jar, "a=1")
    store(jar, f"a=gone; Expires={date}")
    assert len(jar) == 0


@pytest.mark.parametrize(
    "date",
    ["Sun, 06 Nov 2044 08:49:37 GMT", "Sunday, 06-Nov-44 08:49:37 GMT", "Sun Nov  6 08:49:37 2044"],
)
def test_expires_in_future_formats_store(jar: CookieJar, clock: FakeClock, date: str) -> None:
    store(jar, f"a=1; Expires={date}")
    assert jar.header_for("https", "example.com", "/") == "a=1"
    clock.now = datetime(2044, 11, 6, 8, 49, 37, tzinfo=UTC).timestamp()
    assert jar.header_for("https", "example.com", "/") is None


@pytest.fixture
def far_timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with local time 14 hours off UTC, so a date read as local time shows."""
    monkeypatch.setenv("TZ", "Etc/GMT-14")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_timezone")
@pytest.mark.parametrize("date", ["Sun Nov  6 08:49:37 2044", "Sun, 06 Nov 2044 08:49:37 -0000"])
def test_expires_without_zone_is_utc(jar: CookieJar, clock: FakeClock, date: str) -> None:
    store(jar, f"a=1; Expires={date}")
    expiry = datetime(2044, 11, 6, 8, 49, 37, tzinfo=UTC).timestamp()
    clock.now = expiry - 1
    assert jar.header_for("https", "example.com", "/") == "a=1"
    clock.now = expiry
    assert jar.header_for("https", "example.com", "/") is None


@pytest.mark.parametrize("date", ["garbage", "", "Sun, 32 Nov 1994 08:49:37 GMT", "99999999999"])
def test_bad_expires_is_ignored(jar: CookieJar, clock: FakeClock, date: str) -> None:
    store(jar, f"a=1; Expires={date}")
    clock.now = NOW + 10**9
    assert jar.header_for("https", "example.com", "/") == "a=1"  # a session cookie


def test_max_age_wins_over_expires(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, f"a=1; Expires={http_date(NOW - 100)}; Max-Age=100")
    assert jar.header_for("https", "example.com", "/") == "a=1"
    store(jar, f"b=2; Max-Age=0; Expires={http_date(NOW + 100)}")
    assert jar.header_for("https", "example.com", "/") == "a=1"
    clock.now = NOW + 100
    assert jar.header_for("https", "example.com", "/") is None


@pytest.mark.parametrize("value", ["abc", "1a", "+5", "", "1.5", " ", "٣"])
def test_bad_max_age_is_ignored(jar: CookieJar, clock: FakeClock, value: str) -> None:
    store(jar, f"a=1; Max-Age={value}")
    clock.now = NOW + 10**9
    assert jar.header_for("https", "example.com", "/") == "a=1"


def test_bad_max_age_falls_back_to_expires(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, f"a=1; Max-Age=soon; Expires={http_date(NOW + 10)}")
    clock.now = NOW + 10
    assert jar.header_for("https", "example.com", "/") is None


@pytest.mark.parametrize("value", ["0", "-1", "-0", "000", "-99999999999999999999999"])
def test_non_positive_max_age_deletes(jar: CookieJar, value: str) -> None:
    store(jar, "a=1")
    store(jar, f"a=; Max-Age={value}")
    assert len(jar) == 0


def test_huge_max_age_is_clamped_not_crashing(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, "a=1; Max-Age=" + "9" * 400)
    clock.now = NOW + 10**12
    assert jar.header_for("https", "example.com", "/") == "a=1"


def test_deletion_only_hits_same_domain_path_and_name(jar: CookieJar) -> None:
    www = "www.example.com"
    store(jar, "a=1; Path=/x", "a=2; Path=/", "b=3; Path=/x", host=www)
    store(jar, "a=4; Domain=example.com; Path=/x", host=www)
    assert len(jar) == 4
    store(jar, "a=; Path=/x; Max-Age=0", host=www)  # host-only www.example.com, /x, a
    assert sorted(f"{m.key}={m.value}@{m['domain']}{m['path']}" for m in jar) == [
        "a=2@www.example.com/",
        "a=4@example.com/x",
        "b=3@www.example.com/x",
    ]


def test_host_only_and_domain_cookie_share_a_key(jar: CookieJar) -> None:
    # RFC 6265 §5.3 step 11: the key is (name, domain, path), host-only or not.
    store(jar, "a=1")
    store(jar, "a=2; Domain=example.com")
    assert len(jar) == 1
    assert jar.header_for("https", "sub.example.com", "/") == "a=2"


def test_delete_of_unknown_cookie_is_harmless(jar: CookieJar) -> None:
    store(jar, "ghost=; Max-Age=0")
    assert len(jar) == 0


def test_expired_cookies_leave_len_and_iter(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, "short=1; Max-Age=1", "long=2; Max-Age=100", "session=3")
    clock.now = NOW + 50
    assert len(jar) == 2
    assert sorted(m.key for m in jar) == ["long", "session"]


# --- replacement and ordering -----------------------------------------------------------


def test_replacement_keeps_one_cookie_with_new_value(jar: CookieJar) -> None:
    store(jar, "a=1")
    store(jar, "a=2")
    assert len(jar) == 1
    assert jar.header_for("https", "example.com", "/") == "a=2"


def test_replacement_keeps_creation_order(jar: CookieJar) -> None:
    store(jar, "a=1", "b=2")
    store(jar, "a=3")
    assert jar.header_for("https", "example.com", "/") == "a=3; b=2"


def test_longest_path_first_then_oldest(jar: CookieJar) -> None:
    store(jar, "root=1; Path=/", "deep=2; Path=/a/b", "mid=3; Path=/a", "deep2=4; Path=/a/c")
    store(jar, "mid2=5; Path=/a")
    assert jar.header_for("https", "example.com", "/a/b/c") == "deep=2; mid=3; mid2=5; root=1"
    assert jar.header_for("https", "example.com", "/a/c") == "deep2=4; mid=3; mid2=5; root=1"


def test_ordering_across_domains_follows_path_then_creation(jar: CookieJar) -> None:
    store(jar, "host=1; Path=/", host="www.example.com")
    store(jar, "dom=2; Domain=example.com; Path=/", host="example.com")
    store(jar, "long=3; Domain=example.com; Path=/long", host="example.com")
    assert jar.header_for("https", "www.example.com", "/long") == "long=3; host=1; dom=2"


# --- parsing ---------------------------------------------------------------------------------


def test_quoted_value_is_sent_as_received(jar: CookieJar) -> None:
    store(jar, 'a="hello world"')
    assert jar.header_for("https", "example.com", "/") == 'a="hello world"'
    assert only_morsel(jar).value == "hello world"


def test_value_with_equals_and_empty_value(jar: CookieJar) -> None:
    store(jar, "token=abc==", "empty=")
    assert jar.header_for("https", "example.com", "/") == "token=abc==; empty="


def test_unknown_attributes_are_ignored(jar: CookieJar) -> None:
    store(jar, "a=1; Partitioned; SameSite=Lax; Priority=High; HttpOnly; Path=/p; b=2")
    morsel = only_morsel(jar)
    assert (morsel.key, morsel.value, morsel["path"], morsel["httponly"]) == ("a", "1", "/p", True)


def test_attribute_names_are_case_insensitive(jar: CookieJar, clock: FakeClock) -> None:
    store(jar, "a=1; PATH=/p; DOMAIN=example.com; MAX-AGE=5; SECURE", host="www.example.com")
    morsel = only_morsel(jar)
    assert (morsel["path"], morsel["domain"], morsel["secure"]) == ("/p", "example.com", True)
    clock.now = NOW + 5
    assert len(jar) == 0


def test_whitespace_around_pair_and_attributes(jar: CookieJar) -> None:
    store(jar, "  a=1  ;   Path = /p  ;Secure")
    morsel = only_morsel(jar)
    assert (morsel.key, morsel["path"], morsel["secure"]) == ("a", "/p", True)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "novalue",
        "=x",
        "a b=c",
        "path=1",
        "expires=1",
        "a<b=1",  # SimpleCookie raises CookieError for this key
        "a,b=1",
        "k\u00e9=1",
        'a="unterminated',
        "; Path=/",
    ],
)
def test_bad_set_cookie_is_ignored(
    jar: CookieJar, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiosonic.cookies"):
        store(jar, value, "good=1")
    assert jar.header_for("https", "example.com", "/") == "good=1"
    assert any("ignoring" in record.getMessage() for record in caplog.records)


def test_bad_cookie_is_logged_at_debug_only(
    jar: CookieJar, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiosonic.cookies"):
        store(jar, "a<b=1")
    assert caplog.records
    assert all(record.levelno == logging.DEBUG for record in caplog.records)


# --- limits -----------------------------------------------------------------------------------


def test_oversized_set_cookie_is_ignored(jar: CookieJar) -> None:
    limit = cookies_module.MAX_SET_COOKIE_LENGTH
    store(jar, "big=" + "x" * (limit - 4))
    assert len(jar) == 1
    store(jar, "huge=" + "x" * limit)
    assert len(jar) == 1


def test_per_domain_limit_evicts_oldest(jar: CookieJar) -> None:
    limit = cookies_module.MAX_COOKIES_PER_DOMAIN
    store(jar, *(f"c{i}=v" for i in range(limit + 2)))
    names = {m.key for m in jar}
    assert len(names) == limit
    assert "c0" not in names and "c1" not in names
    assert f"c{limit + 1}" in names


def test_per_domain_limit_drops_expired_before_live(jar: CookieJar, clock: FakeClock) -> None:
    limit = cookies_module.MAX_COOKIES_PER_DOMAIN
    store(jar, "old=1")
    store(jar, *(f"c{i}=v; Max-Age=1" for i in range(limit - 1)))
    clock.now = NOW + 2
    store(jar, "new=1")
    assert sorted(m.key for m in jar) == ["new", "old"]


def test_total_limit_evicts_oldest(jar: CookieJar, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cookies_module, "MAX_COOKIES", 3)
    for host in ("a.com", "b.com", "c.com", "d.com"):
        store(jar, f"{host[0]}=1", host=host)
    assert len(jar) == 3
    assert jar.header_for("https", "a.com", "/") is None
    assert jar.header_for("https", "d.com", "/") == "d=1"


def test_store_many_domains_and_lookup(jar: CookieJar) -> None:
    for i in range(500):
        store(jar, f"c{i}=v{i}", host=f"h{i}.example.com")
    assert len(jar) == 500
    assert jar.header_for("https", "h250.example.com", "/x") == "c250=v250"
