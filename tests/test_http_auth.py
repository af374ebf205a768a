"""Sans-IO auth rules: WWW-Authenticate parsing, Basic values, Digest answers.

No sockets. The Digest answers are checked against the worked examples of
RFC 7616 §3.9.1 and RFC 2617 §3.5, which were computed independently of us.
"""

from __future__ import annotations

import hashlib

import pytest

from aiosonic.exceptions import AuthenticationError, InvalidRequest
from aiosonic.protocols.http_auth import (
    Challenge,
    DigestChallenge,
    basic_credentials,
    digest_credentials,
    parse_challenges,
    select_digest_challenge,
)
from aiosonic.request import Request
from aiosonic.urls import parse_url

# --- WWW-Authenticate grammar (RFC 9110 §11.6.1) ------------------------------


def _as_tuples(value: str) -> list[tuple[str, dict[str, str], str | None]]:
    return [(c.scheme, dict(c.params), c.token68) for c in parse_challenges(value)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('Basic realm="simple"', [("basic", {"realm": "simple"}, None)]),
        ("basic REALM=simple", [("basic", {"realm": "simple"}, None)]),
        # RFC 9110 §11.6.1's own example: two challenges in one field value.
        (
            'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
            [
                ("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
                ("basic", {"realm": "simple"}, None),
            ],
        ),
        ("Negotiate abc+/==", [("negotiate", {}, "abc+/==")]),
        ("Bearer tok=, Basic realm=a", [("bearer", {}, "tok="), ("basic", {"realm": "a"}, None)]),
        ("Negotiate", [("negotiate", {}, None)]),
        (
            ' , Basic ,  Digest realm = "r" ,nonce="n",, qop="auth,auth-int"',
            [
                ("basic", {}, None),
                ("digest", {"realm": "r", "nonce": "n", "qop": "auth,auth-int"}, None),
            ],
        ),
        # A parameter repeated in one challenge: the first one counts.
        ('Digest realm="a", realm="b"', [("digest", {"realm": "a"}, None)]),
        (
            'Digest realm="with, comma", nonce=x',
            [("digest", {"realm": "with, comma", "nonce": "x"}, None)],
        ),
        ("", []),
    ],
)
def test_parse_challenges(
    value: str, expected: list[tuple[str, dict[str, str], str | None]]
) -> None:
    assert _as_tuples(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('Digest realm="unterminated', "closing quote"),
        ('Digest realm="a" nonce="b"', "',' between parameters"),
        ("Digest realm=@x, nonce=x", "token or quoted-string"),
        ("Digest realm=, nonce=x", "auth scheme"),
        ('"quoted-scheme" realm=a', "auth scheme"),
    ],
)
def test_malformed_challenges_name_the_offset(value: str, expected: str) -> None:
    with pytest.raises(AuthenticationError, match=expected) as info:
        parse_challenges(value)
    assert "offset" in str(info.value)


# --- Basic (RFC 7617) ---------------------------------------------------------


def test_basic_credentials_rfc7617_examples() -> None:
    assert basic_credentials("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    # §2.1: with charset=UTF-8, "£" is two octets.
    assert basic_credentials("test", "123\u00a3") == "Basic dGVzdDoxMjPCow=="


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [("a:b", "pw", "must not contain ':'"), ("a\nb", "pw", "control"), ("a", "p\x00", "control")],
)
def test_basic_credentials_refuse_what_rfc7617_forbids(
    user: str, password: str, expected: str
) -> None:
    with pytest.raises(InvalidRequest, match=expected):
        basic_credentials(user, password)


# --- Digest (RFC 7616) --------------------------------------------------------

RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def _params(header: str) -> dict[str, str]:
    """Split an Authorization value with the parser (it reads any auth-param list)."""
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "digest"
    return dict(challenge.params)


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_digest_matches_rfc7616_example(algorithm: str, response: str) -> None:
    challenge = select_digest_challenge(parse_challenges(RFC7616_CHALLENGE.format(alg=algorithm)))
    assert challenge is not None
    header = digest_credentials(
        challenge, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1, RFC7616_CNONCE
    )
    params = _params(header)
    assert params == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "uri": "/dir/index.html",
        "algorithm": algorithm,
        "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "nc": "00000001",
        "cnonce": RFC7616_CNONCE,
        "qop": "auth",
        "response": response,
        "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    }


