"""The WebSocket client against real servers (issue 14).

Each server runs in its own process on 127.0.0.1 at a free port, started once
per module:

* uvicorn with each of its WebSocket implementations, ``--ws websockets`` and
  ``--ws wsproto``, serving the ASGI app below (permessage-deflate offered);
* node's ``ws`` package (``make test`` installs it with npm into
  ``$AIOSONIC_NODE_WS_DIR``, by default ``~/.cache/aiosonic-tests/node-ws``;
  skipped when node or the package is missing, so the suite runs offline);
* nginx as a reverse proxy on the Upgrade path (RFC 6455 §4.1 through an
  HTTP/1.1 proxy: ``proxy_set_header Upgrade/Connection``), in front of the
  uvicorn ``websockets`` server.

Every server speaks the same little protocol, by path:

* ``/echo``: each text or binary message back as it came; a subprotocol is
  picked from the client's offer (the first of ``chat``, ``superchat``);
* ``/close``: on the first message, close with ``4000 "bye"``;
* ``/last-close?tag=T``: once the ``/echo`` connection whose first text message
  was ``T`` has ended, send one text message, ``"<code> <reason>"`` of the close
  frame the client sent there, so a test sees what the server got;
* ``/fragments`` (node only: ASGI cannot send fragments): answer each message
  with the same payload in three frames (TEXT/BINARY, CONT, CONT+FIN).

Every wait is bounded (``asyncio.timeout``, and ``pytest.mark.timeout``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiosonic import WebSocketClient
from aiosonic.exceptions import ConnectionDisconnected

pytestmark = pytest.mark.timeout(60)

BIG = 16 * 1024 * 1024
#: Seconds any one exchange may take (a 16 MiB echo through wsproto's Python
#: masking included).
STEP = 30.0
NODE_WS_DIR = Path(
    os.environ.get("AIOSONIC_NODE_WS_DIR", Path.home() / ".cache" / "aiosonic-tests" / "node-ws")
)

ASGI_APP = textwrap.dedent(
    """
    import asyncio
    from urllib.parse import parse_qs

    closes = {}  # first message of an /echo connection -> "code reason" of its close
    close_seen = {}  # the same key -> an Event set once its close is in
    SUPPORTED = ("chat", "superchat")


    def seen(tag):
        return close_seen.setdefault(tag, asyncio.Event())


    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        path = scope["path"]
        event = await receive()
        assert event["type"] == "websocket.connect"
        offered = scope.get("subprotocols") or []
        picked = next((p for p in SUPPORTED if p in offered), None)
        await send({"type": "websocket.accept", "subprotocol": picked})
        if path == "/last-close":
            tag = parse_qs(scope["query_string"].decode())["tag"][0]
            await asyncio.wait_for(seen(tag).wait(), 10)
            await send({"type": "websocket.send", "text": closes[tag]})
            await send({"type": "websocket.close", "code": 1000})
            return
        tag = None
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                if tag is not None:
                    closes[tag] = f"{event['code']} {event.get('reason') or ''}".strip()
                    seen(tag).set()
                return
            if path == "/close":
                await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
                return
            if event.get("text") is not None:
                tag = tag or event["text"]
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event["bytes"]})
    """
)

NODE_APP = textwrap.dedent(
    """
    const { WebSocketServer } = require(process.argv[3]);
    const closes = new Map();  // first text message of an /echo connection -> close
    const waiting = new Map();  // the same key -> /last-close sockets waiting for it
    const answer = (ws, tag) => { ws.send(closes.get(tag)); ws.close(1000); };
    const wss = new WebSocketServer({
      host: '127.0.0.1', port: +process.argv[2], perMessageDeflate: true,
      handleProtocols: (offered) => ['chat', 'superchat'].find((p) => offered.has(p)) || false,
    });
    wss.on('connection', (ws, req) => {
      const url = new URL(req.url, 'ws://x');
      const path = url.pathname;
      if (path === '/last-close') {
        const tag = url.searchParams.get('tag');
        if (closes.has(tag)) answer(ws, tag);
        else waiting.set(tag, [...(waiting.get(tag) || []), ws]);
        return;
      }
      let tag = null;
      ws.on('close', (code, reason) => {
        if (tag === null) return;
        closes.set(tag, `${code} ${reason.toString()}`.trim());
        for (const other of waiting.get(tag) || []) answer(other, tag);
        waiting.delete(tag);
      });
      ws.on('message', (data, isBinary) => {
        if (tag === null && !isBinary) tag = data.toString();
        if (path === '/close') { ws.close(4000, 'bye'); return; }
        if (path === '/fragments') {
          const third = Math.ceil(data.length / 3);
          const options = (fin) => ({ binary: isBinary, fin, compress: false });
          ws.send(data.subarray(0, third), options(false));
          ws.send(data.subarray(third, 2 * third), options(false));
          ws.send(data.subarray(2 * third), options(true));
          return;
        }
        ws.send(data, { binary: isBinary });
      });
    });
    wss.on('listening', () => console.log('listening'));
    """
)


@dataclass(frozen=True)
class Server:
    """A running server: its ws:// base URL and what it can do."""

    name: str
    url: str
    fragments: bool = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def _run(command: list[str], port: int, tmp: Path, name: str) -> Iterator[None]:
    log = tmp / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=output, cwd=tmp)
        try:
            _wait_listening(port, process, log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _uvicorn(ws: str, tmp: Path) -> Callable[[], Iterator[str]]:
    def start() -> Iterator[str]:
        (tmp / "ws_app.py").write_text(ASGI_APP)
        port = free_port()
        command = [
            sys.executable, "-m", "uvicorn", "ws_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--ws", ws, "--ws-max-size", str(2 * BIG),
            "--ws-per-message-deflate", "true", "--log-level", "warning", "--lifespan", "off",
        ]  # fmt: skip
        for _ in _run(command, port, tmp, f"uvicorn-{ws}"):
            yield f"ws://127.0.0.1:{port}"

    return start


def _nginx_conf(tmp: Path, port: int, upstream: str) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
master_process off;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 60s;
            proxy_buffering off;
        }}
    }}
}}
"""
    )
    return conf


SERVERS = ["uvicorn-websockets", "uvicorn-wsproto", "node-ws", "nginx"]


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    if name.startswith("uvicorn-"):
        for url in _uvicorn(name.removeprefix("uvicorn-"), tmp)():
            yield Server(name, url)
        return
    if name == "node-ws":
        if shutil.which("node") is None:
            pytest.skip("node is not installed (make test installs nodejs)")
        package = NODE_WS_DIR / "node_modules" / "ws"
        if not (package / "package.json").exists():
            pytest.skip(f"node's ws package is not in {NODE_WS_DIR} (make test installs it)")
        (tmp / "server.js").write_text(NODE_APP)
        port = free_port()
        command = ["node", str(tmp / "server.js"), str(port), str(package)]
        for _ in _run(command, port, tmp, "node"):
            yield Server(name, f"ws://127.0.0.1:{port}", fragments=True)
        return
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed (make test installs nginx-light)")
    for upstream in _uvicorn("websockets", tmp)():
        port = free_port()
        conf = _nginx_conf(tmp, port, upstream.replace("ws://", "http://"))
        for _ in _run([nginx, "-p", str(tmp), "-c", str(conf)], port, tmp, "nginx"):
            yield Server(name, f"ws://127.0.0.1:{port}")


async def test_echo_text_and_binary(server: Server) -> None:
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(server.url + "/echo", start_keepalive=False)
        for text in ["hello", "", "añb€c😀d" * 100]:
            await conn.send_text(text)
            assert await conn.receive_text() == text
        for data in [b"\x00\xff" * 3, b"", bytes(range(256)) * 300]:
            await conn.send_bytes(data)
            assert await conn.receive_bytes() == data
        await conn.close()
        assert conn.close_code == 1000


async def test_echo_16_mib(server: Server) -> None:
    data = os.urandom(BIG)
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(server.url + "/echo", start_keepalive=False)
        await conn.send_bytes(data)
        assert await conn.receive_bytes() == data
        await conn.close()


async def test_fragmented_messages(server: Server) -> None:
    if not server.fragments:
        pytest.skip(f"{server.name} cannot send fragmented messages (ASGI has no frames)")
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(server.url + "/fragments", start_keepalive=False)
        text = "añb€c😀d" * 1000  # cut inside characters: UTF-8 checked across fragments
        await conn.send_text(text)
        assert await conn.receive_text() == text
        data = bytes(range(256)) * 1000
        await conn.send_bytes(data)
        assert await conn.receive_bytes() == data
        await conn.close()


@pytest.mark.parametrize(
    ("offered", "picked"),
    [(["nope", "superchat", "chat"], "chat"), (["superchat"], "superchat"), (None, None)],
)
async def test_subprotocols(server: Server, offered: list[str] | None, picked: str | None) -> None:
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(
            server.url + "/echo", subprotocols=offered, start_keepalive=False
        )
        assert conn.subprotocol == picked
        await conn.send_text("ok")
        assert await conn.receive_text() == "ok"
        await conn.close()


@pytest.mark.parametrize("compression", [True, False])
async def test_compression_on_and_off(server: Server, compression: bool) -> None:
    text = '{"key": "value", "n": 12345}\n' * 40_000  # ~1.1 MiB, deflates well
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(
            server.url + "/echo", compression=compression, start_keepalive=False
        )
        assert conn.conn.extensions == (["permessage-deflate"] if compression else [])
        for message in [text, "small"]:
            await conn.send_text(message)
            assert await conn.receive_text() == message
        await conn.send_bytes(text.encode())
        assert await conn.receive_bytes() == text.encode()
        await conn.close()


async def test_server_closes_with_its_code(server: Server) -> None:
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(server.url + "/close", start_keepalive=False)
        await conn.send_text("close, please")
        with pytest.raises(ConnectionDisconnected, match=r"code 4000 'bye'"):
            await conn.receive_text()
        assert (conn.close_code, conn.close_reason) == (4000, "bye")
        assert not conn.connected
        await conn.close()  # idempotent after the server's close


async def test_client_closes_with_its_code(server: Server) -> None:
    async with asyncio.timeout(STEP), WebSocketClient() as client:
        conn = await client.connect(server.url + "/echo", start_keepalive=False)
        tag = os.urandom(8).hex()
        await conn.send_text(tag)
        assert await conn.receive_text() == tag
        await conn.close(4001, "done here")
        assert (conn.close_code, conn.close_reason) == (4001, "done here")
        assert not conn.connected
        # The server saw our code: it tells a second connection.
        probe = await client.connect(f"{server.url}/last-close?tag={tag}", start_keepalive=False)
        assert await probe.receive_text() == "4001 done here"
        await probe.close()
