"""ConnectionOpener: how one connector opens a new connection.

Lives here: everything between "this slot needs a connection for that pool
key" and a transport with its protocol driver. The dial goes through the
connector's DNS cache, Happy Eyeballs and socket options, or to its UNIX
socket (:class:`~aiosonic.dialer.TCPDialer`). The TLS context a key uses is
chosen here: the caller's, or a shared one (:mod:`aiosonic.tls`) that offers
ALPN ``h2`` when HTTP/2 is asked for, or presents a client certificate; so is
the offer of the key's last TLS session (:mod:`aiosonic.tls_sessions`).
Proxies are reached through :mod:`aiosonic.tunnel`; a custom network
backend's stream gets TLS with ``start_tls`` and is adapted to a driver
(:mod:`aiosonic.drivers.stream_transport`). Last, the driver: HTTP/2 when
ALPN picked ``h2`` or with h2c prior knowledge, HTTP/1.1 otherwise. The
sockets of WebSockets, which are never pooled, are opened here too.

Does not live here: pools, leases and the record of what was opened
(:mod:`aiosonic.connectors`, :mod:`aiosonic.stats`); the ``sock_connect``
deadline, which the connector applies around :meth:`ConnectionOpener.open`;
racing addresses (:mod:`aiosonic.dialer`); building TLS contexts
(:mod:`aiosonic.tls`); the proxy protocols (:mod:`aiosonic.tunnel`).

Settings have one home each. The opener owns those only opening reads
(``socket_options``, ``happy_eyeballs_delay``, ``network_backend``,
``limits``); the connector's attributes of those names are properties onto
them. Those the connector reads per request too (``http2``,
``http2_config``, ``uds``) and its resources (``dns``, ``tls``) stay plain
attributes of the connector, and the opener reads them from it at each open
(:class:`ConnectorSettings`). Either way an assignment takes effect with the
next connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeVar

from aiosonic.backends import NetworkBackendInterface
from aiosonic.dialer import TCPDialer
from aiosonic.dns_cache import DNSCache
from aiosonic.drivers.http2 import Http2Config, HTTP2Driver
from aiosonic.drivers.http11 import HTTP11Driver
from aiosonic.drivers.negotiate import ALPN_H2_AND_H11, ALPN_H11, ALPNNegotiator
from aiosonic.drivers.stream_transport import StreamTransport
from aiosonic.exceptions import InvalidRequest, TLSError
from aiosonic.protocols.h11_events import H11Limits
from aiosonic.proxy import Proxy
from aiosonic.tcp_helpers import SocketOptions
from aiosonic.tls import ClientCert
from aiosonic.tls_sessions import TLSSessions
from aiosonic.tunnel import open_tunnel, open_via_proxy
from aiosonic.urls import ParsedURL, PoolKey

__all__ = ["ConnectionOpener", "ConnectorSettings", "OpenedConnection"]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)
#: A transport's ``(host, port)`` address, or None when it has none (UNIX socket).
Address = tuple[str, int] | None


class ConnectorSettings(Protocol):
    """What an opener reads from its connector at each open.

    :class:`~aiosonic.connectors.TCPConnector` is one: these are its plain
    attributes, read on its per-request path too, so they live there and
    nowhere else.
    """

    @property
    def dns(self) -> DNSCache:
        """The DNS cache every dial resolves through."""
        ...

    @property
    def tls(self) -> TLSSessions:
        """The shared TLS contexts, and the sessions kept per pool key."""
        ...

    @property
    def http2(self) -> bool:
        """Whether every ``https`` connection offers ALPN ``h2``."""
        ...

    @property
    def http2_config(self) -> Http2Config:
        """Settings of new HTTP/2 connections; ``prior_knowledge`` allows h2c."""
        ...

    @property
    def uds(self) -> str | None:
        """Path of the UNIX socket every connection goes to, or None."""
        ...


class OpenedConnection(NamedTuple):
    """A new connection, ready for its first request, and what opening it found out.

    The driver's ``addresses`` are set (``(remote, local)``).
    """

    transport: asyncio.Transport
    driver: HTTP11Driver | HTTP2Driver
    #: Seconds spent resolving names (0.0 through a custom backend).
    dns_seconds: float
    #: Lookups the DNS cache answered.
    dns_hits: int
    #: Lookups the DNS cache sent to the resolver.
    dns_misses: int
    #: The TLS handshake with the origin resumed a session (False without TLS).
    tls_resumed: bool
    #: The peer is one of the URL host's resolved addresses: a direct TCP
    #: dial, not a proxy, the ``uds`` socket or a custom backend's stream.
    dialed_host: bool


class ConnectionOpener:
    """Open new connections, and WebSocket sockets, for one connector.

    Nothing here is per request: the connector calls it only when a slot has
    no connection that fits.

    Args:
        settings: The connector, whose DNS cache, TLS store, ``http2``,
            ``http2_config`` and ``uds`` are read at each open.
        socket_options: TCP options of every new socket; None leaves the
            loop's defaults.
        happy_eyeballs_delay: Seconds between the starts of connection
            attempts to a host's addresses (RFC 8305 §5); None tries them
            one at a time.
        network_backend: A custom backend whose streams carry the
            connections; None is the default fast path (the DNS cache, Happy
            Eyeballs, socket options and asyncio transports).
        limits: HTTP/1.1 parser limits of every new HTTP/1.1 driver.
    """

    __slots__ = ("_settings", "happy_eyeballs_delay", "limits", "network_backend", "socket_options")

    def __init__(
        self,
        settings: ConnectorSettings,
        socket_options: SocketOptions | None = None,
        happy_eyeballs_delay: float | None = None,
        network_backend: NetworkBackendInterface | None = None,
        limits: H11Limits | None = None,
    ) -> None:
        self._settings = settings
        self.socket_options = socket_options
        self.happy_eyeballs_delay = happy_eyeballs_delay
        self.network_backend = network_backend
        self.limits = limits

    def __repr__(self) -> str:
        settings = self._settings
        backend = "default" if self.network_backend is None else repr(self.network_backend)
        delay = self.happy_eyeballs_delay
        return (
            f"<ConnectionOpener [backend={backend}, uds={settings.uds!r}, "
            f"happy_eyeballs={'off' if delay is None else f'{delay}s'}, "
            f"socket_options={self.socket_options!r}, "
            f"http2={'on' if settings.http2 else 'off'}, "
            f"h2c={'prior knowledge' if settings.http2_config.prior_knowledge else 'off'}, "
            f"tls={settings.tls!r}]>"
        )

    def context_with_cert(self, verify: bool, http2: bool, cert: ClientCert) -> ssl.SSLContext:
        """Return the shared SSL context that presents ``cert`` (one per configuration).

        It offers ALPN ``h2`` when ``http2`` or the connector's ``http2`` is set.
        """
        http2 = http2 or self._settings.http2
        return self._settings.tls.get(verify, ALPN_H2_AND_H11 if http2 else ALPN_H11, cert)

    def ssl_context_for(
        self, url: ParsedURL, verify: bool, ssl_ctx: ssl.SSLContext | None
    ) -> ssl.SSLContext | None:
        """Return the SSL context a connection to ``url`` uses, or None for plaintext."""
        if not url.is_secure:
            return None
        return ssl_ctx if ssl_ctx is not None else self._settings.tls.get(verify)

    def _dialer(self, uds: str | None) -> TCPDialer:
        """Return a dialer for one new connection (it records that connection's DNS facts)."""
        return TCPDialer(self._settings.dns, self.socket_options, self.happy_eyeballs_delay, uds)

    async def open(
        self, url: ParsedURL, key: PoolKey, proxy: Proxy | None = None
    ) -> OpenedConnection:
        """Open a connection to ``url`` shaped by ``key``, ready for its first request.

        Resolve, connect and (for https) handshake, through ``proxy`` if
        given, or over a custom backend's stream; an HTTP/2 connection is
        ready once the server's SETTINGS came (its stream limit). The caller
        bounds the whole call (``sock_connect``).

        Args:
            url: The request URL; its host and port are dialled.
            key: Its pool key: verification, the caller's SSL context, HTTP/2.
            proxy: The proxy to go through, if any.

        Returns:
            The connection, and its DNS, TLS and address facts.

        Raises:
            InvalidRequest: A proxy with a custom ``network_backend`` or with ``uds``.
            ConnectError: The host did not resolve or refused the connection.
            TLSError: The TLS handshake or certificate check failed.
            ProxyError: The proxy refused the tunnel.
        """
        backend = self.network_backend
        dialer: TCPDialer | None = None
        if backend is not None:
            if proxy is not None:
                raise InvalidRequest(
                    f"a connector with network_backend={backend!r} cannot go through "
                    f"{proxy!r} (proxies need the default backend)"
                )
            transport, driver = await self._open_stream(backend, url, key)
            dialed_host = False
        else:
            uds = self._settings.uds
            if proxy is not None and uds is not None:
                raise InvalidRequest(
                    f"a connector with uds={uds!r} connects to that socket only; "
                    f"it cannot go through {proxy!r}"
                )
            dialer = self._dialer(uds)
            transport, driver = await self._dial(dialer, url, key, proxy)
            dialed_host = proxy is None and uds is None
        if isinstance(driver, HTTP2Driver):
            try:
                await driver.wait_ready()  # the server's SETTINGS: its stream limit
            except BaseException:
                driver.close()
                raise
        remote = _address(transport.get_extra_info("peername"))
        driver.addresses = (remote, _address(transport.get_extra_info("sockname")))
        return OpenedConnection(
            transport,
            driver,
            dialer.dns_seconds if dialer is not None else 0.0,
            dialer.dns_hits if dialer is not None else 0,
            dialer.dns_misses if dialer is not None else 0,
            url.is_secure and _session_reused(transport),
            dialed_host,
        )

    async def _dial(
        self, dialer: TCPDialer, url: ParsedURL, key: PoolKey, proxy: Proxy | None
    ) -> tuple[asyncio.Transport, HTTP11Driver | HTTP2Driver]:
        """Dial ``url`` (or ``proxy``) with ``dialer``; pick the driver.

        With a proxy, :func:`aiosonic.tunnel.open_via_proxy` does the proxy's
        part; name resolution and TCP still go through ``dialer``. A direct
        TLS connection picks its driver from the ALPN result; h2c (HTTP/2
        over plain TCP) is used only with prior knowledge.
        """
        tls = self._settings.tls
        ssl_ctx = self.ssl_context_for(url, key.verify, key.ssl)
        limits = self.limits
        h2_config = self._settings.http2_config

        def driver_factory() -> HTTP11Driver:
            return HTTP11Driver(limits)

        def h2_factory() -> HTTP2Driver:
            return HTTP2Driver(h2_config)

        if proxy is None and ssl_ctx is not None:
            if key.http2 and key.ssl is None:
                ssl_ctx = tls.get(key.verify, ALPN_H2_AND_H11)
            # A caller's context is used as it is, never changed: it may be
            # shared, and an SSLContext can be neither copied nor asked which
            # ALPN protocols it offers. It offers what its owner set, and the
            # driver follows what the server picks from those.
            with tls.dial(key, ssl_ctx) as session_dial:
                transport, negotiator = await dialer.open_transport(
                    url.host,
                    url.port,
                    lambda: ALPNNegotiator(h2_factory, driver_factory),
                    ssl_ctx,
                    url.host,
                )
            session_dial.handshaken(transport.get_extra_info("ssl_object"))
            assert negotiator.driver is not None
            return transport, negotiator.driver
        if proxy is None and key.http2 and h2_config.prior_knowledge:
            transport, h2_driver = await dialer.open_transport(
                url.host, url.port, h2_factory, None, None
            )
            return transport, h2_driver
        if proxy is not None:
            proxy_ssl = tls.get(key.verify) if proxy.scheme == "https" else None
            transport, driver = await open_via_proxy(
                proxy, url, dialer, driver_factory, ssl_ctx, proxy_ssl, limits
            )
        else:
            transport, driver = await dialer.open_transport(
                url.host,
                url.port,
                driver_factory,
                ssl_ctx,
                url.host if ssl_ctx is not None else None,
            )
        return transport, driver

    async def _open_stream(
        self, backend: NetworkBackendInterface, url: ParsedURL, key: PoolKey
    ) -> tuple[asyncio.Transport, HTTP11Driver | HTTP2Driver]:
        """Open a connection through a custom backend's stream (TLS on it for ``https``)."""
        tls = self._settings.tls
        ssl_ctx = self.ssl_context_for(url, key.verify, key.ssl)
        if ssl_ctx is not None and key.http2 and key.ssl is None:
            ssl_ctx = tls.get(key.verify, ALPN_H2_AND_H11)
        # uvloop's start_tls does the handshake in the context the transport
        # was made in (at connect), so the session is offered from there on.
        session_dial = tls.dial(key, ssl_ctx)
        with session_dial:
            stream = await backend.connect(url.host, url.port)
            try:
                if ssl_ctx is not None:
                    await stream.start_tls(ssl_ctx, url.host)
            except BaseException as exc:
                await asyncio.shield(stream.close())
                if isinstance(exc, ssl.SSLError):
                    raise TLSError.from_handshake(f"{url.host}:{url.port}", exc) from exc
                raise
        try:
            h2 = False
            h2_config = self._settings.http2_config
            if ssl_ctx is not None:
                ssl_object = stream.get_extra_info("ssl_object")
                session_dial.handshaken(ssl_object)
                h2 = ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
            else:
                h2 = key.http2 and h2_config.prior_knowledge
            driver: HTTP11Driver | HTTP2Driver = (
                HTTP2Driver(h2_config) if h2 else HTTP11Driver(self.limits)
            )
            transport = StreamTransport(stream, driver)
            transport.start()
        except BaseException:
            await asyncio.shield(stream.close())
            raise
        return transport, driver

    async def open_websocket_transport(
        self,
        url: ParsedURL,
        ssl_ctx: ssl.SSLContext | None,
        factory: Callable[[], _P],
        proxy: Proxy | None = None,
    ) -> tuple[asyncio.Transport, _P]:
        """Open a socket for a WebSocket with the connector's DNS cache, dialer and TLS.

        The connection is the caller's for good: it is never in a pool, so it
        is never reused for HTTP. The caller bounds the call (``sock_connect``).

        Args:
            url: The ``ws://``/``wss://`` URL; its host and port are dialled.
            ssl_ctx: TLS settings, or None for plaintext.
            factory: Builds the protocol of the new transport.
            proxy: A SOCKS5 proxy, or an HTTP(S) proxy: a CONNECT tunnel,
                with TLS to the origin inside it for ``wss://``.

        Raises:
            InvalidRequest: A custom ``network_backend``, or ``uds`` and a proxy.
            ConnectError: The host did not resolve or refused the connection.
            TLSError: The TLS handshake or certificate check failed.
            ProxyError: The proxy refused the tunnel.
        """
        if self.network_backend is not None:
            raise InvalidRequest(
                f"a connector with network_backend={self.network_backend!r} cannot open "
                f"WebSockets yet ({url.url})"
            )
        uds = self._settings.uds
        dialer = self._dialer(uds)
        if proxy is not None:
            if uds is not None:
                raise InvalidRequest(
                    f"a connector with uds={uds!r} connects to that socket only; "
                    f"it cannot open {url.url} through {proxy!r}"
                )
            proxy_ssl = self._settings.tls.get(True) if proxy.scheme == "https" else None
            # Always a tunnel, ws:// too: a WebSocket is a byte stream of its own.
            return await open_tunnel(proxy, url, dialer, factory, ssl_ctx, proxy_ssl, self.limits)
        server_hostname = url.host if ssl_ctx is not None else None
        return await dialer.open_transport(url.host, url.port, factory, ssl_ctx, server_hostname)


def _session_reused(transport: asyncio.BaseTransport) -> bool:
    """Tell whether ``transport``'s TLS handshake resumed a session (no TLS: False)."""
    ssl_object = transport.get_extra_info("ssl_object")  # a backend's may be its own
    return isinstance(ssl_object, ssl.SSLObject) and ssl_object.session_reused


def _address(info: Any) -> Address:
    """``(host, port)`` of a ``peername``/``sockname`` (IPv6's 4-tuple too); None otherwise."""
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
