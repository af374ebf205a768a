"""Happy Eyeballs on loopback: ``::1`` and ``127.0.0.1`` at one port, one of them bad.

A resolver returns the two addresses in the order a test picks. One listener
serves; the other refuses (a bound socket that does not listen), stalls the
TCP handshake (``listen(0)`` with its one backlog place taken) or takes the TCP
connection and never answers TLS. The dial must end on the good one, and the
losing attempt's socket must be closed when it returns.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.dialer import TCPDialer
from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ConnectError, ConnectTimeout, TLSError
from aiosonic.resolver import AbstractResolver
from aiosonic.timeout import Timeouts
from tests.conftest import let_loop_run, open_sockets, read_request


def _ipv6_loopback_problem() -> str | None:
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        return f"cannot bind ::1 in this environment: {exc}"
    return None


IPV6_PROBLEM = _ipv6_loopback_problem()
pytestmark = pytest.mark.skipif(IPV6_PROBLEM is not None, reason=str(IPV6_PROBLEM))

BOTH_ORDERS = pytest.mark.parametrize(
    "answer_order", [("::1", "127.0.0.1"), ("127.0.0.1", "::1")], ids=["v6-first", "v4-first"]
)


def family_of(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class FixedResolver(AbstractResolver):
    """Answers every name with the addresses it was given, in that order."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": family_of(address),
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in self.hosts
        ]

    async def close(self) -> None:
        pass


