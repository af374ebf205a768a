"""The published aiosonic names kept at their import paths: aliases, helpers and attributes.

``tests/compat`` checks that each name exists and takes the published calls;
these tests check that the ones which do something do what the published
ones did, against real local servers where a request is involved.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import json
import logging
import ssl
import zlib
from urllib.parse import urlparse

import pytest
from aiohttp import web
from conftest import HTTPServer

import aiosonic
from aiosonic import _published
from aiosonic.auth import BasicAuth, BearerAuth, normalize_auths, resolve_auth
from aiosonic.compression import (
    DEFLATE_WBITS,
    ENCODING_WBITS,
    GZIP_WBITS,
    BoundedDecompressor,
    decompress_bounded,
)
from aiosonic.connectors import TCPConnector
from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import DecompressionError, InvalidRequest
from aiosonic.headers import HttpHeaders
from aiosonic.http2 import Http2Config
from aiosonic.multipart import MultipartForm
from aiosonic.pools import CyclicQueuePool, Http2MultiplexPool, PoolConfig, SmartPool
from aiosonic.proxy import Proxy, proxy_from_environment
from aiosonic.resolver import ThreadedResolver
from aiosonic.response import HttpResponse
from aiosonic.timeout import Timeouts
from aiosonic.tls import get_default_ssl_context

# --------------------------------------------------------------------------- aliases


def _target(spec: str) -> object:
    where, _, attribute = spec.partition(":")
    module = importlib.import_module(where)
    return getattr(module, attribute) if attribute else module


@pytest.mark.parametrize("module", sorted(_published.ALIASES))
def test_every_alias_is_the_object_it_names(module: str) -> None:
    """Each published name resolves, on first use, to ours, and dir() lists it."""
    mod = importlib.import_module(module)
    listed = dir(mod)
    for name, spec in _published.ALIASES[module].items():
        assert getattr(mod, name) is _target(spec), f"{module}.{name}"
        assert name in listed, f"{module}.{name} not in dir()"


def test_unknown_names_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'aiosonic\.client' has no attribute 'nope'"):
        aiosonic.client.nope  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError):
        from aiosonic.connectors import nope  # type: ignore[attr-defined]  # noqa: F401


def test_published_import_forms() -> None:
    """The imports real code wrote against 0.x and 1.x."""
    from aiosonic import dlogger, get_debug_logger, http_parser, json_dumps
    from aiosonic.client import CRLF, RANDOM_RANGE, VERSION, Connection, get_loop
    from aiosonic.connection import BasePool, keepalive_flags
    from aiosonic.connectors import asyncio_sleep
    from aiosonic.multipart import RANDOM_RANGE as MULTIPART_RANGE

    assert json_dumps({"a": 1}) == json.dumps({"a": 1})
    assert dlogger is get_debug_logger() is logging.getLogger("aiosonic")
    assert not dlogger.handlers  # a library adds no handler
    assert {"host", "user-agent"} == http_parser.REPLACEABLE_HEADERS
    assert CRLF == "\r\n" and aiosonic.__version__ == VERSION
    assert RANDOM_RANGE == (10**8, 10**9) and MULTIPART_RANGE == (1000, 9999)
    assert Connection is aiosonic.Connection and BasePool is aiosonic.pools.BasePool
    assert get_loop is aiosonic.get_loop and asyncio_sleep is asyncio.sleep
    assert isinstance(keepalive_flags(), int)
    assert aiosonic.gzip_decompress(gzip.compress(b"z")) == b"z"
    assert aiosonic.zlib_decompress(zlib.compress(b"z")) == b"z"


# --------------------------------------------------------------------------- http_parser


def test_add_header_to_lists_and_mappings() -> None:
    from aiosonic.http_parser import add_header, add_headers, headers_iterator

    pairs: list[tuple[str, str]] = [("Host", "a"), ("X", "1")]
    add_header(pairs, "host", "b", replace=True)
    add_header(pairs, "X", "2")
    assert pairs == [("X", "1"), ("host", "b"), ("X", "2")]
    add_headers(pairs, {"User-Agent": "u", "HOST": "c", "X": "3"})
    assert pairs == [("X", "1"), ("X", "2"), ("User-Agent", "u"), ("HOST", "c"), ("X", "3")]
    mapping = HttpHeaders()
    add_headers(mapping, [("Accept", "a"), ("accept", "b")])
    assert list(headers_iterator(mapping)) == [("accept", "b")]  # set: the last spelling
    assert list(headers_iterator(None)) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("X", "a\r\nInjected: 1"), ("X", "a\nb"), ("X", "nul\x00"), ("Bad Name", "v"), (":", "v")],
)
def test_validate_header_refuses_forged_lines(key: str, value: str) -> None:
    from aiosonic.http_parser import add_header, validate_header

    with pytest.raises(ValueError):
        validate_header(key, value)
    pairs: list[tuple[str, str]] = []
    with pytest.raises(InvalidRequest):
        add_header(pairs, key, value)
    assert pairs == []


def test_validate_header_accepts_tokens_and_pseudo_headers() -> None:
    from aiosonic.http_parser import validate_header

    validate_header("X-Token_1.~", "tab\tis fine")
    validate_header(":path", "/x")


def test_setup_body_request() -> None:
    from aiosonic.http_parser import setup_body_request

    headers: list[tuple[str, str]] = []
    assert setup_body_request({"a": "1 2", "b": "&"}, headers) == b"a=1+2&b=%26"
    assert headers == [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", "11"),
    ]
    mapping = HttpHeaders({"content-TYPE": "application/json"})
    assert setup_body_request('{"é": 1}', mapping) == '{"é": 1}'.encode()
    assert dict(mapping) == {"content-TYPE": "application/json", "Content-Length": "9"}
    text_headers: dict[str, str] = {}
    assert setup_body_request(b"raw", text_headers) == b"raw"
    assert text_headers == {"Content-Type": "text/plain", "Content-Length": "3"}
    chunks = iter([b"a", b"b"])
    chunked: list[tuple[str, str]] = []
    assert setup_body_request(chunks, chunked) is chunks
    assert chunked == [("Transfer-Encoding", "chunked")]


async def test_parse_headers_iterator_reads_to_the_blank_line() -> None:
    from aiosonic.http_parser import parse_headers_iterator

    reader = asyncio.StreamReader()
    reader.feed_data(b"A: 1\r\nB: 2\r\n\r\nbody: not a header\r\n")
    lines = [line async for line in parse_headers_iterator(reader)]
    assert lines == [b"A: 1\r\n", b"B: 2\r\n"]
    assert await reader.read(100) == b"body: not a header\r\n"  # left untouched


def test_get_url_parsed() -> None:
    from aiosonic.http_parser import get_url_parsed

    assert get_url_parsed("https://h:1/p?q") == urlparse("https://h:1/p?q")


# --------------------------------------------------------------------------- compression


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_bounded_decompressor_fed_in_pieces(encoding: str, compress: object) -> None:
    data = bytes(range(256)) * 40
    packed = compress(data)  # type: ignore[operator]
    decompressor = BoundedDecompressor(ENCODING_WBITS[encoding], len(data))
    out = b"".join(decompressor.feed(packed[i : i + 7]) for i in range(0, len(packed), 7))
    assert out + decompressor.flush() == data
    assert decompress_bounded(packed, ENCODING_WBITS[encoding], len(data)) == data


def test_bounded_decompressor_stops_a_bomb() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    decompressor = BoundedDecompressor(GZIP_WBITS, 1000)
    with pytest.raises(DecompressionError, match=r"passes the 1000 byte limit \(1001 bytes"):
        decompressor.feed(bomb)
    assert "1001 of 1000 bytes" in repr(decompressor)  # stopped one byte past, not 8 MiB
    with pytest.raises(DecompressionError, match="limit"):
        decompress_bounded(zlib.compress(b"x" * 11), DEFLATE_WBITS, 10)


def test_bounded_decompressor_corrupt_input() -> None:
    with pytest.raises(DecompressionError, match=r"corrupt compressed body \(feed\)") as info:
        BoundedDecompressor(GZIP_WBITS, 100).feed(b"not gzip at all")
    assert isinstance(info.value.__cause__, zlib.error)


# --------------------------------------------------------------------------- auth, proxy, TLS


def test_resolve_auth_order() -> None:
    explicit = BearerAuth("t")
    auths = {"API.test:8443": ("u", "p"), "[::1]": explicit, "plain.test": ("a", "b")}
    url = urlparse("https://api.test:8443/x")
    assert resolve_auth(explicit, url, auths) is explicit
    tupled = resolve_auth(("x", "y"), url)
    assert isinstance(tupled, BasicAuth) and (tupled.username, tupled.password) == ("x", "y")
    userinfo = resolve_auth(None, urlparse("https://us%40er:p%3Ass@api.test/"), auths)
    assert isinstance(userinfo, BasicAuth)
    assert (userinfo.username, userinfo.password) == ("us@er", "p:ss")
    from_table = resolve_auth(None, url, auths)
    assert isinstance(from_table, BasicAuth) and from_table.username == "u"
    assert resolve_auth(None, urlparse("http://[::1]:80/"), auths) is explicit
    assert resolve_auth(None, urlparse("http://api.test/"), auths) is None  # port 80 != 8443
    host_only = resolve_auth(None, urlparse("https://plain.test/"), normalize_auths(auths))
    assert isinstance(host_only, BasicAuth) and host_only.username == "a"
    assert resolve_auth(None, url) is None
    assert aiosonic.resolve_auth is resolve_auth and aiosonic.normalize_auths is normalize_auths


def test_basic_auth_password_is_readable_and_settable() -> None:
    auth = BasicAuth("user", "old")
    assert auth.password == "old" and "old" not in repr(auth)
    auth.password = "new"
    headers = HttpHeaders()
    auth.apply(headers, "GET", "http://h/")
    assert headers["Authorization"] == "Basic dXNlcjpuZXc="  # user:new


def test_proxy_from_url() -> None:
    proxy = Proxy.from_url("user:p%40ss@proxy.test:3128")
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.test", 3128)
    assert (proxy.username, proxy.password) == ("user", "p@ss")
    assert proxy == Proxy("http://proxy.test:3128", auth="user:p@ss")


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_proxy_from_environment(clean_proxy_env: pytest.MonkeyPatch) -> None:
    url = urlparse("http://site.test/x")
    assert proxy_from_environment(url) is None
    clean_proxy_env.setenv("HTTP_PROXY", "http://u:p@proxy.test:3128")
    clean_proxy_env.setenv("NO_PROXY", "internal.test")
    found = proxy_from_environment(url)
    assert found == Proxy("http://proxy.test:3128", auth="u:p")
    assert proxy_from_environment(urlparse("http://a.internal.test/")) is None
    assert proxy_from_environment(urlparse("https://site.test/")) is None  # no HTTPS_PROXY
    clean_proxy_env.setenv("ALL_PROXY", "socks5://s.test:1080")
    socks = proxy_from_environment(urlparse("https://site.test/"))
    assert socks is not None and socks.is_socks
    assert aiosonic.proxy_from_environment is proxy_from_environment


def test_get_default_ssl_context() -> None:
    strict = get_default_ssl_context()
    assert strict.verify_mode is ssl.CERT_REQUIRED and strict.check_hostname
    loose = get_default_ssl_context(verify=False, http2=True)
    assert loose.verify_mode is ssl.CERT_NONE and not loose.check_hostname
    assert get_default_ssl_context() is not strict  # a new context each call


# --------------------------------------------------------------------------- objects' attributes


async def test_pool_attributes_follow_the_connector() -> None:
    timeouts = Timeouts(sock_read=3)
    config = Http2Config(max_concurrent_streams=7)
    async with TCPConnector(pool_size=4, timeouts=timeouts, http2_config=config) as connector:
        pool = SmartPool(connector, 4, aiosonic.Connection, PoolConfig(size=4))
        assert pool.conf is pool.config and pool.conf.size == 4
        assert pool.timeouts is timeouts and pool.http2_config is config
        bare = CyclicQueuePool(object(), 2, aiosonic.Connection)
        assert bare.timeouts == Timeouts() and bare.http2_config == Http2Config()
        bare.timeouts, bare.http2_config, bare.conf = timeouts, config, PoolConfig(size=3)
        assert (bare.timeouts, bare.http2_config, bare.config.size) == (timeouts, config, 3)
        assert bare.pool.qsize() == 2
        await bare.acquire()
        assert bare.pool.qsize() == 1


async def test_connector_attributes() -> None:
    async with TCPConnector(pool_size=9) as connector:
        assert connector.pool_size == 9 and connector.use_dns_cache
        assert isinstance(connector.cache, DNSCache) and connector.cache is connector.dns
    async with TCPConnector(use_dns_cache=False) as uncached:
        assert uncached.pool_size == 25 and not uncached.use_dns_cache
        assert uncached.cache is None


async def test_threaded_resolver_loop() -> None:
    assert ThreadedResolver().loop is asyncio.get_running_loop()


def test_threaded_resolver_loop_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        ThreadedResolver().loop  # noqa: B018


def test_multipart_fields_and_header_lower_items() -> None:
    form = MultipartForm()
    form.add_field("a", "1")
    form.add_field("f", b"data", filename="f.bin")
    assert [(p.name, p.filename) for p in form.fields] == [("a", None), ("f", "f.bin")]
    assert form.fields == form.parts
    headers = HttpHeaders([("Accept", "a"), ("X-Y", "1"), ("x-y", "2")])
    assert list(headers.lower_items()) == [("accept", "a"), ("x-y", "1"), ("x-y", "2")]


def test_hand_built_response_attributes() -> None:
    response = HttpResponse()
    assert not response.chunks_readed and response.compressed == ""
    assert response.request_meta == {"from_path": "/"}
    response.headers.update({"Content-Encoding": "gzip"})
    response.body = b"x"
    assert response.chunks_readed and response.compressed == "gzip"


# --------------------------------------------------------------------------- against a server


async def _start(server: HTTPServer) -> HTTPServer:
    async def payload(request: web.Request) -> web.Response:
        body = gzip.compress(b"hello " * 50_000)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def cookie(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.set_cookie("session", "abc")
        response.set_cookie("theme", "dark", path="/")
        return response

    server.app.router.add_get("/a/b", payload)
    server.app.router.add_get("/cookie", cookie)
    return await server.start()


async def test_response_attributes_from_a_server(http_server: HTTPServer) -> None:
    await _start(http_server)
    async with (
        aiosonic.HTTPClient() as client,
        client.stream("GET", http_server.url + "/a/b?q=1") as response,
    ):
        assert not response.chunks_readed
        assert response.compressed == "gzip"
        assert response.request_meta == {"from_path": "/a/b"}
        assert await response.content() == b"hello " * 50_000
        assert response.chunks_readed


async def test_cookies_map(http_server: HTTPServer) -> None:
    await _start(http_server)
    async with aiosonic.HTTPClient(handle_cookies=True) as client:
        assert client.cookies_map == {}
        await client.get(http_server.url + "/cookie")
        cookies = client.cookies_map
        assert list(cookies) == ["127.0.0.1"]
        assert {k: m.value for k, m in cookies["127.0.0.1"].items()} == {
            "session": "abc",
            "theme": "dark",
        }
        cookies["127.0.0.1"]["session"] = "changed"  # a snapshot: the jar keeps its own
        assert client.cookies_map["127.0.0.1"]["session"].value == "abc"
    async with aiosonic.HTTPClient() as plain:
        await plain.get(http_server.url + "/cookie")
        assert plain.cookies_map == {}


async def test_http2_multiplex_pool_as_pool_cls(http_server: HTTPServer) -> None:
    await _start(http_server)
    connector = TCPConnector(pool_cls=Http2MultiplexPool, pool_size=2)
    async with aiosonic.HTTPClient(connector) as client:
        responses = await asyncio.gather(
            *(client.get(http_server.url + "/cookie") for _ in range(4))
        )
        assert [r.status_code for r in responses] == [200] * 4
        assert isinstance(connector.pools[":default"], Http2MultiplexPool)
    assert http_server.connections <= 2
    await connector.cleanup()
