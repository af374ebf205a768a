"""TLS session resumption: a new connection resumes the last one's session, per pool key.

Real TLS servers on 127.0.0.1 (trustme certificates), TLS 1.2 and 1.3, on
whichever loop the suite runs on; resumption is read from
``connector.stats()`` (``tls_resumed``). Each server context has its own
ticket keys, so a session offered to the wrong server is refused: a swap
between origins shows as a missing resumption. The store's rules (bound,
single-use TLS 1.3 tickets, expiry, another context) are checked without
sockets at the end.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import certifi
import pytest
import trustme
from conftest import HTTPServer, read_request

import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.stats import OriginStats
from aiosonic.tls import SHARED_CONTEXTS, create_default_context
from aiosonic.tls_sessions import MAX_SESSION_KEYS, ResumingContext, TLSSessions

TLS_VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


@pytest.fixture(scope="module")
def server_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert("localhost", "127.0.0.1")


def server_context(
    cert: trustme.LeafCert, version: ssl.TLSVersion | None = None, tickets: int = 2
) -> ssl.SSLContext:
    """A new server context: new ticket keys, so it accepts none of another's sessions."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    context.num_tickets = tickets  # TLS 1.3 tickets per handshake
    if not tickets:
        context.options |= ssl.OP_NO_TICKET  # TLS 1.2 tickets too
    return context


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


