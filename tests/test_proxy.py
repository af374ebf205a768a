"""Proxies: HTTP absolute-form, CONNECT tunnels, SOCKS5 and the environment.

Real proxies are started by fixtures on 127.0.0.1, port 0:

* ``proxy.py`` (PyPI), as a subprocess with basic auth, for absolute-form and
  CONNECT;
* ``pproxy`` (PyPI), in-process, as a SOCKS5 server with and without auth;
* scripted proxies on ``raw_server`` for exact and odd replies, and a small
  CONNECT relay that counts tunnels and records the bytes it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pproxy
import pytest
import trustme
from aiohttp import web
from conftest import HTTPServer, RawServer, read_request

import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.exceptions import (
    ConnectError,
    ConnectTimeout,
    HttpParsingError,
    InvalidRequest,
    ProxyError,
    TLSError,
)
from aiosonic.proxy import EnvironmentProxies, Proxy
from aiosonic.resolver import AbstractResolver, ip_literal_answer
from aiosonic.tunnel import connect_request_head

MakeRaw = Callable[..., Awaitable[RawServer]]
PROXY_USER, PROXY_PASSWORD = "user", "pass"
PROXY_CREDENTIALS = f"{PROXY_USER}:{PROXY_PASSWORD}"
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def proxy_py(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run proxy.py with basic auth; yield its ``127.0.0.1:port``."""
    workdir = tmp_path_factory.mktemp("proxy_py")
    port_file = workdir / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy",
            "--hostname",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--basic-auth",
            PROXY_CREDENTIALS,
            "--num-workers",
            "1",
            "--num-acceptors",
            "1",
            "--threaded",
            "--log-level",
            "ERROR",
            "--data-dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # proxy.py reports its ephemeral port only through --port-file.
        deadline = time.monotonic() + 15
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"proxy.py did not start (exit code {process.poll()})")
            time.sleep(0.02)
        port = int(port_file.read_text().split()[0])
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _start_socks(auth: str | None) -> tuple[asyncio.Server, int]:
    fragment = f"#{auth}" if auth else ""
    server = pproxy.Server(f"socks5://127.0.0.1:0{fragment}")
    # authtime=0: pproxy would otherwise remember an authenticated client IP
    # and let later connections from it skip authentication.
    listener = await server.start_server({"rserver": [], "authtime": 0})
    return listener, listener.sockets[0].getsockname()[1]


@pytest.fixture
async def socks_server() -> AsyncIterator[int]:
    """A pproxy SOCKS5 server without authentication; yields its port."""
    listener, port = await _start_socks(None)
    yield port
    listener.close()
    await listener.wait_closed()


@pytest.fixture
async def socks_auth_server() -> AsyncIterator[int]:
    """A pproxy SOCKS5 server requiring ``user:pass`` (RFC 1929); yields its port."""
    listener, port = await _start_socks(PROXY_CREDENTIALS)
    yield port
    listener.close()
    await listener.wait_closed()


async def _echo_headers(request: web.Request) -> web.Response:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    return web.json_response(
        {
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "path": request.path_qs,
            "tls": ssl_object is not None,
        }
    )


@pytest.fixture
async def origin(http_server: HTTPServer) -> HTTPServer:
    """A plaintext origin that echoes the request headers as JSON."""
    http_server.app.router.add_get("/{tail:.*}", _echo_headers)
    return await http_server.start()


class TLSOrigin:
    """An https origin on 127.0.0.1 for ``localhost`` that records the SNI it sees."""

    def __init__(self, tls_ca: trustme.CA, names: tuple[str, ...]) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_ca.issue_cert(*names).configure_cert(context)
        self.server_names: list[str | None] = []

        def record(sock: Any, name: str | None, ctx: ssl.SSLContext) -> None:
            self.server_names.append(name)

        context.sni_callback = record
        self.server = HTTPServer(ssl_context=context)
        self.server.app.router.add_get("/{tail:.*}", _echo_headers)

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
async def tls_origin(tls_ca: trustme.CA) -> AsyncIterator[TLSOrigin]:
    origin = TLSOrigin(tls_ca, ("localhost", "127.0.0.1"))
    await origin.server.start()
    yield origin
    await origin.server.close()


