"""Tests for aiosonic.resolver against the system resolver and a local DNS server.

The AsyncResolver tests run c-ares against a real DNS server that the test
starts on 127.0.0.1 (UDP, free port): it parses each question and answers with
hand-built RFC 1035 wire bytes, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiodns
import pytest

import aiosonic.resolver as resolver_module
from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ConnectError, ResolveError
from aiosonic.resolver import (
    AbstractResolver,
    AsyncResolver,
    DefaultResolver,
    ThreadedResolver,
    _with_one_port,
    ip_literal_answer,
)

ANSWER_KEYS = {"hostname", "host", "port", "family", "proto", "flags"}
NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV

# DNS wire constants (RFC 1035 §3.2.2, §4.1.1; RFC 3596 for AAAA).
QTYPE_A = 1
QTYPE_AAAA = 28
CLASS_IN = 1
RCODE_NOERROR = 0
RCODE_NXDOMAIN = 3


def hosts_file_maps(address: str, name: str) -> bool:
    """Tell whether /etc/hosts maps ``name`` to ``address``."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == address and name in fields[1:]:
            return True
    return False


def hosts_of(answers: list[dict[str, Any]]) -> list[str]:
    return [answer["host"] for answer in answers]


def check_shape(answers: list[dict[str, Any]], hostname: str, port: int) -> None:
    assert answers, "a resolver must never return an empty list"
    for answer in answers:
        # "ttl" (seconds) is there when the resolver knows the DNS TTL.
        assert set(answer) - {"ttl"} == ANSWER_KEYS
        assert answer["hostname"] == hostname
        assert isinstance(answer["host"], str)
        assert answer["port"] == port
        assert type(answer["port"]) is int
        assert answer["family"] in (socket.AF_INET, socket.AF_INET6)
        assert isinstance(answer["proto"], int)
        assert answer["flags"] == NUMERIC_FLAGS


# --- a tiny real DNS server -------------------------------------------------


def parse_question(packet: bytes) -> tuple[int, int, str, int, bytes]:
    """Return (id, flags, name, qtype, raw question section) of a query."""
    query_id, flags, qdcount = struct.unpack("!HHH", packet[:6])
    assert qdcount == 1
    offset = 12
    labels = []
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length
    offset += 1
    qtype, _qclass = struct.unpack("!HH", packet[offset : offset + 4])
    return query_id, flags, ".".join(labels).lower(), qtype, packet[12 : offset + 4]


def build_response(
    query_id: int,
    query_flags: int,
    question: bytes,
    rcode: int,
    rdatas: list[tuple[int, bytes]],
    ttl: int = 60,
) -> bytes:
    """Build a response echoing ``question`` with one answer per rdata."""
    # QR=1, AA=1, RD copied from the query, RA=1 (RFC 1035 §4.1.1).
    flags = 0x8000 | 0x0400 | (query_flags & 0x0100) | 0x0080 | rcode
    out = struct.pack("!HHHHHH", query_id, flags, 1, len(rdatas), 0, 0) + question
    for qtype, rdata in rdatas:
        # 0xC00C: a compression pointer to the question name at offset 12.
        out += struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN, ttl, len(rdata)) + rdata
    return out


class LocalDNSServer(asyncio.DatagramProtocol):
    """Answer A/AAAA questions from a zone dict; unknown names get NXDOMAIN.

    Names listed in ``silent`` are never answered (to hold a lookup open).
    """

    def __init__(self, zone: dict[str, dict[int, list[str]]], silent: set[str]) -> None:
        self.zone = zone
        self.silent = silent
        self.questions: list[tuple[str, int]] = []
        #: The TTL of every answer, in seconds.
        self.ttl = 60
        self.silent_question = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass
        # DatagramTransport on 3.11, so isinstance() cannot be used here.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        query_id, flags, name, qtype, question = parse_question(data)
        self.questions.append((name, qtype))
        if name in self.silent:
            self.silent_question.set()
            return
        records = self.zone.get(name)
        if records is None:
            reply = build_response(query_id, flags, question, RCODE_NXDOMAIN, [])
        else:
            family = socket.AF_INET if qtype == QTYPE_A else socket.AF_INET6
            rdatas = [(qtype, socket.inet_pton(family, ip)) for ip in records.get(qtype, [])]
            reply = build_response(query_id, flags, question, RCODE_NOERROR, rdatas, self.ttl)
        assert self.transport is not None
        self.transport.sendto(reply, addr)


