"""Run the Acme SDK against a local fake platform, then its unit tests.

Usage: ``python run_project.py``. Prints one line per scenario and exits 1 if
any failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Awaitable, Callable

from aiosonic import HTTPClient
from aiosonic.exceptions import HTTPStatusError, MaxRedirects

import fake_platform as fp
from acme_sdk import AcmeAPI, make_http_client
from acme_sdk.httpx_style import weekly_report
from acme_sdk.live import build_events, complete
from test_acme_unit import UNIT_TESTS


class Context:
    def __init__(self, platform: fp.Platform, api: AcmeAPI, calls: list[tuple[int, str]]):
        self.platform = platform
        self.api = api
        self.calls = calls


Scenario = Callable[[Context], Awaitable[None]]


async def paginated_projects(ctx: Context) -> None:
    assert await ctx.api.projects() == fp.PROJECTS
    created = await ctx.api.create_project("delta")
    assert created == {"id": 4, "name": "delta"}, created


async def status_errors(ctx: Context) -> None:
    try:
        await ctx.api.get("/v2/projects/999")
    except HTTPStatusError as exc:
        assert exc.response.status_code == 404, exc
        assert await exc.response.json() == {"error": "no project 999"}
    else:
        raise AssertionError("404 must raise")


async def redirects(ctx: Context) -> None:
    ctx.calls.clear()
    # follow=True is the client default
    moved = await ctx.api.get("/v2/old-projects")
    assert moved == fp.PROJECTS[:2], moved
    assert [status for status, _ in ctx.calls] == [301, 200], ctx.calls
    try:
        await ctx.api.get("/v2/loop")
    except MaxRedirects:
        pass
    else:
        raise AssertionError("a redirect loop must stop after max_redirects")
    unfollowed = await ctx.api.client.get(ctx.platform.api_url + "/v2/old-projects", follow=False)
    assert unfollowed.status_code == 301, unfollowed.status_code


async def logged_urls(ctx: Context) -> None:
    # The response hook logs response.url: the URL the SDK asked for, without the
    # api_version=2 that BaseClient adds through params=, then the Location.
    ctx.calls.clear()
    await ctx.api.get("/v2/old-projects")
    api = ctx.platform.api_url
    assert ctx.calls == [
        (301, api + "/v2/old-projects"),
        (200, api + "/v2/projects?api_version=2"),
    ], ctx.calls


async def credentials_stay_home(ctx: Context) -> None:
    # auths holds the API host only: the CDN it redirects to gets no credentials
    answer = await ctx.api.get("/v2/cdn-asset")
    assert answer == {"authorization": None}, answer
    direct = await ctx.api.client.get(ctx.platform.edge_url + "/asset")
    assert await direct.json() == {"authorization": None}


async def auth_overrides(ctx: Context) -> None:
    assert await ctx.api.rotate_keys(fp.KEY_ID, fp.SECRET) == {"rotated": True}
    assert await ctx.api.whoami(fp.TOKEN) == {"user": fp.USER}
    try:
        await ctx.api.whoami("wrong")
    except HTTPStatusError as exc:
        assert exc.response.status_code == 401
    else:
        raise AssertionError("a wrong token must be refused")


async def event_hooks(ctx: Context) -> None:
    ctx.platform.api[fp.SEEN].clear()
    ctx.calls.clear()
    await ctx.api.projects()
    ids = [headers.get("X-Request-Id", "") for _, _, headers in ctx.platform.api[fp.SEEN]]
    assert len(ids) == 2 and all(re.fullmatch(r"req-\d+", i) for i in ids), ids
    assert len(set(ids)) == 2, ids
    assert [status for status, _ in ctx.calls] == [200, 200], ctx.calls


async def response_details(ctx: Context) -> None:
    response = await ctx.api.client.get(
        ctx.platform.api_url + "/v2/projects", params={"api_version": "2"}
    )
    initial = response.response_initial
    assert initial["version"] == "1.1", initial
    assert int(initial["code"]) == 200, initial
    assert initial["reason"] == "OK", initial
    assert response.elapsed.total_seconds() >= 0
    assert response.links["next"]["url"] == "/v2/projects?page=2", response.links
    assert response.headers["content-type"].startswith("application/json")


async def streaming(ctx: Context) -> None:
    assert await ctx.api.tail_logs(3) == fp.LOG_LINES[:3]
    digest, size, version = await ctx.api.download_sha256("/v2/export.bin")
    assert (digest, size) == (hashlib.sha256(fp.EXPORT).hexdigest(), len(fp.EXPORT))
    assert version == "1.1", version
    # the connection came back to the pool: the client still works
    assert len(await ctx.api.projects()) == 3


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


async def multipart_file(ctx: Context) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "chart.png")
        data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 300
        _write(path, data)
        answer = await ctx.api.upload(path, caption="build times")
    assert answer == {
        "caption": "build times",
        "filename": "chart.png",
        "content_type": "image/png",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }, answer


async def server_sent_events(ctx: Context) -> None:
    url = ctx.platform.api_url + "/v2/builds/7/events"
    events = await build_events(ctx.api.client, url)
    got = [(e["id"], e["event"], e["data"]) for e in events]
    assert got == [
        ("1", "started", '{"build": 7}'),
        ("2", "log", "line one\nline two"),
        ("3", "finished", "ok"),
    ], got
    chat_url = ctx.platform.edge_url + "/v1/chat/completions"
    assert await complete(ctx.api.client, chat_url, "greet Ana", fp.CHAT_TOKEN) == "Hello, Ana!"


async def httpx_compatible(ctx: Context) -> None:
    report = await weekly_report(ctx.platform.api_url, fp.USER, fp.PASSWORD)
    csv = b"week,builds\n48,310\n"
    # aiosonic 1.3.3 does not send the content type of a files= 3-tuple, so the
    # service sees application/octet-stream there; the report does not rely on it.
    report["uploaded"].pop("content_type")
    assert report == {
        "status": 200,
        "content_type": "application/json; charset=utf-8",
        "first_page": ["alpha", "beta"],
        "moved": "alpha",
        "created": (201, "report"),
        "uploaded": {
            "caption": "weekly",
            "filename": "report.csv",
            "size": len(csv),
            "sha256": hashlib.sha256(csv).hexdigest(),
        },
        "log_head": fp.LOG_LINES[:2],
        "missing": 404,
        "missing_text": '{"error": "no project 999"}',
    }, report


SCENARIOS: list[Scenario] = [
    paginated_projects,
    status_errors,
    redirects,
    logged_urls,
    credentials_stay_home,
    auth_overrides,
    event_hooks,
    response_details,
    streaming,
    multipart_file,
    server_sent_events,
    httpx_compatible,
]


async def main() -> int:
    failed = 0
    platform = await fp.Platform().start()
    calls: list[tuple[int, str]] = []
    try:
        client: HTTPClient = make_http_client(platform.api_host, fp.USER, fp.PASSWORD, calls)
        async with client:
            api = AcmeAPI(platform.api_url, client)
            for scenario in SCENARIOS:
                failed += await _run(scenario.__name__, scenario(Context(platform, api, calls)))
    finally:
        await platform.stop()
    for test in UNIT_TESTS:
        failed += await _run(test.__name__, test())
    print(f"{'FAILED' if failed else 'OK'}: {failed} failed")
    return 1 if failed else 0


async def _run(name: str, work: Awaitable[None]) -> int:
    try:
        await asyncio.wait_for(work, 20)
    except Exception:
        print(f"FAIL {name}")
        traceback.print_exc(file=sys.stdout)
        return 1
    print(f"ok   {name}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
