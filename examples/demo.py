"""`make demo`: start a small local HTTP server and fetch from it with aiosonic.

The server is the standard library's ThreadingHTTPServer on 127.0.0.1 (a free
port), so the demo needs nothing beyond aiosonic itself. It prints the status,
headers, body and per-phase timings of a few requests, showing connection reuse
and a redirect being followed.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.timeout import Timeouts


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle on the
    # server and delayed ACKs on the client add ~40 ms to every reused request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the client prints."""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/old":
            self._send(301, b"", {"Location": "/hello"})
            return
        payload = json.dumps({"path": self.path, "message": "hello from the demo server"}).encode()
        self._send(
            200,
            gzip.compress(payload),
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._send(
            200, json.dumps({"received": len(body)}).encode(), {"Content-Type": "application/json"}
        )


def show(label: str, response: aiosonic.HttpResponse, body: object) -> None:
    t = response.timings
    print(f"--- {label}: {response.request_method} {response.url}")
    print(f"status     {response.status_code} {response.reason} (HTTP/{response.http_version})")
    for name, value in response.headers.items():
        print(f"header     {name}: {value}")
    print(f"body       {body}")
    if response.history:
        print(f"redirects  {[r.status_code for r in response.history]}")
    body_ms = f"{t.body * 1000:.2f} ms" if t.body is not None else "streamed"
    print(
        "timings    "
        f"pool {t.pool_acquire * 1000:.2f} ms | dns {t.dns * 1000:.2f} ms | "
        f"connect {t.connect * 1000:.2f} ms | request+wait {t.wait_head * 1000:.2f} ms | "
        f"body {body_ms} | reused connection: {t.reused_connection}"
    )


async def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DemoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"demo server listening on {base}\n")
    try:
        connector = TCPConnector(pool_size=4, timeouts=Timeouts(sock_connect=2, sock_read=5))
        async with connector, aiosonic.HTTPClient(connector) as client:
            first = await client.get(f"{base}/hello", params={"n": 1})
            show("first request (new connection)", first, await first.json())
            second = await client.get(f"{base}/hello", params={"n": 2})
            show("second request (same connection)", second, await second.json())
            posted = await client.post(f"{base}/upload", data=b"x" * 1000)
            show("POST 1000 bytes", posted, await posted.json())
            moved = await client.get(f"{base}/old", follow=True)
            show("redirect followed", moved, await moved.json())
            print("\nall requests finished:", await client.wait_requests(timeout=5))
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    asyncio.run(main())