ZONE = {
    "www.example.test": {QTYPE_A: ["127.0.0.2", "127.0.0.3"], QTYPE_AAAA: ["::1"]},
    "v4only.example.test": {QTYPE_A: ["127.0.0.4"]},
    "dup.example.test": {QTYPE_A: ["127.0.0.5", "127.0.0.5", "127.0.0.6"]},
}


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[LocalDNSServer, str]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: LocalDNSServer(ZONE, silent={"slow.example.test"}),
        local_addr=("127.0.0.1", 0),
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        yield protocol, f"127.0.0.1:{port}"
    finally:
        transport.close()


@pytest.fixture
async def async_resolver(
    dns_server: tuple[LocalDNSServer, str],
) -> AsyncIterator[AsyncResolver]:
    _server, nameserver = dns_server
    # tries=1 and a short timeout keep a broken test from hanging for long.
    resolver = AsyncResolver([nameserver], timeout=5.0, tries=1)
    try:
        yield resolver
    finally:
        await resolver.close()


# --- public surface -----------------------------------------------------------


def test_public_names() -> None:
    assert sorted(resolver_module.__all__) == [
        "AbstractResolver",
        "AsyncResolver",
        "DefaultResolver",
        "ThreadedResolver",
        "get_loop",
        "ip_literal_answer",
    ]
    assert DefaultResolver is ThreadedResolver
    assert issubclass(ThreadedResolver, AbstractResolver)
    assert issubclass(AsyncResolver, AbstractResolver)
    with pytest.raises(TypeError):
        AbstractResolver()  # type: ignore[abstract]


# --- ip_literal_answer ----------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address", "family"),
    [
        ("127.0.0.1", "127.0.0.1", socket.AF_INET),
        ("::1", "::1", socket.AF_INET6),
        ("[::1]", "::1", socket.AF_INET6),
        ("[2001:DB8::0:1]", "2001:db8::1", socket.AF_INET6),
        ("fe80::1%eth0", "fe80::1%eth0", socket.AF_INET6),
        ("[fe80::1%25eth0]", "fe80::1%eth0", socket.AF_INET6),
    ],
)
def test_ip_literal_answer(host: str, address: str, family: int) -> None:
    answers = ip_literal_answer(host, 8443)
    assert answers is not None
    check_shape(answers, host, 8443)
    assert answers == [
        {
            "hostname": host,
            "host": address,
            "port": 8443,
            "family": family,
            "proto": socket.IPPROTO_TCP,
            "flags": NUMERIC_FLAGS,
        }
    ]


@pytest.mark.parametrize(
    "host", ["localhost", "example.com", "", "[localhost]", "[127.0.0.1", "::1]", "1.2.3.4.5"]
)
def test_ip_literal_answer_rejects_names(host: str) -> None:
    assert ip_literal_answer(host, 80) is None


# --- ThreadedResolver -----------------------------------------------------------


async def test_threaded_localhost_ipv4() -> None:
    async with ThreadedResolver() as resolver:
        answers = await resolver.resolve("localhost", 8080, socket.AF_INET)
    check_shape(answers, "localhost", 8080)
    assert "127.0.0.1" in hosts_of(answers)
    assert {answer["family"] for answer in answers} == {socket.AF_INET}
    assert len(hosts_of(answers)) == len(set(hosts_of(answers))), "answers repeat"


async def test_threaded_default_family_is_ipv4() -> None:
    answers = await ThreadedResolver().resolve("localhost")
    assert {answer["family"] for answer in answers} == {socket.AF_INET}
    assert {answer["port"] for answer in answers} == {0}


async def test_threaded_localhost_unspec() -> None:
    answers = await ThreadedResolver().resolve("localhost", 80, socket.AF_UNSPEC)
    check_shape(answers, "localhost", 80)
    assert "127.0.0.1" in hosts_of(answers)
    if hosts_file_maps("::1", "localhost"):
        assert "::1" in hosts_of(answers)


@pytest.mark.skipif(
    not hosts_file_maps("::1", "localhost"), reason="/etc/hosts has no ::1 localhost"
)
async def test_threaded_localhost_ipv6() -> None:
    answers = await ThreadedResolver().resolve("localhost", 80, socket.AF_INET6)
    check_shape(answers, "localhost", 80)
    assert "::1" in hosts_of(answers)
    assert {answer["family"] for answer in answers} == {socket.AF_INET6}


