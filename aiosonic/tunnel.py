"""Opening a transport to an origin through a proxy.

Lives here, one function per way through a proxy, all behind
:func:`open_via_proxy`:

* HTTP proxy, ``http://`` origin: a connection to the proxy itself; the
  client then writes requests in absolute-form (RFC 9112 §3.2.2).
* HTTP proxy, ``https://`` origin: a ``CONNECT`` tunnel (RFC 9110 §9.3.6),
  then TLS to the origin *inside* it, with the origin's SNI and host name check.
* HTTP proxy, plaintext origin that needs a byte stream of its own (a
  ``ws://`` WebSocket, :func:`open_tunnel`): a ``CONNECT`` tunnel with no TLS
  inside; the proxy cannot rewrite the upgrade, and a WebSocket is not a
  request it could forward in absolute-form anyway.
* SOCKS5 proxy (RFC 1928, user/password per RFC 1929) through the optional
  ``python-socks`` package; ``socks5h://`` lets the proxy resolve the name.

Does not live here: DNS and TCP to the proxy (the connector's :class:`Dialer`),
pools, the ``sock_connect`` deadline (the connector applies it around all of
this) and the requests themselves. The CONNECT reply is parsed by the sans-IO
:class:`~aiosonic.protocols.h11_response.ResponseParser`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from aiosonic.drivers.http11 import HTTP11Driver
from aiosonic.exceptions import (
    ConnectError,
    ConnectionDisconnected,
    ConnectTimeout,
    HttpParsingError,
    InvalidRequest,
    ProxyError,
    TLSError,
)
from aiosonic.protocols.h11_events import (
    NEED_DATA,
    EndOfMessage,
    H11Limits,
    InformationalResponse,
    ResponseHead,
)
from aiosonic.protocols.h11_request import build_request_head
from aiosonic.protocols.h11_response import ResponseParser

if TYPE_CHECKING:
    from aiosonic.proxy import Proxy
    from aiosonic.urls import ParsedURL

__all__ = [
    "Dialer",
    "connect_request_head",
    "open_tunnel",
    "open_via_proxy",
    "uses_absolute_form",
]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)


class Dialer(Protocol):
    """What a tunnel needs from the connector: name resolution and TCP (+TLS)."""

    async def open_transport(
        self,
        host: str,
        port: int,
        factory: Callable[[], _P],
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> tuple[asyncio.Transport, _P]:
        """Resolve ``host`` and connect to it, trying each address in turn."""
        ...

    async def resolve_address(self, host: str, port: int) -> str:
        """Resolve ``host`` to one IP address, as a string."""
        ...


def uses_absolute_form(proxy: Proxy, url: ParsedURL) -> bool:
    """Whether a request to ``url`` is written in absolute-form to ``proxy``.

    True for plaintext URLs through an HTTP(S) proxy; a CONNECT tunnel and a
    SOCKS5 connection carry origin-form requests, as a direct connection does.
    """
    return not proxy.is_socks and not url.is_secure


def connect_request_head(authority: str, proxy_authorization: str | None) -> bytes:
    """Serialise a ``CONNECT`` request for ``authority`` (``host:port``).

    RFC 9110 §9.3.6: the target is in authority-form and Host carries the
    same value. ``Proxy-Authorization`` goes here and only here.
    """
    fields = [("Host", authority)]
    if proxy_authorization is not None:
        fields.append(("Proxy-Authorization", proxy_authorization))
    return build_request_head("CONNECT", authority, fields)


async def open_via_proxy(
    proxy: Proxy,
    url: ParsedURL,
    dialer: Dialer,
    driver_factory: Callable[[], HTTP11Driver],
    ssl_ctx: ssl.SSLContext | None,
    proxy_ssl_ctx: ssl.SSLContext | None,
    limits: H11Limits | None = None,
) -> tuple[asyncio.Transport, HTTP11Driver]:
    """Open a transport that carries requests to ``url``'s origin via ``proxy``.

    Args:
        proxy: The proxy to go through.
        url: The request URL; its origin is the tunnel's target.
        dialer: Resolves names and opens TCP (+TLS) connections.
        driver_factory: Builds the HTTP/1.1 driver of the new connection.
        ssl_ctx: TLS settings for the origin, or None for plaintext.
        proxy_ssl_ctx: TLS settings for an ``https://`` proxy, else None.
        limits: Parser limits for the proxy's reply to CONNECT.

    Returns:
        The transport (TLS to the origin when ``ssl_ctx`` is set) and its driver.

    Raises:
        ProxyError: The proxy refused the tunnel or answered nonsense.
        ConnectError: The proxy could not be reached.
        TLSError: The TLS handshake with the origin (or proxy) failed.
        InvalidRequest: A SOCKS proxy without ``python-socks`` installed.
    """
    if ssl_ctx is None and not proxy.is_socks:
        return await _dial_proxy(proxy, dialer, driver_factory, proxy_ssl_ctx)
    return await open_tunnel(proxy, url, dialer, driver_factory, ssl_ctx, proxy_ssl_ctx, limits)


async def open_tunnel(
    proxy: Proxy,
    url: ParsedURL,
    dialer: Dialer,
    factory: Callable[[], _P],
    ssl_ctx: ssl.SSLContext | None,
    proxy_ssl_ctx: ssl.SSLContext | None,
    limits: H11Limits | None = None,
) -> tuple[asyncio.Transport, _P]:
    """Open a byte stream to ``url``'s origin through ``proxy``, whatever its scheme.

    A SOCKS5 connection, or a ``CONNECT`` tunnel through an HTTP(S) proxy
    even for a plaintext origin (a ``ws://`` WebSocket); then TLS to the
    origin inside it when ``ssl_ctx`` is set.

    Args:
        proxy: The proxy to go through.
        url: The URL; its origin is the tunnel's target.
        dialer: Resolves names and opens TCP (+TLS) connections.
        factory: Builds the protocol of the stream to the origin.
        ssl_ctx: TLS settings for the origin, or None for plaintext.
        proxy_ssl_ctx: TLS settings for an ``https://`` proxy, else None.
        limits: Parser limits for the proxy's reply to CONNECT.

    Returns:
        The transport to the origin and the protocol ``factory`` built for it.

    Raises:
        ProxyError: The proxy refused the tunnel or answered nonsense.
        ConnectError: The proxy could not be reached.
        TLSError: The TLS handshake with the origin (or proxy) failed.
        InvalidRequest: A SOCKS proxy without ``python-socks`` installed.
    """
    if proxy.is_socks:
        return await _open_socks(proxy, url, dialer, factory, ssl_ctx)
    return await _open_connect_tunnel(proxy, url, dialer, factory, ssl_ctx, proxy_ssl_ctx, limits)


async def _dial_proxy(
    proxy: Proxy,
    dialer: Dialer,
    factory: Callable[[], _P],
    proxy_ssl_ctx: ssl.SSLContext | None,
) -> tuple[asyncio.Transport, _P]:
    """Connect to an HTTP(S) proxy itself."""
    try:
        return await dialer.open_transport(
            proxy.host,
            proxy.port,
            factory,
            proxy_ssl_ctx,
            proxy.host if proxy_ssl_ctx is not None else None,
        )
    except TLSError:
        raise
    except ConnectError as exc:
        raise ConnectError(f"cannot reach proxy {proxy.key}: {exc}") from exc


# --- CONNECT ------------------------------------------------------------------


class _ConnectReplyReader(asyncio.Protocol):
    """Collect the proxy's reply to CONNECT and parse it with the sans-IO parser.

    It is the transport's protocol only until the reply is in; then the
    transport is handed to ``loop.start_tls`` and this object is dropped.
    """

    def __init__(self, limits: H11Limits | None) -> None:
        self._parser = ResponseParser(limits)
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self._parser.receive_data(data)
        self._wake()

    def eof_received(self) -> bool | None:
        self._parser.receive_eof()
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc
        self._parser.receive_eof()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def exchange(self, head: bytes, authority: str) -> ResponseHead:
        """Send the CONNECT request and return the final reply head.

        Raises:
            HttpParsingError: The reply is not HTTP/1.1.
            ConnectionDisconnected: The proxy closed before a full reply head.
        """
        transport = self.transport
        assert transport is not None, "exchange() before connection_made()"
        parser = self._parser
        parser.start(b"CONNECT", f"CONNECT {authority}")
        transport.write(head)
        loop = asyncio.get_running_loop()
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
                continue
            if isinstance(event, InformationalResponse):
                continue
            if not isinstance(event, ResponseHead):
                raise HttpParsingError(f"unexpected {event!r} in the reply to CONNECT {authority}")
            if 200 <= event.status_code < 300:
                # RFC 9110 §9.3.6: a 2xx reply to CONNECT has no body; the
                # parser reports its end at once.
                end = parser.next_event()
                assert isinstance(end, EndOfMessage), end
            return event

    @property
    def unread(self) -> int:
        """Bytes received after the reply head."""
        return self._parser.buffered


async def _open_connect_tunnel(
    proxy: Proxy,
    url: ParsedURL,
    dialer: Dialer,
    driver_factory: Callable[[], _P],
    ssl_ctx: ssl.SSLContext | None,
    proxy_ssl_ctx: ssl.SSLContext | None,
    limits: H11Limits | None,
) -> tuple[asyncio.Transport, _P]:
    """CONNECT to the origin through an HTTP proxy; with ``ssl_ctx``, TLS inside the tunnel."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    authority = f"{host}:{url.port}"
    where = f"CONNECT {authority} via {proxy.key}"
    transport, reader = await _dial_proxy(
        proxy, dialer, lambda: _ConnectReplyReader(limits), proxy_ssl_ctx
    )
    try:
        head = connect_request_head(authority, proxy.authorization_header())
        try:
            reply = await reader.exchange(head, authority)
        except ConnectionDisconnected as exc:
            raise ProxyError(f"proxy closed the connection before replying ({where})") from exc
        except HttpParsingError as exc:
            raise ProxyError(f"proxy sent a malformed reply ({where}): {exc}") from exc
        status = reply.status_code
        if not 200 <= status < 300:
            reason = reply.reason.decode("latin-1", "replace")
            raise ProxyError(
                f"proxy refused the tunnel: {status} {reason} ({where})", status_code=status
            )
        if reader.unread:
            # The origin speaks only after our TLS ClientHello (or our
            # WebSocket upgrade request); bytes here would be taken as its answer.
            raise ProxyError(
                f"proxy sent {reader.unread} unexpected byte(s) after its {status} reply ({where})",
                status_code=status,
            )
        driver = driver_factory()
        if ssl_ctx is None:
            # Plaintext inside the tunnel: the proxy's socket is the stream.
            transport.set_protocol(driver)
            driver.connection_made(transport)
            return transport, driver
        loop = asyncio.get_running_loop()
        try:
            tls_transport = await loop.start_tls(
                transport, driver, ssl_ctx, server_hostname=url.host
            )
        except ssl.SSLError as exc:
            raise _tls_error(url, proxy, exc) from exc
        except OSError as exc:
            raise ConnectError(f"tunnel failed during the TLS handshake ({where}): {exc}") from exc
        if tls_transport is None:
            raise ConnectError(f"tunnel closed during the TLS handshake ({where})")
        # start_tls does not call connection_made on the new protocol.
        driver.connection_made(tls_transport)
        return tls_transport, driver
    except BaseException:
        transport.close()
        raise


# --- SOCKS5 -------------------------------------------------------------------


async def _open_socks(
    proxy: Proxy,
    url: ParsedURL,
    dialer: Dialer,
    driver_factory: Callable[[], _P],
    ssl_ctx: ssl.SSLContext | None,
) -> tuple[asyncio.Transport, _P]:
    """Open a SOCKS5 connection to the origin, then TLS to it when ``ssl_ctx`` is set."""
    try:
        from python_socks import ProxyConnectionError, ProxyTimeoutError, ProxyType
        from python_socks import ProxyError as SocksError
        from python_socks.async_.asyncio import Proxy as SocksProxy
    except ImportError as exc:
        raise InvalidRequest(
            f"the SOCKS proxy {proxy.key} needs the python-socks package: "
            "pip install 'aiosonic[socks]'"
        ) from exc
    loop = asyncio.get_running_loop()
    remote_dns = proxy.scheme == "socks5h"
    where = f"{url.host}:{url.port} via {proxy.key}"
    proxy_ip = await dialer.resolve_address(proxy.host, proxy.port)
    # socks5:// resolves here, through our resolver and DNS cache; socks5h://
    # sends the name for the proxy to resolve (RFC 1928 §5, ATYP 0x03).
    destination = url.host if remote_dns else await dialer.resolve_address(url.host, url.port)
    socks = SocksProxy(
        ProxyType.SOCKS5,
        proxy_ip,
        proxy.port,
        username=proxy.username,
        password=proxy.password,
        rdns=remote_dns,
        loop=loop,
    )
    try:
        sock = await socks.connect(destination, url.port)
    except ProxyTimeoutError as exc:
        raise ConnectTimeout(f"SOCKS handshake timed out ({where}): {exc}") from exc
    except ProxyConnectionError as exc:
        raise ConnectError(f"cannot reach SOCKS proxy ({where}): {exc}") from exc
    except SocksError as exc:
        raise ProxyError(f"SOCKS proxy refused the connection ({where}): {exc}") from exc
    try:
        transport, driver = await loop.create_connection(
            driver_factory,
            sock=sock,
            ssl=ssl_ctx,
            server_hostname=url.host if ssl_ctx is not None else None,
        )
    except ssl.SSLError as exc:
        sock.close()
        raise _tls_error(url, proxy, exc) from exc
    except OSError as exc:
        sock.close()
        raise ConnectError(f"SOCKS connection failed ({where}): {exc}") from exc
    except BaseException:
        sock.close()
        raise
    return transport, driver


def _tls_error(url: ParsedURL, proxy: Proxy, exc: ssl.SSLError) -> TLSError:
    return TLSError.from_handshake(f"{url.host}:{url.port} (via proxy {proxy.key})", exc)
