"""HTTPS against in-process servers with trustme certificates.

Certificate verification, host-name checks, ``verify=False``, the
``SSL_CERT_FILE`` trust store, and the rule that a plaintext connection never
carries an ``https`` request (the pool key includes the scheme and TLS setup).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from conftest import HTTPServer, RawServer, read_request

import aiosonic
from aiosonic.exceptions import AiosonicError, ConnectError, TLSError

RawServerFactory = Callable[..., Awaitable[RawServer]]

TLS_HANDSHAKE = 0x16  # TLS record type of a ClientHello (RFC 8446 §5.1)


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text=f"hello {request.scheme}")


@pytest.fixture
async def tls_server(tls_server_context: ssl.SSLContext) -> AsyncIterator[HTTPServer]:
    """An aiohttp HTTPS server whose certificate covers localhost and 127.0.0.1."""
    server = HTTPServer(ssl_context=tls_server_context)
    server.app.router.add_get("/{tail:.*}", _hello)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def wrong_host_server(tls_ca: trustme.CA) -> AsyncIterator[HTTPServer]:
    """An HTTPS server on 127.0.0.1 whose certificate names only example.test."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("example.test").configure_cert(context)
    server = HTTPServer(ssl_context=context)
    server.app.router.add_get("/{tail:.*}", _hello)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def no_env_trust_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the default trust store certifi's, whatever the environment says."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


# --- verification -----------------------------------------------------------


async def test_https_with_a_trusting_ssl_context(
    tls_server: HTTPServer, tls_client_context: ssl.SSLContext
) -> None:
    async with aiosonic.HTTPClient() as client:
        for _ in range(3):
            response = await client.get(tls_server.url + "/x", ssl=tls_client_context)
            assert await response.text() == "hello https"
        assert response.url == tls_server.url + "/x"
    # The TLS connection was kept and reused.
    assert tls_server.connections == 1
    assert tls_server.requests == 3


async def test_https_by_host_name_sends_sni(
    tls_server: HTTPServer, tls_client_context: ssl.SSLContext
) -> None:
    async with aiosonic.HTTPClient() as client:
        response = await client.get(f"https://localhost:{tls_server.port}/", ssl=tls_client_context)
    assert await response.text() == "hello https"


async def test_default_verification_rejects_an_unknown_ca(
    tls_server: HTTPServer, no_env_trust_store: None
) -> None:
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(TLSError, match=f"127.0.0.1:{tls_server.port}") as info:
            await client.get(tls_server.url + "/")
        assert client.connector.is_all_free()
    error = info.value
    assert isinstance(error, ssl.SSLError)
    assert isinstance(error, ConnectError)
    assert isinstance(error, ConnectionError)
    assert "certificate" in str(error).lower()
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert tls_server.requests == 0


async def test_untrusted_certificate_error_is_a_sentence_with_the_fix(
    tls_server: HTTPServer, no_env_trust_store: None
) -> None:
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(TLSError) as info:
            await client.get(f"https://localhost:{tls_server.port}/")
    error = info.value
    assert str(error) == (
        f"TLS handshake with localhost:{tls_server.port} failed: unable to get local issuer "
        "certificate. If you trust this server, pass ssl= with an SSLContext that trusts "
        "its CA, or verify=False to skip verification."
    )
    assert isinstance(error, ssl.SSLError)
    assert error.args == (str(error),)
    # It survives pickling (as between processes) unchanged.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is TLSError
    assert str(copy) == str(error)