class TunnelRelay:
    """A scripted CONNECT proxy: answers ``reply`` and then relays bytes both ways.

    Attributes:
        heads: Each request head received, one per connection.
        client_bytes: Per tunnel, every byte the client sent after the reply.
    """

    def __init__(self, reply: bytes = ESTABLISHED) -> None:
        self.reply = reply
        self.heads: list[bytes] = []
        self.client_bytes: list[bytearray] = []

    @property
    def tunnels(self) -> int:
        return len(self.client_bytes)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        authority = head.split(b" ", 2)[1].decode()
        host, _, port = authority.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        writer.write(self.reply)
        sent = bytearray()
        self.client_bytes.append(sent)

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, log: bytearray | None
        ) -> None:
            while data := await src.read(65536):
                if log is not None:
                    log += data
                dst.write(data)
                await dst.drain()
            with contextlib.suppress(OSError):
                dst.write_eof()

        try:
            await asyncio.gather(pump(reader, up_writer, sent), pump(up_reader, writer, None))
        finally:
            up_writer.close()


@pytest.fixture
async def relay(raw_server: MakeRaw) -> tuple[TunnelRelay, RawServer]:
    tunnel = TunnelRelay()
    server = await raw_server(tunnel.handle)
    return tunnel, server


class RecordingResolver(AbstractResolver):
    """Resolves ``*.test`` and ``localhost`` to 127.0.0.1 and records every name asked."""

    def __init__(self) -> None:
        self.names: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        self.names.append(host)
        answer = ip_literal_answer("127.0.0.1", port)
        assert answer is not None
        return answer

    async def close(self) -> None:
        pass


async def _json(response: aiosonic.HttpResponse) -> Any:
    assert response.status_code == 200, await response.text()
    return await response.json()


# --- values: Proxy, CONNECT head, environment --------------------------------------


def test_pool_id_separates_credentials_and_hides_them() -> None:
    plain = Proxy("http://h:3128")
    alice = Proxy("http://h:3128", auth="alice:secret")
    bob = Proxy("http://bob:secret@h:3128")
    assert plain.pool_id == "http://h:3128"
    assert alice.pool_id.startswith("http://h:3128#")
    assert len({plain.pool_id, alice.pool_id, bob.pool_id}) == 3
    assert "secret" not in alice.pool_id and "secret" not in repr(alice)
    assert Proxy("http://alice:secret@h:3128").pool_id == alice.pool_id


def test_proxy_url_userinfo_is_decoded() -> None:
    proxy = Proxy("socks5h://us%40er:p%3Ass@h")
    assert (proxy.scheme, proxy.host, proxy.port) == ("socks5h", "h", 1080)
    assert (proxy.username, proxy.password) == ("us@er", "p:ss")
    assert proxy.is_socks and not Proxy("h:1").is_socks


@pytest.mark.parametrize(
    ("authority", "auth", "expected"),
    [
        (
            "example.com:443",
            None,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        (
            "[::1]:8443",
            "Basic dTpw",
            b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"
            b"Proxy-Authorization: Basic dTpw\r\n\r\n",
        ),
    ],
)
def test_connect_request_head(authority: str, auth: str | None, expected: bytes) -> None:
    assert connect_request_head(authority, auth) == expected


def test_connect_request_head_refuses_injection() -> None:
    with pytest.raises(InvalidRequest):
        connect_request_head("h:443", "Basic x\r\nX-Evil: 1")


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "anything.example", 80, True),
        ("example.com", "example.com", 80, True),
        ("example.com", "api.example.com", 443, True),
        (".example.com", "api.example.com", 443, True),
        (".example.com", "notexample.com", 443, False),
        ("10.1.2.3", "10.1.2.3", 80, True),
        ("10.1.2.3", "10.1.2.4", 80, False),
        ("localhost:8080", "localhost", 8080, True),
        ("localhost:8080", "localhost", 8081, False),
        ("::1", "::1", 443, True),
        (" a.test , B.TEST ", "b.test", 80, True),
        ("", "example.com", 80, False),
    ],
)
def test_no_proxy_matching(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    env = EnvironmentProxies({"http": "http://p:3128", "https": "http://p:3128", "no": no_proxy})
    assert env.is_bypassed(host, port) is bypassed
    assert (env.proxy_for("http", host, port) is None) is bypassed


def test_environment_variables_lowercase_wins_and_all_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("https_proxy", "http://lower:2")
    monkeypatch.setenv("ALL_PROXY", "socks5h://all:3")
    env = EnvironmentProxies()
    assert env.proxy_for("https", "x.test", 443) == Proxy("http://lower:2")
    assert env.proxy_for("http", "x.test", 80) == Proxy("socks5h://all:3")
    assert env.proxy_for("wss", "x.test", 443) == Proxy("http://lower:2")


def test_environment_with_a_bad_proxy_url_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="HTTP_PROXY"):
        EnvironmentProxies({"http": "ftp://h:21"})