StartServer = Callable[..., Awaitable[int]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start an HTTPS server answering ``ok`` on a free port; return the port.

    ``replace=port`` stops the server on ``port`` and starts the new one there.
    """
    servers: dict[int, asyncio.Server] = {}

    async def start(context: ssl.SSLContext, replace: int = 0) -> int:
        if replace:
            old = servers.pop(replace)
            old.close()
            await old.wait_closed()
        server = await asyncio.start_server(_answer, "127.0.0.1", replace, ssl=context)
        port = int(server.sockets[0].getsockname()[1])
        servers[port] = server
        return port

    yield start
    for server in servers.values():
        server.close()
        await server.wait_closed()


def fresh_client(**options: Any) -> aiosonic.HTTPClient:
    """A client that opens a new connection per request."""
    return aiosonic.HTTPClient(TCPConnector(conn_max_requests=1, **options))


async def get_ok(client: aiosonic.HTTPClient, url: str, **options: Any) -> None:
    response = await client.get(url, **options)
    assert await response.content() == b"ok"


def origin(client: aiosonic.HTTPClient, port: int, host: str = "127.0.0.1") -> OriginStats:
    return client.connector.stats().get("https", host, port)


# --- resumption against real servers ----------------------------------------


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
async def test_next_connection_to_the_origin_resumes(
    start_server: StartServer, server_cert: trustme.LeafCert, version: ssl.TLSVersion
) -> None:
    port = await start_server(server_context(server_cert, version))
    async with fresh_client() as client:
        for _ in range(4):
            await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        stats = origin(client, port)
        assert (stats.tls_handshakes, stats.tls_resumed) == (4, 3)
        assert client.connector.stats().tls_resumed == 3


async def test_verified_connection_resumes(
    start_server: StartServer,
    server_cert: trustme.LeafCert,
    tls_ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    port = await start_server(server_context(server_cert))
    async with fresh_client() as client:
        for _ in range(3):
            await get_ok(client, f"https://localhost:{port}/")
        assert origin(client, port, "localhost").tls_resumed == 2


async def test_resumption_off_does_full_handshakes(
    start_server: StartServer, server_cert: trustme.LeafCert
) -> None:
    port = await start_server(server_context(server_cert))
    async with fresh_client(tls_session_resumption=False) as client:
        for _ in range(3):
            await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        stats = origin(client, port)
        assert (stats.tls_handshakes, stats.tls_resumed) == (3, 0)
        assert "resumption=off" in repr(client.connector.tls)


async def test_sessions_stay_with_their_tls_settings(
    start_server: StartServer,
    server_cert: trustme.LeafCert,
    tls_ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """verify on and off are two pool keys and two contexts: neither resumes the other's."""
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    port = await start_server(server_context(server_cert))
    url = f"https://localhost:{port}/"
    async with fresh_client() as client:
        await get_ok(client, url, verify=False)
        await get_ok(client, url)  # verified: must not ride on the unverified session
        assert origin(client, port, "localhost").tls_resumed == 0
        await get_ok(client, url)
        await get_ok(client, url, verify=False)
        assert origin(client, port, "localhost").tls_resumed == 2


async def test_sessions_stay_with_their_origin(
    start_server: StartServer, server_cert: trustme.LeafCert
) -> None:
    """Same server, two host names: two origins, no session crosses between them."""
    port = await start_server(server_context(server_cert))
    async with fresh_client() as client:
        await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        await get_ok(client, f"https://localhost:{port}/", verify=False)
        assert client.connector.stats().tls_resumed == 0


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
async def test_dials_in_flight_to_two_origins_offer_their_own_sessions(
    start_server: StartServer, server_cert: trustme.LeafCert, version: ssl.TLSVersion
) -> None:
    """Each server has its own ticket keys: a swapped session would be refused."""
    ports = [await start_server(server_context(server_cert, version)) for _ in range(2)]
    urls = [f"https://127.0.0.1:{port}/" for port in ports]
    async with fresh_client() as client:
        for url in urls:
            await get_ok(client, url, verify=False)
        for _ in range(3):
            await asyncio.gather(*(get_ok(client, url, verify=False) for url in urls))
        assert [origin(client, port).tls_resumed for port in ports] == [3, 3]


async def test_refused_session_is_dropped_and_the_request_works(
    start_server: StartServer, server_cert: trustme.LeafCert
) -> None:
    """A restarted server (new ticket keys) refuses the old session: full handshake, then resume."""
    port = await start_server(server_context(server_cert, ssl.TLSVersion.TLSv1_2))
    async with fresh_client() as client:
        await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        assert origin(client, port).tls_resumed == 1
        await start_server(server_context(server_cert, ssl.TLSVersion.TLSv1_2), replace=port)
        await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        assert origin(client, port).tls_resumed == 1  # offered, refused
        await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        assert origin(client, port).tls_resumed == 2  # the new server's session


class StreamBackend(aiosonic.NetworkBackend):
    """The default backend as a custom one: the connector does TLS with ``start_tls``."""


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
async def test_connection_over_a_network_backend_resumes(
    start_server: StartServer, server_cert: trustme.LeafCert, version: ssl.TLSVersion
) -> None:
    port = await start_server(server_context(server_cert, version))
    async with fresh_client(network_backend=StreamBackend()) as client:
        for _ in range(3):
            await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        assert origin(client, port).tls_resumed == 2


async def test_http2_offering_connection_resumes_its_own_session(
    start_server: StartServer, server_cert: trustme.LeafCert
) -> None:
    """Offering h2 is another context (ALPN) and pool key: its sessions are its own."""
    port = await start_server(server_context(server_cert))
    url = f"https://127.0.0.1:{port}/"
    async with fresh_client() as client:
        await get_ok(client, url, verify=False)
        await get_ok(client, url, verify=False, http2=True)
        assert origin(client, port).tls_resumed == 0
        await get_ok(client, url, verify=False, http2=True)
        assert origin(client, port).tls_resumed == 1


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
async def test_server_without_tickets_still_works(
    start_server: StartServer, server_cert: trustme.LeafCert, version: ssl.TLSVersion
) -> None:
    port = await start_server(server_context(server_cert, version, tickets=0))
    async with fresh_client() as client:
        for _ in range(3):
            await get_ok(client, f"https://127.0.0.1:{port}/", verify=False)
        assert origin(client, port).tls_handshakes == 3


async def test_a_callers_own_context_is_used_as_it_is(
    start_server: StartServer, server_cert: trustme.LeafCert, tls_client_context: ssl.SSLContext
) -> None:
    """A plain ssl.SSLContext cannot be given a session: it works, without resumption."""
    port = await start_server(server_context(server_cert))
    async with fresh_client() as client:
        for _ in range(2):
            await get_ok(client, f"https://localhost:{port}/", ssl=tls_client_context)
        stats = origin(client, port, "localhost")
        assert (stats.tls_handshakes, stats.tls_resumed) == (2, 0)
        assert "keys=0" in repr(client.connector.tls)


# --- the contexts -----------------------------------------------------------


def _settings(context: ssl.SSLContext) -> dict[str, Any]:
    return {
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "verify_flags": context.verify_flags,
        "options": context.options,
        "minimum_version": context.minimum_version,
        "maximum_version": context.maximum_version,
        "post_handshake_auth": context.post_handshake_auth,
        "keylog_filename": context.keylog_filename,
        "cert_store_stats": context.cert_store_stats(),
        "ca_certs": context.get_ca_certs(),
    }


@pytest.mark.parametrize("keylog", [False, True])
def test_default_context_is_the_stdlib_default_as_a_resuming_context(
    keylog: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if keylog:
        monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    else:
        monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    ours = create_default_context(True, alpn=())
    reference = ssl.create_default_context(cafile=certifi.where())
    reference.minimum_version = ssl.TLSVersion.TLSv1_2
    assert isinstance(ours, ResumingContext)
    assert _settings(ours) == _settings(reference)


def test_unverified_and_shared_contexts_are_resuming_contexts() -> None:
    assert isinstance(create_default_context(False), ResumingContext)
    assert isinstance(SHARED_CONTEXTS.get(True), ResumingContext)


# --- the store, without sockets ---------------------------------------------


class FakeSession:
    def __init__(self, ident: bytes, has_ticket: bool = True, timeout: int = 7200) -> None:
        self.id = ident
        self.has_ticket = has_ticket
        self.time = int(time.time())
        self.timeout = timeout


class FakeSSLObject(ssl.SSLObject):
    """An SSLObject's answers, set by hand (the store reads only SSLObjects)."""

    context: Any = None
    session: Any = None
    session_reused: Any = False

    def __init__(
        self, context: ssl.SSLContext, session: FakeSession, version: str, reused: bool = False
    ) -> None:
        self.context = context
        self.session = session
        self.session_reused = reused
        self._version = version

    def version(self) -> str:
        return self._version


def _connect(
    store: TLSSessions, key: str, context: ssl.SSLContext, new: FakeSession, version: str
) -> Any:
    """One dial: what it offered; the connection it made carries ``new``."""
    dial = store.dial(key, context)
    offered = dial._offered
    dial.handshaken(FakeSSLObject(context, new, version, reused=offered is not None))
    return offered


def test_store_offers_tls12_session_again_and_tls13_ticket_once() -> None:
    context = create_default_context(False)
    store = TLSSessions(SHARED_CONTEXTS)
    one, two = FakeSession(b"1"), FakeSession(b"2")
    assert _connect(store, "a", context, one, "TLSv1.2") is None
    assert _connect(store, "a", context, one, "TLSv1.2") is one
    assert _connect(store, "a", context, one, "TLSv1.2") is one
    other = TLSSessions(SHARED_CONTEXTS)
    assert _connect(other, "b", context, one, "TLSv1.3") is None
    # The resumed connection still shows the ticket it used: not offered twice.
    assert _connect(other, "b", context, one, "TLSv1.3") is one
    assert _connect(other, "b", context, two, "TLSv1.3") is None
    assert _connect(other, "b", context, two, "TLSv1.3") is two


def test_store_offers_nothing_without_a_ticket_or_once_expired() -> None:
    context = create_default_context(False)
    store = TLSSessions(SHARED_CONTEXTS)
    _connect(store, "a", context, FakeSession(b"1", has_ticket=False), "TLSv1.3")
    assert store.dial("a", context)._offered is None  # no ticket read yet
    _connect(store, "b", context, FakeSession(b"1", timeout=0), "TLSv1.2")
    assert store.dial("b", context)._offered is None


def test_store_never_offers_a_session_to_another_context() -> None:
    first, second = create_default_context(False), create_default_context(False)
    store = TLSSessions(SHARED_CONTEXTS)
    _connect(store, "a", first, FakeSession(b"1"), "TLSv1.2")
    assert store.dial("a", second)._offered is None
    assert store.dial("a", ssl.create_default_context())._offered is None


def test_store_keeps_a_bounded_number_of_keys() -> None:
    context = create_default_context(False)
    store = TLSSessions(SHARED_CONTEXTS)
    for n in range(MAX_SESSION_KEYS + 5):
        _connect(store, f"k{n}", context, FakeSession(b"%d" % n), "TLSv1.2")
    assert len(store._entries) == MAX_SESSION_KEYS
    assert store.dial("k0", context)._offered is None  # the least recently used went
    assert store.dial(f"k{MAX_SESSION_KEYS + 4}", context)._offered is not None


async def test_sessions_stay_with_their_client_certificate(
    tls_ca: trustme.CA,
    server_cert: trustme.LeafCert,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resumed session carries the client's identity: it must never cross certificates."""
    from test_client_cert import _whoami, issue

    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = server_context(server_cert)
    tls_ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    server = HTTPServer(ssl_context=context)
    server.app.router.add_get("/{tail:.*}", _whoami)
    await server.start()
    alice, bob = issue(tls_ca, "alice", tmp_path), issue(tls_ca, "bob", tmp_path)
    try:
        async with fresh_client() as client:
            for _ in range(3):
                for name, cert in (("alice", alice), ("bob", bob)):
                    response = await client.request(server.url + "/", cert=cert)
                    assert await response.text() == name
            stats = client.connector.stats().get("https", "127.0.0.1", server.port)
            assert (stats.tls_handshakes, stats.tls_resumed) == (6, 4)
    finally:
        await server.close()
