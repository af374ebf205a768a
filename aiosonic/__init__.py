"""aiosonic: a fast, strict asyncio HTTP client.

This module only re-exports the public API; see the submodules for each part.
The names the published aiosonic (0.14 to 1.3.3) exported from here are kept,
so ``from aiosonic import HTTPClient, HTTPStatusError, HeadersType`` works.
"""

from typing import TYPE_CHECKING

from aiosonic.auth import Auth, AuthBase, AuthType, BasicAuth, BearerAuth, DigestAuth
from aiosonic.backends import (
    NetworkBackend,
    NetworkBackendInterface,
    NetworkStream,
    NetworkStreamInterface,
)
from aiosonic.base_client import AioSonicBaseClient, BaseClient
from aiosonic.client import HTTPClient
from aiosonic.connection import Connection
from aiosonic.connectors import TCPConnector
from aiosonic.drivers.http2 import Http2Config
from aiosonic.exceptions import (
    AiosonicError,
    ConnectionDisconnected,
    ConnectTimeout,
    DecompressionError,
    HttpParsingError,
    HTTPStatusError,
    MaxRedirects,
    MissingWriterException,
    ReadTimeout,
    RequestTimeout,
    ScopeTimeout,
    SSEConnectionError,
    SSEParsingError,
    WebSocketMessageTooBig,
)
from aiosonic.headers import HttpHeaders
from aiosonic.multipart import MultipartFile, MultipartForm
from aiosonic.pools import CyclicQueuePool, PoolConfig, SmartPool, WsPool
from aiosonic.protocols.sse import SSEEvent
from aiosonic.proxy import Proxy
from aiosonic.resolver import get_loop
from aiosonic.response import HttpResponse
from aiosonic.sse_client import SSEClient, SSEConnection
from aiosonic.sse_config import RequestConfig
from aiosonic.timeout import Timeouts, TimeoutScope
from aiosonic.types import BodyType, DataType, HeadersType, ParamsType, ParsedBodyType
from aiosonic.version import VERSION
from aiosonic.web_socket_client import (
    CRLF,
    DEFAULT_MAX_MSG_SIZE,
    WEBSOCKET_GUID,
    Message,
    MessageType,
    ProtocolHandler,
    WebSocketClient,
    WebSocketConfig,
    WebSocketConnection,
)

__version__ = VERSION

if TYPE_CHECKING:
    # At run time ``aiosonic.timeout`` is the submodule, whose class makes it
    # callable: ``aiosonic.timeout(3.0)`` opens a TimeoutScope, and
    # ``aiosonic.timeout.Timeouts`` is still the published class. This tells a
    # type checker both.
    from aiosonic.timeout import _TimeoutModule

    timeout: _TimeoutModule

__all__ = [
    "AioSonicBaseClient",
    "AiosonicError",
    "Auth",
    "AuthBase",
    "AuthType",
    "CRLF",
    "DEFAULT_MAX_MSG_SIZE",
    "BaseClient",
    "BasicAuth",
    "BearerAuth",
    "BodyType",
    "ConnectTimeout",
    "Connection",
    "ConnectionDisconnected",
    "CyclicQueuePool",
    "DataType",
    "DecompressionError",
    "DigestAuth",
    "HTTPClient",
    "HTTPStatusError",
    "HeadersType",
    "Http2Config",
    "HttpHeaders",
    "HttpParsingError",
    "HttpResponse",
    "MaxRedirects",
    "Message",
    "MessageType",
    "MissingWriterException",
    "MultipartFile",
    "MultipartForm",
    "NetworkBackend",
    "NetworkBackendInterface",
    "NetworkStream",
    "NetworkStreamInterface",
    "ParamsType",
    "ParsedBodyType",
    "ProtocolHandler",
    "PoolConfig",
    "Proxy",
    "ReadTimeout",
    "RequestConfig",
    "RequestTimeout",
    "ScopeTimeout",
    "SSEClient",
    "SSEConnection",
    "SSEConnectionError",
    "SSEEvent",
    "SSEParsingError",
    "SmartPool",
    "TCPConnector",
    "TimeoutScope",
    "Timeouts",
    "VERSION",
    "WEBSOCKET_GUID",
    "WebSocketClient",
    "WebSocketConfig",
    "WebSocketConnection",
    "WebSocketMessageTooBig",
    "WsPool",
    "__version__",
    "get_loop",
    "timeout",
]


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