# --- proxy.py: absolute-form and CONNECT with basic auth ---------------------------


@pytest.mark.parametrize("style", ["auth", "userinfo"])
async def test_http_through_proxy_py_absolute_form(
    proxy_py: str, origin: HTTPServer, style: str
) -> None:
    proxy = (
        Proxy(proxy_py, auth=PROXY_CREDENTIALS)
        if style == "auth"
        else Proxy(f"http://{PROXY_CREDENTIALS}@{proxy_py}")
    )
    async with aiosonic.HTTPClient(proxy=proxy) as client:
        seen = await _json(await client.get(origin.url + "/a?b=1"))
    assert seen["path"] == "/a?b=1"
    assert "proxy.py" in seen["headers"]["via"]  # it really went through the proxy
    assert "proxy-authorization" not in seen["headers"]


async def test_http_through_proxy_py_requires_credentials(
    proxy_py: str, origin: HTTPServer
) -> None:
    async with aiosonic.HTTPClient(proxy=Proxy(proxy_py)) as client:
        for proxy in (None, Proxy(proxy_py, auth="user:wrong")):
            response = await client.get(origin.url + "/", proxy=proxy)
            assert response.status_code == 407
            assert "Proxy-Authenticate" in response.headers
            await response.content()
    assert origin.requests == 0


async def test_https_through_proxy_py_connect_tunnel(
    proxy_py: str, tls_origin: TLSOrigin, tls_client_context: ssl.SSLContext
) -> None:
    url = f"https://localhost:{tls_origin.port}/secret?q=1"
    async with aiosonic.HTTPClient(proxy=Proxy(proxy_py, auth=PROXY_CREDENTIALS)) as client:
        response = await client.get(url, ssl=tls_client_context)
        seen = await _json(response)
        second = await client.get(url, ssl=tls_client_context)
        await _json(second)
    assert seen["tls"] is True and seen["path"] == "/secret?q=1"
    assert "proxy-authorization" not in seen["headers"]
    assert "via" not in seen["headers"]  # a tunnel: the proxy could not add headers
    assert tls_origin.server_names == ["localhost"]  # SNI of the origin, one handshake
    assert second.timings is not None and second.timings.reused_connection
    assert tls_origin.server.connections == 1


@pytest.mark.parametrize("auth", [None, "user:wrong"])
async def test_https_through_proxy_py_refused_without_credentials(
    proxy_py: str,
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
    auth: str | None,
) -> None:
    async with aiosonic.HTTPClient(proxy=Proxy(proxy_py, auth=auth)) as client:
        with pytest.raises(ProxyError) as info:
            await client.get(f"https://localhost:{tls_origin.port}/", ssl=tls_client_context)
        assert client.connector.is_all_free()
    assert info.value.status_code == 407
    assert "407" in str(info.value) and proxy_py in str(info.value)
    assert tls_origin.server.requests == 0


async def test_per_request_proxy_overrides_the_clients(proxy_py: str, origin: HTTPServer) -> None:
    async with aiosonic.HTTPClient(proxy=Proxy(proxy_py)) as client:
        seen = await _json(
            await client.get(origin.url + "/", proxy=Proxy(proxy_py, auth=PROXY_CREDENTIALS))
        )
    assert "via" in seen["headers"]