async def test_handshake_error_that_is_not_about_the_certificate_has_no_hint(
    raw_server: RawServerFactory,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
        await writer.drain()
        await reader.read()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(TLSError) as info:
            await client.get(f"https://127.0.0.1:{srv.port}/", verify=False)
    message = str(info.value)
    assert message.startswith(f"TLS handshake with 127.0.0.1:{srv.port} failed: ")
    assert message.endswith(".")
    assert "verify=False" not in message
    assert "(" not in message and "_" not in message  # no tuple, no OpenSSL reason code


async def test_certificate_for_another_host_is_rejected(
    wrong_host_server: HTTPServer, tls_client_context: ssl.SSLContext
) -> None:
    # The CA is trusted; only the name is wrong.
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(TLSError, match="mismatch") as info:
            await client.get(wrong_host_server.url + "/", ssl=tls_client_context)
    assert isinstance(info.value, ssl.SSLError)
    assert wrong_host_server.requests == 0


async def test_verify_false_accepts_any_certificate(
    wrong_host_server: HTTPServer, tls_server: HTTPServer, no_env_trust_store: None
) -> None:
    async with aiosonic.HTTPClient() as client:
        response = await client.get(wrong_host_server.url + "/", verify=False)
        assert await response.text() == "hello https"
        response = await client.get(tls_server.url + "/", verify=False)
        assert await response.text() == "hello https"


async def test_verify_ssl_false_on_the_client(
    tls_server: HTTPServer, no_env_trust_store: None
) -> None:
    async with aiosonic.HTTPClient(verify_ssl=False) as client:
        response = await client.get(tls_server.url + "/")
        assert await response.text() == "hello https"
        # A request cannot turn verification back on over a client's decision.
        response = await client.get(tls_server.url + "/", verify=True)
        assert response.status_code == 200


async def test_unverified_connection_is_not_reused_for_a_verified_request(
    tls_server: HTTPServer, no_env_trust_store: None
) -> None:
    async with aiosonic.HTTPClient() as client:
        response = await client.get(tls_server.url + "/", verify=False)
        assert response.status_code == 200
        # The idle unverified connection must not carry a verifying request.
        with pytest.raises(TLSError):
            await client.get(tls_server.url + "/")
    assert tls_server.requests == 1


async def test_distinct_ssl_contexts_do_not_share_connections(
    tls_server: HTTPServer, tls_client_context: ssl.SSLContext, no_env_trust_store: None
) -> None:
    untrusting = ssl.create_default_context()  # system CAs only: not the trustme CA
    async with aiosonic.HTTPClient() as client:
        response = await client.get(tls_server.url + "/", ssl=tls_client_context)
        assert response.status_code == 200
        # Reusing the idle connection would skip this context's verification.
        with pytest.raises(TLSError):
            await client.get(tls_server.url + "/", ssl=untrusting)
        response = await client.get(tls_server.url + "/", ssl=tls_client_context)
        assert response.status_code == 200
    assert tls_server.requests == 2


async def test_ssl_cert_file_makes_default_verification_pass(
    tls_server: HTTPServer,
    tls_ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_env_trust_store: None,
) -> None:
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(TLSError):
            await client.get(tls_server.url + "/")
        # The cached default context is keyed on the environment: the same
        # client picks the new trust store up for its next connection.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        response = await client.get(tls_server.url + "/")
        assert await response.text() == "hello https"
    monkeypatch.delenv("SSL_CERT_FILE")
    async with aiosonic.HTTPClient() as fresh:
        with pytest.raises(TLSError):
            await fresh.get(tls_server.url + "/")
    assert tls_server.requests == 1


# --- scheme separation ------------------------------------------------------


async def test_plaintext_connection_never_carries_https(raw_server: RawServerFactory) -> None:
    first_bytes: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readexactly(1)
        first_bytes.append(first[0])
        if first[0] == TLS_HANDSHAKE:
            return  # a ClientHello: this plaintext server hangs up
        for _ in range(2):  # both http requests share one connection
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
            await writer.drain()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        response = await client.get(f"http://127.0.0.1:{srv.port}/")
        assert await response.text() == "plain"
        # The idle plaintext connection to the same host:port must not be used.
        with pytest.raises(ConnectError):
            await client.get(f"https://127.0.0.1:{srv.port}/", verify=False)
        # ...and it is still fine for plaintext.
        response = await client.get(f"http://127.0.0.1:{srv.port}/")
        assert await response.text() == "plain"
    assert first_bytes[:2] == [ord("G"), TLS_HANDSHAKE]
    assert srv.connections == 2


async def test_tls_connection_never_carries_plain_http(
    tls_server: HTTPServer, tls_client_context: ssl.SSLContext
) -> None:
    async with aiosonic.HTTPClient() as client:
        response = await client.get(tls_server.url + "/", ssl=tls_client_context)
        assert await response.text() == "hello https"
        # Plaintext to a TLS port opens its own connection, which the server
        # cannot parse; the TLS connection is not used for it.
        with pytest.raises(AiosonicError):
            await client.get(f"http://127.0.0.1:{tls_server.port}/")
        response = await client.get(tls_server.url + "/", ssl=tls_client_context)
        assert await response.text() == "hello https"
    assert tls_server.requests == 2


# --- expired certificates and SSL_CERT_DIR ----------------------------------


@pytest.fixture
async def expired_server(tls_ca: trustme.CA) -> AsyncIterator[HTTPServer]:
    """An HTTPS server whose (trusted) certificate expired a day ago."""
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    ).configure_cert(context)
    server = HTTPServer(ssl_context=context)
    server.app.router.add_get("/{tail:.*}", _hello)
    await server.start()
    yield server
    await server.close()


