"""HTTP/2 against real servers (issue 10 item 15): many concurrent downloads on shared connections.

Each server runs privately on 127.0.0.1 at a free port, with its own config in a
tmp dir, TLS from the test CA and h2 by ALPN, serving a 100-byte and a 5 MiB
file: lighttpd, nginx, h2o, apache2 (mod_http2), caddy and node's http2
module. One client sends rounds of 50 concurrent GETs, half of each size,
bounded by ``sock_read``. ``make test`` installs the servers with apt-get
(``make system-deps``); a server whose binary is missing is skipped.

lighttpd 1.4.69 (``server.stream-response-body = 2``), after a write that
filled its socket, sometimes drops write interest (epoll: input only) with data
to send and our windows open, and sends nothing more until the client speaks
(strace: 4 of 161 such drops in one run; a PING from us wakes it in ms). When
we handed back the connection window only every 8 MiB, the bytes still in the
socket buffers often did not reach that, and 20 to 50 % of rounds had stalled
streams; every MiB (``CONNECTION_WINDOW_UPDATE_STEP``), none in 90 rounds.
lighttpd still stalls by itself now and then (about 1 round in 40 for the
published aiosonic, 1 in 70 for curl), so its test allows one failed round in
10: a false failure needs two server stalls in 10 rounds, about 2.6 % at 1 in
40 and under 1 % at 1 in 70, while the old behaviour failed two or more rounds
of 10 in most runs. The other servers never stalled (0 in 10 rounds each, before
and after the change); they run 3 rounds and must not fail any.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import aiosonic
from aiosonic import HTTPClient, Timeouts

pytest_plugins = ["h2_servers"]
pytestmark = pytest.mark.timeout(120)

SMALL, BIG = 100, 5 * 1024 * 1024
CONCURRENCY = 50
IS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Site:
    """Where a server finds its files: the tmp dir, the document root, the port, TLS files."""

    tmp: Path
    root: Path
    port: int
    cert: str
    key: str


def lighttpd(site: Site) -> list[str]:
    pem = site.tmp / "server.pem"
    pem.write_text(Path(site.cert).read_text() + Path(site.key).read_text())
    conf = site.tmp / "lighttpd.conf"
    conf.write_text(
        f"""
server.modules = ("mod_openssl")
server.document-root = "{site.root}"
server.bind = "127.0.0.1"
server.port = {site.port}
server.errorlog = "{site.tmp}/error.log"
server.stream-response-body = 2
ssl.engine = "enable"
ssl.pemfile = "{pem}"
mimetype.assign = ("" => "application/octet-stream")
"""
    )
    return ["lighttpd", "-D", "-f", str(conf)]


def nginx(site: Site) -> list[str]:
    tmp = site.tmp
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
{"user root;" if IS_ROOT else ""}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    server {{
        listen 127.0.0.1:{site.port} ssl http2;
        ssl_certificate {site.cert};
        ssl_certificate_key {site.key};
        root {site.root};
    }}
}}
"""
    )
    return ["nginx", "-p", str(tmp), "-c", str(conf)]


def h2o(site: Site) -> list[str]:
    conf = site.tmp / "h2o.conf"
    conf.write_text(
        f"""
listen:
  host: 127.0.0.1
  port: {site.port}
  ssl:
    certificate-file: {site.cert}
    key-file: {site.key}
{"user: root" if IS_ROOT else ""}
pid-file: {site.tmp}/h2o.pid
error-log: {site.tmp}/error.log
hosts:
  default:
    paths:
      /:
        file.dir: {site.root}
"""
    )
    return ["h2o", "-c", str(conf)]


def apache2(site: Site) -> list[str]:
    modules = "/usr/lib/apache2/modules"
    # apache refuses to serve as root: its worker is www-data (the root is world-readable).
    user = "User www-data\nGroup www-data" if IS_ROOT else ""
    conf = site.tmp / "httpd.conf"
    conf.write_text(
        f"""
ServerRoot {site.tmp}
ServerName 127.0.0.1
Listen 127.0.0.1:{site.port}
PidFile {site.tmp}/httpd.pid
ErrorLog {site.tmp}/error.log
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule ssl_module {modules}/mod_ssl.so
LoadModule http2_module {modules}/mod_http2.so
{user}
DocumentRoot {site.root}
<Directory {site.root}>
    Require all granted
</Directory>
SSLEngine on
SSLCertificateFile {site.cert}
SSLCertificateKeyFile {site.key}
Protocols h2 http/1.1
"""
    )
    return ["apache2", "-X", "-f", str(conf)]