# --- scripted CONNECT relay: TLS inside the tunnel, pooling --------------------------


async def test_tls_runs_inside_the_tunnel(
    relay: tuple[TunnelRelay, RawServer],
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
) -> None:
    tunnel, server = relay
    proxy = Proxy(f"127.0.0.1:{server.port}", auth="u:p")
    async with aiosonic.HTTPClient(proxy=proxy) as client:
        seen = await _json(
            await client.get(f"https://localhost:{tls_origin.port}/hidden", ssl=tls_client_context)
        )
    assert seen["tls"] is True
    assert tunnel.heads == [
        f"CONNECT localhost:{tls_origin.port} HTTP/1.1\r\n"
        f"Host: localhost:{tls_origin.port}\r\n"
        "Proxy-Authorization: Basic dTpw\r\n\r\n".encode()
    ]
    carried = bytes(tunnel.client_bytes[0])
    assert carried[:1] == b"\x16"  # a TLS handshake record, not HTTP
    assert b"/hidden" not in carried and b"Proxy-Authorization" not in carried
    assert tls_origin.server_names == ["localhost"]


async def test_tunnel_checks_the_origin_host_name(
    relay: tuple[TunnelRelay, RawServer], tls_ca: trustme.CA, tls_client_context: ssl.SSLContext
) -> None:
    other = TLSOrigin(tls_ca, ("other.test",))
    await other.server.start()
    try:
        async with aiosonic.HTTPClient(proxy=Proxy(f"127.0.0.1:{relay[1].port}")) as client:
            with pytest.raises(TLSError, match="via proxy"):
                await client.get(f"https://localhost:{other.port}/", ssl=tls_client_context)
            assert client.connector.is_all_free()
    finally:
        await other.server.close()
    assert other.server_names == ["localhost"]
    assert other.server.requests == 0


async def test_tunnels_are_pooled_per_proxy_and_origin(
    relay: tuple[TunnelRelay, RawServer],
    tls_origin: TLSOrigin,
    tls_ca: trustme.CA,
    tls_client_context: ssl.SSLContext,
) -> None:
    tunnel, server = relay
    second_origin = TLSOrigin(tls_ca, ("localhost", "127.0.0.1"))
    await second_origin.server.start()
    proxy = Proxy(f"127.0.0.1:{server.port}")
    url_a = f"https://localhost:{tls_origin.port}/"
    url_b = f"https://localhost:{second_origin.port}/"
    try:
        async with aiosonic.HTTPClient(proxy=proxy) as client:
            for _ in range(3):
                await _json(await client.get(url_a, ssl=tls_client_context))
            assert tunnel.tunnels == 1
            await _json(await client.get(url_b, ssl=tls_client_context))
            await _json(await client.get(url_b, ssl=tls_client_context))
    finally:
        await second_origin.server.close()
    assert tunnel.tunnels == 2
    assert {head.split(b" ")[1] for head in tunnel.heads} == {
        f"localhost:{tls_origin.port}".encode(),
        f"localhost:{second_origin.port}".encode(),
    }
    assert tls_origin.server.connections == 1
    assert second_origin.server.connections == 1


async def test_direct_and_proxied_connections_never_mix(
    relay: tuple[TunnelRelay, RawServer],
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
    raw_server: MakeRaw,
) -> None:
    """One connector, one pool: a proxied request never reuses a direct connection."""
    tunnel, server = relay
    url = f"https://localhost:{tls_origin.port}/"
    connector = TCPConnector(pool_size=1)  # one slot: any reuse would be visible
    async with aiosonic.HTTPClient(connector=connector) as client:
        first = await client.get(url, ssl=tls_client_context)
        await _json(first)
        proxied = await client.get(
            url, ssl=tls_client_context, proxy=Proxy(f"127.0.0.1:{server.port}")
        )
        await _json(proxied)
        assert proxied.timings is not None and not proxied.timings.reused_connection
        assert tunnel.tunnels == 1
        again = await client.get(url, ssl=tls_client_context)
        await _json(again)
        assert again.timings is not None and not again.timings.reused_connection
    assert tls_origin.server.connections == 3


