"""``follow=True`` and ``handle_cookies=True`` end to end, against real servers.

Every hop is recorded server-side, so the tests assert on the method, body
and headers each server actually received, not on client internals.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from aiohttp import web
from conftest import HTTPServer, RawServer, read_request
from multidict import CIMultiDictProxy

import aiosonic
from aiosonic.exceptions import InvalidRequest, MaxRedirects
from aiosonic.redirects import MAX_REDIRECTS

RawServerFactory = Callable[..., Awaitable[RawServer]]

CREDENTIALS = {
    "Authorization": "Bearer secret",
    "Cookie": "session=abc",
    "Proxy-Authorization": "Basic cHJveHk=",
}


@dataclass
class Hop:
    """One request as a server received it."""

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    body: bytes


async def start_redirector(server: HTTPServer) -> list[Hop]:
    """Serve a redirect playground and record every request.

    * ``.../r/<status>?to=<location>&set=<cookie>``: answer ``status`` with
      that Location (if any) and each ``set`` value as a Set-Cookie header;
    * ``/chain/<n>``: redirect to ``/chain/<n-1>`` until ``/chain/0``;
    * ``/loop``: redirect to itself;
    * anything else: 200 ``final``.
    """
    hops: list[Hop] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        hops.append(Hop(request.method, request.path_qs, request.headers, await request.read()))
        parts = request.path.split("/")
        if len(parts) >= 3 and parts[-2] == "r" and parts[-1].isdigit():
            location = request.query.get("to")
            headers = {"Location": location} if location is not None else {}
            response = web.Response(status=int(parts[-1]), text="moved", headers=headers)
            for value in request.query.getall("set", []):
                response.headers.add("Set-Cookie", value)
            return response
        if parts[1] == "chain" and parts[2] != "0":
            raise web.HTTPFound(f"/chain/{int(parts[2]) - 1}")
        if parts[1] == "loop":
            raise web.HTTPFound("/loop")
        return web.Response(text="final")

    server.app.router.add_route("*", "/{tail:.*}", handle)
    await server.start()
    return hops


@pytest.fixture
async def other_server() -> AsyncIterator[HTTPServer]:
    """A second aiohttp server: another origin (same host, another port)."""
    server = HTTPServer()
    yield server
    await server.close()


# --- method and body rewriting ----------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_post_becomes_get_without_body(http_server: HTTPServer, status: int) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.post(
            http_server.url + f"/r/{status}",
            params={"to": "/landing"},
            data="the body",
            headers={"X-Kept": "yes"},
            follow=True,
        )
        assert await response.text() == "final"
    assert [(h.method, h.path_qs) for h in hops] == [
        ("POST", f"/r/{status}?to=%2Flanding"),
        ("GET", "/landing"),
    ]
    assert hops[0].body == b"the body"
    landing = hops[1]
    assert landing.body == b""
    for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
        assert name not in landing.headers
    assert landing.headers["X-Kept"] == "yes"
    assert landing.headers["Host"] == f"127.0.0.1:{http_server.port}"
    assert response.status_code == 200
    assert response.url == http_server.url + "/landing"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_head_stays_head(http_server: HTTPServer, status: int) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.head(
            http_server.url + f"/r/{status}", params={"to": "/landing"}, follow=True
        )
    assert [h.method for h in hops] == ["HEAD", "HEAD"]
    assert response.status_code == 200
    assert await response.content() == b""


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("verb", ["post", "put", "patch"])
async def test_307_308_keep_method_and_body(
    http_server: HTTPServer, status: int, verb: str
) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await getattr(client, verb)(
            http_server.url + f"/r/{status}",
            params={"to": "/landing"},
            json={"k": "v"},
            follow=True,
        )
    assert response.status_code == 200
    assert [h.method for h in hops] == [verb.upper(), verb.upper()]
    assert hops[1].body == hops[0].body == b'{"k": "v"}'
    assert hops[1].headers["Content-Type"] == "application/json"
    assert hops[1].headers["Content-Length"] == str(len(b'{"k": "v"}'))


async def test_307_with_a_streamed_body_cannot_be_followed(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)

    async def stream() -> AsyncIterator[bytes]:
        yield b"once"

    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest, match="cannot be re-sent"):
            await client.post(
                http_server.url + "/r/307", params={"to": "/landing"}, data=stream(), follow=True
            )
        assert client.connector.is_all_free()
    assert [h.method for h in hops] == ["POST"]


@pytest.mark.parametrize(
    ("location", "landing"),
    [
        ("target", "/dir/sub/r/target"),
        ("../other?x=1", "/dir/sub/other?x=1"),
        ("../../../../up", "/up"),
        ("/abs/path", "/abs/path"),
        ("  /padded  ", "/padded"),
        ("{origin}/full", "/full"),
        ("//127.0.0.1:{port}/scheme-relative", "/scheme-relative"),
    ],
)
async def test_relative_and_absolute_locations(
    http_server: HTTPServer, location: str, landing: str
) -> None:
    hops = await start_redirector(http_server)
    location = location.format(origin=http_server.url, port=http_server.port)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(
            http_server.url + "/dir/sub/r/302", params={"to": location}, follow=True
        )
    assert hops[-1].path_qs == landing
    assert response.url == http_server.url + landing


async def test_raw_utf8_location_is_percent_encoded_once(raw_server: RawServerFactory) -> None:
    request_lines: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # the redirect and the request that follows it
            request_lines.append((await read_request(reader)).split(b"\r\n")[0])
            if len(request_lines) == 1:
                # Many servers send the UTF-8 bytes of a path unescaped.
                writer.write(
                    b"HTTP/1.1 302 Found\r\n"
                    b"Location: /caf\xc3\xa9 menu?q=\xc3\xa9\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(srv.url + "/", follow=True)
    assert request_lines[1] == b"GET /caf%C3%A9%20menu?q=%C3%A9 HTTP/1.1"
    assert response.url == srv.url + "/caf%C3%A9%20menu?q=%C3%A9"


async def test_without_follow_the_redirect_is_returned(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(http_server.url + "/r/302", params={"to": "/landing"})
    assert len(hops) == 1
    assert response.status_code == 302
    assert response.headers["Location"] == "/landing"
    assert await response.text() == "moved"


async def test_redirect_status_without_location_is_returned(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(http_server.url + "/r/302", follow=True)
    assert len(hops) == 1
    assert response.status_code == 302
    assert response.history == []


# --- hop limit and history ----------------------------------------------------


async def test_max_redirects_hops_are_followed(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(http_server.url + f"/chain/{MAX_REDIRECTS}", follow=True)
    assert MAX_REDIRECTS == 5  # the published 1.x default
    assert response.status_code == 200
    assert len(response.history) == MAX_REDIRECTS
    assert len(hops) == MAX_REDIRECTS + 1
    # Redirect bodies were drained, so one connection carried every hop.
    assert http_server.connections == 1


async def test_more_than_max_redirects_raises(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        limit = f"more than max_redirects={MAX_REDIRECTS} redirects"
        with pytest.raises(MaxRedirects, match=limit):
            await client.get(http_server.url + f"/chain/{MAX_REDIRECTS + 1}", follow=True)
        assert client.connector.is_all_free()
    # The last redirect was received but not followed.
    assert len(hops) == MAX_REDIRECTS + 1
    assert hops[-1].path_qs == "/chain/1"


async def test_redirect_loop_raises(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(MaxRedirects):
            await client.get(http_server.url + "/loop", follow=True)
    assert len(hops) == MAX_REDIRECTS + 1


async def test_history_lists_each_redirect_in_order(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    base = http_server.url
    third = "/r/307?" + urlencode({"to": "/landing"})
    second = "/r/302?" + urlencode({"to": third})
    async with aiosonic.HTTPClient() as client:
        response = await client.get(base + "/r/301", params={"to": second}, follow=True)
    assert [h.path_qs.split("?")[0] for h in hops] == ["/r/301", "/r/302", "/r/307", "/landing"]
    assert [r.status_code for r in response.history] == [301, 302, 307]
    assert [r.url.split("?")[0] for r in response.history] == [
        base + "/r/301",
        base + "/r/302",
        base + "/r/307",
    ]
    assert response.url == base + "/landing"
    # The redirect responses were read, so their bodies stay available.
    assert [await r.text() for r in response.history] == ["moved"] * 3
    assert all(r.history == [] for r in response.history)


# --- credentials across origins ---------------------------------------------


async def test_credentials_dropped_when_origin_changes(
    http_server: HTTPServer, other_server: HTTPServer
) -> None:
    hops = await start_redirector(http_server)
    other_hops = await start_redirector(other_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(
            http_server.url + "/r/302",
            params={"to": other_server.url + "/landing"},
            headers={**CREDENTIALS, "X-Other": "kept"},
            follow=True,
        )
    assert response.url == other_server.url + "/landing"
    for name, value in CREDENTIALS.items():
        assert hops[0].headers[name] == value
        assert name not in other_hops[0].headers
    assert other_hops[0].headers["X-Other"] == "kept"
    assert other_hops[0].headers["Host"] == f"127.0.0.1:{other_server.port}"


async def test_credentials_kept_on_same_origin(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.get(
            http_server.url + "/r/302", params={"to": "/landing"}, headers=CREDENTIALS, follow=True
        )
    for name, value in CREDENTIALS.items():
        assert hops[1].headers.getall(name) == [value]


async def test_caller_cookie_kept_on_same_origin_with_cookie_jar(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await client.get(
            http_server.url + "/r/302",
            params={"to": "/landing"},
            headers={"Cookie": "mine=1"},
            follow=True,
        )
    assert hops[0].headers.getall("Cookie") == ["mine=1"]
    assert hops[1].headers.getall("Cookie") == ["mine=1"]


async def test_caller_cookie_dropped_across_origins_but_jar_applies(
    http_server: HTTPServer, other_server: HTTPServer
) -> None:
    await start_redirector(http_server)
    other_hops = await start_redirector(other_server)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await _set(client, http_server.url, "jar=1; Path=/")
        await client.get(
            http_server.url + "/r/302",
            params={"to": other_server.url + "/landing"},
            headers={"Cookie": "mine=1"},
            follow=True,
        )
    # Cookies ignore the port (RFC 6265 §8.5), so the jar's cookie applies to
    # the other server; the caller's header was for the first origin only.
    assert other_hops[0].headers.getall("Cookie") == ["jar=1"]


async def test_credentials_dropped_from_https_to_http(
    raw_server: RawServerFactory,
    http_server: HTTPServer,
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
) -> None:
    hops = await start_redirector(http_server)
    tls_heads: list[bytes] = []

    async def redirect_to_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls_heads.append(await read_request(reader))
        location = f"{http_server.url}/landing".encode()
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()

    secure = await raw_server(redirect_to_http, tls_server_context)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(
            secure.url + "/", headers=CREDENTIALS, ssl=tls_client_context, follow=True
        )
    assert response.url == http_server.url + "/landing"
    assert b"\r\nAuthorization: Bearer secret\r\n" in tls_heads[0]
    for name in CREDENTIALS:
        assert name not in hops[0].headers
    assert [r.status_code for r in response.history] == [302]


@pytest.mark.parametrize(
    "location",
    [
        "ftp://127.0.0.1/file.txt",
        "file:///etc/passwd",
        "data:text/plain,hello",
        "javascript:alert(1)",
    ],
)
async def test_redirect_to_a_non_http_scheme_is_refused(
    http_server: HTTPServer, location: str
) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest, match="only http and https are followed"):
            await client.get(http_server.url + "/r/302", params={"to": location}, follow=True)
        assert client.connector.is_all_free()
    assert len(hops) == 1


# --- cookies ----------------------------------------------------------------


async def _set(client: aiosonic.HTTPClient, url: str, *cookies: str) -> None:
    """Have the server at ``url`` send ``cookies`` as Set-Cookie headers."""
    response = await client.get(url + "/r/200", params=[("set", c) for c in cookies])
    assert response.status_code == 200


async def test_cookies_sent_back_by_path(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    url = http_server.url
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await _set(client, url, "a=1; Path=/", "sub=2; Path=/sub", "q=3")
        for path in ("/other", "/sub/page", "/subway", "/r/x"):
            await client.get(url + path)
    cookies = {h.path_qs: h.headers.get("Cookie") for h in hops[1:]}
    assert cookies == {
        "/other": "a=1",
        # RFC 6265 §5.4: longer paths first.
        "/sub/page": "sub=2; a=1",
        # "/sub" does not path-match "/subway".
        "/subway": "a=1",
        # Without Path, the default path is the directory of the setting URL: "/r".
        "/r/x": "q=3; a=1",
    }


async def test_cookies_are_host_only(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await _set(client, http_server.url, "a=1; Path=/")
        # Same server, reached under another host name.
        await client.get(f"http://localhost:{http_server.port}/page")
        await client.get(http_server.url + "/page")
    assert "Cookie" not in hops[1].headers
    assert hops[1].headers["Host"] == f"localhost:{http_server.port}"
    assert hops[2].headers["Cookie"] == "a=1"


async def test_expired_cookies_are_not_sent(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    url = http_server.url
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await _set(
            client,
            url,
            "live=1; Path=/",
            "zero=1; Path=/; Max-Age=0",
            "past=1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "doomed=1; Path=/",
        )
        await client.get(url + "/page")
        # A server deletes a cookie by expiring it.
        await _set(client, url, "doomed=; Path=/; Max-Age=0")
        await client.get(url + "/page")
    assert hops[1].headers["Cookie"] == "live=1; doomed=1"
    assert hops[3].headers["Cookie"] == "live=1"


async def test_secure_cookies_only_over_https(
    raw_server: RawServerFactory,
    http_server: HTTPServer,
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
) -> None:
    hops = await start_redirector(http_server)
    tls_heads: list[bytes] = []

    async def set_secure(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # both https requests share one connection
            tls_heads.append(await read_request(reader))
            writer.write(
                b"HTTP/1.1 200 OK\r\n"
                b"Set-Cookie: s=1; Path=/; Secure\r\n"
                b"Set-Cookie: p=2; Path=/\r\n"
                b"Content-Length: 0\r\n\r\n"
            )
            await writer.drain()

    secure = await raw_server(set_secure, tls_server_context)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await client.get(secure.url + "/", ssl=tls_client_context)
        # Cookies ignore the port (RFC 6265 §8.5): the http server is the same host.
        await client.get(http_server.url + "/plain")
        await client.get(secure.url + "/again", ssl=tls_client_context)
    assert hops[0].headers.getall("Cookie") == ["p=2"]
    assert b"\r\nCookie: s=1; p=2\r\n" in tls_heads[1]


async def test_cookies_not_kept_without_handle_cookies(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient() as client:
        await _set(client, http_server.url, "a=1; Path=/")
        await client.get(http_server.url + "/page")
    assert "Cookie" not in hops[1].headers


async def test_caller_cookie_header_wins_over_the_jar(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        await _set(client, http_server.url, "a=1; Path=/")
        await client.get(http_server.url + "/page", headers={"cookie": "mine=2"})
    assert hops[1].headers.getall("Cookie") == ["mine=2"]


async def test_cookie_set_by_a_redirect_reaches_the_next_hop(http_server: HTTPServer) -> None:
    hops = await start_redirector(http_server)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        response = await client.get(
            http_server.url + "/r/302",
            params=[("to", "/landing"), ("set", "via=redirect; Path=/")],
            follow=True,
        )
    assert response.status_code == 200
    assert "Cookie" not in hops[0].headers
    assert hops[1].headers["Cookie"] == "via=redirect"
