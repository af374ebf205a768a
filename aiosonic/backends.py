"""Network backends: where a connection's bytes come from and go to.

The interface is the one of the httpx 1.0 design: a backend's
``connect(host, port)`` returns a stream with ``read``, ``write``,
``start_tls``, ``get_extra_info`` and ``close``. Subclass
:class:`NetworkBackendInterface` and :class:`NetworkStreamInterface` to record
traffic, route origins to UNIX sockets, or serve from memory, and pass the
backend as ``TCPConnector(network_backend=...)``.

Lives here: the two interfaces; :class:`NetworkBackend` and
:class:`NetworkStream`, the default asyncio implementation, usable on its
own; :class:`UnixSocketBackend`, which maps origins to socket paths.

Does not live here: how the connector drives a custom stream (the adapter in
:mod:`aiosonic.drivers.stream_transport`), and the connector's own fast path:
with the default backend, the connector keeps opening transports with its
dialer (DNS cache, Happy Eyeballs, socket options) and protocol drivers, at no
extra cost; a custom backend's streams go through the adapter.
"""

from __future__ import annotations

import asyncio
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiosonic.dialer import TCPDialer
from aiosonic.dns_cache import DNSCache
from aiosonic.exceptions import ConnectError, TLSError
from aiosonic.resolver import DefaultResolver

__all__ = [
    "DEFAULT_READ_SIZE",
    "NetworkBackend",
    "NetworkBackendInterface",
    "NetworkStream",
    "NetworkStreamInterface",
    "UnixSocketBackend",
]

#: Bytes ``read()`` returns at most when not told (the seed's 64 KB).
DEFAULT_READ_SIZE = 64 * 1024
#: Bytes a stream buffers from the socket before it stops reading from it
#: until the caller reads some (flow control for a slow reader).
MAX_STREAM_BUFFER = 1024 * 1024


class NetworkStreamInterface(ABC):
    """A byte stream to a server: what a backend's ``connect()`` returns.

    Streams are async context managers; leaving the block closes them.
    """

    @abstractmethod
    async def read(self, max_bytes: int | None = None) -> bytes:
        """Return up to ``max_bytes`` bytes (default 64 KiB); ``b""`` at end of stream."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Send ``data``, waiting while the stream's buffer is full."""

    @abstractmethod
    async def start_tls(self, ctx: ssl.SSLContext, hostname: str | None = None) -> None:
        """Upgrade the stream to TLS in place, checking the certificate for ``hostname``."""

    @abstractmethod
    def get_extra_info(self, key: str) -> Any:
        """Return ``client_addr``, ``server_addr``, ``ssl_object`` or ``socket`` (else None)."""

    @abstractmethod
    async def close(self) -> None:
        """Close the stream (TLS sends its closing alert first); idempotent."""

    async def __aenter__(self) -> NetworkStreamInterface:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class NetworkBackendInterface(ABC):
    """Opens streams: implement :meth:`connect`."""

    @abstractmethod
    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        """Open a TCP (or other) stream to ``host``:``port``.

        Raises:
            ConnectError: Nothing could be connected (a subclass of it, like
                ResolveError, says why).
        """