async def test_expired_certificate_is_rejected(
    expired_server: HTTPServer, tls_client_context: ssl.SSLContext
) -> None:
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(TLSError, match="expired") as info:
            await client.get(expired_server.url + "/", ssl=tls_client_context)
        assert client.connector.is_all_free()
    assert isinstance(info.value, ssl.SSLError)
    assert expired_server.requests == 0


async def test_ssl_cert_dir_makes_default_verification_pass(
    tls_server: HTTPServer,
    tls_ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_env_trust_store: None,
) -> None:
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to name the CA file by its subject hash")
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(ca_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copy(ca_file, cert_dir / f"{subject_hash}.0")
    monkeypatch.setenv("SSL_CERT_DIR", str(cert_dir))
    async with aiosonic.HTTPClient() as client:
        response = await client.get(tls_server.url + "/")
        assert await response.text() == "hello https"


def _serve_then_watch_close(listener: socket.socket, context: ssl.SSLContext) -> tuple[bool, bool]:
    """Answer one request over TLS, never answer the client's closure alert.

    Runs in a thread with blocking sockets (5 s timeouts). Returns whether the
    client sent a proper ``close_notify``, and whether it then closed the TCP
    connection without waiting for ours.
    """
    conn, _ = listener.accept()
    conn.settimeout(5)
    with context.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False) as tls:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(4096)
            if not chunk:
                return False, False
            head += chunk
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            alert = tls.recv(4096) == b""  # b"" only for a real close_notify
        except (ssl.SSLError, OSError):
            alert = False
        with socket.socket(fileno=os.dup(tls.fileno())) as raw:
            raw.settimeout(5)
            try:
                closed = raw.recv(1) == b""
            except ConnectionResetError:
                closed = True
            except TimeoutError:
                closed = False
    return alert, closed


async def test_close_sends_closure_alert_and_does_not_wait_for_the_servers(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    """RFC 9112 §9.8: send close_notify, then close without waiting for the peer's.

    asyncio's TLS transport would wait up to 30 s for the server's alert, so a
    silent server would keep our socket open long after the client closed.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        port = listener.getsockname()[1]
        server = asyncio.create_task(
            asyncio.to_thread(_serve_then_watch_close, listener, tls_server_context)
        )
        async with aiosonic.HTTPClient() as client:
            response = await client.get(f"https://127.0.0.1:{port}/", ssl=tls_client_context)
            assert await response.content() == b"ok"
        alert, closed = await server
    assert alert, "no close_notify was sent before the connection closed"
    assert closed, "the client kept the socket open, waiting for the server's alert"


async def test_new_clients_reuse_one_ssl_context(tls_server: HTTPServer) -> None:
    """Loading the CA bundle costs milliseconds: a second client must not pay it again."""
    contexts = []
    for _ in range(2):
        async with aiosonic.HTTPClient() as client:
            response = await client.get(tls_server.url + "/", verify=False)
            assert await response.text() == "hello https"
            contexts.append(client.connector.tls.get(False))
    assert contexts[0] is contexts[1]
