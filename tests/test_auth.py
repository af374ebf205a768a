"""``auth=``, URL userinfo and ``.netrc`` end to end, against real servers.

The servers check credentials themselves: Basic by decoding the header, Digest
with a server side of RFC 7616 written here from the RFC (hashes recomputed
with the password, nonce counts that must grow, stale nonces), and the custom
schemes by recomputing their token or signature. Headers are split with the
standard library, not with aiosonic's parser.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import parse_http_list, parse_keqv_list

import pytest
from aiohttp import web
from conftest import HTTPServer, RawServer, read_request

import aiosonic
from aiosonic.auth import (
    MAX_AUTH_ROUNDS,
    AuthBase,
    AuthFlow,
    BasicAuth,
    DigestAuth,
    NetrcAuth,
)
from aiosonic.exceptions import AuthenticationError, InvalidRequest
from aiosonic.request import Request

RawServerFactory = Callable[..., Awaitable[RawServer]]

USER = "alice"
PASSWORD = "wonder\u00e9land"  # non-ASCII: credentials are UTF-8 (RFC 7616 §4, RFC 7617)


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    authorization: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _basic_user(header: str | None) -> str | None:
    """Return the user a Basic header authenticates, or None."""
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    return user if password == PASSWORD else None


# --- a Digest server (RFC 7616), written from the RFC -------------------------

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestServer:
    """The server half of RFC 7616 for one user, recording why it rejects.

    Args:
        algorithm: Offered algorithm, ``-sess`` forms included.
        qop: Offered ``qop`` list.
        userhash: Ask for a hashed user name.
        chunked_401: Send 401 bodies of this many bytes with chunked coding.
    """

    def __init__(
        self,
        algorithm: str = "MD5",
        qop: str = "auth",
        userhash: bool = False,
        chunked_401: int = 0,
    ) -> None:
        self.realm = "tests@aiosonic"
        self.algorithm = algorithm
        self.qop = qop
        self.userhash = userhash
        self.chunked_401 = chunked_401
        self.opaque = secrets.token_hex(8)
        self.nonces: dict[str, int] = {}  # live nonce -> highest nc accepted
        self.expired: set[str] = set()
        self.seen: list[Seen] = []
        self.rejections: list[str] = []
        self.always_stale = False

    def _hash(self, data: str | bytes) -> str:
        raw = data.encode() if isinstance(data, str) else data
        return _HASHES[self.algorithm.upper().removesuffix("-SESS")](raw).hexdigest()

    def challenge(self, stale: bool) -> str:
        nonce = secrets.token_urlsafe(18)
        self.nonces[nonce] = 0
        parts = [
            f'realm="{self.realm}"',
            f'nonce="{nonce}"',
            f"algorithm={self.algorithm}",
            f'opaque="{self.opaque}"',
        ]
        if self.qop:
            parts.append(f'qop="{self.qop}"')
        if stale:
            parts.append("stale=true")
        if self.userhash:
            parts.append("userhash=true")
        return "Digest " + ", ".join(parts)

    def expire_nonces(self) -> None:
        """Make every issued nonce stale, as a server does after a while."""
        self.expired |= set(self.nonces)
        self.nonces.clear()

    def verify(self, seen: Seen) -> str:
        """Return ``"ok"``, ``"stale"`` or a rejection reason."""
        header = seen.authorization
        if not header or not header.startswith("Digest "):
            return "no digest credentials"
        p = parse_keqv_list(parse_http_list(header[len("Digest ") :]))
        user = self._hash(f"{USER}:{self.realm}") if self.userhash else USER
        checks = {
            "username": user,
            "realm": self.realm,
            "uri": seen.target,
            "opaque": self.opaque,
            "algorithm": self.algorithm,
        }
        for name, expected in checks.items():
            if p.get(name) != expected:
                return f"{name}: {p.get(name)!r} != {expected!r}"
        if self.userhash and p.get("userhash") != "true":
            return "userhash=true missing"
        qop = p.get("qop")
        if qop not in [q.strip() for q in self.qop.split(",")]:
            return f"qop {qop!r} was not offered"
        nonce = p["nonce"]
        if nonce in self.expired or self.always_stale:
            return "stale"
        if nonce not in self.nonces:
            return f"unknown nonce {nonce!r}"
        nc = int(p["nc"], 16)
        if nc <= self.nonces[nonce]:
            return f"nonce count {nc} did not increase past {self.nonces[nonce]}"
        cnonce = p["cnonce"]
        ha1 = self._hash(f"{USER}:{self.realm}:{PASSWORD}")
        if self.algorithm.upper().endswith("-SESS"):
            ha1 = self._hash(f"{ha1}:{nonce}:{cnonce}")
        a2 = f"{seen.method}:{seen.target}"
        if qop == "auth-int":
            a2 += ":" + self._hash(seen.body)
        expected = self._hash(f"{ha1}:{nonce}:{p['nc']}:{cnonce}:{qop}:{self._hash(a2)}")
        if not hmac.compare_digest(expected, p["response"]):
            return "wrong response hash"
        self.nonces[nonce] = nc
        return "ok"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.raw_path,
            request.headers.get("Authorization"),
            await request.read(),
            dict(request.headers),
        )
        self.seen.append(seen)
        verdict = self.verify(seen)
        if verdict == "ok":
            return web.Response(text=f"hello {USER}, {len(seen.body)} bytes")
        if verdict != "stale":
            self.rejections.append(verdict)
        headers = {"WWW-Authenticate": self.challenge(stale=verdict == "stale")}
        if not self.chunked_401:
            return web.Response(status=401, text="unauthorized", headers=headers)
        response = web.StreamResponse(status=401, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(self.chunked_401 // 1024):
            await response.write(b"x" * 1024)
        await response.write_eof()
        return response


async def start_digest(server: HTTPServer, **options: object) -> DigestServer:
    digest = DigestServer(**options)  # type: ignore[arg-type]
    server.app.router.add_route("*", "/{tail:.*}", digest.handle)
    await server.start()
    return digest


async def start_recorder(server: HTTPServer, redirect_to: str | None = None) -> list[Seen]:
    """Record every request; ``/go`` redirects to ``redirect_to``; Basic guards ``/basic``."""
    seen: list[Seen] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(
            Seen(
                request.method,
                request.raw_path,
                request.headers.get("Authorization"),
                await request.read(),
                dict(request.headers),
            )
        )
        if request.path == "/go" and redirect_to is not None:
            raise web.HTTPFound(redirect_to)
        if request.path == "/basic" and _basic_user(request.headers.get("Authorization")) is None:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="r"'})
        return web.Response(text="ok")

    server.app.router.add_route("*", "/{tail:.*}", handle)
    await server.start()
    return seen


@pytest.fixture
async def second_server() -> AsyncIterator[HTTPServer]:
    """Another origin: same host, another port."""
    server = HTTPServer()
    yield server
    await server.close()


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """trust_env=True also reads proxy variables: keep the tests off any proxy."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NETRC"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# --- Basic --------------------------------------------------------------------


