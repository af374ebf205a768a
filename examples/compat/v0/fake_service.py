"""A local stand-in for the Inventory service (aiohttp.web on 127.0.0.1, a free port)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

API_KEY = "k-123"
EXPORT_BATCHES = [b"id,name\n", b"1,hammer\n2,wrench\n", b"3,bolt\n"]

ITEMS = web.AppKey("items", dict)
PEERS = web.AppKey("peers", set)
RELEASE = web.AppKey("release", asyncio.Event)


def _item_or_404(request: web.Request) -> dict[str, Any]:
    items = request.app[ITEMS]
    item_id = int(request.match_info["item_id"])
    if item_id not in items:
        raise web.HTTPNotFound(text='{"error": "no such item"}', content_type="application/json")
    return items[item_id]


@web.middleware
async def track(request: web.Request, handler: Any) -> web.StreamResponse:
    request.app[PEERS].add(request.transport.get_extra_info("peername"))
    protected = request.path.startswith("/items") or request.path == "/export"
    if protected and request.headers.get("X-Api-Key") != API_KEY:
        return web.json_response({"error": "bad key"}, status=403)
    return await handler(request)


async def login(request: web.Request) -> web.Response:
    body = await request.json()
    if body != {"user": "ana", "password": "s3cret"}:
        return web.json_response({"error": "bad credentials"}, status=401)
    response = web.json_response({"user": "ana"})
    response.set_cookie("session", "tok-ana")
    return response


async def me(request: web.Request) -> web.Response:
    if request.cookies.get("session") != "tok-ana":
        return web.json_response({"error": "not logged in"}, status=401)
    return web.json_response({"user": "ana"})


async def list_items(request: web.Request) -> web.Response:
    items = list(request.app[ITEMS].values())
    category = request.query.get("category")
    if category:
        items = [item for item in items if item["category"] == category]
    return web.json_response({"page": int(request.query["page"]), "items": items})


async def get_item(request: web.Request) -> web.Response:
    return web.json_response(_item_or_404(request))


async def create_item(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return web.json_response({"error": "json only"}, status=415)
    item = await request.json()
    items = request.app[ITEMS]
    item["id"] = max(items) + 1
    items[item["id"]] = item
    return web.json_response(item, status=201)


async def replace_item(request: web.Request) -> web.Response:
    item = _item_or_404(request)
    new = await request.json()
    new["id"] = item["id"]
    request.app[ITEMS][item["id"]] = new
    return web.json_response(new)


async def patch_item(request: web.Request) -> web.Response:
    item = _item_or_404(request)
    item.update(await request.json())
    return web.json_response(item)


async def delete_item(request: web.Request) -> web.Response:
    item = _item_or_404(request)
    del request.app[ITEMS][item["id"]]
    return web.Response(status=204)


async def legacy_catalog(request: web.Request) -> web.Response:
    raise web.HTTPFound("/catalog")


async def catalog(request: web.Request) -> web.Response:
    return web.json_response({"categories": ["tools", "fasteners"]})


async def notes(request: web.Request) -> web.Response:
    return web.Response(
        body="Café opens at 9 — señal ok".encode(), content_type="text/plain", charset="utf-8"
    )


async def export(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for batch in EXPORT_BATCHES:
        await response.write(batch)
    await response.write_eof()
    return response


async def attach(request: web.Request) -> web.Response:
    _item_or_404(request)
    # Parsed by hand, as the service's old framework did: split on the boundary
    # and drop each part's framing CRLF.
    boundary = request.headers["Content-Type"].split("boundary=")[1].strip('"')
    raw = await request.read()
    fields: dict[str, Any] = {}
    for part in raw.split(b"--" + boundary.encode()):
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        disposition = head.decode().strip()
        name = disposition.split('name="')[1].split('"')[0]
        value = value.removesuffix(b"\r\n")
        if 'filename="' in disposition:
            filename = disposition.split('filename="')[1].split('"')[0]
            fields[name] = {"filename": filename, "size": len(value), "head": value[:5].decode()}
        else:
            fields[name] = value.decode()
    return web.json_response({"fields": fields}, status=201)


async def slow(request: web.Request) -> web.Response:
    await request.app[RELEASE].wait()
    return web.Response(text="late")


def make_app() -> web.Application:
    app = web.Application(middlewares=[track])
    app[ITEMS] = {
        1: {"id": 1, "name": "hammer", "category": "tools"},
        2: {"id": 2, "name": "wrench", "category": "tools"},
        3: {"id": 3, "name": "bolt", "category": "fasteners"},
    }
    app[PEERS] = set()
    app[RELEASE] = asyncio.Event()
    app.router.add_post("/login", login)
    app.router.add_get("/me", me)
    app.router.add_get("/items", list_items)
    app.router.add_post("/items", create_item)
    app.router.add_get("/items/{item_id}", get_item)
    app.router.add_put("/items/{item_id}", replace_item)
    app.router.add_patch("/items/{item_id}", patch_item)
    app.router.add_delete("/items/{item_id}", delete_item)
    app.router.add_post("/items/{item_id}/attachments", attach)
    app.router.add_get("/v1/catalog", legacy_catalog)
    app.router.add_get("/catalog", catalog)
    app.router.add_get("/notes", notes)
    app.router.add_get("/export", export)
    app.router.add_get("/slow", slow)
    return app


class FakeService:
    """Runs the app until ``stop()``; ``url`` is where it listens."""

    def __init__(self) -> None:
        self.app = make_app()
        self.runner = web.AppRunner(self.app)
        self.url = ""

    async def start(self) -> FakeService:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        self.app[RELEASE].set()
        await self.runner.cleanup()
