"""SocketOptions and the published tcp_helpers, read back with getsockopt.

Each option is checked on the real connected socket (the transport's
``get_extra_info("socket")``: asyncio's TransportSocket or uvloop's
PseudoSocket, both thin views of the same descriptor), over plain TCP and TLS.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.dialer import TCPDialer
from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ConnectError
from aiosonic.tcp_helpers import SocketOptions, keepalive_flags, tcp_keepalive, tcp_nodelay
from tests.conftest import HTTPServer, RawServer
from tests.test_dialer import IPV6_PROBLEM, FixedResolver

LINUX_ONLY = pytest.mark.skipif(
    not hasattr(socket, "TCP_USER_TIMEOUT") or not hasattr(socket, "SO_BINDTODEVICE"),
    reason="TCP_USER_TIMEOUT and SO_BINDTODEVICE are Linux socket options",
)


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


@pytest.fixture
async def listener(raw_server: Any) -> RawServer:
    server: RawServer = await raw_server(_hold)
    return server


async def dial(
    port: int,
    options: SocketOptions | None,
    ssl_ctx: ssl.SSLContext | None = None,
    hosts: tuple[str, ...] = ("127.0.0.1",),
) -> asyncio.Transport:
    dialer = TCPDialer(DNSCache(FixedResolver(*hosts)), options)
    transport, _ = await dialer.open_transport(
        "opts.test", port, asyncio.Protocol, ssl_ctx, "localhost" if ssl_ctx else None
    )
    return transport


@pytest.fixture
async def connected() -> AsyncIterator[list[asyncio.Transport]]:
    transports: list[asyncio.Transport] = []
    yield transports
    for transport in transports:
        transport.abort()


def sockopt(transport: asyncio.Transport, level: int, option: int) -> int:
    return int(transport.get_extra_info("socket").getsockopt(level, option))


async def test_tcp_nodelay_is_on_by_default_and_can_be_turned_off(
    listener: RawServer, connected: list[asyncio.Transport]
) -> None:
    default = await dial(listener.port, None)
    on = await dial(listener.port, SocketOptions())
    off = await dial(listener.port, SocketOptions(tcp_nodelay=False))
    connected += [default, on, off]
    assert sockopt(default, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert sockopt(on, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert sockopt(off, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


async def test_keepalive_idle_interval_and_count(
    listener: RawServer, connected: list[asyncio.Transport]
) -> None:
    plain = await dial(listener.port, SocketOptions())
    tuned = await dial(
        listener.port,
        SocketOptions(tcp_keepalive=7, tcp_keepalive_interval=2.5, tcp_keepalive_retries=4),
    )
    connected += [plain, tuned]
    assert sockopt(plain, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
    assert sockopt(tuned, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sockopt(tuned, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
    assert sockopt(tuned, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3  # rounded up
    assert sockopt(tuned, socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4


@LINUX_ONLY
async def test_tcp_user_timeout_in_milliseconds(
    listener: RawServer, connected: list[asyncio.Transport]
) -> None:
    transport = await dial(listener.port, SocketOptions(tcp_user_timeout=1.5))
    connected.append(transport)
    assert sockopt(transport, socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 1500


async def test_options_reach_the_socket_under_tls(
    raw_server: Any,
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
    connected: list[asyncio.Transport],
) -> None:
    server: RawServer = await raw_server(_hold, tls_server_context)
    transport = await dial(
        server.port, SocketOptions(tcp_nodelay=False, tcp_keepalive=30), tls_client_context
    )
    connected.append(transport)
    assert transport.get_extra_info("ssl_object") is not None
    assert sockopt(transport, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    assert sockopt(transport, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30


# --- interface and local address -----------------------------------------------------


@LINUX_ONLY
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_interface_binds_the_socket_to_the_device(
    raw_server: Any,
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
    connected: list[asyncio.Transport],
    tls: bool,
) -> None:
    server: RawServer = await raw_server(_hold, tls_server_context if tls else None)
    options = SocketOptions(interface="lo", tcp_keepalive=9)
    try:
        transport = await dial(server.port, options, tls_client_context if tls else None)
    except ConnectError as exc:
        if isinstance(exc.__cause__, PermissionError):
            pytest.skip(f"SO_BINDTODEVICE needs CAP_NET_RAW here: {exc}")
        raise
    connected.append(transport)
    sock = transport.get_extra_info("socket")
    device = sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
    assert device.rstrip(b"\0") == b"lo"
    assert (transport.get_extra_info("ssl_object") is not None) == tls
    assert sockopt(transport, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 9
    assert sockopt(transport, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


@LINUX_ONLY
async def test_an_unknown_interface_is_a_clear_connect_error(listener: RawServer) -> None:
    with pytest.raises(ConnectError) as caught:
        await dial(listener.port, SocketOptions(interface="nosuchif0"))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to opts.test:{listener.port} (127.0.0.1:")
    assert "cannot bind the socket to network interface 'nosuchif0' (SO_BINDTODEVICE)" in message
    assert "No such device" in message


def test_interface_needs_so_bindtodevice(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on macOS or Windows, which have no SO_BINDTODEVICE.
    import aiosonic.tcp_helpers as tcp_helpers

    monkeypatch.setattr(tcp_helpers, "_SO_BINDTODEVICE", None)
    with pytest.raises(ValueError, match="interface needs the SO_BINDTODEVICE socket option"):
        SocketOptions(interface="eth0")


async def test_local_address_is_the_source_of_the_connection(http_server: HTTPServer) -> None:
    # Through the client: the server sees the chosen source address.

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    http_server.app.router.add_get("/", hello)
    await http_server.start()
    connector = TCPConnector(socket_options=SocketOptions(local_address="127.0.0.2"))
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(http_server.url)
        assert response.status_code == 200
    assert {peer[0] for peer in http_server.peers} == {"127.0.0.2"}


@pytest.mark.skipif(IPV6_PROBLEM is not None, reason=str(IPV6_PROBLEM))
async def test_local_address_keeps_to_its_family(
    listener: RawServer, connected: list[asyncio.Transport]
) -> None:
    # ::1 would be tried first; an IPv4 source can only reach 127.0.0.1.
    transport = await dial(
        listener.port, SocketOptions(local_address="127.0.0.3"), hosts=("::1", "127.0.0.1")
    )
    connected.append(transport)
    assert transport.get_extra_info("sockname")[0] == "127.0.0.3"
    with pytest.raises(ConnectError, match="none of its addresses is of the family of '::1'"):
        await dial(listener.port, SocketOptions(local_address="::1"), hosts=("127.0.0.1",))


async def test_a_local_address_that_is_not_local_is_a_connect_error(listener: RawServer) -> None:
    with pytest.raises(ConnectError, match=r"from local address '192\.0\.2\.1': "):
        await dial(listener.port, SocketOptions(local_address="192.0.2.1"))


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tcp_keepalive_interval": 5}, "need tcp_keepalive"),
        ({"tcp_keepalive_retries": 3}, "need tcp_keepalive"),
        ({"tcp_keepalive": 0}, r"tcp_keepalive must be in \(0, 32767\] seconds, got 0"),
        ({"tcp_keepalive": 1, "tcp_keepalive_interval": -1}, "tcp_keepalive_interval must be"),
        ({"tcp_keepalive": 1, "tcp_keepalive_retries": 0}, r"must be in 1\.\.127, got 0"),
        ({"tcp_user_timeout": 0}, "tcp_user_timeout must be a positive number of seconds"),
        ({"local_address": "localhost"}, "local_address must be an IP address, got 'localhost'"),
        ({"interface": ""}, "interface must be a name, got ''"),
    ],
)
def test_bad_values_are_refused(arguments: dict[str, Any], message: str) -> None:
    if "interface" in arguments and not hasattr(socket, "SO_BINDTODEVICE"):
        pytest.skip("SO_BINDTODEVICE is Linux only")
    with pytest.raises(ValueError, match=message):
        SocketOptions(**arguments)


def test_options_are_values() -> None:
    assert SocketOptions(tcp_keepalive=5) == SocketOptions(tcp_keepalive=5)
    assert hash(SocketOptions()) == hash(SocketOptions())
    assert repr(SocketOptions(tcp_nodelay=False)).startswith("SocketOptions(tcp_nodelay=False,")
    with pytest.raises(AttributeError):
        SocketOptions().tcp_nodelay = False  # type: ignore[misc]


# --- the published helpers -----------------------------------------------------------


def test_tcp_keepalive_turns_keepalive_on() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        tcp_keepalive(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    tcp_keepalive(None)


def test_tcp_nodelay_sets_and_clears() -> None:
    with socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET) as sock:
        tcp_nodelay(sock, True)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        tcp_nodelay(sock, False)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


def test_tcp_nodelay_leaves_other_sockets_alone() -> None:
    tcp_nodelay(None, True)
    left, right = socket.socketpair()  # AF_UNIX: no TCP options
    with left, right:
        tcp_nodelay(left, True)
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.close()
    tcp_nodelay(closed, True)  # nothing to tune; no error


def test_keepalive_flags_keeps_its_published_value() -> None:
    assert keepalive_flags() == socket.SOL_SOCKET | socket.SO_KEEPALIVE