class _StreamProtocol(asyncio.Protocol):
    """The asyncio side of a :class:`NetworkStream`: buffers what arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._write_ready = asyncio.Event()
        self._write_ready.set()
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_STREAM_BUFFER and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._write_ready.set()
        self._wake()

    def pause_writing(self) -> None:
        self._write_ready.clear()

    def resume_writing(self) -> None:
        self._write_ready.set()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_readable(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def wait_writable(self) -> None:
        await self._write_ready.wait()


class NetworkStream(NetworkStreamInterface):
    """The default stream: an asyncio transport read and written with coroutines.

    Made by :meth:`NetworkBackend.connect`; ``repr`` shows the server
    address and ``TLS`` or ``CLOSED``, as ``<NetworkStream ["127.0.0.1:80" TLS]>``.
    """

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False
        self._tls = False

    def __repr__(self) -> str:
        address = self.get_extra_info("server_addr")
        where = f"{address[0]}:{address[1]}" if address else "?"
        state = " CLOSED" if self._closed else " TLS" if self._tls else ""
        return f'<NetworkStream ["{where}"{state}]>'

    async def read(self, max_bytes: int | None = None) -> bytes:
        """Return up to ``max_bytes`` bytes (default 64 KiB); ``b""`` at end of stream.

        Raises:
            ConnectError: The stream is closed, or the connection failed.
        """
        if self._closed:
            raise ConnectError(f"read from a closed stream {self!r}")
        protocol = self._protocol
        while not protocol.buffer and not protocol.eof:
            await protocol.wait_readable()
        if not protocol.buffer and protocol.error is not None:
            raise ConnectError(f"the connection of {self!r} failed: {protocol.error}") from (
                protocol.error
            )
        size = max_bytes or DEFAULT_READ_SIZE
        data = bytes(protocol.buffer[:size])
        del protocol.buffer[:size]
        if protocol.paused and len(protocol.buffer) <= MAX_STREAM_BUFFER // 2:
            protocol.paused = False
            self._transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        """Send ``data``; waits while the transport's buffer is over its high mark.

        Raises:
            ConnectError: The stream is closed, or the connection was lost.
        """
        if self._closed or self._transport.is_closing():
            raise ConnectError(f"write to a closed stream {self!r}")
        self._transport.write(data)
        await self._protocol.wait_writable()

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str | None = None) -> None:
        """Upgrade to TLS in place.

        Raises:
            TLSError: The handshake or the certificate check failed.
        """
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport, self._protocol, ctx, server_hostname=hostname
            )
        except ssl.SSLError as exc:
            raise TLSError.from_handshake(f"{hostname}", exc) from exc
        if transport is None:
            raise TLSError(f"the connection of {self!r} closed during the TLS handshake")
        self._transport = transport
        self._protocol.transport = transport
        self._tls = True

    def get_extra_info(self, key: str) -> Any:
        """Return ``client_addr``, ``server_addr``, ``ssl_object`` or ``socket`` (else None)."""
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(key, key)
        if name not in ("sockname", "peername", "ssl_object", "socket"):
            return None
        return self._transport.get_extra_info(name)

    async def close(self) -> None:
        """Close the stream; idempotent."""
        if not self._closed:
            self._closed = True
            self._transport.close()


class NetworkBackend(NetworkBackendInterface):
    """The default backend: asyncio TCP connections (Happy Eyeballs over both families).

    Used on its own, :meth:`connect` returns a :class:`NetworkStream`. Given
    to a connector (or left out: it is the default), it changes nothing: the
    connector opens its connections itself, with its DNS cache and socket
    options, on its fast path.
    """

    def __init__(self) -> None:
        self._dns: DNSCache | None = None

    def __repr__(self) -> str:
        return "<NetworkBackend [asyncio]>"

    async def connect(self, host: str, port: int) -> NetworkStream:
        """Open a TCP stream to ``host``:``port``, Happy Eyeballs over both families.

        Names resolve through a DNS cache of this backend's own (the threaded
        resolver, answers kept 10 s).

        Raises:
            ConnectError: The host did not resolve or no address accepted.
        """
        if self._dns is None:
            self._dns = DNSCache(DefaultResolver())
        transport, protocol = await TCPDialer(self._dns).open_transport(
            host, port, _StreamProtocol, None, None
        )
        return NetworkStream(transport, protocol)


class UnixSocketBackend(NetworkBackendInterface):
    """Connect some origins to UNIX domain sockets, and the others over TCP.

    Args:
        paths: ``{"host:port": "/path/to.sock"}`` (or ``"host"``, any port).
        fallback: The backend for the other origins; default
            :class:`NetworkBackend`. ``None`` refuses them.
    """

    def __init__(
        self,
        paths: Mapping[str, str],
        fallback: NetworkBackendInterface | None = None,
    ) -> None:
        self.paths = {key.lower(): path for key, path in paths.items()}
        self.fallback = fallback if fallback is not None else NetworkBackend()

    def __repr__(self) -> str:
        return f"<UnixSocketBackend [{len(self.paths)} origins]>"

    async def connect(self, host: str, port: int) -> NetworkStreamInterface:
        """Open a stream to the socket mapped to ``host``:``port``, else through ``fallback``.

        Raises:
            ConnectError: The socket cannot be connected.
        """
        host = host.lower()
        path = self.paths.get(f"{host}:{port}") or self.paths.get(host)
        if path is None:
            return await self.fallback.connect(host, port)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_unix_connection(_StreamProtocol, path)
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {host}:{port} through the UNIX socket {path!r}: "
                f"{exc.strerror or exc}"
            ) from exc
        return _UnixStream(transport, protocol, path)


class _UnixStream(NetworkStream):
    """A :class:`NetworkStream` over a UNIX socket; its address is the path."""

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol, path: str) -> None:
        super().__init__(transport, protocol)
        self._path = path

    def __repr__(self) -> str:
        state = " CLOSED" if self._closed else " TLS" if self._tls else ""
        return f'<NetworkStream ["{self._path}"{state}]>'
