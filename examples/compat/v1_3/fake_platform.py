"""Local stand-ins for the Acme platform: the API and a separate inference/CDN
host, both aiohttp.web apps on 127.0.0.1 with free ports."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from aiohttp import web

from acme_sdk.auth import signature

USER, PASSWORD = "ana", "pw-1"
KEY_ID, SECRET = "key-9", "s3cret"
TOKEN = "tok-abc"
CHAT_TOKEN = "tok-chat"
EXPORT = hashlib.sha256(b"seed").digest() * 8192  # 256 KiB
LOG_LINES = [f"12:00:0{i} build step {i}" for i in range(1, 6)]
BUILD_EVENTS = (
    b'id: 1\nevent: started\ndata: {"build": 7}\n\n'
    b": compiling\nid: 2\nevent: log\ndata: line one\ndata: line two\n\n"
    b"id: 3\nevent: finished\ndata: ok\n\n"
)
CHAT_DELTAS = ["Hel", "lo, ", "Ana", "!"]

SEEN = web.AppKey("seen", list)
CDN_URL = web.AppKey("cdn_url", str)

PROJECTS = [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}, {"id": 3, "name": "gamma"}]


def _basic_ok(request: web.Request) -> bool:
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return request.headers.get("Authorization") == f"Basic {expected}"


@web.middleware
async def gatekeeper(request: web.Request, handler: Any) -> web.StreamResponse:
    app = request.app
    app[SEEN].append((request.method, request.path, request.headers.copy()))
    if request.path in ("/v2/admin/rotate", "/v2/whoami"):
        return await handler(request)
    if not _basic_ok(request):
        return web.json_response({"error": "unauthorised"}, status=401)
    if request.path.startswith("/v2/projects") and request.query.get("api_version") != "2":
        return web.json_response({"error": "api_version=2 required"}, status=400)
    return await handler(request)


async def projects(request: web.Request) -> web.Response:
    page = int(request.query.get("page", "1"))
    headers = {"Link": '</v2/projects?page=2>; rel="next"'} if page == 1 else {}
    items = PROJECTS[:2] if page == 1 else PROJECTS[2:]
    return web.json_response(items, headers=headers)


async def create_project(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"id": 4, "name": body["name"]}, status=201)


async def project(request: web.Request) -> web.Response:
    pid = request.match_info["pid"]
    return web.json_response({"error": f"no project {pid}"}, status=404)


async def old_projects(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/v2/projects?api_version=2")


async def loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/v2/loop")


async def cdn_asset(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.app[CDN_URL] + "/asset")


async def rotate(request: web.Request) -> web.Response:
    expected = signature(SECRET, request.method, request.path)
    ok = (
        request.headers.get("X-Acme-Key") == KEY_ID
        and request.headers.get("X-Acme-Signature") == expected
        and "Authorization" not in request.headers
    )
    if not ok:
        return web.json_response({"error": "bad signature"}, status=403)
    return web.json_response({"rotated": True})


async def whoami(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"error": "bad token"}, status=401)
    return web.json_response({"user": USER})


async def logs(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for line in LOG_LINES:
        await response.write(line.encode() + b"\n")
    await response.write_eof()
    return response


async def export(request: web.Request) -> web.Response:
    return web.Response(body=EXPORT, content_type="application/octet-stream")


async def uploads(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form["file"]
    assert isinstance(upload, web.FileField)
    data = upload.file.read()
    return web.json_response(
        {
            "caption": form["caption"],
            "filename": upload.filename,
            "content_type": upload.content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        status=201,
    )


async def _event_stream(request: web.Request, chunks: list[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def build_events(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Accept") != "text/event-stream":
        return web.json_response({"error": "sse only"}, status=406)
    # split across writes, mid-event, as a proxy in front would
    return await _event_stream(request, [BUILD_EVENTS[:30], BUILD_EVENTS[30:]])


async def chat(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization") != f"Bearer {CHAT_TOKEN}":
        return web.json_response({"error": "bad token"}, status=401)
    body = await request.json()
    if not body.get("stream") or body["messages"][0]["content"] != "greet Ana":
        return web.json_response({"error": "bad request"}, status=400)
    chunks = [f'data: {{"delta": "{delta}"}}\n\n'.encode() for delta in CHAT_DELTAS]
    return await _event_stream(request, [*chunks, b"data: [DONE]\n\n"])


async def asset(request: web.Request) -> web.Response:
    return web.json_response({"authorization": request.headers.get("Authorization")})


def make_api() -> web.Application:
    app = web.Application(middlewares=[gatekeeper])
    app[SEEN] = []
    app.router.add_get("/v2/projects", projects)
    app.router.add_post("/v2/projects", create_project)
    app.router.add_get("/v2/projects/{pid}", project)
    app.router.add_get("/v2/old-projects", old_projects)
    app.router.add_get("/v2/loop", loop)
    app.router.add_get("/v2/cdn-asset", cdn_asset)
    app.router.add_post("/v2/admin/rotate", rotate)
    app.router.add_get("/v2/whoami", whoami)
    app.router.add_get("/v2/logs", logs)
    app.router.add_get("/v2/export.bin", export)
    app.router.add_post("/v2/uploads", uploads)
    app.router.add_get("/v2/builds/{bid}/events", build_events)
    return app


def make_edge() -> web.Application:
    app = web.Application()
    app.router.add_get("/asset", asset)
    app.router.add_post("/v1/chat/completions", chat)
    return app


class Platform:
    """Both hosts; ``api_url``, ``api_host`` (host:port) and ``edge_url`` once started."""

    def __init__(self) -> None:
        self.api = make_api()
        self.edge = make_edge()
        self._runners = [web.AppRunner(self.api), web.AppRunner(self.edge)]
        self.api_url = self.api_host = self.edge_url = ""

    async def start(self) -> Platform:
        # the edge first: the API redirects to it, so it must know its url
        api_runner, edge_runner = self._runners
        self.edge_url = await _serve(edge_runner)
        self.api[CDN_URL] = self.edge_url
        self.api_url = await _serve(api_runner)
        self.api_host = self.api_url.removeprefix("http://")
        return self

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


async def _serve(runner: web.AppRunner) -> str:
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"