async def test_basic_auth_per_request_client_and_tuple(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    url = http_server.url + "/basic"
    async with aiosonic.HTTPClient() as client:
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, auth=BasicAuth(USER, PASSWORD))).status_code == 200
        assert (await client.post(url, data=b"x", auth=(USER, PASSWORD))).status_code == 200
        assert (await client.get(url, auth=BasicAuth(USER, "wrong"))).status_code == 401
    async with aiosonic.HTTPClient(auth=BasicAuth(USER, PASSWORD)) as client:
        assert (await client.get(url)).status_code == 200
        # A request's own auth= wins over the client's.
        assert (await client.get(url, auth=(USER, "nope"))).status_code == 401
    assert [_basic_user(s.authorization) for s in seen] == [None, USER, USER, None, USER, None]


async def test_cached_simple_request_is_not_changed_by_auth(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(http_server.url + "/basic", auth=(USER, PASSWORD))
        # The same GET without auth= must not inherit the header.
        assert (await client.get(http_server.url + "/basic")).status_code == 401
    assert [s.authorization is not None for s in seen] == [True, False]


def test_auth_argument_is_type_checked() -> None:
    with pytest.raises(InvalidRequest, match="auth must be"):
        aiosonic.HTTPClient(auth="user:password")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="must not contain ':'"):
        BasicAuth("a:b", "c")


