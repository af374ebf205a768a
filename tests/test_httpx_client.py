"""aiosonic.httpx_client.AsyncClient against a real aiohttp.web server, used as httpx is.

The first half walks through the examples of httpx's own documentation (the
QuickStart, Async Support and Clients pages), written again here against an
httpbin-like app on 127.0.0.1 instead of httpbin.org. The second half checks
the parts of the contract the examples only touch: the read/stream states,
the timeout mapping, the redirect limit, cookies and the hooks.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import pytest
from aiohttp import web

from aiosonic import HTTPClient
from aiosonic.exceptions import (
    HTTPStatusError,
    InvalidRequest,
    MaxRedirects,
    ReadTimeout,
    ResponseNotRead,
    StreamConsumed,
)
from aiosonic.httpx_client import (
    DEFAULT_TIMEOUT,
    AsyncClient,
    Request,
    Response,
    to_timeouts,
)
from aiosonic.timeout import Timeouts


async def _describe(request: web.Request) -> dict[str, Any]:
    """What httpbin answers: the query, headers, and the body as form/files/json/data."""
    described: dict[str, Any] = {
        "method": request.method,
        "args": {key: request.query.getall(key) for key in request.query},
        "headers": dict(request.headers),
        "cookies": dict(request.cookies),
        "form": {},
        "files": {},
        "json": None,
        "data": "",
    }
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            value = await part.read()  # type: ignore[union-attr]
            if part.filename:  # type: ignore[union-attr]
                described["files"][part.name] = {  # type: ignore[union-attr]
                    "filename": part.filename,  # type: ignore[union-attr]
                    "content_type": part.headers.get("Content-Type"),  # type: ignore[union-attr]
                    "data": value.decode(),
                }
            else:
                described["form"].setdefault(part.name, []).append(value.decode())  # type: ignore[union-attr]
    elif content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.post()
        described["form"] = {key: form.getall(key) for key in form}
    else:
        raw = await request.read()
        described["data"] = raw.decode()
        if content_type.startswith("application/json"):
            described["json"] = json.loads(raw)
    return described


async def anything(request: web.Request) -> web.Response:
    return web.json_response(await _describe(request))


async def status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status")


async def redirect(request: web.Request) -> web.Response:
    hops = int(request.match_info["n"])
    target = "/get" if hops <= 1 else f"/redirect/{hops - 1}"
    raise web.HTTPFound(target)


async def set_cookies(request: web.Request) -> web.Response:
    response = web.json_response({"set": dict(request.query)})
    for name, value in request.query.items():
        response.set_cookie(name, value)
    return response


async def text(request: web.Request) -> web.Response:
    body = "Grüße, ¡hola!\n".encode(request.query.get("charset", "utf-8"))
    content_type = "text/plain"
    if "charset" in request.query:
        content_type += f"; charset={request.query['charset']}"
    return web.Response(body=body, headers={"Content-Type": content_type})


@pytest.fixture
async def base(http_server: Any) -> str:
    app = http_server.app
    app.router.add_route("*", "/get", anything)
    app.router.add_route("*", "/post", anything)
    app.router.add_route("*", "/anything/{tail:.*}", anything)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/cookies/set", set_cookies)
    app.router.add_get("/text", text)
    await http_server.start()
    return str(http_server.url)


def _chunked_app(http_server: Any, pieces: list[bytes], gate: asyncio.Event) -> None:
    """Add /stream: it sends the first piece, waits for ``gate``, then sends the rest."""

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        await response.write(pieces[0])
        await gate.wait()
        for piece in pieces[1:]:
            await response.write(piece)
        await response.write_eof()
        return response

    http_server.app.router.add_get("/stream", stream)


# --------------------------------------------------------------------------- httpx's QuickStart


async def test_quickstart_get_with_params(base: str) -> None:
    async with AsyncClient() as client:
        params = {"key1": "value1", "key2": ["value2", "value3"]}
        r = await client.get(f"{base}/get", params=params)
    assert r.status_code == 200
    assert r.json()["args"] == {"key1": ["value1"], "key2": ["value2", "value3"]}
    assert r.url == f"{base}/get?key1=value1&key2=value2&key2=value3"
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers.get("content-type") == "application/json; charset=utf-8"
    assert r.encoding == "utf-8"
    assert r.http_version == "HTTP/1.1"
    assert r.is_success and not r.is_error
    assert repr(r) == "<Response [200 OK]>"


async def test_quickstart_other_verbs(base: str) -> None:
    async with AsyncClient() as client:
        put = await client.put(f"{base}/anything/x", content=b"{}")
        delete = await client.delete(f"{base}/anything/x")
        head = await client.head(f"{base}/get")
        options = await client.options(f"{base}/get")
    assert put.json()["method"] == "PUT"
    assert delete.json()["method"] == "DELETE"
    assert head.status_code == 200 and head.content == b""
    assert options.status_code == 200


async def test_quickstart_text_and_encoding(base: str) -> None:
    async with AsyncClient() as client:
        utf8 = await client.get(f"{base}/text")
        latin = await client.get(f"{base}/text", params={"charset": "iso-8859-1"})
    assert utf8.text == "Grüße, ¡hola!\n"
    assert utf8.encoding == "utf-8"  # httpx's default when no charset is named
    assert latin.encoding == "iso8859-1"
    assert latin.text == "Grüße, ¡hola!\n"
    assert latin.content == "Grüße, ¡hola!\n".encode("latin-1")


async def test_quickstart_custom_headers(base: str) -> None:
    async with AsyncClient() as client:
        r = await client.get(f"{base}/get", headers={"user-agent": "my-app/0.0.1"})
    assert r.json()["headers"]["User-Agent"] == "my-app/0.0.1"


async def test_quickstart_form_data(base: str) -> None:
    async with AsyncClient() as client:
        r = await client.post(f"{base}/post", data={"key1": "value1", "key2": "value2"})
        multi = await client.post(f"{base}/post", data={"key1": ["value1", "value2"]})
    assert r.json()["form"] == {"key1": ["value1"], "key2": ["value2"]}
    assert multi.json()["form"] == {"key1": ["value1", "value2"]}


async def test_quickstart_multipart_files(base: str) -> None:
    report = io.BytesIO(b"<xls bytes>")
    report.name = "/tmp/reports/report.xls"
    async with AsyncClient() as client:
        r = await client.post(f"{base}/post", files={"upload-file": report})
        typed = await client.post(
            f"{base}/post",
            files={"upload-file": ("report.xls", b"<xls bytes>", "application/vnd.ms-excel")},
        )
        with_data = await client.post(
            f"{base}/post", data={"message": "Hello, world!"}, files={"file": b"raw bytes"}
        )
    assert r.json()["files"] == {
        "upload-file": {
            "filename": "report.xls",
            "content_type": "application/vnd.ms-excel",  # guessed from the name
            "data": "<xls bytes>",
        }
    }
    assert typed.json()["files"]["upload-file"]["content_type"] == "application/vnd.ms-excel"
    described = with_data.json()
    assert described["form"] == {"message": ["Hello, world!"]}
    assert described["files"]["file"]["filename"] == "upload"
    assert described["files"]["file"]["data"] == "raw bytes"
    assert not report.closed  # the caller's file stays the caller's


async def test_quickstart_json_and_binary(base: str) -> None:
    data = {"integer": 123, "boolean": True, "list": ["a", "b", "c"]}
    async with AsyncClient() as client:
        r = await client.post(f"{base}/post", json=data)
        raw = await client.post(f"{base}/post", content=b"Hello, world")
        text_body = await client.post(f"{base}/post", content="Hello, world")
    assert r.json()["json"] == data
    assert r.json()["headers"]["Content-Type"] == "application/json"
    assert raw.json()["data"] == "Hello, world"
    assert text_body.json()["data"] == "Hello, world"


async def test_quickstart_streamed_request_content(base: str) -> None:
    async def upload() -> Any:
        yield b"Hello, "
        yield b"world"

    async with AsyncClient() as client:
        r = await client.post(f"{base}/post", content=upload())
    assert r.json()["data"] == "Hello, world"
    assert r.json()["headers"]["Transfer-Encoding"] == "chunked"


async def test_quickstart_status_codes(base: str) -> None:
    async with AsyncClient() as client:
        ok = await client.get(f"{base}/get")
        not_found = await client.get(f"{base}/status/404")
        broken = await client.get(f"{base}/status/503")
    assert ok.raise_for_status() is ok  # returns the response, for chaining
    with pytest.raises(HTTPStatusError) as caught:
        not_found.raise_for_status()
    assert caught.value.response is not_found
    assert str(caught.value) == f"client error '404 Not Found' for url '{base}/status/404'"
    assert not_found.is_client_error and not_found.is_error
    with pytest.raises(HTTPStatusError, match="server error '503 Service Unavailable'"):
        broken.raise_for_status()
    assert broken.is_server_error


async def test_quickstart_cookies(base: str) -> None:
    async with AsyncClient() as client:
        r = await client.get(f"{base}/get", cookies={"peanut": "butter"})
        setter = await client.get(f"{base}/cookies/set", params={"chocolate": "chip"})
        after = await client.get(f"{base}/get")
    assert r.json()["cookies"] == {"peanut": "butter"}
    assert setter.cookies == {"chocolate": "chip"}
    assert after.json()["cookies"] == {"chocolate": "chip"}  # kept by the client


async def test_quickstart_redirects(base: str) -> None:
    async with AsyncClient() as client:
        stopped = await client.get(f"{base}/redirect/1")
        followed = await client.get(f"{base}/redirect/1", follow_redirects=True)
    assert stopped.status_code == 302 and stopped.is_redirect
    assert stopped.headers["Location"] == "/get"
    assert followed.status_code == 200
    assert followed.url == f"{base}/get"
    assert [hop.status_code for hop in followed.history] == [302]
    assert repr(followed.history[0]) == "<Response [302 Found]>"


async def test_quickstart_timeout(http_server: Any) -> None:
    release = asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    http_server.app.router.add_get("/slow", never)
    await http_server.start()
    try:
        async with AsyncClient(timeout=30.0) as client:
            with pytest.raises(ReadTimeout):
                await client.get(f"{http_server.url}/slow", timeout=0.2)
    finally:
        release.set()


async def test_quickstart_basic_auth(base: str) -> None:
    async with AsyncClient() as client:
        r = await client.get(f"{base}/get", auth=("my_user", "password123"))
    expected = "Basic " + base64.b64encode(b"my_user:password123").decode()
    assert r.json()["headers"]["Authorization"] == expected


# --------------------------------------------------------------------------- streaming


async def test_stream_aiter_bytes_arrives_before_the_end(http_server: Any) -> None:
    gate = asyncio.Event()
    _chunked_app(http_server, [b"first piece|", b"second|", b"third"], gate)
    await http_server.start()
    async with AsyncClient() as client, client.stream("GET", f"{http_server.url}/stream") as r:
        assert r.status_code == 200
        pieces = r.aiter_bytes()
        # The server holds the rest until the first piece is seen here.
        first = await pieces.__anext__()
        assert first == b"first piece|"
        gate.set()
        rest = b"".join([chunk async for chunk in pieces])
    assert rest == b"second|third"
    assert r.is_stream_consumed


async def test_stream_aiter_text_keeps_split_characters(http_server: Any) -> None:
    gate = asyncio.Event()
    gate.set()
    encoded = "Grüße".encode()  # ü and ß are two bytes each
    _chunked_app(http_server, [encoded[:3], encoded[3:6], encoded[6:]], gate)
    await http_server.start()
    async with AsyncClient() as client, client.stream("GET", f"{http_server.url}/stream") as r:
        texts = [text async for text in r.aiter_text()]
    assert "".join(texts) == "Grüße"
    assert "\ufffd" not in "".join(texts)


async def test_stream_aiter_lines(http_server: Any) -> None:
    gate = asyncio.Event()
    gate.set()
    pieces = [b"one\r", b"\ntwo\nthr", b"ee\n\nfour"]
    _chunked_app(http_server, pieces, gate)
    await http_server.start()
    async with AsyncClient() as client, client.stream("GET", f"{http_server.url}/stream") as r:
        lines = [line async for line in r.aiter_lines()]
    assert lines == ["one", "two", "three", "", "four"]


async def test_stream_conditional_read(base: str) -> None:
    async with AsyncClient() as client, client.stream("GET", f"{base}/text") as r:
        with pytest.raises(ResponseNotRead, match=f"{base}/text was not read"):
            _ = r.content
        with pytest.raises(ResponseNotRead):
            _ = r.text
        if int(r.headers["Content-Length"]) < 1024:
            await r.aread()
        assert r.text == "Grüße, ¡hola!\n"
        # Once read, iterating gives the body again, as httpx does.
        assert [chunk async for chunk in r.aiter_bytes()] == ["Grüße, ¡hola!\n".encode()]


async def test_stream_consumed_twice(base: str) -> None:
    async with AsyncClient() as client, client.stream("GET", f"{base}/text") as r:
        body = b"".join([chunk async for chunk in r.aiter_bytes()])
        assert body == "Grüße, ¡hola!\n".encode()
        with pytest.raises(StreamConsumed, match="already streamed"):
            await r.aread()
        with pytest.raises(StreamConsumed):
            async for _ in r.aiter_lines():
                pass


async def test_stream_block_exit_frees_the_connection(http_server: Any) -> None:
    gate = asyncio.Event()
    _chunked_app(http_server, [b"head|", b"tail"], gate)
    http_server.app.router.add_get("/get", anything)
    await http_server.start()
    async with AsyncClient() as client:
        async with client.stream("GET", f"{http_server.url}/stream") as r:
            assert await r.aiter_bytes().__anext__() == b"head|"
        gate.set()
        # The unread response was dropped with its connection; the client goes on.
        after = await client.get(f"{http_server.url}/get")
        assert after.status_code == 200


# --------------------------------------------------------------------------- Clients page


async def test_client_base_url_headers_params_merge(base: str) -> None:
    async with AsyncClient(
        base_url=base,
        headers={"X-Auth": "from-client", "User-Agent": "client-agent"},
        params={"client": "1", "shared": "client"},
    ) as client:
        r = await client.get(
            "/anything/headers",
            headers={"X-Custom": "from-request", "user-agent": "request-agent"},
            params={"shared": "request"},
        )
        client.headers["X-Later"] = "added"
        later = await client.get("anything/again")
    seen = r.json()
    assert seen["headers"]["X-Auth"] == "from-client"
    assert seen["headers"]["X-Custom"] == "from-request"
    assert seen["headers"]["User-Agent"] == "request-agent"
    assert seen["args"] == {"client": ["1"], "shared": ["request"]}
    assert later.json()["headers"]["X-Later"] == "added"
    assert later.url.startswith(f"{base}/anything/again?")


async def test_client_follow_redirects_default_and_override(base: str) -> None:
    async with AsyncClient(base_url=base, follow_redirects=True) as client:
        followed = await client.get("/redirect/2")
        stopped = await client.get("/redirect/2", follow_redirects=False)
    assert followed.status_code == 200 and len(followed.history) == 2
    assert stopped.status_code == 302


async def test_client_max_redirects(base: str) -> None:
    async with AsyncClient(base_url=base, follow_redirects=True, max_redirects=2) as client:
        assert (await client.get("/redirect/2")).status_code == 200
        with pytest.raises(MaxRedirects, match="more than max_redirects=2 redirects"):
            await client.get("/redirect/3")


async def test_client_cookies_default_merge_with_stored(base: str) -> None:
    async with AsyncClient(base_url=base, cookies={"a": "client", "b": "client"}) as client:
        await client.get("/cookies/set", params={"stored": "yes"})
        r = await client.get("/get", cookies={"b": "request"})
    assert r.json()["cookies"] == {"a": "client", "b": "request", "stored": "yes"}


async def test_client_event_hooks(base: str) -> None:
    seen: list[str] = []

    def log_request(request: Request) -> None:
        seen.append(f"request {request.method} {request.url}")
        request.headers["X-Hooked"] = "yes"

    async def raise_on_4xx_5xx(response: Response) -> None:
        seen.append(f"response {response.status_code}")
        response.raise_for_status()

    hooks = {"request": [log_request], "response": [raise_on_4xx_5xx]}
    async with AsyncClient(base_url=base, event_hooks=hooks) as client:
        r = await client.get("/get")
        with pytest.raises(HTTPStatusError):
            await client.get("/status/500")
    assert r.json()["headers"]["X-Hooked"] == "yes"
    assert r.request.headers["X-Hooked"] == "yes"
    assert seen == [
        f"request GET {base}/get",
        "response 200",
        f"request GET {base}/status/500",
        "response 500",
    ]


async def test_client_shared_http_client_is_not_closed(base: str) -> None:
    shared = HTTPClient()
    async with AsyncClient(http_client=shared, base_url=base) as client:
        assert (await client.get("/get")).status_code == 200
    assert client.is_closed
    # Still usable: AsyncClient did not close what it did not create.
    assert (await shared.get(f"{base}/get")).status_code == 200
    await shared.close()


def test_timeout_mapping() -> None:
    assert to_timeouts(2.5) == Timeouts(
        sock_connect=2.5, sock_read=2.5, pool_acquire=2.5, request_timeout=None
    )
    assert to_timeouts(None) == Timeouts(
        sock_connect=None, sock_read=None, pool_acquire=None, request_timeout=None
    )
    given = Timeouts(sock_read=1)
    assert to_timeouts(given) is given
    assert DEFAULT_TIMEOUT == 5.0


async def test_response_links_and_elapsed(http_server: Any) -> None:
    async def paged(request: web.Request) -> web.Response:
        return web.Response(
            text="page",
            headers={
                "Link": '<https://api.example/p2>; rel="next", <https://api.example/p9>; rel=last'
            },
        )

    http_server.app.router.add_get("/paged", paged)
    await http_server.start()
    async with AsyncClient() as client:
        r = await client.get(f"{http_server.url}/paged")
    assert r.links == {
        "next": {"url": "https://api.example/p2", "rel": "next"},
        "last": {"url": "https://api.example/p9", "rel": "last"},
    }
    assert r.elapsed.total_seconds() > 0


async def test_request_hook_removes_a_default_header(base: str) -> None:
    def drop_auth(request: Request) -> None:
        del request.headers["X-Auth"]

    hooks = {"request": [drop_auth]}
    async with AsyncClient(base_url=base, headers={"X-Auth": "t"}, event_hooks=hooks) as client:
        r = await client.get("/get")
    assert "X-Auth" not in r.json()["headers"]


async def test_subclass_process_request_sees_every_call(base: str) -> None:
    class Signed(AsyncClient):
        async def process_request(self, method: str, url: str, **kwargs: Any) -> Any:
            kwargs["headers"]["X-Signature"] = f"{method} {url}"
            return await super().process_request(method, url, **kwargs)

    async with Signed(base_url=base) as client:
        r = await client.post("/post", json={})
        async with client.stream("GET", "/get") as streamed:
            await streamed.aread()
    assert r.json()["headers"]["X-Signature"] == f"POST {base}/post"
    assert streamed.json()["headers"]["X-Signature"] == f"GET {base}/get"


async def test_verify_with_context_and_off(
    tls_server_context: Any, tls_client_context: Any
) -> None:
    from conftest import HTTPServer

    server = HTTPServer(ssl_context=tls_server_context)
    server.app.router.add_get("/get", anything)
    await server.start()
    try:
        async with AsyncClient(verify=tls_client_context, base_url=server.url) as client:
            assert (await client.get("/get")).status_code == 200
        async with AsyncClient(verify=False, base_url=server.url) as client:
            assert (await client.get("/get")).status_code == 200
    finally:
        await server.close()


async def test_files_with_raw_data_is_refused_before_sending(base: str) -> None:
    async with AsyncClient(base_url=base) as client:
        with pytest.raises(InvalidRequest, match="data= goes with files= as form fields"):
            await client.post("/post", data=b"raw", files={"f": b"x"})