class Listener:
    """One address of the pair, behaving as ``kind`` says.

    ``serve`` answers every HTTP request with ``ok``; ``refuse`` is bound but
    not listening; ``stall_tcp`` never completes a TCP handshake; ``stall_tls``
    accepts TCP and then reads without ever answering.
    """

    def __init__(self, host: str, kind: str, sock: socket.socket) -> None:
        self.host, self.kind, self.sock = host, kind, sock
        self.accepted = 0
        self.ended = 0  # connections the client closed
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._filler: socket.socket | None = None

    async def start(self, ssl_context: ssl.SSLContext | None) -> None:
        if self.kind == "refuse":
            return
        if self.kind == "stall_tcp":
            self.sock.listen(0)
            # Linux queues backlog + 1 connections: this one fills the queue,
            # so the next SYN is dropped and that connect hangs.
            self._filler = socket.create_connection(self.sock.getsockname()[:2])
            return
        tls = ssl_context if self.kind == "serve" else None
        self._server = await asyncio.start_server(self._handle, sock=self.sock, ssl=tls)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._changed.set()
        try:
            if self.kind == "stall_tls":
                while await reader.read(65536):
                    pass
            else:
                while True:
                    await read_request(reader)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()
            self.ended += 1
            self._changed.set()

    async def wait(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._filler is not None:
            self._filler.close()
        self.sock.close()


class DualStack:
    """``::1`` and ``127.0.0.1`` listening at the same port."""

    def __init__(self, v6: Listener, v4: Listener) -> None:
        self.by_host = {"::1": v6, "127.0.0.1": v4}
        self.port = v6.sock.getsockname()[1]

    def __getitem__(self, host: str) -> Listener:
        return self.by_host[host]

    async def close(self) -> None:
        for listener in self.by_host.values():
            await listener.close()


def _bound_pair() -> tuple[socket.socket, socket.socket]:
    """Bind ``::1`` and ``127.0.0.1`` to one free port."""
    for _ in range(50):
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.bind(("::1", 0))
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            v4.bind(("127.0.0.1", v6.getsockname()[1]))
        except OSError:
            v6.close()
            v4.close()
            continue
        return v6, v4
    raise RuntimeError("no port free on both ::1 and 127.0.0.1")


@pytest.fixture
async def dual_stack() -> AsyncIterator[Callable[..., Any]]:
    made: list[DualStack] = []

    async def make(
        v6_kind: str, v4_kind: str, ssl_context: ssl.SSLContext | None = None
    ) -> DualStack:
        v6_sock, v4_sock = _bound_pair()
        pair = DualStack(Listener("::1", v6_kind, v6_sock), Listener("127.0.0.1", v4_kind, v4_sock))
        made.append(pair)
        for listener in pair.by_host.values():
            await listener.start(ssl_context)
        return pair

    yield make
    for pair in made:
        await pair.close()


def dialer(*hosts: str, delay: float | None = 0.05) -> TCPDialer:
    return TCPDialer(DNSCache(FixedResolver(*hosts)), happy_eyeballs_delay=delay)


def peer_host(transport: asyncio.BaseTransport) -> str:
    return str(transport.get_extra_info("peername")[0])


async def ends_clean(pair: DualStack, transport: asyncio.Transport, baseline: int) -> None:
    """Close the winner; once the servers saw every connection end, no socket is left."""
    transport.abort()
    for listener in pair.by_host.values():
        await listener.wait(lambda listener=listener: listener.ended == listener.accepted)
    await let_loop_run()
    assert open_sockets() == baseline


# --- which address wins -------------------------------------------------------------


@BOTH_ORDERS
@pytest.mark.parametrize("bad_kind", ["refuse", "stall_tcp", "stall_tls"])
@pytest.mark.parametrize("bad_host", ["::1", "127.0.0.1"])
async def test_the_good_address_wins_whatever_the_other_does(
    dual_stack: Callable[..., Any],
    tls_server_context: ssl.SSLContext,
    tls_client_context: ssl.SSLContext,
    answer_order: tuple[str, str],
    bad_kind: str,
    bad_host: str,
) -> None:
    good_host = "127.0.0.1" if bad_host == "::1" else "::1"
    kinds = {bad_host: bad_kind, good_host: "serve"}
    pair = await dual_stack(kinds["::1"], kinds["127.0.0.1"], tls_server_context)
    baseline = open_sockets()
    async with asyncio.timeout(5):
        transport, _ = await dialer(*answer_order).open_transport(
            "dual.test", pair.port, asyncio.Protocol, tls_client_context, "localhost"
        )
    assert peer_host(transport) == good_host
    assert transport.get_extra_info("ssl_object") is not None
    await ends_clean(pair, transport, baseline)


@BOTH_ORDERS
async def test_ipv6_is_tried_first_in_either_answer_order(
    dual_stack: Callable[..., Any], answer_order: tuple[str, str]
) -> None:
    pair = await dual_stack("serve", "serve")
    the_dialer = dialer(*answer_order, delay=3600)
    assert await the_dialer.resolve_address("dual.test", pair.port) == "::1"
    baseline = open_sockets()
    transport, _ = await the_dialer.open_transport(
        "dual.test", pair.port, asyncio.Protocol, None, None
    )
    assert peer_host(transport) == "::1"
    await ends_clean(pair, transport, baseline)
    assert pair["127.0.0.1"].accepted == 0  # never tried: ::1 answered within the delay


async def test_a_refused_address_starts_the_next_attempt_without_waiting(
    dual_stack: Callable[..., Any],
) -> None:
    pair = await dual_stack("refuse", "serve")
    started = time.monotonic()
    transport, _ = await dialer("::1", "127.0.0.1", delay=3600).open_transport(
        "dual.test", pair.port, asyncio.Protocol, None, None
    )
    assert peer_host(transport) == "127.0.0.1"
    assert time.monotonic() - started < 60  # not the hour of the delay
    transport.abort()


async def test_both_answering_at_once_keeps_one_and_closes_the_other(
    dual_stack: Callable[..., Any],
) -> None:
    pair = await dual_stack("serve", "serve")
    baseline = open_sockets()
    transport, _ = await dialer("::1", "127.0.0.1", delay=0).open_transport(
        "dual.test", pair.port, asyncio.Protocol, None, None
    )
    await ends_clean(pair, transport, baseline)


async def test_no_delay_tries_one_address_at_a_time(dual_stack: Callable[..., Any]) -> None:
    pair = await dual_stack("stall_tcp", "serve")
    baseline = open_sockets()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await dialer("::1", "127.0.0.1", delay=None).open_transport(
                "dual.test", pair.port, asyncio.Protocol, None, None
            )
    assert pair["127.0.0.1"].accepted == 0
    assert open_sockets() == baseline  # the stalled attempt's socket is closed


async def test_no_delay_still_moves_on_after_a_refusal(dual_stack: Callable[..., Any]) -> None:
    pair = await dual_stack("refuse", "serve")
    transport, _ = await dialer("::1", "127.0.0.1", delay=None).open_transport(
        "dual.test", pair.port, asyncio.Protocol, None, None
    )
    assert peer_host(transport) == "127.0.0.1"
    transport.abort()


# --- failures ------------------------------------------------------------------------


async def test_every_address_refused_lists_each(dual_stack: Callable[..., Any]) -> None:
    pair = await dual_stack("refuse", "refuse")
    with pytest.raises(ConnectError) as caught:
        # The repeated answer is tried once.
        await dialer("127.0.0.1", "::1", "127.0.0.1").open_transport(
            "dual.test", pair.port, asyncio.Protocol, None, None
        )
    message = str(caught.value)
    assert message.startswith(f"cannot connect to dual.test:{pair.port} (2 addresses tried: ")
    assert f"[::1]:{pair.port}: " in message and f"127.0.0.1:{pair.port}: " in message
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_a_tls_failure_is_reported_as_tls(
    dual_stack: Callable[..., Any], tls_server_context: ssl.SSLContext
) -> None:
    pair = await dual_stack("refuse", "serve", tls_server_context)
    untrusting = ssl.create_default_context()  # does not trust the test CA
    with pytest.raises(TLSError, match="certificate"):
        await dialer("::1", "127.0.0.1").open_transport(
            "dual.test", pair.port, asyncio.Protocol, untrusting, "localhost"
        )


# --- through the client: sock_connect bounds the race --------------------------------


@BOTH_ORDERS
async def test_client_reaches_the_good_address_behind_a_stalled_one(
    dual_stack: Callable[..., Any], answer_order: tuple[str, str]
) -> None:
    # Only published arguments: the default delay (250 ms) does the work.
    pair = await dual_stack("stall_tcp", "serve")
    connector = TCPConnector(
        resolver=FixedResolver(*answer_order), timeouts=Timeouts(sock_connect=5)
    )
    async with aiosonic.HTTPClient(connector) as client:
        response = await client.get(f"http://dual.test:{pair.port}/")
        assert await response.text() == "ok"
    assert pair["127.0.0.1"].accepted == 1


async def test_sock_connect_bounds_the_whole_race(dual_stack: Callable[..., Any]) -> None:
    pair = await dual_stack("stall_tcp", "stall_tls")
    connector = TCPConnector(
        resolver=FixedResolver("::1", "127.0.0.1"),
        timeouts=Timeouts(sock_connect=0.3),
        happy_eyeballs_delay=0.05,
    )
    baseline = open_sockets()
    started = time.monotonic()
    async with aiosonic.HTTPClient(connector) as client:
        with pytest.raises(ConnectTimeout, match=r"sock_connect=0\.3s \(dual\.test:"):
            await client.get(f"https://dual.test:{pair.port}/")
    assert time.monotonic() - started < 3
    assert pair["127.0.0.1"].accepted == 1  # the second attempt did start
    await pair["127.0.0.1"].wait(lambda: pair["127.0.0.1"].ended == 1)
    await let_loop_run()
    assert open_sockets() == baseline


def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="happy_eyeballs_delay must be >= 0"):
        TCPConnector(happy_eyeballs_delay=-1)