# --- URL userinfo ---------------------------------------------------------------


async def test_url_userinfo_becomes_basic_and_stays_off_the_wire(
    raw_server: RawServerFactory,
) -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    server = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(f"http://{USER}:s3cr%40t@127.0.0.1:{server.port}/p?q=1")
    assert response.status_code == 200
    assert "s3cr" not in response.url and USER not in response.url
    lines = heads[0].split(b"\r\n")
    assert lines[0] == b"GET /p?q=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    token = base64.b64encode(f"{USER}:s3cr@t".encode()).decode()
    assert f"Authorization: Basic {token}".encode() in lines
    # The credentials appear nowhere else, not even percent-encoded.
    assert heads[0].count(USER.encode()) == 0
    assert b"s3cr" not in heads[0]


async def test_explicit_auth_wins_over_userinfo(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    url = f"http://mallory:x@127.0.0.1:{http_server.port}/basic"
    async with aiosonic.HTTPClient() as client:
        assert (await client.get(url, auth=(USER, PASSWORD))).status_code == 200
        assert (await client.get(url)).status_code == 401
    assert _basic_user(seen[0].authorization) == USER


# --- Authorization header wins ------------------------------------------------


async def test_authorization_header_wins_and_runs_no_flow(http_server: HTTPServer) -> None:
    digest = await start_digest(http_server)
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        response = await client.get(
            http_server.url + "/x", headers={"Authorization": "Bearer mine"}
        )
    # The 401 came back as is: no challenge was answered.
    assert response.status_code == 401
    assert [s.authorization for s in digest.seen] == ["Bearer mine"]


# --- Digest -------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
async def test_digest_answers_and_reuses_the_nonce(http_server: HTTPServer, algorithm: str) -> None:
    digest = await start_digest(http_server, algorithm=algorithm, qop="auth, auth-int")
    auth = DigestAuth(USER, PASSWORD)
    async with aiosonic.HTTPClient() as client:
        first = await client.get(http_server.url + "/a?x=1", auth=auth)
        assert first.status_code == 200, digest.rejections
        assert await first.text() == f"hello {USER}, 0 bytes"
        for path in ("/b", "/c/d"):
            response = await client.get(http_server.url + path, auth=auth)
            assert response.status_code == 200, digest.rejections
    # Challenge, answer; then the remembered nonce with nc 2, then 3.
    assert [s.authorization is not None for s in digest.seen] == [False, True, True, True]
    params = [parse_keqv_list(parse_http_list(s.authorization[7:])) for s in digest.seen[1:]]  # type: ignore[index]
    assert [p["nc"] for p in params] == ["00000001", "00000002", "00000003"]
    assert len({p["nonce"] for p in params}) == 1
    assert len({p["cnonce"] for p in params}) == 3
    assert all(p["qop"] == "auth" for p in params)
    assert digest.rejections == ["no digest credentials"]
    # The 401's body was read, so everything ran on one connection.
    assert http_server.connections == 1


async def test_digest_wrong_password_returns_the_401(http_server: HTTPServer) -> None:
    digest = await start_digest(http_server)
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, "wrong")) as client:
        response = await client.get(http_server.url + "/x")
    assert response.status_code == 401
    assert await response.text() == "unauthorized"
    assert len(digest.seen) == 2
    assert digest.rejections == ["no digest credentials", "wrong response hash"]


