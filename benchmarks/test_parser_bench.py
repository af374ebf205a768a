"""Micro-benchmarks of the sans-IO HTTP/1.1 core: response parsing and request heads.

Run with ``.venv/bin/pytest benchmarks/test_parser_bench.py --benchmark-only -q``.
Not collected by the normal test run (``testpaths = tests``). Every benchmark
checks its result, so a fast-but-wrong parser fails instead of "winning".
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from aiosonic.protocols.h11_events import NEED_DATA, Data, EndOfMessage, ResponseHead
from aiosonic.protocols.h11_request import build_request_head
from aiosonic.protocols.h11_response import ResponseParser

# Short runs: these guard against regressions in the hot path, not for publishing.
quick = pytest.mark.benchmark(min_rounds=5, max_time=0.2, warmup=False)

SMALL_BODY = b"x" * 100
SMALL_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\n" + SMALL_BODY
)

TYPICAL_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Date: Tue, 15 Nov 1994 08:12:31 GMT\r\n"
    b"Server: nginx/1.25.3\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: 512\r\n"
    b"Connection: keep-alive\r\n"
    b"Cache-Control: private, max-age=0, must-revalidate\r\n"
    b'ETag: "33a64df551425fcc55e4d42a148795d9f25f89d4"\r\n'
    b"Vary: Accept-Encoding, Origin\r\n"
    b"X-Request-Id: 6f1c2a9e-8d4b-4c1e-9f3a-2b7d5e8c0a14\r\n"
    b"Strict-Transport-Security: max-age=63072000; includeSubDomains; preload\r\n"
    b"Set-Cookie: session=abc123; Path=/; HttpOnly; Secure; SameSite=Lax\r\n"
    b"Access-Control-Allow-Origin: *\r\n"
    b"\r\n"
)
TYPICAL_RESPONSE = TYPICAL_HEAD + b"{" + b"a" * 510 + b"}"

MIB = 1024 * 1024
CHUNK = 16 * 1024
LARGE_BODY = bytes(range(256)) * (MIB // 256)
CHUNKED_WIRE = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n%b\r\n" % (CHUNK, LARGE_BODY[i : i + CHUNK]) for i in range(0, MIB, CHUNK))
    + b"0\r\n\r\n"
)
# What a socket would hand over: 64 KiB reads, not aligned with the chunks.
CHUNKED_READS = [CHUNKED_WIRE[i : i + 65536] for i in range(0, len(CHUNKED_WIRE), 65536)]

REQUEST_FIELDS = [
    ("Host", "api.example.com"),
    ("User-Agent", "aiosonic/1.0"),
    ("Accept", "application/json"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig"),
    ("Content-Type", "application/json"),
    ("Content-Length", "42"),
    ("Connection", "keep-alive"),
]


def parse_all(parser: ResponseParser, reads: list[bytes]) -> tuple[int, int]:
    """Parse one response; return (number of headers, body bytes)."""
    parser.start(b"GET", "http://bench.test/")
    headers = body = 0
    for data in reads:
        parser.receive_data(data)
        while (event := parser.next_event()) is not NEED_DATA:
            if isinstance(event, Data):
                body += len(event.data)
            elif isinstance(event, ResponseHead):
                headers = len(event.headers)
            elif isinstance(event, EndOfMessage):
                assert parser.is_reusable
    return headers, body


@quick
def test_small_content_length_response(benchmark: BenchmarkFixture) -> None:
    parser = ResponseParser()
    result = benchmark(parse_all, parser, [SMALL_RESPONSE])
    assert result == (2, 100)


@quick
def test_typical_twelve_header_response(benchmark: BenchmarkFixture) -> None:
    parser = ResponseParser()
    result = benchmark(parse_all, parser, [TYPICAL_RESPONSE])
    assert result == (12, 512)


@quick
def test_one_mib_chunked_body_in_16k_chunks(benchmark: BenchmarkFixture) -> None:
    parser = ResponseParser()
    result = benchmark(parse_all, parser, CHUNKED_READS)
    assert result == (1, MIB)


@quick
def test_request_head_serialisation(benchmark: BenchmarkFixture) -> None:
    head = benchmark(build_request_head, "POST", "/v1/items?page=2&sort=name", REQUEST_FIELDS)
    assert head.startswith(b"POST /v1/items?page=2&sort=name HTTP/1.1\r\nHost: api.example.com\r\n")
    assert head.endswith(b"Connection: keep-alive\r\n\r\n")
