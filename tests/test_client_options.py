"""The published 1.3 ``HTTPClient`` keywords, against real local servers.

``max_redirects`` and ``follow`` as client defaults, ``http2_config``,
``max_decompressed_size``, ``auths`` per host (and per redirect hop),
``aiosonic.auth.Auth``/``BearerAuth``, and ``event_hooks``; also the
published positional order of the constructor and of ``request()``.
"""

from __future__ import annotations

import base64
import gzip
import warnings
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer

import aiosonic
from aiosonic.auth import Auth, BasicAuth, BearerAuth
from aiosonic.exceptions import DecompressionError, InvalidRequest, MaxRedirects
from aiosonic.headers import HttpHeaders
from aiosonic.http2 import Http2Config


async def start_app(server: HTTPServer, seen: list[web.Request]) -> HTTPServer:
    """``/chain/<n>`` redirects down to ``/chain/0``; ``/to?url=`` redirects there;
    ``/gzip/<n>`` sends n zero bytes gzipped; anything else echoes its Authorization."""

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        parts = request.path.split("/")
        if parts[1] == "chain" and parts[2] != "0":
            raise web.HTTPFound(f"/chain/{int(parts[2]) - 1}")
        if parts[1] == "to":
            raise web.HTTPFound(request.query["url"])
        if parts[1] == "gzip":
            body = gzip.compress(b"\0" * int(parts[2]))
            return web.Response(body=body, headers={"Content-Encoding": "gzip"})
        return web.Response(text=request.headers.get("Authorization", "-"))

    server.app.router.add_route("*", "/{tail:.*}", handle)
    return await server.start()


@pytest.fixture
async def app(http_server: HTTPServer) -> tuple[HTTPServer, list[web.Request]]:
    seen: list[web.Request] = []
    return await start_app(http_server, seen), seen


@pytest.fixture
async def other_app(
    other_server: HTTPServer,
) -> tuple[HTTPServer, list[web.Request]]:
    seen: list[web.Request] = []
    return await start_app(other_server, seen), seen


@pytest.fixture
async def other_server() -> Any:
    server = HTTPServer()
    yield server
    await server.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- the constructor's published shape ----------------------------------------


def test_constructor_takes_the_published_positional_order() -> None:
    hook = print
    client = aiosonic.HTTPClient(
        None, False, True, None, 3, False, None, 1000, {"h": ("u", "p")}, True, {"request": [hook]}
    )
    assert client.max_redirects == 3
    assert client.max_decompressed_size == 1000
    assert client.follow is True
    assert client.event_hooks == {"request": [hook], "response": []}
    assert isinstance(client.auths["h"], BasicAuth)


def test_constructor_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="max_redirects must be 0 or more"):
        aiosonic.HTTPClient(max_redirects=-1)
    with pytest.raises(ValueError, match="unknown event hooks \\['reqest'\\]"):
        aiosonic.HTTPClient(event_hooks={"reqest": []})
    with pytest.raises(ValueError, match="max_decompressed_size must be at least 1"):
        aiosonic.HTTPClient(max_decompressed_size=0)
    with pytest.raises(InvalidRequest, match="auth must be"):
        aiosonic.HTTPClient(auths={"h": "user:pw"})  # type: ignore[dict-item]


async def test_http2_config_goes_to_the_connector_the_client_makes() -> None:
    config = Http2Config(max_concurrent_streams=7)
    async with aiosonic.HTTPClient(http2=True, http2_config=config) as client:
        assert client.connector.http2_config is config
        assert client.connector.http2 is True


async def test_http2_config_with_a_connector_of_yours_warns_and_is_not_used() -> None:
    connector = aiosonic.TCPConnector()
    with pytest.warns(UserWarning, match="pass it as TCPConnector\\(http2_config=...\\)"):
        client = aiosonic.HTTPClient(connector, http2_config=Http2Config())
    assert client.connector is connector
    await client.close()
    await connector.cleanup()


# --- max_redirects and follow --------------------------------------------------