async def test_digest_stale_nonce_is_retried_once_with_the_new_one(
    http_server: HTTPServer,
) -> None:
    digest = await start_digest(http_server, algorithm="SHA-256")
    auth = DigestAuth(USER, PASSWORD)
    async with aiosonic.HTTPClient(auth=auth) as client:
        assert (await client.get(http_server.url + "/x")).status_code == 200
        digest.expire_nonces()
        # The remembered nonce is now stale: one 401 stale=true, then success.
        assert (await client.get(http_server.url + "/y")).status_code == 200
        assert len(digest.seen) == 4
        old, new = (parse_keqv_list(parse_http_list(s.authorization[7:])) for s in digest.seen[2:])  # type: ignore[index]
        assert old["nonce"] != new["nonce"]
        assert new["nc"] == "00000001"
        # A server that calls every nonce stale gets one retry per challenge, not a loop.
        digest.always_stale = True
        response = await client.get(http_server.url + "/z")
        assert response.status_code == 401
        assert len(digest.seen) == 4 + 3
    assert digest.rejections == ["no digest credentials"]


async def test_digest_userhash(http_server: HTTPServer) -> None:
    digest = await start_digest(http_server, algorithm="SHA-256", userhash=True)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(http_server.url + "/x", auth=DigestAuth(USER, PASSWORD))
    assert response.status_code == 200, digest.rejections
    assert USER not in (digest.seen[1].authorization or "")


async def test_digest_replays_a_bytes_body_in_full(http_server: HTTPServer) -> None:
    digest = await start_digest(http_server, qop="auth-int")
    payload = secrets.token_bytes(200_000)
    async with aiosonic.HTTPClient() as client:
        response = await client.put(
            http_server.url + "/upload", data=payload, auth=DigestAuth(USER, PASSWORD)
        )
    assert response.status_code == 200, digest.rejections
    assert await response.text() == f"hello {USER}, {len(payload)} bytes"
    assert [s.body == payload for s in digest.seen] == [True, True]
    # qop=auth-int: the server checked the hash of exactly this body.
    assert "qop=auth-int" in (digest.seen[1].authorization or "")


async def _stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_digest_with_a_streamed_body_is_a_clear_error(http_server: HTTPServer) -> None:
    digest = await start_digest(http_server)
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        with pytest.raises(InvalidRequest, match="streamed body was already consumed"):
            await client.post(http_server.url + "/upload", data=_stream(b"ab", b"cd"))
        assert client.connector.is_all_free()
    # Only the first attempt went out, with the whole stream; no empty replay.
    assert [s.body for s in digest.seen] == [b"abcd"]


async def test_digest_streams_a_body_once_the_nonce_is_known(http_server: HTTPServer) -> None:
    digest = await start_digest(http_server)
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        assert (await client.get(http_server.url + "/warm-up")).status_code == 200
        response = await client.post(http_server.url + "/upload", data=_stream(b"ab", b"cd"))
    assert response.status_code == 200, digest.rejections
    assert digest.seen[-1].body == b"abcd"
    assert len(digest.seen) == 3


async def test_auth_int_only_with_a_stream_says_it_is_unsupported(
    http_server: HTTPServer,
) -> None:
    await start_digest(http_server, qop="auth-int")
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        with pytest.raises(AuthenticationError, match=r"auth-int.*unsupported for a streamed"):
            await client.post(http_server.url + "/upload", data=_stream(b"x"))
        assert client.connector.is_all_free()


async def test_unsupported_digest_algorithm_is_a_clear_error(http_server: HTTPServer) -> None:
    await start_digest(http_server, algorithm="SHA-512-256")
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        with pytest.raises(AuthenticationError, match="unsupported Digest algorithm 'SHA-512-256'"):
            await client.get(http_server.url + "/x")
        assert client.connector.is_all_free()


@pytest.mark.parametrize(("body_size", "connections"), [(20_000, 1), (200_000, 2)])
async def test_chunked_401_body_is_drained_up_to_a_bound(
    http_server: HTTPServer, body_size: int, connections: int
) -> None:
    digest = await start_digest(http_server, chunked_401=body_size)
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        assert (await client.get(http_server.url + "/x")).status_code == 200
    assert len(digest.seen) == 2
    # A small challenge body is read so its connection carries the answer; a
    # big one is dropped with its connection.
    assert http_server.connections == connections


