"""aiosonic.BaseClient against a real aiohttp.web server: URLs, defaults, hooks, lifetime.

The subclasses set their defaults as plain class-level dicts, as code written
for the published BaseClient does (hence the RUF012 waivers).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from conftest import read_request

import aiosonic
from aiosonic import AioSonicBaseClient, BaseClient, HTTPClient
from aiosonic.exceptions import ConnectorClosed
from aiosonic.headers import HttpHeaders
from aiosonic.response import HttpResponse


async def _echo(request: web.Request) -> web.Response:
    """Describe the request as the server saw it."""
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": [list(pair) for pair in request.query.items()],
            "headers": [list(pair) for pair in request.headers.items()],
            "body": body.decode(),
        }
    )


@pytest.fixture
async def server(http_server: Any) -> Any:
    http_server.app.router.add_route("*", "/{tail:.*}", _echo)
    return await http_server.start()


def _header_values(seen: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in seen["headers"] if key.lower() == name.lower()]


def _api(base: str) -> type[BaseClient]:
    class Api(BaseClient):
        base_url = base + "/api/"
        default_headers = {"X-Api-Key": "k1", "Accept": "text/plain"}  # noqa: RUF012 (as users write it)
        default_params = {"v": "1", "lang": "en"}  # noqa: RUF012 (as users write it)

        async def process_response(self, response: Any) -> Any:
            return await response.json()

    return Api


async def test_relative_url_defaults_and_response_hook(server: Any) -> None:
    async with _api(server.url)() as api:
        seen = await api.get("/items")
    assert seen["method"] == "GET"
    assert seen["path"] == "/api/items"  # one slash between base_url and path
    assert seen["query"] == [["v", "1"], ["lang", "en"]]
    assert _header_values(seen, "X-Api-Key") == ["k1"]
    assert _header_values(seen, "Accept") == ["text/plain"]


async def test_call_headers_and_params_replace_the_defaults(server: Any) -> None:
    async with _api(server.url)() as api:
        seen = await api.get(
            "items", headers={"accept": "application/json", "X-Extra": "e"}, params={"lang": "fr"}
        )
    # The default Accept is dropped though the call spells it in lower case.
    assert _header_values(seen, "Accept") == ["application/json"]
    assert _header_values(seen, "X-Extra") == ["e"]
    assert _header_values(seen, "X-Api-Key") == ["k1"]
    assert seen["query"] == [["v", "1"], ["lang", "fr"]]


async def test_absolute_url_bypasses_base_url(server: Any) -> None:
    async with _api("http://unused.invalid")() as api:
        seen = await api.get(f"{server.url}/elsewhere")
    assert seen["path"] == "/elsewhere"
    assert seen["query"] == [["v", "1"], ["lang", "en"]]


@pytest.mark.parametrize("verb", ["post", "put", "patch", "delete", "head", "options"])
async def test_every_verb_reaches_the_server(server: Any, verb: str) -> None:
    class Raw(BaseClient):
        base_url = server.url

    async with Raw() as api:
        response = await getattr(api, verb)("/v")
        assert isinstance(response, HttpResponse)  # the default hook returns it as is
        assert response.status_code == 200
        if verb != "head":
            assert (await response.json())["method"] == verb.upper()


async def test_body_keywords_pass_through(server: Any) -> None:
    async with _api(server.url)() as api:
        seen = await api.post("/things", json={"a": 1})
        assert json.loads(seen["body"]) == {"a": 1}
        seen = await api.request("TRACE", "/trace")  # no client.trace(): client.request
        assert seen["method"] == "TRACE"


async def test_a_method_named_like_a_client_attribute_is_sent(raw_server: Any) -> None:
    """request("close", ...) sends CLOSE; it must not call client.close(url)."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await read_request(reader)).split(b"\r\n", 1)[0]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(line), line))
        await writer.drain()

    server = await raw_server(reply)

    class Raw(BaseClient):
        base_url = server.url

    async with Raw() as api:
        response = await api.request("close", "/c")
        assert await response.content() == b"CLOSE /c HTTP/1.1"


async def test_process_request_hook_can_change_what_is_sent(server: Any) -> None:
    calls: list[tuple[str, str]] = []

    class Signed(BaseClient):
        base_url = server.url

        async def process_request(self, method: str, url: str, **kwargs: Any) -> Any:
            calls.append((method, url))
            headers = dict(kwargs.pop("headers", None) or {})
            headers["X-Signature"] = f"{method} {url}"
            return await super().process_request(method, url, headers=headers, **kwargs)

        async def process_response(self, response: Any) -> Any:
            return response.status_code, await response.json()

    async with Signed() as api:
        status, seen = await api.put("/doc", data=b"x")
    assert calls == [("PUT", "/doc")]
    assert status == 200
    assert _header_values(seen, "X-Signature") == ["PUT /doc"]
    assert seen["body"] == "x"


async def test_close_closes_only_a_client_it_created(server: Any) -> None:
    Api = _api(server.url)
    async with HTTPClient() as shared:
        async with Api(shared) as api:
            assert api.client is shared
        # Still usable: the API client did not own it.
        assert (await shared.get(f"{server.url}/x")).status_code == 200

    owned = Api()
    await owned.get("/x")
    await owned.close()
    await owned.close()  # idempotent
    with pytest.raises(ConnectorClosed):
        await owned.client.get(f"{server.url}/x")


def test_merge_headers_and_params_without_a_server() -> None:
    class Api(BaseClient):
        default_headers = {"Accept": "a", "X-K": "k"}  # noqa: RUF012 (as users write it)
        default_params = [("v", "1"), ("tag", "x"), ("tag", "y")]  # noqa: RUF012 (as users write it)

    api = Api(http_client=HTTPClient())
    merged = api.merge_headers([("ACCEPT", "b"), ("Cookie", "1"), ("Cookie", "2")])
    assert isinstance(merged, HttpHeaders)
    assert list(merged.items()) == [("X-K", "k"), ("ACCEPT", "b"), ("Cookie", "1"), ("Cookie", "2")]
    assert dict(api.merge_headers()) == {"Accept": "a", "X-K": "k"}
    assert api.merge_params({"tag": "z"}) == [("v", "1"), ("tag", "z")]
    assert api.merge_params(None) == [("v", "1"), ("tag", "x"), ("tag", "y")]
    assert BaseClient(api.client).merge_params({"q": "1"}) == {"q": "1"}
    assert api.process_request_url("https://h/x") == "https://h/x"
    assert BaseClient(api.client).process_request_url("x") == "/x"


async def test_aiosonic_base_client_keeps_the_0_24_behaviour(http_server: Any) -> None:
    async def text(request: web.Request) -> web.Response:
        return web.Response(text="not json")

    http_server.app.router.add_get("/text", text)
    http_server.app.router.add_route("*", "/{tail:.*}", _echo)
    await http_server.start()

    class Old(AioSonicBaseClient):
        base_url = http_server.url

    with pytest.warns(DeprecationWarning, match="BaseClient"):
        old = Old()
    async with old:
        assert (await old.get("/j"))["path"] == "/j"
        assert await old.get("/text") == "not json"
    assert aiosonic.base_client.AioSonicBaseClient is AioSonicBaseClient
