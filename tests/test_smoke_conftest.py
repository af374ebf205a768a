from aiohttp import web
import aiosonic
async def test_conftest_works(http_server, raw_server):
    async def small(r): return web.Response(body=b"ok")
    http_server.app.router.add_get("/", small)
    await http_server.start()
    async with aiosonic.HTTPClient() as c:
        for _ in range(3):
            r = await c.get(http_server.url + "/")
            assert await r.content() == b"ok"
    assert http_server.connections == 1
    assert http_server.requests == 3
    async def h(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        await writer.drain()
    srv = await raw_server(h)
    async with aiosonic.HTTPClient() as c:
        r = await c.get(srv.url)
        assert await r.content() == b"hi"