async def test_max_redirects_client_default_and_per_request(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, _ = app
    async with aiosonic.HTTPClient(max_redirects=2) as client:
        response = await client.get(server.url + "/chain/2", follow=True)
        assert response.status_code == 200 and len(response.history) == 2
        with pytest.raises(MaxRedirects, match="more than max_redirects=2 redirects"):
            await client.get(server.url + "/chain/3", follow=True)
        # The request's own limit wins over the client's.
        response = await client.request(server.url + "/chain/3", follow=True, max_redirects=3)
        assert len(response.history) == 3
        with pytest.raises(MaxRedirects, match="max_redirects=0"):
            await client.request(server.url + "/chain/1", follow=True, max_redirects=0)


async def test_default_max_redirects_is_five(app: tuple[HTTPServer, list[web.Request]]) -> None:
    server, _ = app
    async with aiosonic.HTTPClient() as client:
        assert client.max_redirects == 5
        assert len((await client.get(server.url + "/chain/5", follow=True)).history) == 5
        with pytest.raises(MaxRedirects):
            await client.get(server.url + "/chain/6", follow=True)


async def test_follow_as_a_client_default(app: tuple[HTTPServer, list[web.Request]]) -> None:
    server, _ = app
    async with aiosonic.HTTPClient(follow=True) as client:
        response = await client.get(server.url + "/chain/1")
        assert response.status_code == 200 and len(response.history) == 1
        # A request's follow=False wins over the client's default.
        response = await client.get(server.url + "/chain/1", follow=False)
        assert response.status_code == 302
    async with aiosonic.HTTPClient() as client:
        assert (await client.get(server.url + "/chain/1")).status_code == 302


# --- max_decompressed_size -----------------------------------------------------


async def test_max_decompressed_size_client_and_request(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, _ = app
    async with aiosonic.HTTPClient(max_decompressed_size=1000) as client:
        ok = await client.get(server.url + "/gzip/1000")
        assert await ok.content() == b"\0" * 1000
        with pytest.raises(DecompressionError):
            response = await client.get(server.url + "/gzip/1001")
            await response.content()
        # The request's own limit wins over the client's.
        big = await client.request(server.url + "/gzip/5000", max_decompressed_size=5000)
        assert len(await big.content()) == 5000
    async with aiosonic.HTTPClient() as client:  # the connector's 100 MiB
        assert len(await (await client.get(server.url + "/gzip/5000")).content()) == 5000


# --- auths, Auth, BearerAuth ---------------------------------------------------


async def test_auths_go_only_to_the_hosts_named(
    app: tuple[HTTPServer, list[web.Request]],
    other_app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, _ = app
    other, _ = other_app
    auths = {f"127.0.0.1:{server.port}": ("ann", "pw"), "LOCALHOST": BearerAuth("tok")}
    async with aiosonic.HTTPClient(auths=auths) as client:
        assert await (await client.get(server.url + "/")).text() == basic("ann", "pw")
        # Same host, another port: no entry for it (host:port named only the first).
        assert await (await client.get(other.url + "/")).text() == "-"
        # By host name, any port; keys are case-insensitive.
        url = f"http://localhost:{other.port}/"
        assert await (await client.get(url)).text() == "Bearer tok"
        # The request's own auth wins over the table.
        response = await client.get(server.url + "/", auth=("bob", "x"))
        assert await response.text() == basic("bob", "x")


async def test_auths_are_looked_up_per_redirect_hop(
    app: tuple[HTTPServer, list[web.Request]],
    other_app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, seen = app
    other, other_seen = other_app
    auths = {f"127.0.0.1:{server.port}": ("ann", "pw")}
    async with aiosonic.HTTPClient(auths=auths) as client:
        response = await client.get(server.url + f"/to?url={other.url}/", follow=True)
    assert await response.text() == "-"  # the other origin got no credentials
    assert seen[0].headers["Authorization"] == basic("ann", "pw")
    assert "Authorization" not in other_seen[0].headers
    # And the other way: a hop to a named host gets its own entry.
    seen.clear()
    auths = {f"127.0.0.1:{server.port}": BearerAuth("t2")}
    async with aiosonic.HTTPClient(auths=auths) as client:
        response = await client.get(other.url + f"/to?url={server.url}/", follow=True)
    assert await response.text() == "Bearer t2"


async def test_a_published_style_auth_subclass_sets_headers(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, seen = app

    class Signed(Auth):
        def apply(self, headers: Any, method: str, url: str) -> None:
            headers["Authorization"] = f"Sig {method} {url}"
            headers["X-Extra"] = "1"

    async with aiosonic.HTTPClient() as client:
        response = await client.get(server.url + "/x?q=1", auth=Signed())
    assert await response.text() == f"Sig GET {server.url}/x?q=1"
    assert seen[-1].headers["X-Extra"] == "1"
    assert isinstance(BasicAuth("a", "b"), Auth) and isinstance(BearerAuth("t"), Auth)


def test_auth_without_apply_names_itself() -> None:
    class Empty(Auth):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement apply"):
        Empty().apply(HttpHeaders(), "GET", "http://h/")


def test_bearer_token_with_crlf_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="control characters"):
        BearerAuth("tok\r\nX-Evil: 1")


# --- event_hooks ---------------------------------------------------------------


async def test_event_hooks_sync_and_async_on_every_hop(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, seen = app
    calls: list[tuple[str, ...]] = []

    def on_request(method: str, url: str, headers: HttpHeaders) -> None:
        calls.append(("request", method, url))
        headers["X-Trace"] = f"t{len(calls)}"

    async def on_response(response: aiosonic.HttpResponse) -> None:
        calls.append(("response", str(response.status_code), response.url))

    hooks = {"request": [on_request], "response": [on_response]}
    async with aiosonic.HTTPClient(event_hooks=hooks) as client:
        response = await client.get(server.url + "/chain/1", follow=True)
    assert response.status_code == 200
    assert calls == [
        ("request", "GET", server.url + "/chain/1"),
        ("response", "302", server.url + "/chain/1"),
        ("request", "GET", server.url + "/chain/0"),
        ("response", "200", server.url + "/chain/0"),
    ]
    # A header a request hook sets is sent, on each hop.
    assert [r.headers["X-Trace"] for r in seen] == ["t1", "t3"]


async def test_request_hook_sees_url_without_userinfo_and_cannot_smuggle(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, seen = app
    urls: list[str] = []

    def on_request(method: str, url: str, headers: HttpHeaders) -> None:
        urls.append(url)

    async with aiosonic.HTTPClient(event_hooks={"request": [on_request]}) as client:
        await client.get(f"http://ann:pw@127.0.0.1:{server.port}/")
    assert urls == [server.url + "/"]

    def evil(method: str, url: str, headers: HttpHeaders) -> None:
        headers["X-Evil"] = "a\r\nInjected: 1"

    async with aiosonic.HTTPClient(event_hooks={"request": [evil]}) as client:
        with pytest.raises(InvalidRequest):
            await client.get(server.url + "/")
        assert client.connector.is_all_free()
    assert all("Injected" not in r.headers for r in seen)


async def test_a_response_hook_that_raises_frees_the_connection(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, _ = app

    def refuse(response: aiosonic.HttpResponse) -> None:
        raise RuntimeError("no thanks")

    async with aiosonic.HTTPClient(event_hooks={"response": [refuse]}) as client:
        with pytest.raises(RuntimeError, match="no thanks"):
            await client.get(server.url + "/gzip/2000000", follow=False)
        assert client.connector.is_all_free()
        # Hooks are a list a caller may change later.
        client.event_hooks["response"].clear()
        assert (await client.get(server.url + "/")).status_code == 200


def test_hooks_never_warn_on_construction() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aiosonic.HTTPClient(event_hooks={"request": [], "response": []})


async def test_request_takes_the_published_positional_order(
    app: tuple[HTTPServer, list[web.Request]],
) -> None:
    server, _ = app
    url = server.url + "/chain/3"
    async with aiosonic.HTTPClient() as client:
        # url, method, headers, params, data, json, json_serializer, multipart,
        # verify, ssl, timeouts, follow, http2, max_redirects
        args = (url, "GET", None, None, None, None, None, False, True, None, None, True, False)
        with pytest.raises(MaxRedirects, match="max_redirects=2"):
            await client.request(*args, 2)
        assert len((await client.request(*args, 3)).history) == 3


async def test_default_options_follow_the_client_settings_they_are_made_of() -> None:
    # request() without options of its own reuses one SendOptions; it must be
    # what resolving the defaults afresh gives, also after a setting changed.
    from aiosonic.proxy import Proxy
    from aiosonic.timeout import Timeouts

    async with aiosonic.HTTPClient() as client:

        def fresh() -> object:
            return client._options(True, None, None, False, False, None, None, None)

        first = client._default_options()
        assert first == fresh() and client._default_options() is first
        changes = [
            ("verify_ssl", False),
            ("http2", True),
            ("proxy", Proxy("http://proxy.test:3128")),
            ("max_decompressed_size", 1234),
        ]
        for name, value in changes:
            setattr(client, name, value)
            assert client._default_options() == fresh()
        client.connector.timeouts = Timeouts(sock_read=1.5)
        assert client._default_options() == fresh()
        assert client._default_options().timeouts.sock_read == 1.5
