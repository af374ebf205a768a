"""HTTP/2 against real servers (issue 10 item 15): many concurrent downloads on shared connections.

Each server runs privately on 127.0.0.1 at a free port, with its own config in a
tmp dir, TLS from the test CA and h2 by ALPN, serving a 100-byte and a 5 MiB
file. One client sends 10 rounds of 50 concurrent GETs, half of each size,
bounded by ``sock_read``. ``make test`` installs the servers (``make system-deps``).

lighttpd 1.4.69 (``server.stream-response-body = 2``) sometimes parks a
connection with our windows open and nothing in its socket, and waits for the
client to speak (its epoll entry then asks for input only; any frame from us,
a PING say, wakes it at once). When we handed back the connection window only
every 8 MiB, that left 20 to 40 % of rounds with stalled streams; we now hand
it back every MiB (``CONNECTION_WINDOW_UPDATE_STEP``) and saw none in 60 rounds.
lighttpd still stalls by itself now and then (about 1 round in 40 for the
published aiosonic, 1 in 70 for curl), so the pass criterion allows one failed
round in 10: a false failure needs two server stalls in 10 rounds, about 2.6 %
at 1 in 40 and under 1 % at 1 in 70, while the old behaviour fails two or more
rounds of 10 most of the time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import aiosonic
from aiosonic import HTTPClient, TCPConnector, Timeouts

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(120)

SMALL, BIG = 100, 5 * 1024 * 1024
ROUNDS, CONCURRENCY = 10, 50
#: Failed rounds tolerated in ROUNDS for the server's own stalls (see the module doc).
SERVER_STALLS_ALLOWED = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}")


def lighttpd_config(tmp: Path, root: Path, port: int, files: dict[str, str]) -> list[str]:
    pem = tmp / "server.pem"
    pem.write_text(Path(files["cert"]).read_text() + Path(files["key"]).read_text())
    conf = tmp / "lighttpd.conf"
    conf.write_text(
        f"""
server.modules = ("mod_openssl")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{tmp}/error.log"
server.stream-response-body = 2
ssl.engine = "enable"
ssl.pemfile = "{pem}"
mimetype.assign = ("" => "application/octet-stream")
"""
    )
    return ["lighttpd", "-D", "-f", str(conf)]


def nginx_config(tmp: Path, root: Path, port: int, files: dict[str, str]) -> list[str]:
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
{"user root;" if os.geteuid() == 0 else ""}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {files["cert"]};
        ssl_certificate_key {files["key"]};
        root {root};
    }}
}}
"""
    )
    return [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp), "-c", str(conf)]


SERVERS: dict[str, tuple[str, Callable[..., list[str]]]] = {
    "lighttpd": ("lighttpd", lighttpd_config),
    "nginx": ("nginx", nginx_config),
}


@pytest.fixture(params=list(SERVERS))
def static_h2_server(
    request: pytest.FixtureRequest, tmp_path: Path, h2_cert_files: dict[str, str]
) -> Iterator[str]:
    """The base URL of a private server (``params``) serving /small and /big over h2."""
    binary, make_config = SERVERS[request.param]
    if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
        pytest.skip(f"{binary} is not installed (`make system-deps` installs it with apt-get)")
    root = tmp_path / "www"
    root.mkdir()
    (root / "small").write_bytes(b"s" * SMALL)
    (root / "big").write_bytes(os.urandom(BIG))
    port = free_port()
    command = make_config(tmp_path, root, port, h2_cert_files)
    log = tmp_path / "error.log"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process, log)
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def test_concurrent_small_and_big_downloads_do_not_stall(
    static_h2_server: str, h2_cert_files: dict[str, str]
) -> None:
    context = ssl.create_default_context(cafile=h2_cert_files["ca"])
    timeouts = Timeouts(sock_read=2)

    async def get(client: HTTPClient, index: int) -> None:
        path, size = ("/small", SMALL) if index % 2 else ("/big", BIG)
        response = await client.get(
            static_h2_server + path, http2=True, ssl=context, timeouts=timeouts
        )
        body = await response.content()
        assert (response.status_code, response.http_version, len(body)) == (200, "2", size)

    failed_rounds: list[str] = []
    async with HTTPClient(TCPConnector(http2_config=aiosonic.Http2Config())) as client:
        for round_no in range(ROUNDS):
            jobs = (get(client, i) for i in range(CONCURRENCY))
            results = await asyncio.gather(*jobs, return_exceptions=True)
            errors = [exc for exc in results if exc is not None]
            for exc in errors:
                assert isinstance(exc, aiosonic.exceptions.ReadTimeout), repr(exc)
            if errors:
                failed_rounds.append(f"round {round_no}: {len(errors)} x {errors[0]}")
    assert len(failed_rounds) <= SERVER_STALLS_ALLOWED, failed_rounds