def test_digest_matches_rfc2617_example() -> None:
    challenge = DigestChallenge.from_challenge(
        parse_challenges(
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
            'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        )[0]
    )
    header = digest_credentials(
        challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b"
    )
    assert _params(header)["response"] == "6629fae49393a05397450978507c4ef1"


def _hex(data: str) -> str:
    return hashlib.md5(data.encode()).hexdigest()


def test_digest_sess_auth_int_and_rfc2069_forms() -> None:
    base = 'Digest realm="r", nonce="n", algorithm={alg}{qop}'
    sess = DigestChallenge.from_challenge(
        parse_challenges(base.format(alg="MD5-sess", qop=', qop="auth-int"'))[0]
    )
    params = _params(digest_credentials(sess, "u", "p", "POST", "/x", 2, "c", body=b"hello"))
    ha1 = _hex(f"{_hex('u:r:p')}:n:c")
    ha2 = _hex(f"POST:/x:{_hex('hello')}")
    assert params["qop"] == "auth-int"
    assert params["algorithm"] == "MD5-sess"
    assert params["nc"] == "00000002"
    assert params["response"] == _hex(f"{ha1}:n:00000002:c:auth-int:{ha2}")

    legacy = DigestChallenge.from_challenge(parse_challenges(base.format(alg="MD5", qop=""))[0])
    params = _params(digest_credentials(legacy, "u", "p", "GET", "/x", 1, "c"))
    assert "qop" not in params and "nc" not in params and "cnonce" not in params
    assert params["response"] == _hex(f"{_hex('u:r:p')}:n:{_hex('GET:/x')}")


def test_digest_userhash_and_non_ascii_user_name() -> None:
    hashed = DigestChallenge.from_challenge(
        parse_challenges('Digest realm="r", nonce="n", qop=auth, userhash=true')[0]
    )
    params = _params(digest_credentials(hashed, "J\u00e4s\u00f8n", "p", "GET", "/", 1, "c"))
    assert params["username"] == _hex("J\u00e4s\u00f8n:r")
    assert params["userhash"] == "true"

    plain = DigestChallenge.from_challenge(
        parse_challenges('Digest realm="r", nonce="n", qop=auth')[0]
    )
    header = digest_credentials(plain, "J\u00e4s\u00f8n Doe", "p", "GET", "/", 1, "c")
    # RFC 7616 §3.4.4: RFC 8187 encoding, as in the RFC's own example.
    assert "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe" in header
    assert 'username="' not in header


def test_digest_quotes_what_it_echoes() -> None:
    challenge = DigestChallenge.from_challenge(
        parse_challenges('Digest realm="a \\"b\\" \\\\c", nonce="n", qop=auth')[0]
    )
    header = digest_credentials(challenge, 'us"er', "p", "GET", "/", 1, "c")
    assert _params(header)["realm"] == 'a "b" \\c'
    assert _params(header)["username"] == 'us"er'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('Digest realm="r", nonce="n", algorithm=SHA-512-256', "unsupported Digest algorithm"),
        ('Digest realm="r", nonce="n", qop="auth-conf"', "unsupported Digest qop"),
        ('Digest nonce="n"', "lacks realm"),
        ('Digest realm="r"', "lacks nonce"),
    ],
)
def test_unanswerable_digest_challenges_say_why(value: str, expected: str) -> None:
    with pytest.raises(AuthenticationError, match=expected):
        select_digest_challenge(parse_challenges(value))


def test_first_supported_digest_challenge_wins() -> None:
    challenges = parse_challenges(
        'Basic realm="b", Digest realm="r", nonce="1", algorithm=SHA-512-256, '
        'Digest realm="r", nonce="2", algorithm=SHA-256, Digest realm="r", nonce="3"'
    )
    chosen = select_digest_challenge(challenges)
    assert chosen is not None
    assert (chosen.nonce, chosen.algorithm) == ("2", "SHA-256")
    assert select_digest_challenge([Challenge("basic", {"realm": "b"})]) is None


def test_auth_int_only_with_a_stream_is_a_clear_error() -> None:
    challenge = DigestChallenge.from_challenge(
        parse_challenges('Digest realm="r", nonce="n", qop="auth-int"')[0]
    )
    with pytest.raises(AuthenticationError, match=r"auth-int.*streamed body"):
        digest_credentials(challenge, "u", "p", "POST", "/", 1, "c", can_hash_body=False)


# --- Request.with_header ------------------------------------------------------


def test_with_header_copies_and_never_mutates() -> None:
    original = Request("GET", parse_url("http://h/"), [("Host", "h"), ("authorization", "x")])
    original.serialized = b"GET / HTTP/1.1\r\n..."
    changed = original.with_header("Authorization", "Basic y")
    assert changed.headers == [("Host", "h"), ("Authorization", "Basic y")]
    assert changed.serialized is None
    assert original.headers == [("Host", "h"), ("authorization", "x")]
    assert original.serialized is not None