async def test_cookie_set_with_the_challenge_goes_with_the_answer(
    http_server: HTTPServer,
) -> None:
    digest = DigestServer()

    async def handle(request: web.Request) -> web.StreamResponse:
        response = await digest.handle(request)
        if response.status == 401:
            response.set_cookie("session", "s1")
        return response

    http_server.app.router.add_route("*", "/{tail:.*}", handle)
    await http_server.start()
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        response = await client.get(http_server.url + "/x", auth=DigestAuth(USER, PASSWORD))
    assert response.status_code == 200
    assert digest.seen[1].headers.get("Cookie") == "session=s1"


# --- custom schemes -------------------------------------------------------------


class BearerAuth(AuthBase):
    """A bearer token that is swapped for the next one when the server rejects it."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)

    async def auth_flow(self, request: Request) -> AuthFlow:
        response = yield request.with_header("Authorization", f"Bearer {self.tokens[0]}")
        if response.status_code == 401 and len(self.tokens) > 1:
            await asyncio.sleep(0)  # e.g. an async call to a token endpoint
            self.tokens.pop(0)
            yield request.with_header("Authorization", f"Bearer {self.tokens[0]}")


SIGNING_KEY = b"k3y"


class HmacSigner(AuthBase):
    """Sign method, target and body hash into X-Signature."""

    async def auth_flow(self, request: Request) -> AuthFlow:
        body = request.body if isinstance(request.body, bytes) else b""
        message = f"{request.method}\n{request.url.target}\n{hashlib.sha256(body).hexdigest()}"
        signature = hmac.new(SIGNING_KEY, message.encode(), hashlib.sha256).hexdigest()
        yield request.with_header("X-Signature", signature)


async def test_bearer_token_class_with_refresh(http_server: HTTPServer) -> None:
    seen: list[str | None] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer fresh":
            raise web.HTTPUnauthorized(text="expired token")
        return web.Response(text="in")

    http_server.app.router.add_get("/api", handle)
    await http_server.start()
    auth = BearerAuth("expired", "fresh")
    async with aiosonic.HTTPClient(auth=auth) as client:
        assert (await client.get(http_server.url + "/api")).status_code == 200
        assert (await client.get(http_server.url + "/api")).status_code == 200
    assert seen == ["Bearer expired", "Bearer fresh", "Bearer fresh"]
    assert http_server.connections == 1


async def test_request_signing_class(http_server: HTTPServer) -> None:
    verdicts: list[bool] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        message = f"{request.method}\n{request.raw_path}\n{hashlib.sha256(body).hexdigest()}"
        expected = hmac.new(SIGNING_KEY, message.encode(), hashlib.sha256).hexdigest()
        verdicts.append(hmac.compare_digest(expected, request.headers.get("X-Signature", "")))
        return web.Response(status=200 if verdicts[-1] else 403)

    http_server.app.router.add_route("*", "/{tail:.*}", handle)
    await http_server.start()
    async with aiosonic.HTTPClient(auth=HmacSigner()) as client:
        assert (await client.post(http_server.url + "/orders?id=7", data=b"{}")).ok
        assert (await client.get(http_server.url + "/orders", params={"q": "a b"})).ok
    assert verdicts == [True, True]


class SilentAuth(AuthBase):
    async def auth_flow(self, request: Request) -> AuthFlow:
        return
        yield request  # pragma: no cover - makes this an async generator


class EndlessAuth(AuthBase):
    async def auth_flow(self, request: Request) -> AuthFlow:
        while True:
            yield request


async def test_misbehaving_flows_fail_clearly(http_server: HTTPServer) -> None:
    seen = await start_recorder(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(AuthenticationError, match=r"SilentAuth\.auth_flow yielded no request"):
            await client.get(http_server.url + "/x", auth=SilentAuth())
        with pytest.raises(AuthenticationError, match=f"EndlessAuth sent {MAX_AUTH_ROUNDS}"):
            await client.get(http_server.url + "/x", auth=EndlessAuth())
        assert client.connector.is_all_free()
    assert len(seen) == MAX_AUTH_ROUNDS


# --- redirects --------------------------------------------------------------------


async def test_auth_dropped_on_cross_origin_redirect(
    http_server: HTTPServer, second_server: HTTPServer
) -> None:
    other = await start_recorder(second_server)
    seen = await start_recorder(http_server, redirect_to=second_server.url + "/landing")
    async with aiosonic.HTTPClient() as client:
        response = await client.get(
            http_server.url + "/go", auth=BasicAuth(USER, PASSWORD), follow=True
        )
        assert response.status_code == 200
        response = await client.get(
            http_server.url + "/go",
            headers={"Authorization": "Bearer mine"},
            auth=BasicAuth(USER, PASSWORD),
            follow=True,
        )
    assert [_basic_user(s.authorization) for s in seen] == [USER, None]
    assert seen[1].authorization == "Bearer mine"
    assert [s.authorization for s in other] == [None, None]


async def test_digest_is_not_answered_for_another_origin(
    http_server: HTTPServer, second_server: HTTPServer
) -> None:
    digest = await start_digest(second_server)
    await start_recorder(http_server, redirect_to=second_server.url + "/landing")
    async with aiosonic.HTTPClient(auth=DigestAuth(USER, PASSWORD)) as client:
        response = await client.get(http_server.url + "/go", follow=True)
    # The other origin's challenge reaches the caller unanswered.
    assert response.status_code == 401
    assert [s.authorization for s in digest.seen] == [None]


async def test_auth_kept_on_same_origin_redirect(http_server: HTTPServer) -> None:
    digest = DigestServer()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/go":
            raise web.HTTPFound("/landing")
        return await digest.handle(request)

    http_server.app.router.add_route("*", "/{tail:.*}", handle)
    await http_server.start()
    auth = DigestAuth(USER, PASSWORD)
    async with aiosonic.HTTPClient() as client:
        assert (await client.get(http_server.url + "/warm-up", auth=auth)).status_code == 200
        response = await client.get(http_server.url + "/go", auth=auth, follow=True)
    assert response.status_code == 200, digest.rejections
    assert [h.status_code for h in response.history] == [302]
    # The landing hop carried its own Digest answer, for its own uri.
    assert 'uri="/landing"' in (digest.seen[-1].authorization or "")


# --- .netrc ---------------------------------------------------------------------


@pytest.fixture
def netrc_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "netrc"
    path.write_text(f"machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    return path


async def test_netrc_used_only_with_trust_env(http_server: HTTPServer, netrc_file: Path) -> None:
    seen = await start_recorder(http_server)
    url = http_server.url + "/basic"
    async with aiosonic.HTTPClient() as client:
        assert (await client.get(url)).status_code == 401
    async with aiosonic.HTTPClient(trust_env=True) as client:
        assert (await client.get(url)).status_code == 200
        # auth= and an Authorization header both win over netrc.
        assert (await client.get(url, auth=(USER, "other"))).status_code == 401
        assert (await client.get(url, headers={"Authorization": "Bearer t"})).status_code == 401
    assert [s.authorization is not None for s in seen] == [False, True, True, True]
    assert _basic_user(seen[1].authorization) == USER
    assert seen[3].authorization == "Bearer t"


async def test_netrc_host_and_file_lookup(
    http_server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = await start_recorder(http_server)
    other_host = tmp_path / "other"
    other_host.write_text("machine example.com login bob password pw\n")
    monkeypatch.setenv("NETRC", str(other_host))
    async with aiosonic.HTTPClient(trust_env=True) as client:
        assert (await client.get(http_server.url + "/basic")).status_code == 401
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    async with aiosonic.HTTPClient(trust_env=True) as client:
        assert (await client.get(http_server.url + "/basic")).status_code == 401
    assert [s.authorization for s in seen] == [None, None]
    # The default entry answers for any host.
    default = tmp_path / "default"
    default.write_text(f"default login {USER} password {PASSWORD}\n")
    assert NetrcAuth(str(default)).credentials("anything.example") == (USER, PASSWORD)


def test_malformed_netrc_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("machine h login a password b frob x\n")
    assert NetrcAuth(str(broken)).credentials("h") is None
    assert "ignoring netrc file" in caplog.text