@pytest.mark.parametrize(
    ("host", "family", "expected"),
    [
        ("127.0.0.1", socket.AF_INET, "127.0.0.1"),
        ("::1", socket.AF_INET6, "::1"),
        ("[::1]", socket.AF_UNSPEC, "::1"),
    ],
)
async def test_threaded_literals(host: str, family: int, expected: str) -> None:
    answers = await ThreadedResolver().resolve(host, 443, family)
    check_shape(answers, host, 443)
    assert hosts_of(answers) == [expected]


async def test_literal_of_other_family_is_refused() -> None:
    with pytest.raises(ResolveError, match=r"::1:80"):
        await ThreadedResolver().resolve("::1", 80, socket.AF_INET)


async def test_threaded_unknown_name() -> None:
    # RFC 6761 §6.4: .invalid never resolves; getaddrinfo fails fast offline,
    # the timeout only bounds a misconfigured machine.
    async with asyncio.timeout(30):
        with pytest.raises(ResolveError) as caught:
            await ThreadedResolver().resolve("nonexistent.invalid", 8080, socket.AF_UNSPEC)
    error = caught.value
    assert isinstance(error, ConnectError)
    assert isinstance(error, ConnectionError)
    assert "nonexistent.invalid:8080" in str(error)
    assert "getaddrinfo" in str(error)
    assert isinstance(error.__cause__, socket.gaierror)


def test_scoped_ipv6_sockaddr_keeps_its_zone() -> None:
    # A link-local answer is useless without its interface: the host text
    # must carry the zone that the sockaddr tuple keeps in its 4th item.
    index, name = socket.if_nameindex()[0]
    host = resolver_module._sockaddr_host(socket.AF_INET6, (b"fe80::1", 80, 0, index))
    assert host == f"fe80::1%{name}"
    assert resolver_module._sockaddr_host(socket.AF_INET6, ("fe80::1", 80, 0, 0)) == "fe80::1"
    assert resolver_module._sockaddr_host(socket.AF_INET, ("10.0.0.1", 80)) == "10.0.0.1"


async def test_scoped_literal_connectable_form() -> None:
    # The scoped text an answer carries is what create_connection() accepts.
    index, name = socket.if_nameindex()[0]
    answers = await ThreadedResolver().resolve(f"fe80::1%{name}", 80, socket.AF_INET6)
    infos = socket.getaddrinfo(
        answers[0]["host"], 80, type=socket.SOCK_STREAM, flags=answers[0]["flags"]
    )
    assert infos[0][4][3] == index


# --- AsyncResolver ---------------------------------------------------------------


def test_async_resolver_builds_without_a_loop() -> None:
    resolver = AsyncResolver(["127.0.0.1:5353"])
    assert "idle" in repr(resolver)


async def test_async_ipv4(
    async_resolver: AsyncResolver, dns_server: tuple[LocalDNSServer, str]
) -> None:
    server, _ = dns_server
    answers = await async_resolver.resolve("www.example.test", 443, socket.AF_INET)
    check_shape(answers, "www.example.test", 443)
    assert hosts_of(answers) == ["127.0.0.2", "127.0.0.3"]
    assert {answer["family"] for answer in answers} == {socket.AF_INET}
    assert ("www.example.test", QTYPE_A) in server.questions
    assert ("www.example.test", QTYPE_AAAA) not in server.questions


async def test_async_ipv6(async_resolver: AsyncResolver) -> None:
    answers = await async_resolver.resolve("www.example.test", 443, socket.AF_INET6)
    check_shape(answers, "www.example.test", 443)
    assert hosts_of(answers) == ["::1"]
    assert answers[0]["family"] == socket.AF_INET6


async def test_async_unspec_asks_both(
    async_resolver: AsyncResolver, dns_server: tuple[LocalDNSServer, str]
) -> None:
    server, _ = dns_server
    answers = await async_resolver.resolve("www.example.test", 80, socket.AF_UNSPEC)
    check_shape(answers, "www.example.test", 80)
    assert sorted(hosts_of(answers)) == ["127.0.0.2", "127.0.0.3", "::1"]
    assert {("www.example.test", QTYPE_A), ("www.example.test", QTYPE_AAAA)} <= set(
        server.questions
    )


async def test_async_repeated_records_are_dropped(async_resolver: AsyncResolver) -> None:
    answers = await async_resolver.resolve("dup.example.test", 80, socket.AF_INET)
    assert hosts_of(answers) == ["127.0.0.5", "127.0.0.6"]


