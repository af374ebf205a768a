"""Client certificates (``cert=``) against an in-process HTTPS server that requires one.

The server (aiohttp over TLS, trustme CA) answers with the common name of the
certificate the client presented. The client trusts the CA through
``SSL_CERT_FILE``, since ``cert=`` goes with our own contexts, not ``ssl=``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from conftest import HTTPServer
from cryptography.hazmat.primitives import serialization

import aiosonic
from aiosonic.exceptions import AiosonicError, InvalidRequest
from aiosonic.tls import ClientCert


async def _whoami(request: web.Request) -> web.Response:
    transport = request.transport
    assert transport is not None
    peercert = transport.get_extra_info("peercert") or {}
    names = [
        value for rdn in peercert.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    return web.Response(text=names[0] if names else "anonymous")


@pytest.fixture
async def mtls_server(tls_ca: trustme.CA) -> AsyncIterator[HTTPServer]:
    """An HTTPS server that asks for a client certificate and requires one from tls_ca."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    tls_ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    server = HTTPServer(ssl_context=context)
    server.app.router.add_get("/{tail:.*}", _whoami)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def trust_ca(tls_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def issue(ca: trustme.CA, name: str, directory: Path) -> tuple[str, str]:
    """Write a client certificate for ``name``; return (certfile, keyfile)."""
    leaf = ca.issue_cert(f"{name}@example.test", common_name=name)
    certfile, keyfile = directory / f"{name}.crt", directory / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(certfile))
    leaf.private_key_pem.write_to_path(str(keyfile))
    return str(certfile), str(keyfile)


@pytest.mark.usefixtures("trust_ca")
async def test_cert_is_presented_and_connections_stay_apart_by_cert(
    mtls_server: HTTPServer, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    alice, bob = issue(tls_ca, "alice", tmp_path), issue(tls_ca, "bob", tmp_path)
    connector = aiosonic.TCPConnector()
    async with (
        aiosonic.HTTPClient(connector, cert=alice) as as_alice,
        aiosonic.HTTPClient(connector, cert=bob) as as_bob,
    ):
        for _ in range(2):
            assert await (await as_alice.get(mtls_server.url + "/")).text() == "alice"
            assert await (await as_bob.get(mtls_server.url + "/")).text() == "bob"
        # A request's own cert wins over the client's.
        response = await as_alice.request(mtls_server.url + "/", cert=bob)
        assert await response.text() == "bob"
    await connector.cleanup()
    # One connection per certificate on the shared connector, each reused.
    assert mtls_server.connections == 2
    assert mtls_server.requests == 5


@pytest.mark.usefixtures("trust_ca")
async def test_one_pem_file_and_an_encrypted_key(
    mtls_server: HTTPServer, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    leaf = tls_ca.issue_cert("carol@example.test", common_name="carol")
    both = tmp_path / "carol.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(both))
    async with aiosonic.HTTPClient(cert=str(both)) as client:
        assert await (await client.get(mtls_server.url + "/")).text() == "carol"

    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    locked = tmp_path / "carol-locked.key"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    certfile = tmp_path / "carol.crt"
    leaf.cert_chain_pems[0].write_to_path(str(certfile))
    async with aiosonic.HTTPClient(cert=(str(certfile), str(locked), "s3cret")) as client:
        assert await (await client.get(mtls_server.url + "/")).text() == "carol"
    with pytest.raises(InvalidRequest, match="cannot load the client certificate") as caught:
        aiosonic.HTTPClient(cert=(str(certfile), str(locked), "wrong"))
    assert "s3cret" not in str(caught.value) and "wrong" not in str(caught.value)


@pytest.mark.usefixtures("trust_ca")
async def test_no_cert_is_refused_by_the_server_with_an_aiosonic_error(
    mtls_server: HTTPServer,
) -> None:
    async with aiosonic.HTTPClient() as client:
        # In TLS 1.3 the server checks the certificate after the handshake
        # and just closes: the client sees a connection closed unanswered.
        with pytest.raises(AiosonicError, match=r"closed the connection|TLS"):
            response = await client.get(mtls_server.url + "/")
            await response.text()
        assert client.connector.is_all_free()


def test_bad_cert_values_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot load the client certificate"):
        aiosonic.HTTPClient(cert=str(tmp_path / "missing.pem"))
    with pytest.raises(InvalidRequest, match="cert must be a PEM path"):
        aiosonic.HTTPClient(cert=42)  # type: ignore[arg-type]
    assert "password=***" in repr(ClientCert("c.pem", "k.pem", "pw"))
    assert "pw'" not in repr(ClientCert("c.pem", "k.pem", "pw"))


async def test_cert_with_an_ssl_context_is_refused(
    tls_ca: trustme.CA, tmp_path: Path, tls_client_context: ssl.SSLContext
) -> None:
    certfile, keyfile = issue(tls_ca, "dave", tmp_path)
    async with aiosonic.HTTPClient(cert=(certfile, keyfile)) as client:
        with pytest.raises(InvalidRequest, match="either cert= or an ssl= context"):
            await client.get("https://127.0.0.1:1/", ssl=tls_client_context)
