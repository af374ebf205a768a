"""The promised public surface: import paths, builtin compatibility, signatures, ``__all__``.

Code written against the published aiosonic must keep importing and calling
the same names with the same parameters; these tests pin that contract
(``/work/shared/seeds/003_*.txt``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import json
import pkgutil
import socket
import ssl
from typing import Any

import pytest
from aiohttp import web

import aiosonic
import aiosonic.exceptions as exc_mod
from aiosonic.connectors import TCPConnector
from aiosonic.pools import PoolConfig
from aiosonic.timeout import Timeouts

_EMPTY = inspect.Parameter.empty


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _params(func: Any) -> list[tuple[str, Any]]:
    """Return ``(name, default)`` of each named parameter after ``self``."""
    params = list(inspect.signature(func).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.default) for p in params if p.kind not in _VARIADIC]


def _assert_prefix(func: Any, expected: list[tuple[str, Any]]) -> None:
    """The reference parameters come first, in order; any extra ones are optional."""
    actual = _params(func)
    assert actual[: len(expected)] == expected
    for name, default in actual[len(expected) :]:
        assert default is not _EMPTY, f"extra parameter {name!r} has no default"


# --- import paths -----------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("aiosonic", "HTTPClient"),
        ("aiosonic", "HttpHeaders"),
        ("aiosonic", "HttpResponse"),
        ("aiosonic", "TCPConnector"),
        ("aiosonic", "Timeouts"),
        ("aiosonic", "MultipartForm"),
        ("aiosonic.client", "HttpHeaders"),
        ("aiosonic.client", "HTTPClient"),
        ("aiosonic.client", "HttpResponse"),
        ("aiosonic.connectors", "TCPConnector"),
        ("aiosonic.connection", "Connection"),
        ("aiosonic.pools", "SmartPool"),
        ("aiosonic.pools", "CyclicQueuePool"),
        ("aiosonic.pools", "PoolConfig"),
        ("aiosonic.resolver", "ThreadedResolver"),
        ("aiosonic.resolver", "AsyncResolver"),
        ("aiosonic.resolver", "DefaultResolver"),
        ("aiosonic.timeout", "Timeouts"),
        ("aiosonic.multipart", "MultipartForm"),
        ("aiosonic.proxy", "Proxy"),
        ("aiosonic.proxy", "EnvironmentProxies"),
        ("aiosonic.exceptions", "ProxyError"),
        ("aiosonic", "BasicAuth"),
        ("aiosonic", "DigestAuth"),
        ("aiosonic", "AuthBase"),
        ("aiosonic.auth", "AuthBase"),
        ("aiosonic.auth", "BasicAuth"),
        ("aiosonic.auth", "DigestAuth"),
        ("aiosonic.auth", "NetrcAuth"),
        ("aiosonic.exceptions", "AuthenticationError"),
        ("aiosonic.response", "HttpResponse"),
        ("aiosonic.response", "ResponseJSONError"),
        ("aiosonic.exceptions", "ConnectTimeout"),
        ("aiosonic.exceptions", "ReadTimeout"),
        ("aiosonic.exceptions", "RequestTimeout"),
        ("aiosonic.exceptions", "ConnectionPoolAcquireTimeout"),
        ("aiosonic.exceptions", "HttpParsingError"),
        ("aiosonic.exceptions", "MaxRedirects"),
        ("aiosonic.exceptions", "ConnectionDisconnected"),
        ("aiosonic.exceptions", "StreamConsumed"),
        ("aiosonic.exceptions", "ConnectorClosed"),
        ("aiosonic.exceptions", "DecompressionError"),
        ("aiosonic.exceptions", "MissingWriterException"),
        ("aiosonic.exceptions", "MissingReaderException"),
        ("aiosonic.exceptions", "TimeoutException"),
        ("aiosonic.exceptions", "TLSError"),
        ("aiosonic.exceptions", "InvalidURL"),
        ("aiosonic", "SSEClient"),
        ("aiosonic", "SSEConnection"),
        ("aiosonic", "SSEConnectionError"),
        ("aiosonic", "SSEParsingError"),
        ("aiosonic", "RequestConfig"),
        ("aiosonic.sse_client", "SSEClient"),
        ("aiosonic.sse_client", "SSEConnection"),
        ("aiosonic.sse_client", "RequestConfig"),
        ("aiosonic.sse_config", "RequestConfig"),
        ("aiosonic.exceptions", "SSEConnectionError"),
        ("aiosonic.exceptions", "SSEParsingError"),
        ("aiosonic.protocols.sse", "EventStreamParser"),
        ("aiosonic.protocols.sse", "SSELimits"),
        ("aiosonic.tcp_helpers", "SocketOptions"),
    ],
)
def test_promised_import_path(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    assert inspect.isclass(obj)


def test_reexports_are_the_same_objects() -> None:
    from aiosonic.client import HTTPClient, HttpHeaders
    from aiosonic.headers import HttpHeaders as HeadersImpl
    from aiosonic.resolver import DefaultResolver, ThreadedResolver

    assert HTTPClient is aiosonic.HTTPClient
    assert HttpHeaders is aiosonic.HttpHeaders is HeadersImpl
    assert aiosonic.HttpResponse is importlib.import_module("aiosonic.response").HttpResponse
    # The default resolver needs no extra dependency and no nameserver setup.
    assert issubclass(DefaultResolver, ThreadedResolver) or DefaultResolver is ThreadedResolver


def test_version_is_exported() -> None:
    assert isinstance(aiosonic.__version__, str)
    assert aiosonic.__version__ == aiosonic.VERSION
    assert aiosonic.__version__.count(".") >= 1


@pytest.mark.parametrize("pin", [">1.3.3", ">=0.24", ">=1,<2", "~=1.3"])
def test_version_satisfies_the_pins_users_write(pin: str) -> None:
    """Newer than the last published release (1.3.3), inside the 1.x line."""
    from packaging.specifiers import SpecifierSet

    assert aiosonic.__version__ in SpecifierSet(pin)
    assert aiosonic.__version__ == importlib.import_module("aiosonic.version").VERSION


async def test_user_agent_carries_the_version(http_server: Any) -> None:
    async def agent(request: web.Request) -> web.Response:
        return web.Response(text=request.headers["User-Agent"])

    http_server.app.router.add_get("/ua", agent)
    await http_server.start()
    async with aiosonic.HTTPClient() as client:
        response = await client.get(f"{http_server.url}/ua")
        assert await response.text() == f"aiosonic/{aiosonic.__version__}"


# --- names code written for the published package imports -------------------


def test_names_real_code_imports_from_the_package() -> None:
    """The import lines found in code written for 0.x and 1.x work unchanged."""
    namespace: dict[str, Any] = {}
    exec(
        "from aiosonic import (HeadersType, HttpHeaders, HttpResponse, HTTPClient,"
        " TCPConnector, Timeouts, Proxy, BaseClient, HTTPStatusError, ParamsType, DataType,"
        " BodyType, ParsedBodyType, AuthType, Connection, ConnectTimeout, ReadTimeout,"
        " RequestTimeout, HttpParsingError, MaxRedirects, ConnectionDisconnected,"
        " MissingWriterException, DecompressionError, get_loop, __version__)",
        namespace,
    )
    assert namespace["HTTPStatusError"] is exc_mod.HTTPStatusError
    assert namespace["ConnectTimeout"] is exc_mod.ConnectTimeout
    assert namespace["Connection"] is importlib.import_module("aiosonic.connection").Connection
    assert namespace["TCPConnector"] is TCPConnector
    assert namespace["__version__"] == aiosonic.VERSION


def test_type_aliases_at_the_published_path() -> None:
    types_mod = importlib.import_module("aiosonic.types")
    request_mod = importlib.import_module("aiosonic.request")
    assert types_mod.HeadersType is request_mod.HeadersType is aiosonic.HeadersType
    assert types_mod.DataType is request_mod.BodyType is aiosonic.DataType
    assert types_mod.ParamsType is importlib.import_module("aiosonic.urls").ParamsType
    assert types_mod.MultipartForm is aiosonic.MultipartForm
    assert types_mod.SSEEvent is aiosonic.SSEEvent


def test_older_module_paths() -> None:
    """0.14-0.23 imported TCPConnector from aiosonic.connection; 1.x Http2Config from http2."""
    connection_mod = importlib.import_module("aiosonic.connection")
    assert connection_mod.TCPConnector is TCPConnector
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        connection_mod.NoSuchName  # noqa: B018
    http2_mod = importlib.import_module("aiosonic.http2")
    assert http2_mod.Http2Config is aiosonic.Http2Config
    assert http2_mod.Http2Config is importlib.import_module("aiosonic.drivers.http2").Http2Config
    assert aiosonic.__version__ == importlib.import_module("aiosonic.version").VERSION


async def test_get_loop_returns_the_running_loop() -> None:
    resolver_mod = importlib.import_module("aiosonic.resolver")
    assert resolver_mod.get_loop() is asyncio.get_running_loop()
    assert aiosonic.get_loop is resolver_mod.get_loop


def test_get_loop_outside_a_loop_raises() -> None:
    with pytest.raises(RuntimeError):
        aiosonic.get_loop()


# --- builtin compatibility of the exceptions ---------------------------------


@pytest.mark.parametrize(
    "cls",
    [
        exc_mod.ConnectTimeout,
        exc_mod.ReadTimeout,
        exc_mod.RequestTimeout,
        exc_mod.ConnectionPoolAcquireTimeout,
    ],
)
def test_timeouts_are_asyncio_timeouts(cls: type[Exception]) -> None:
    assert issubclass(cls, asyncio.TimeoutError)
    assert issubclass(cls, exc_mod.TimeoutException)
    assert issubclass(cls, exc_mod.AiosonicError)
    with pytest.raises(asyncio.TimeoutError):
        raise cls("deadline")


@pytest.mark.parametrize(
    "cls",
    [exc_mod.ConnectionDisconnected, exc_mod.ConnectError, exc_mod.ResponseIncomplete],
)
def test_network_errors_are_connection_errors(cls: type[Exception]) -> None:
    assert issubclass(cls, ConnectionError)
    assert issubclass(cls, OSError)
    assert issubclass(cls, exc_mod.AiosonicError)


def test_tls_error_is_ssl_error_and_connection_error() -> None:
    assert issubclass(exc_mod.TLSError, ssl.SSLError)
    assert issubclass(exc_mod.TLSError, ConnectionError)
    error = exc_mod.TLSError("handshake failed")
    assert str(error) == "handshake failed"  # not ssl.SSLError's "('handshake failed',)"


def test_invalid_input_errors_are_value_errors() -> None:
    from aiosonic.response import ResponseJSONError

    assert issubclass(exc_mod.InvalidRequest, ValueError)
    assert issubclass(ResponseJSONError, ValueError)
    # A bad URL is caller input; it stays an HttpParsingError for code written
    # against the published package, which raised that for a URL without a host.
    assert issubclass(exc_mod.InvalidURL, exc_mod.InvalidRequest)
    assert issubclass(exc_mod.InvalidURL, exc_mod.HttpParsingError)


@pytest.mark.parametrize(
    "name", [n for n in exc_mod.__all__ if inspect.isclass(getattr(exc_mod, n, None))]
)
def test_every_exported_exception_is_an_aiosonic_error(name: str) -> None:
    cls = getattr(exc_mod, name)
    if cls is exc_mod.TimeoutException:
        # The published alias of the builtin that every timeout refines.
        assert cls is asyncio.TimeoutError
    else:
        assert issubclass(cls, exc_mod.AiosonicError)


# --- value objects ----------------------------------------------------------


def test_timeouts_defaults() -> None:
    timeouts = Timeouts()
    assert (
        timeouts.sock_connect,
        timeouts.sock_read,
        timeouts.pool_acquire,
        timeouts.request_timeout,
    ) == (5, 30, None, 60)


def test_timeouts_is_an_immutable_value() -> None:
    assert Timeouts(1, 2, 3, 4) == Timeouts(
        sock_connect=1, sock_read=2, pool_acquire=3, request_timeout=4
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        Timeouts().sock_read = 1  # type: ignore[misc]


def test_pool_config_is_hashable_equal_by_value_and_immutable() -> None:
    a = PoolConfig(size=10, max_conn_requests=5, max_conn_idle_ms=1000)
    b = PoolConfig(size=10, max_conn_requests=5, max_conn_idle_ms=1000)
    c = PoolConfig(size=11, max_conn_requests=5, max_conn_idle_ms=1000)
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size = 3  # type: ignore[misc]


# --- signatures -------------------------------------------------------------


def test_http_client_init_signature() -> None:
    _assert_prefix(
        aiosonic.HTTPClient.__init__,
        [("connector", None), ("handle_cookies", False), ("verify_ssl", True), ("proxy", None)],
    )


def test_request_signature() -> None:
    _assert_prefix(
        aiosonic.HTTPClient.request,
        [
            ("url", _EMPTY),
            ("method", "GET"),
            ("headers", None),
            ("params", None),
            ("data", None),
            ("json", None),
            ("json_serializer", json.dumps),
            ("multipart", False),
            ("verify", True),
            ("ssl", None),
            ("timeouts", None),
            ("follow", None),  # 1.3.3: None is the client's follow (False by default)
            ("http2", False),
            ("max_redirects", None),
            ("max_decompressed_size", None),
            ("auth", None),
            ("stream", False),
        ],
    )


@pytest.mark.parametrize("verb", ["get", "head", "options"])
def test_bodyless_verb_signature(verb: str) -> None:
    _assert_prefix(
        getattr(aiosonic.HTTPClient, verb),
        [
            ("url", _EMPTY),
            ("headers", None),
            ("params", None),
            ("verify", True),
            ("ssl", None),
            ("timeouts", None),
            ("follow", None),  # 1.3.3: None is the client's follow (False by default)
            ("http2", False),
        ],
    )


@pytest.mark.parametrize(
    ("verb", "data_default"),
    [
        ("post", None),
        ("put", None),
        ("patch", None),
        ("delete", b""),
    ],
)
def test_body_verb_signature(verb: str, data_default: Any) -> None:
    _assert_prefix(
        getattr(aiosonic.HTTPClient, verb),
        [
            ("url", _EMPTY),
            ("data", data_default),
            ("headers", None),
            ("json", None),
            ("params", None),
            ("json_serializer", json.dumps),
            ("multipart", False),
            ("verify", True),
            ("ssl", None),
            ("timeouts", None),
            ("follow", None),  # 1.3.3: None is the client's follow (False by default)
            ("http2", False),
        ],
    )


def test_wait_requests_signature() -> None:
    _assert_prefix(aiosonic.HTTPClient.wait_requests, [("timeout", 30)])


def test_tcp_connector_signature() -> None:
    _assert_prefix(
        TCPConnector.__init__,
        [
            ("pool_size", 25),
            ("timeouts", None),
            ("connection_cls", None),
            ("pool_cls", None),
            ("resolver", None),
            ("ttl_dns_cache", 10000),
            ("use_dns_cache", True),
            ("conn_max_requests", 100),
        ],
    )


def test_timeouts_signature() -> None:
    _assert_prefix(
        Timeouts,
        [("sock_connect", 5), ("sock_read", 30), ("pool_acquire", None), ("request_timeout", 60)],
    )


def test_pool_and_helper_signatures() -> None:
    from aiosonic.multipart import MultipartForm
    from aiosonic.pools import CyclicQueuePool, SmartPool
    from aiosonic.proxy import Proxy

    for pool in (SmartPool, CyclicQueuePool):
        _assert_prefix(
            pool.__init__,
            [("connector", _EMPTY), ("pool_size", _EMPTY), ("connection_cls", _EMPTY)],
        )
        for method in ("acquire", "release", "free_conns", "is_all_free", "cleanup"):
            assert callable(getattr(pool, method))
    _assert_prefix(Proxy.__init__, [("host", _EMPTY), ("auth", None)])
    _assert_prefix(aiosonic.HttpHeaders.__init__, [("data", None)])
    _assert_prefix(
        MultipartForm.add_field, [("name", _EMPTY), ("value", _EMPTY), ("filename", None)]
    )
    _assert_prefix(
        MultipartForm.add_file, [("name", _EMPTY), ("file_path", _EMPTY), ("filename", None)]
    )
    _assert_prefix(MultipartForm.get_headers, [("size", None)])


def test_resolver_resolve_signatures() -> None:
    from aiosonic.resolver import AsyncResolver, ThreadedResolver

    for resolver in (AsyncResolver, ThreadedResolver):
        params = _params(resolver.resolve)
        # The first parameter is passed positionally by every caller we know.
        assert [default for _, default in params] == [_EMPTY, 0, socket.AF_INET]
        assert [name for name, _ in params][1:] == ["port", "family"]


# --- __all__ ----------------------------------------------------------------


def test_http2_config_lives_in_aiosonic_http2_and_every_old_path_has_it() -> None:
    # aiosonic.http2.Http2Config is the published 1.x path, and its home.
    home = importlib.import_module("aiosonic.http2").Http2Config
    assert home.__module__ == "aiosonic.http2"
    for module in ("aiosonic", "aiosonic.connectors", "aiosonic.drivers.http2"):
        assert importlib.import_module(module).Http2Config is home, module


def _all_modules() -> list[str]:
    names = ["aiosonic"]
    for info in pkgutil.walk_packages(aiosonic.__path__, "aiosonic."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _all_modules())
def test_all_lists_only_existing_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        # Only package markers and the version constant go without __all__.
        assert module_name in {"aiosonic.version", "aiosonic.drivers", "aiosonic.protocols"}
        return
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


def test_star_import_of_the_package_gives_the_api() -> None:
    namespace: dict[str, Any] = {}
    exec("from aiosonic import *", namespace)
    for name in ("HTTPClient", "HttpHeaders", "HttpResponse", "TCPConnector", "Timeouts"):
        assert name in namespace


# --- behaviour of the entry point -------------------------------------------


async def test_http_client_is_an_async_context_manager(http_server: Any) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    http_server.app.router.add_get("/", hello)
    await http_server.start()
    async with aiosonic.HTTPClient() as client:
        assert isinstance(client, aiosonic.HTTPClient)
        response = await client.get(http_server.url + "/")
        assert await response.text() == "hi"
        pool = client.connector.pool
        assert pool.free_conns() == pool.pool_size
    # Leaving the block closed the connector; a second close is a no-op.
    assert "closed=True" in repr(client.connector)
    await client.close()
    assert "closed=True" in repr(client.connector)


async def test_url_without_host_fails_before_connecting() -> None:
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(exc_mod.HttpParsingError, match="no host"):
            await client.get("http://:8080/")
        assert client.connector.is_all_free()
        # No slot was ever created: the error came before the pool.
        assert "connections=0" in repr(client.connector.pool)
