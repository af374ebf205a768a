"""aiosonic: a fast, strict asyncio HTTP client.

This module only re-exports the public API; see the submodules for each part.
"""

from aiosonic.auth import AuthBase, BasicAuth, DigestAuth
from aiosonic.client import HTTPClient
from aiosonic.connectors import TCPConnector
from aiosonic.drivers.http2 import Http2Config
from aiosonic.exceptions import AiosonicError, SSEConnectionError, SSEParsingError
from aiosonic.headers import HttpHeaders
from aiosonic.multipart import MultipartForm
from aiosonic.pools import CyclicQueuePool, PoolConfig, SmartPool
from aiosonic.protocols.sse import SSEEvent
from aiosonic.proxy import Proxy
from aiosonic.response import HttpResponse
from aiosonic.sse_client import SSEClient, SSEConnection
from aiosonic.sse_config import RequestConfig
from aiosonic.timeout import Timeouts
from aiosonic.version import VERSION

__version__ = VERSION

__all__ = [
    "AiosonicError",
    "AuthBase",
    "BasicAuth",
    "CyclicQueuePool",
    "DigestAuth",
    "HTTPClient",
    "Http2Config",
    "HttpHeaders",
    "HttpResponse",
    "MultipartForm",
    "PoolConfig",
    "Proxy",
    "RequestConfig",
    "SSEClient",
    "SSEConnection",
    "SSEConnectionError",
    "SSEEvent",
    "SSEParsingError",
    "SmartPool",
    "TCPConnector",
    "Timeouts",
    "VERSION",
    "__version__",
]
