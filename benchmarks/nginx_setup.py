"""Prepare a private nginx instance for the benchmarks (stdlib only).

Usage: python3 nginx_setup.py RUN_DIR

Creates, inside RUN_DIR: the nginx config, the static payloads, a throw-away CA and a
server certificate for 127.0.0.1/localhost, and the log/temp directories.  Free ports
are picked here.  The result is printed as shell assignments for run.sh to ``eval``
(NGINX_FLAGS is a bash array).

Endpoints (on http://127.0.0.1:HTTP_PORT and on https://127.0.0.1:TLS_PORT, which
offers HTTP/2 and HTTP/1.1 through ALPN; the https scenarios use the latter):

* ``GET /small``   -> 200, exactly 100 bytes of text/plain
* ``GET /10m``     -> 200, a 10 MiB static file of random bytes
* ``POST /upload`` -> 200 "ok", sent only after nginx has read the whole body (<= 20 MiB).
  The request is proxied (without its body) to a tiny sink server on a unix socket,
  which forces nginx to buffer the complete request body before answering.  Each
  upload is logged to logs/upload.log with its ``$request_length`` so the harness can
  check that the server really received every byte.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SMALL_BODY = ("aiosonic-bench-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:99] + "\n"
BIG_SIZE = 10 * 1024 * 1024
assert len(SMALL_BODY.encode()) == 100


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx")
    if found:
        return found
    for cand in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(cand, os.X_OK):
            return cand
    sys.exit("nginx_setup: nginx binary not found")


def nginx_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=True)
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    if not m:
        sys.exit(f"nginx_setup: cannot parse nginx version from {out.stderr!r}")
    return tuple(int(x) for x in m.groups())


def nginx_configure_args(binary: str) -> str:
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, check=True)
    return out.stderr + out.stdout


def make_certs(run: Path) -> None:
    """A CA plus a leaf certificate for 127.0.0.1 and localhost, both valid for 2 days."""
    tls = run / "tls"
    tls.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True)

    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=aiosonic benchmark CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (tls / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    )  # fmt: skip


def render_config(
    run: Path, http_port: int, tls_port: int, version: tuple[int, ...], configure: str
) -> str:
    temp_dirs = []
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        if kind != "client_body" and f"--without-http_{kind}_module" in configure:
            continue
        (run / "tmp" / kind).mkdir(parents=True, exist_ok=True)
        temp_dirs.append(f"    {kind}_temp_path {run}/tmp/{kind};")
    # `http2 on;` exists since 1.25.1; older versions take it as a `listen` parameter.
    if version >= (1, 25, 1):
        tls_listen = f"listen 127.0.0.1:{tls_port} ssl;\n        http2 on;"
    else:
        tls_listen = f"listen 127.0.0.1:{tls_port} ssl http2;"
    # Workers of a root master run as `nobody` by default, who may not be able to read a
    # checkout under /root; this server only ever listens on 127.0.0.1.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    locations = f"""
        location = /small {{
            default_type text/plain;
            return 200 "{SMALL_BODY[:-1]}\\n";
        }}
        location = /10m {{
            default_type application/octet-stream;
        }}
        location = /upload {{
            access_log {run}/logs/upload.log upload;
            proxy_pass http://upload_sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Transfer-Encoding "";
        }}
        location / {{
            return 404;
        }}"""
    return f"""# Generated by benchmarks/nginx_setup.py -- private benchmark server, loopback only.
{user}worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile 8192;
daemon off;
master_process on;
pid {run}/nginx.pid;
error_log {run}/logs/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    server_tokens off;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    types {{ }}
    default_type application/octet-stream;
{chr(10).join(temp_dirs)}
    client_max_body_size 20m;
    client_body_buffer_size 20m;
    http2_body_preread_size 1m;
    log_format upload '$status $request_method $request_length $content_length';

    upstream upload_sink {{
        server unix:{run}/sink.sock;
        keepalive 16;
    }}

    server {{
        listen unix:{run}/sink.sock;
        access_log off;
        location / {{
            default_type text/plain;
            return 200 "ok";
        }}
    }}

    server {{
        listen 127.0.0.1:{http_port} default_server;
        root {run}/www;{locations}
    }}

    server {{
        {tls_listen}
        ssl_certificate {run}/tls/server.pem;
        ssl_certificate_key {run}/tls/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench_tls:1m;
        root {run}/www;{locations}
    }}
}}
"""


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run = Path(sys.argv[1]).resolve()
    if any(ch.isspace() or ch in "\"';{}$#" for ch in str(run)):
        sys.exit(f"nginx_setup: unsupported characters in path {run} (nginx config syntax)")
    run.mkdir(parents=True, exist_ok=True)
    (run / "logs").mkdir(exist_ok=True)
    www = run / "www"
    www.mkdir(exist_ok=True)
    (www / "10m").write_bytes(os.urandom(BIG_SIZE))
    make_certs(run)

    binary = nginx_binary()
    version = nginx_version(binary)
    http_port = free_port()
    tls_port = free_port()
    while tls_port == http_port:
        tls_port = free_port()
    conf = run / "nginx.conf"
    conf.write_text(render_config(run, http_port, tls_port, version, nginx_configure_args(binary)))

    flags = ["-p", f"{run}/", "-c", str(conf)]
    if version >= (1, 19, 5):  # -e (startup error log) appeared in 1.19.5
        flags += ["-e", f"{run}/logs/error.log"]
    values = {
        "NGINX_BIN": binary,
        "NGINX_VERSION": ".".join(map(str, version)),
        "HTTP_PORT": str(http_port),
        "TLS_PORT": str(tls_port),
        "TLS_CA": str(run / "tls" / "ca.pem"),
        "UPLOAD_LOG": str(run / "logs" / "upload.log"),
    }
    for key, value in values.items():
        print(f"{key}={shlex.quote(value)}")
    print(f"NGINX_FLAGS=({' '.join(shlex.quote(f) for f in flags)})")


if __name__ == "__main__":
    main()