def caddy(site: Site) -> list[str]:
    conf = site.tmp / "Caddyfile"
    conf.write_text(
        f"""{{
    admin off
    auto_https off
    storage file_system {site.tmp}/caddy
}}
https://127.0.0.1:{site.port} {{
    tls {site.cert} {site.key}
    root * {site.root}
    file_server
}}
"""
    )
    return ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]


NODE_SERVER = """
const http2 = require('http2'), fs = require('fs'), path = require('path');
const [port, cert, key, root] = process.argv.slice(2);
const server = http2.createSecureServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)});
server.on('stream', (stream, headers) => {
  const file = path.join(root, headers[':path']);
  fs.stat(file, (err, stat) => {
    if (err) { stream.respond({':status': 404}); stream.end(); return; }
    stream.respondWithFile(file, {'content-length': stat.size});
  });
});
server.listen(+port, '127.0.0.1');
"""


def node(site: Site) -> list[str]:
    script = site.tmp / "server.js"
    script.write_text(NODE_SERVER)
    return ["node", str(script), str(site.port), site.cert, site.key, str(site.root)]


@dataclass(frozen=True)
class Server:
    binary: str
    configure: Callable[[Site], list[str]]
    rounds: int
    #: Failed rounds tolerated for the server's own stalls (see the module doc).
    stalls_allowed: int = 0


SERVERS = {
    "lighttpd": Server("lighttpd", lighttpd, rounds=10, stalls_allowed=1),
    "nginx": Server("nginx", nginx, rounds=3),
    "h2o": Server("h2o", h2o, rounds=3),
    "apache2": Server("apache2", apache2, rounds=3),
    "caddy": Server("caddy", caddy, rounds=3),
    "node": Server("node", node, rounds=3),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


@pytest.fixture(params=list(SERVERS))
def static_h2_server(
    request: pytest.FixtureRequest, tmp_path: Path, h2_cert_files: dict[str, str]
) -> Iterator[tuple[str, Server]]:
    """A private server (``params``) serving /small and /big over h2: (base URL, spec)."""
    server = SERVERS[request.param]
    binary = shutil.which(server.binary) or shutil.which(server.binary, path="/usr/sbin")
    if binary is None:
        pytest.skip(f"{server.binary} is not installed (`make system-deps` installs it)")
    with tempfile.TemporaryDirectory(prefix="aiosonic-www-") as www:
        root = Path(www)
        root.chmod(0o755)  # apache's worker is not root
        (root / "small").write_bytes(b"s" * SMALL)
        (root / "big").write_bytes(os.urandom(BIG))
        site = Site(tmp_path, root, free_port(), h2_cert_files["cert"], h2_cert_files["key"])
        command = [binary, *server.configure(site)[1:]]
        log = tmp_path / "output.log"
        env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=output, env=env)
        try:
            wait_listening(site.port, process, log)
            yield f"https://127.0.0.1:{site.port}", server
        finally:
            process.terminate()
            process.wait(10)


async def test_concurrent_small_and_big_downloads_do_not_stall(
    static_h2_server: tuple[str, Server], h2_cert_files: dict[str, str]
) -> None:
    base, server = static_h2_server
    context = ssl.create_default_context(cafile=h2_cert_files["ca"])
    context.set_alpn_protocols(["h2", "http/1.1"])  # a caller's context offers what it sets
    timeouts = Timeouts(sock_read=2)

    async def get(client: HTTPClient, index: int) -> None:
        path, size = ("/small", SMALL) if index % 2 else ("/big", BIG)
        response = await client.get(base + path, http2=True, ssl=context, timeouts=timeouts)
        body = await response.content()
        assert (response.status_code, response.http_version, len(body)) == (200, "2", size)

    failed_rounds: list[str] = []
    async with HTTPClient() as client:  # one client: rounds reuse its connections
        for round_no in range(server.rounds):
            jobs = (get(client, i) for i in range(CONCURRENCY))
            results = await asyncio.gather(*jobs, return_exceptions=True)
            errors = [exc for exc in results if exc is not None]
            for exc in errors:
                assert isinstance(exc, aiosonic.exceptions.ReadTimeout), repr(exc)
            if errors:
                failed_rounds.append(f"round {round_no}: {len(errors)} x {errors[0]}")
    assert len(failed_rounds) <= server.stalls_allowed, failed_rounds