async def test_credentials_are_part_of_the_pool_key(
    relay: tuple[TunnelRelay, RawServer],
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
) -> None:
    tunnel, server = relay
    url = f"https://localhost:{tls_origin.port}/"
    async with aiosonic.HTTPClient() as client:
        for auth in ("a:1", "b:2", "a:1"):
            proxy = Proxy(f"127.0.0.1:{server.port}", auth=auth)
            await _json(await client.get(url, ssl=tls_client_context, proxy=proxy))
    assert tunnel.tunnels == 2


async def test_https_proxy_tls_to_the_proxy_and_the_origin(
    raw_server: MakeRaw,
    tls_origin: TLSOrigin,
    tls_ca: trustme.CA,
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ``https://`` proxy: TLS to the proxy, and TLS to the origin inside that."""
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the proxy is verified too
    tunnel = TunnelRelay()
    server = await raw_server(tunnel.handle, tls_server_context)
    async with aiosonic.HTTPClient(proxy=Proxy(f"https://localhost:{server.port}")) as client:
        seen = await _json(
            await client.get(f"https://localhost:{tls_origin.port}/", ssl=tls_client_context)
        )
    assert seen["tls"] is True
    assert tunnel.tunnels == 1 and tunnel.heads[0].startswith(b"CONNECT localhost:")


# --- scripted proxies: odd replies -------------------------------------------------


class ScriptedProxy:
    """Answers the first request head with ``reply``; then closes, or waits for EOF."""

    def __init__(self, reply: bytes, close: bool) -> None:
        self.reply = reply
        self.close = close
        self.heads: list[bytes] = []
        self.client_closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(self.reply)
        await writer.drain()
        if not self.close:
            await reader.read()  # hold the connection until the client closes it
            self.client_closed.set()


async def _scripted(
    raw_server: MakeRaw, reply: bytes, close: bool = True
) -> tuple[ScriptedProxy, RawServer]:
    script = ScriptedProxy(reply, close)
    return script, await raw_server(script.handle)


async def _connect_through(server: RawServer, target: str = "https://origin.test/") -> Any:
    async with aiosonic.HTTPClient(proxy=Proxy(f"127.0.0.1:{server.port}")) as client:
        try:
            return await client.get(target)
        finally:
            assert client.connector.is_all_free()


async def test_connect_refused_with_403(raw_server: MakeRaw) -> None:
    reply = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden"
    script, server = await _scripted(raw_server, reply, close=False)
    with pytest.raises(ProxyError) as info:
        await _connect_through(server)
    assert info.value.status_code == 403
    assert "403 Forbidden" in str(info.value) and "CONNECT origin.test:443" in str(info.value)
    assert script.heads == [b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"]
    await asyncio.wait_for(script.client_closed.wait(), 5)  # we closed the connection


async def test_connect_407_carries_the_status(raw_server: MakeRaw) -> None:
    reply = (
        b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    with pytest.raises(ProxyError) as info:
        await _connect_through((await _scripted(raw_server, reply))[1])
    assert info.value.status_code == 407


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 Connection established\r\nProxy-Agent: scripted/1.0\r\n"
        b"X-Extra: yes\r\nConnection: close\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        # RFC 9112 §2.2: bare LF line endings; the proxy keeps the connection open.
        b"HTTP/1.1 200 Connection established\nProxy-Agent: scripted/1.0\n\n",
        b"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\r\nProxy-Agent: x\n\r\n",
    ],
    ids=["extra-headers", "http10", "informational-then-204", "bare-lf", "bare-lf-informational"],
)
async def test_any_2xx_opens_the_tunnel(
    raw_server: MakeRaw,
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
    reply: bytes,
) -> None:
    tunnel = TunnelRelay(reply)
    server = await raw_server(tunnel.handle)
    async with aiosonic.HTTPClient(proxy=Proxy(f"127.0.0.1:{server.port}")) as client:
        url = f"https://localhost:{tls_origin.port}/"
        await _json(await client.get(url, ssl=tls_client_context))
        await _json(await client.get(url, ssl=tls_client_context))
    assert tunnel.tunnels == 1


@pytest.mark.parametrize(
    "reply",
    [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 abc Nope\r\n\r\n", b"\x05\x00"],
    ids=["ssh-banner", "bad-status", "socks-bytes"],
)
async def test_non_http_reply_to_connect(raw_server: MakeRaw, reply: bytes) -> None:
    with pytest.raises(ProxyError) as info:
        await _connect_through((await _scripted(raw_server, reply))[1])
    assert info.value.status_code is None
    assert isinstance(info.value.__cause__, HttpParsingError | ConnectionError)


async def test_proxy_closes_during_connect(raw_server: MakeRaw) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 Conn")  # half a status line, then gone

    with pytest.raises(ProxyError, match="closed the connection"):
        await _connect_through(await raw_server(handler))


async def test_bytes_after_the_2xx_reply_are_refused(raw_server: MakeRaw) -> None:
    script, server = await _scripted(
        raw_server, ESTABLISHED + b"HTTP/1.1 200 OK\r\n\r\n", close=False
    )
    with pytest.raises(ProxyError, match="unexpected byte"):
        await _connect_through(server)
    await asyncio.wait_for(script.client_closed.wait(), 5)


async def test_silent_proxy_runs_into_sock_connect(raw_server: MakeRaw) -> None:
    script, server = await _scripted(raw_server, b"", close=False)
    timeouts = aiosonic.Timeouts(sock_connect=0.2)
    async with aiosonic.HTTPClient(proxy=Proxy(f"127.0.0.1:{server.port}")) as client:
        with pytest.raises(ConnectTimeout, match=r"via http://127\.0\.0\.1"):
            await client.get("https://origin.test/", timeouts=timeouts)
        assert client.connector.is_all_free()
    await asyncio.wait_for(script.client_closed.wait(), 5)


async def test_unreachable_proxy_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(ConnectError, match=f"proxy http://127.0.0.1:{port}"):
            async with aiosonic.HTTPClient(proxy=Proxy(f"127.0.0.1:{port}")) as client:
                await client.get("http://origin.test/")


async def test_absolute_form_request_bytes(raw_server: MakeRaw) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            server.received.append(await read_request(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = await raw_server(handler)
    proxy = Proxy(f"127.0.0.1:{server.port}", auth="u:p")
    async with aiosonic.HTTPClient(proxy=proxy) as client:
        response = await client.get("http://origin.test:8080/p%20q?x=1#frag")
        assert await response.text() == "ok"
        await client.get("http://other.test/")
        # The cached origin-form head is not used for proxies, nor theirs for direct.
        await client.get("http://origin.test:8080/p%20q?x=1#frag")
    first = server.received[0]
    assert first.startswith(
        b"GET http://origin.test:8080/p%20q?x=1 HTTP/1.1\r\nHost: origin.test:8080\r\n"
    )
    assert b"\r\nProxy-Authorization: Basic dTpw\r\n" in first
    assert server.received[1].startswith(b"GET http://other.test/ HTTP/1.1\r\n")
    assert server.received[2] == first
    assert server.connections == 2  # pooled per origin: origin.test reused its connection


# --- SOCKS5 (pproxy) --------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_socks5_without_auth(socks_server: int, origin: HTTPServer, scheme: str) -> None:
    resolver = RecordingResolver()
    connector = TCPConnector(resolver=resolver)
    proxy = Proxy(f"{scheme}://127.0.0.1:{socks_server}")
    url = f"http://localhost.test:{origin.port}/s"
    async with aiosonic.HTTPClient(connector=connector, proxy=proxy) as client:
        if scheme == "socks5":
            seen = await _json(await client.get(url))
            assert seen["headers"]["host"] == f"localhost.test:{origin.port}"
            assert resolver.names == ["localhost.test"]  # resolved here, sent as an IP
            again = await client.get(url)
            await _json(again)
            assert again.timings is not None and again.timings.reused_connection
        else:
            # The proxy resolves: "localhost" never reaches our resolver.
            seen = await _json(await client.get(f"http://localhost:{origin.port}/s"))
            assert seen["path"] == "/s"
            assert resolver.names == []
    assert origin.connections == 1


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_socks5_with_auth_and_tls_origin(
    socks_auth_server: int,
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
    scheme: str,
) -> None:
    proxy = Proxy(f"{scheme}://{PROXY_CREDENTIALS}@127.0.0.1:{socks_auth_server}")
    async with aiosonic.HTTPClient(proxy=proxy) as client:
        seen = await _json(
            await client.get(f"https://localhost:{tls_origin.port}/", ssl=tls_client_context)
        )
    assert seen["tls"] is True
    assert tls_origin.server_names == ["localhost"]


@pytest.mark.parametrize("auth", [None, "user:wrong"])
async def test_socks5_refuses_bad_credentials(
    socks_auth_server: int, origin: HTTPServer, auth: str | None
) -> None:
    proxy = Proxy(f"socks5://127.0.0.1:{socks_auth_server}", auth=auth)
    async with aiosonic.HTTPClient(proxy=proxy) as client:
        with pytest.raises(ProxyError, match="SOCKS proxy refused"):
            await client.get(origin.url + "/")
        assert client.connector.is_all_free()
    assert origin.requests == 0


async def test_socks5_unreachable_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with aiosonic.HTTPClient(proxy=Proxy(f"socks5h://127.0.0.1:{port}")) as client:
            with pytest.raises(ConnectError, match="SOCKS proxy"):
                await client.get("http://origin.test/")


async def test_socks_without_python_socks_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "python_socks", None)
    async with aiosonic.HTTPClient(proxy=Proxy("socks5://127.0.0.1:1")) as client:
        with pytest.raises(InvalidRequest, match=r"aiosonic\[socks\]"):
            await client.get("http://origin.test/")
        assert client.connector.is_all_free()


# --- trust_env ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    return monkeypatch


async def test_trust_env_uses_http_proxy(
    clean_env: pytest.MonkeyPatch, proxy_py: str, origin: HTTPServer
) -> None:
    clean_env.setenv("http_proxy", f"http://{PROXY_CREDENTIALS}@{proxy_py}")
    async with aiosonic.HTTPClient(trust_env=True) as client:
        seen = await _json(await client.get(origin.url + "/"))
    assert "via" in seen["headers"]
    async with aiosonic.HTTPClient() as client:  # trust_env defaults to False
        seen = await _json(await client.get(origin.url + "/"))
    assert "via" not in seen["headers"]


async def test_trust_env_https_proxy_and_no_proxy(
    clean_env: pytest.MonkeyPatch,
    relay: tuple[TunnelRelay, RawServer],
    tls_origin: TLSOrigin,
    tls_client_context: ssl.SSLContext,
) -> None:
    tunnel, server = relay
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.port}")
    clean_env.setenv("NO_PROXY", "127.0.0.1,.internal.test")
    async with aiosonic.HTTPClient(trust_env=True) as client:
        await _json(
            await client.get(f"https://localhost:{tls_origin.port}/", ssl=tls_client_context)
        )
        assert tunnel.tunnels == 1
        await _json(
            await client.get(f"https://127.0.0.1:{tls_origin.port}/", ssl=tls_client_context)
        )
        assert tunnel.tunnels == 1  # NO_PROXY: direct
    assert tls_origin.server.connections == 2


async def test_explicit_proxy_wins_over_the_environment(
    clean_env: pytest.MonkeyPatch, raw_server: MakeRaw, origin: HTTPServer
) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 502 Env Proxy\r\nContent-Length: 0\r\n\r\n")

    env_proxy = await raw_server(refuse)
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{env_proxy.port}")
    async with aiosonic.HTTPClient(trust_env=True) as client:
        assert (await client.get(origin.url + "/")).status_code == 502
    socks, port = await _start_socks(None)
    try:
        explicit = Proxy(f"socks5://127.0.0.1:{port}")
        async with aiosonic.HTTPClient(trust_env=True, proxy=explicit) as client:
            await _json(await client.get(origin.url + "/"))
        async with aiosonic.HTTPClient(trust_env=True) as client:
            await _json(await client.get(origin.url + "/", proxy=explicit))
    finally:
        socks.close()
        await socks.wait_closed()
    assert env_proxy.connections == 1