async def test_async_nxdomain(async_resolver: AsyncResolver) -> None:
    with pytest.raises(ResolveError) as caught:
        await async_resolver.resolve("nope.example.test", 8080, socket.AF_INET)
    message = str(caught.value)
    assert "nope.example.test:8080" in message
    assert "c-ares error" in message
    assert type(caught.value.__cause__).__name__ == "DNSError"


async def test_async_no_records_of_that_family(async_resolver: AsyncResolver) -> None:
    with pytest.raises(ResolveError, match=r"v4only\.example\.test:80 \(AF_INET6\)"):
        await async_resolver.resolve("v4only.example.test", 80, socket.AF_INET6)


async def test_async_literal_skips_dns(
    async_resolver: AsyncResolver, dns_server: tuple[LocalDNSServer, str]
) -> None:
    server, _ = dns_server
    answers = await async_resolver.resolve("[::1]", 80, socket.AF_UNSPEC)
    assert hosts_of(answers) == ["::1"]
    assert server.questions == []


async def test_async_close_fails_lookups_in_flight(
    async_resolver: AsyncResolver, dns_server: tuple[LocalDNSServer, str]
) -> None:
    server, _ = dns_server
    lookup = asyncio.create_task(async_resolver.resolve("slow.example.test", 80))
    await server.silent_question.wait()
    assert "open" in repr(async_resolver)
    await async_resolver.close()
    with pytest.raises(ResolveError, match=r"slow\.example\.test:80") as caught:
        await lookup
    # Cancelled by close(), not left to run into the c-ares timeout.
    assert isinstance(caught.value.__cause__, aiodns.error.DNSError)
    assert caught.value.__cause__.args[0] == aiodns.error.ARES_ECANCELLED
    await async_resolver.close()  # idempotent
    assert "closed" in repr(async_resolver)
    with pytest.raises(ResolveError, match="closed"):
        await async_resolver.resolve("www.example.test", 80)


async def test_async_close_without_use() -> None:
    resolver = AsyncResolver()
    await resolver.close()
    await resolver.close()
    with pytest.raises(ResolveError, match="closed"):
        await resolver.resolve("www.example.test", 80)


def test_pycares_4_nameservers_share_one_port() -> None:
    # pycares 4 (under aiodns 3.2) takes bare addresses and one port for all.
    kwargs: dict[str, object] = {}
    hosts = _with_one_port(["127.0.0.1:5353", "[::1]:5353", "10.0.0.1"], kwargs)
    assert hosts == ["127.0.0.1", "::1", "10.0.0.1"]
    assert kwargs == {"udp_port": 5353, "tcp_port": 5353}
    with pytest.raises(ValueError, match=r"one port for all nameservers, not \[53, 54\]"):
        _with_one_port(["127.0.0.1:53", "127.0.0.2:54"], {})


class CountingAsyncResolver(AsyncResolver):
    """An AsyncResolver that counts the lookups that reach it (past the DNS cache)."""

    calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        self.calls += 1
        return await super().resolve(host, port, family)


async def test_async_answers_carry_the_dns_ttl_and_the_cache_honours_it(
    dns_server: tuple[LocalDNSServer, str],
) -> None:
    server, nameserver = dns_server
    server.ttl = 7
    clock = [1000.0]
    resolver = CountingAsyncResolver([nameserver], timeout=5.0, tries=1)
    # (c-ares keeps its own cache by the same TTL, in real time: counting the
    # lookups that reach the resolver shows what our cache does.)
    async with DNSCache(resolver, ttl_ms=30_000, clock=lambda: clock[0]) as cache:
        first = await cache.lookup("v4only.example.test", 80, socket.AF_INET)
        assert [a["ttl"] for a in first] == [7]
        clock[0] += 6.9  # within the DNS TTL: cached
        await cache.lookup("v4only.example.test", 80, socket.AF_INET)
        assert resolver.calls == 1
        clock[0] += 0.2  # past the DNS TTL, long before the cache's own 30 s
        await cache.lookup("v4only.example.test", 80, socket.AF_INET)
        assert resolver.calls == 2

    server.ttl = 3600  # longer than ttl_dns_cache: capped by it
    resolver = CountingAsyncResolver([nameserver], timeout=5.0, tries=1)
    async with DNSCache(resolver, ttl_ms=2000, clock=lambda: clock[0]) as cache:
        await cache.lookup("www.example.test", 80, socket.AF_INET)
        clock[0] += 1.9
        await cache.lookup("www.example.test", 80, socket.AF_INET)
        assert resolver.calls == 1
        clock[0] += 0.2
        await cache.lookup("www.example.test", 80, socket.AF_INET)
        assert resolver.calls == 2
