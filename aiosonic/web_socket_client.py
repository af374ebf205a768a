"""The WebSocket client, with the published API (0.23 to 1.3.3) unchanged.

:class:`WebSocketClient` opens ``ws://`` and ``wss://`` connections through a
:class:`~aiosonic.connectors.TCPConnector` (its DNS cache, dialer and TLS
contexts; a WebSocket never enters a pool), and :class:`WebSocketConnection`
is the published connection object: ``send_text``/``receive_text`` and the
rest, keep-alive pings, async iteration and ``async with``.

The protocol work is done elsewhere: framing, limits and compression by
websockets' sans-I/O core driven by :mod:`aiosonic.drivers.websocket`; values
and limits in :mod:`aiosonic.protocols.websocket`. This module is the API
layer: argument handling, the keep-alive task and lifetimes.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl as ssl_module
from abc import ABC, abstractmethod
from dataclasses import replace
from types import TracebackType
from typing import Any

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from aiosonic.connection import HTTP2Stream
from aiosonic.connectors import TCPConnector
from aiosonic.drivers.h2_websocket import H2WebSocketDriver, H2WebSocketStream
from aiosonic.drivers.stream_transport import StreamTransport
from aiosonic.drivers.websocket import WebSocketDriver
from aiosonic.drivers.websocket_reads import driver_class
from aiosonic.exceptions import (
    ConnectionDisconnected,
    ConnectorClosed,
    ConnectTimeout,
    InvalidRequest,
    ReadTimeout,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketMessageTooBig,
)
from aiosonic.pools import WsPool
from aiosonic.protocols.websocket import (
    CLOSE_GOING_AWAY,
    DEFAULT_QUEUE_MAXSIZE,
    Message,
    MessageType,
    WebSocketConfig,
)
from aiosonic.proxy import EnvironmentProxies, Proxy
from aiosonic.timeout import Timeouts, deadline
from aiosonic.urls import ParsedURL, PoolKey, parse_url

__all__ = [
    "CRLF",
    "DEFAULT_MAX_MSG_SIZE",
    "WEBSOCKET_GUID",
    "Message",
    "MessageType",
    "ProtocolHandler",
    "WebSocketClient",
    "WebSocketConfig",
    "WebSocketConnection",
    "WebSocketMessageTooBig",
]

CRLF = "\r\n"
#: RFC 6455 §1.3: appended to Sec-WebSocket-Key for Sec-WebSocket-Accept.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The published default of ``max_msg_size``; kept as a name. aiosonic's own
#: defaults are WebSocketConfig's (64 MiB messages, 16 MiB frames).
DEFAULT_MAX_MSG_SIZE = 4 * 1024 * 1024
#: Close payload: a 2-byte code and the reason, 125 bytes at most (RFC 6455 §5.5).
_MAX_CONTROL_PAYLOAD = 125
# Enum members as module constants: ``MessageType.TEXT`` costs a descriptor call
# (about 70 ns on 3.11) on every message.
_TEXT = MessageType.TEXT
_BINARY = MessageType.BINARY
_SEND_TEXT = Opcode.TEXT
_SEND_BINARY = Opcode.BINARY
#: Keep-alive ping payload size: random, so its pong is told from the user's.
_KEEPALIVE_PAYLOAD_SIZE = 4
#: Close code when the server does not answer a keep-alive ping in time.
_CLOSE_KEEPALIVE_TIMEOUT = 1011


class _FromConfig:
    """The default of ``max_msg_size``: take the limits from WebSocketConfig."""

    def __repr__(self) -> str:
        return "DEFAULT_MAX_MSG_SIZE"


_FROM_CONFIG: Any = _FromConfig()


class ProtocolHandler(ABC):
    """Encode and decode the messages of a subprotocol (the published base class).

    Subclass it for a format such as MessagePack, and pass it as
    ``conn_opts={"protocol_handler": handler}``; then use
    :meth:`WebSocketConnection.send_protocol` and ``receive_protocol``.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """The subprotocol name."""

    @abstractmethod
    def encode(self, data: Any) -> bytes:
        """Encode ``data`` into the bytes of one binary message."""

    @abstractmethod
    def decode(self, data: bytes) -> Any:
        """Decode the payload of one received message."""


class WebSocketConnection:
    """An open WebSocket connection (the published class).

    Args:
        conn: The driver of the connection (made by :meth:`WebSocketClient.connect`).
        queue_maxsize: Received messages kept until read; when full, the
            socket is not read until one is (backpressure).
        drop_frames: Drop messages that arrive to a full queue instead.
        protocol_handler: Encodes and decodes for ``send_protocol``/``receive_protocol``.
        max_msg_size: Accepted for the published signature; the limit is set
            by :meth:`WebSocketClient.connect`.
        text_queue_maxsize: The 0.23 keyword; the larger of it and
            ``binary_queue_maxsize`` bounds the one queue of messages.
        binary_queue_maxsize: The 0.23 keyword (see above).

    Attributes:
        conn: The :class:`~aiosonic.drivers.websocket.WebSocketDriver`.
        protocol_handler: The handler, if any.
        subprotocol: The subprotocol the server picked, if any.
    """

    OPCODE_TEXT = 0x1
    OPCODE_BINARY = 0x2
    OPCODE_CLOSE = 0x8
    OPCODE_PING = 0x9
    OPCODE_PONG = 0xA

    def __init__(
        self,
        conn: WebSocketDriver,
        queue_maxsize: int = 100,
        drop_frames: bool = False,
        protocol_handler: ProtocolHandler | None = None,
        max_msg_size: int | None = _FROM_CONFIG,
        *,
        text_queue_maxsize: int | None = None,
        binary_queue_maxsize: int | None = None,
    ) -> None:
        self.conn = conn
        conn.set_queue(
            *_queue_bounds(
                {
                    "queue_maxsize": queue_maxsize,
                    "drop_frames": drop_frames,
                    "text_queue_maxsize": text_queue_maxsize,
                    "binary_queue_maxsize": binary_queue_maxsize,
                }
            )
        )
        self.protocol_handler = protocol_handler
        self.subprotocol: str | None = conn.subprotocol
        self._max_msg_size = max_msg_size
        self._keep_alive_task: asyncio.Task[None] | None = None
        # Called once with this connection when it ends, by close() or by the
        # server (the transport lost): the client and connector stop counting it.
        self._on_close: list[Any] = []
        conn.lost.add_done_callback(self._ended)

    def __repr__(self) -> str:
        return f"<WebSocketConnection {self.conn!r}>"

    @property
    def connected(self) -> bool:
        """Whether messages can still be sent and received."""
        return self.conn.is_open

    @property
    def close_code(self) -> int | None:
        """The close code received from the server, or the one we sent; None while open."""
        return self.conn.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the server, or the one we sent."""
        return self.conn.close_reason

    @property
    def max_msg_size(self) -> int | None:
        """The most bytes of one received message (``max_message_size``)."""
        return self.conn.max_message_size

    # --- sending ---------------------------------------------------------------

    async def send_text(self, message: str) -> None:
        """Send a text message.

        Raises:
            ConnectionDisconnected: The connection is closed.
        """
        data = message.encode()
        conn = self.conn
        if not conn.write_now(_SEND_TEXT, data):  # conn.send() without its coroutine
            await conn.send(_SEND_TEXT, data)
        elif conn.writing_paused:
            await conn.drain()

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message.

        Raises:
            ConnectionDisconnected: The connection is closed.
        """
        conn = self.conn
        if not conn.write_now(_SEND_BINARY, data):  # as in send_text
            await conn.send(_SEND_BINARY, data)
        elif conn.writing_paused:
            await conn.drain()

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as JSON in a text message."""
        await self.send_text(json.dumps(data))

    async def send_protocol(self, data: Any) -> None:
        """Send ``data`` encoded by the protocol handler, as a binary message.

        Raises:
            RuntimeError: No protocol handler.
        """
        if not self.protocol_handler:
            raise RuntimeError("No protocol handler configured")
        await self.send_bytes(self.protocol_handler.encode(data))

    async def ping(self, data: bytes = b"") -> None:
        """Send a ping; its pong comes back through :meth:`receive_pong`.

        Raises:
            ValueError: ``data`` is longer than 125 bytes.
        """
        if len(data) > _MAX_CONTROL_PAYLOAD:
            raise ValueError("Ping payload must be 125 bytes or less")
        await self.conn.send(Opcode.PING, data)

    # --- receiving --------------------------------------------------------------

    async def _get_message(self, timeout: float | None = None) -> Message:  # noqa: ASYNC109 - published API
        return await self.conn.receive(timeout)

    async def receive_text(self, timeout: float | None = None) -> str:  # noqa: ASYNC109 - published API
        """Return the next message, which must be text.

        Args:
            timeout: Seconds to wait for it; None waits as long as the connection lives.

        Raises:
            ValueError: The next message is binary (it is consumed).
            ReadTimeout: No message within ``timeout``.
            ConnectionDisconnected: The connection is closed; a
                WebSocketError (with ``close_code``) when it failed.
        """
        if timeout is None:
            # What conn.receive() does, inline: one coroutine less per message.
            conn = self.conn
            message = conn.poll()
            while not isinstance(message, Message):
                await message
                message = conn.poll()
        else:
            message = await self.conn.receive(timeout)
        if message.type is not _TEXT:
            raise ValueError("Expected a text message")
        return message.data  # type: ignore[return-value]

    async def receive_bytes(self, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - published API
        """Return the next message, which must be binary (see :meth:`receive_text`)."""
        if timeout is None:  # as in receive_text
            conn = self.conn
            message = conn.poll()
            while not isinstance(message, Message):
                await message
                message = conn.poll()
        else:
            message = await self.conn.receive(timeout)
        if message.type is not _BINARY:
            raise ValueError("Expected a binary message")
        return message.raw_data

    async def receive_json(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 - published API
        """Return the next text message parsed as JSON."""
        return json.loads(await self.receive_text(timeout=timeout))

    async def receive_protocol(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 - published API
        """Return the next message decoded by the protocol handler.

        Raises:
            RuntimeError: No protocol handler.
        """
        if not self.protocol_handler:
            raise RuntimeError("No protocol handler configured")
        message = await self.conn.receive(timeout)
        return self.protocol_handler.decode(message.raw_data)

    async def receive_pong(self, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - published API
        """Return the payload of the next pong (keep-alive's own are not shown).

        Raises:
            ReadTimeout: No pong within ``timeout``.
            ConnectionDisconnected: The connection is closed.
        """
        return await self.conn.receive_pong(timeout)

    async def __aiter__(self) -> Any:
        """Yield messages until the connection closes.

        A normal close ends the iteration; a failure (protocol error, limit)
        raises its :class:`~aiosonic.exceptions.WebSocketError`.
        """
        receive = self.conn.receive
        while True:
            try:
                message = await receive()
            except WebSocketError:
                raise
            except ConnectionDisconnected:
                return
            yield message

    # --- keep-alive ------------------------------------------------------------

    def start_keep_alive(self, interval: float = 30.0) -> None:
        """Ping every ``interval`` seconds; close with 1011 when a pong takes longer."""
        if self._keep_alive_task is None:
            self._keep_alive_task = asyncio.create_task(self._keep_alive_loop(interval))

    def stop_keep_alive(self) -> None:
        """Stop the keep-alive pings."""
        task, self._keep_alive_task = self._keep_alive_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _keep_alive_loop(self, interval: float) -> None:
        conn = self.conn
        try:
            while conn.is_open:
                await asyncio.sleep(interval)
                payload = os.urandom(_KEEPALIVE_PAYLOAD_SIZE)
                try:
                    with deadline(interval, lambda: ReadTimeout("keep-alive")):
                        await conn.ping_and_wait(payload)
                except ReadTimeout:
                    self._keep_alive_task = None
                    await self.close(_CLOSE_KEEPALIVE_TIMEOUT, "keepalive ping timeout")
                    return
        except ConnectionDisconnected:
            return

    # --- closing -------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: a close frame, then a bounded wait for the server's.

        Idempotent. Waits at most ``close_timeout`` (10 s by default) for the
        server to answer and end TCP; then the connection is dropped.

        Raises:
            ValueError: The close payload is over 125 bytes, or ``code`` may
                not be sent (RFC 6455 §7.4: 1000-1003, 1007-1014, 3000-4999).
        """
        if len(reason.encode()) + 2 > _MAX_CONTROL_PAYLOAD:
            raise ValueError("Close payload must be 125 bytes or less")
        try:
            Close(code, reason).check()
        except Exception as exc:  # websockets' ProtocolError: a code not to send
            raise InvalidRequest(f"close code {code} may not be sent (RFC 6455 §7.4)") from exc
        self.stop_keep_alive()
        try:
            await self.conn.close(code, reason)
        finally:
            self._run_on_close()

    def _ended(self, lost: asyncio.Future[None]) -> None:
        """The transport is gone (either side closed): stop pinging, stop being counted."""
        self.stop_keep_alive()
        self._run_on_close()

    def _run_on_close(self) -> None:
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback(self)

    async def __aenter__(self) -> WebSocketConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class WebSocketClient:
    """Open WebSocket connections (the published class).

    Args:
        connector: The connector whose DNS cache, dialer, TLS contexts and
            ``timeouts.sock_connect`` are used. A WebSocket is never put in
            its pools. By default the client makes (and closes) its own.
        trust_env: Take the proxy of a connection without ``proxy=`` from
            ``HTTP_PROXY`` (``ws://``), ``HTTPS_PROXY`` (``wss://``),
            ``ALL_PROXY`` and ``NO_PROXY``, as ``HTTPClient(trust_env=True)`` does.

    ``async with WebSocketClient() as client`` closes, on exit, every
    connection it opened that is still open: a close frame with 1001 (going
    away), then a wait of at most ``close_timeout`` for the server's. So does
    the cleanup of the connector (``HTTPClient.close()`` when the two share
    it), for every WebSocket opened through it.
    """

    def __init__(self, connector: TCPConnector | None = None, *, trust_env: bool = False) -> None:
        self._owns_connector = connector is None
        self._env_proxies = EnvironmentProxies() if trust_env else None
        self.connector = connector or TCPConnector(pool_cls=WsPool)
        self.timeouts: Timeouts = self.connector.timeouts
        self._open: dict[WebSocketConnection, None] = {}
        self._none_open = asyncio.Event()
        self._none_open.set()

    def __repr__(self) -> str:
        return f"<WebSocketClient [open={len(self._open)}]>"

    async def connect(
        self,
        url: str,
        verify: bool = True,
        ssl: ssl_module.SSLContext | None = None,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        start_keepalive: bool = True,
        keepalive_interval: float = 30.0,
        conn_opts: dict[str, Any] | None = None,
        max_msg_size: int | None = _FROM_CONFIG,
        *,
        proxy: Proxy | None = None,
        config: WebSocketConfig | None = None,
        **settings: Any,
    ) -> WebSocketConnection:
        """Open a WebSocket connection (the HTTP/1.1 upgrade, RFC 6455 §4).

        Args:
            url: A ``ws://`` or ``wss://`` URL.
            verify: Check the server's certificate (``wss://``).
            ssl: A TLS context to use instead of the connector's.
            headers: Extra headers of the upgrade request (``Authorization``,
                ``Origin``, cookies); they replace ours of the same name.
            subprotocols: Subprotocols to offer, in order of preference; the
                one picked is ``connection.subprotocol``.
            start_keepalive: Ping every ``keepalive_interval`` seconds.
            keepalive_interval: Seconds between keep-alive pings; a pong later
                than that closes the connection (1011).
            conn_opts: :class:`WebSocketConnection` options: ``queue_maxsize``,
                ``drop_frames``, ``protocol_handler`` (and 0.23's
                ``text_queue_maxsize``/``binary_queue_maxsize``).
            max_msg_size: The published limit, on one received frame; sets
                ``max_frame_size`` (None: no frame limit). By default the
                limits of ``config`` hold.
            proxy: A SOCKS5 proxy, or an HTTP(S) proxy: a CONNECT tunnel
                (RFC 9110 §9.3.6), with TLS to the origin inside it for
                ``wss://``. Without it, the environment's proxy if the client
                was made with ``trust_env=True``.
            config: Limits and compression (:class:`WebSocketConfig`).
            **settings: Any :class:`WebSocketConfig` field, over ``config``:
                ``max_message_size``, ``max_frame_size``, ``read_buffer_size``,
                ``write_buffer_size``, ``max_write_buffer_size``,
                ``compression``, ``client_max_window_bits``,
                ``server_no_context_takeover``, ``client_no_context_takeover``,
                ``close_timeout``, ``accept_masked_frames``; and
                ``queue_maxsize``/``drop_frames`` as in ``conn_opts``.

        Returns:
            The open connection.

        Raises:
            WebSocketHandshakeError: The server refused the upgrade, or its
                answer breaks RFC 6455 (a wrong ``Sec-WebSocket-Accept``, a
                subprotocol or extension not offered).
            ConnectTimeout: Connecting and the handshake took longer than
                ``sock_connect``.
            ConnectError: The host did not resolve or refused the connection.
            TLSError: The TLS handshake failed.
            ProxyError: The proxy refused the tunnel.
            InvalidURL: Not a ``ws://``/``wss://`` URL.
        """
        opts = dict(conn_opts or {})
        opts.pop("max_msg_size", None)  # the published client ignored it here too
        for name in ("queue_maxsize", "drop_frames"):  # connection options, taken here too
            if name in settings:
                opts[name] = settings.pop(name)
        config = _build_config(config, settings, max_msg_size, opts)
        parsed = parse_url(url)
        if parsed.scheme not in ("ws", "wss"):
            raise InvalidRequest(f"a WebSocket URL must be ws:// or wss://, not {url!r}")
        if proxy is None and self._env_proxies is not None and not self.connector.uds:
            proxy = self._env_proxies.proxy_for(parsed.scheme, parsed.host, parsed.port)
        secure = parsed.scheme == "wss" or ssl is not None
        ssl_ctx = (ssl or self.connector.tls.get(verify)) if secure else None
        core = _core_for(parsed.url, config, subprotocols)
        request = core.connect()
        if headers:
            for name, value in headers.items():
                if name in request.headers:
                    del request.headers[name]  # the user's replaces ours
                request.headers[name] = value
        timeout = self.connector.timeouts.sock_connect
        driver: WebSocketDriver | None = None
        try:
            with deadline(
                timeout,
                lambda: ConnectTimeout(
                    f"no WebSocket connection within sock_connect={timeout}s ({parsed.url})"
                ),
            ):
                if self._may_use_http2(parsed, ssl, proxy, config):
                    driver = await self._open_over_http2(
                        parsed, verify, ssl, headers, subprotocols, config, opts
                    )
                if driver is None:
                    _, driver = await self.connector.open_websocket_transport(
                        parsed,
                        ssl_ctx,
                        lambda: _driver_for(core, request, config, parsed.url, opts),
                        proxy,
                    )
                await driver.opened
        except BaseException:
            if driver is not None:
                driver.abort()
            raise
        connection = WebSocketConnection(driver, **opts)
        try:
            self.connector.track_websocket(connection)
        except ConnectorClosed:
            await connection.close(CLOSE_GOING_AWAY)
            raise
        self._open[connection] = None
        self._none_open.clear()
        connection._on_close.append(self._forget)
        if start_keepalive:
            connection.start_keep_alive(keepalive_interval)
        return connection

    def _may_use_http2(
        self,
        url: ParsedURL,
        ssl: ssl_module.SSLContext | None,
        proxy: Proxy | None,
        config: WebSocketConfig,
    ) -> bool:
        """Whether to look for an HTTP/2 connection first (RFC 8441).

        Only on a connector that speaks HTTP/2 (``http2=True``), for
        ``wss://`` or, with h2c prior knowledge, ``ws://``; not through a
        proxy (the connector's HTTP/2 is direct only), and not with
        compression (not negotiated over HTTP/2 here).
        """
        connector = self.connector
        if not connector.http2 or proxy is not None or config.compression:
            return False
        if url.scheme == "wss":
            return True
        return ssl is None and connector.http2_config.prior_knowledge

    async def _open_over_http2(
        self,
        url: ParsedURL,
        verify: bool,
        ssl: ssl_module.SSLContext | None,
        headers: dict[str, str] | None,
        subprotocols: list[str] | None,
        config: WebSocketConfig,
        opts: dict[str, Any],
    ) -> WebSocketDriver | None:
        """Open the WebSocket as a stream of an HTTP/2 connection (RFC 8441 extended CONNECT).

        Takes a stream on the connector's HTTP/2 connection to the origin
        (opening one if none is pooled). Returns None, the lease given back,
        when the origin speaks HTTP/1.1 or did not send
        SETTINGS_ENABLE_CONNECT_PROTOCOL=1: then the caller upgrades on
        HTTP/1.1.

        Raises:
            WebSocketHandshakeError: The server answered the CONNECT with
                another status than 200, or a subprotocol not offered.
        """
        connector = self.connector
        secure = url.scheme == "wss"
        http_url = parse_url(f"{'https' if secure else 'http'}{url.url[len(url.scheme) :]}")
        key = PoolKey(
            http_url.scheme,
            http_url.host,
            http_url.port,
            verify,
            ssl if secure else None,
            None,
            True,
        )
        lease = await connector.acquire(http_url, key, connector.timeouts)
        if not isinstance(lease, HTTP2Stream) or not lease.driver.accepts_extended_connect:
            connector.release(lease)
            return None
        stream = H2WebSocketStream(lease, connector.release, url.url)
        head = await stream.open(_extended_connect_headers(http_url, headers, subprotocols))
        try:
            if head.status_code != 200:
                raise WebSocketHandshakeError(
                    f"WebSocket upgrade failed ({url.url}): the server answered the HTTP/2 "
                    f"extended CONNECT with {head.status_code}, not 200 (RFC 8441 §5)",
                    status_code=head.status_code,
                )
            picked = _picked_subprotocol(head.headers, subprotocols, url.url)
        except BaseException:
            await stream.close()
            raise
        core = _core_for(url.url, config, subprotocols, State.OPEN)
        core.subprotocol = picked
        driver = H2WebSocketDriver(core, config, url.url, head)
        driver.set_queue(*_queue_bounds(opts))
        StreamTransport(stream, driver).start()
        return driver

    def _forget(self, connection: WebSocketConnection) -> None:
        self._open.pop(connection, None)
        self.connector.forget_websocket(connection)
        if not self._open:
            self._none_open.set()

    async def wait_requests(self, timeout: float = 30) -> bool:  # noqa: ASYNC109 - as HTTPClient's
        """Wait until every connection this client opened has ended, by either side.

        Args:
            timeout: Seconds to wait at most.

        Returns:
            True when none is open, False when ``timeout`` ran out first.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._none_open.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close every connection still open, then our own connector; idempotent.

        Each gets a close frame with 1001 (going away) and waits at most its
        ``close_timeout`` for the server's close frame; then its transport is
        dropped. They close at the same time, so this takes at most the
        longest ``close_timeout``.
        """
        open_now = list(self._open)
        if open_now:
            await asyncio.gather(
                *(conn.close(CLOSE_GOING_AWAY) for conn in open_now), return_exceptions=True
            )
        if self._owns_connector:
            await self.connector.cleanup()

    async def __aenter__(self) -> WebSocketClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _driver_for(
    core: ClientProtocol,
    request: Any,
    config: WebSocketConfig,
    url: str,
    opts: dict[str, Any],
) -> WebSocketDriver:
    """Build the driver with the queue bounds of ``opts`` set before any byte arrives.

    The server may send its first messages with its answer to the upgrade.
    """
    driver = driver_class(config, asyncio.get_running_loop())(core, request, config, url)
    driver.set_queue(*_queue_bounds(opts))
    return driver


def _queue_bounds(opts: dict[str, Any]) -> tuple[int, bool]:
    """Return ``(queue_maxsize, drop_frames)`` from connection options (1.x and 0.23 keywords)."""
    size = opts.get("queue_maxsize", DEFAULT_QUEUE_MAXSIZE)
    text, binary = opts.get("text_queue_maxsize"), opts.get("binary_queue_maxsize")
    if text is not None or binary is not None:
        size = max(text or 0, binary or 0)
    if size < 1:
        raise ValueError(f"queue_maxsize={size} must be at least 1")
    return size, bool(opts.get("drop_frames", False))


def _build_config(
    config: WebSocketConfig | None,
    settings: dict[str, Any],
    max_msg_size: Any,
    opts: dict[str, Any],
) -> WebSocketConfig:
    """Merge ``config``, keyword settings and the published keywords into one config."""
    config = config or WebSocketConfig()
    if max_msg_size is not _FROM_CONFIG:
        settings.setdefault("max_frame_size", max_msg_size)
    if settings:
        try:
            config = replace(config, **settings)
        except TypeError as exc:
            raise TypeError(f"connect() got an unknown WebSocket setting: {exc}") from exc
    return config


def _core_for(
    url: str,
    config: WebSocketConfig,
    subprotocols: list[str] | None,
    state: State = State.CONNECTING,
) -> ClientProtocol:
    """Build the sans-I/O core for ``url`` with ``config``'s limits and extensions.

    ``state`` OPEN for a WebSocket whose handshake was not HTTP/1.1's (RFC 8441).
    """
    extensions = None
    if config.compression:
        extensions = [
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=config.server_no_context_takeover,
                client_no_context_takeover=config.client_no_context_takeover,
                server_max_window_bits=config.server_max_window_bits,
                client_max_window_bits=config.client_max_window_bits or True,
                compress_settings={"level": config.compression_level},
            )
        ]
    core = ClientProtocol(
        parse_uri(url),
        extensions=extensions,
        subprotocols=[Subprotocol(name) for name in subprotocols] if subprotocols else None,
        state=state,
        max_size=(config.max_message_size, config.max_frame_size),
    )
    return core


#: Fields of HTTP/1.1's upgrade that HTTP/2 forbids or replaces (RFC 9113 §8.2.2,
#: RFC 8441 §5: no Sec-WebSocket-Key/Accept; Host becomes :authority).
_NOT_OVER_HTTP2 = frozenset(
    {
        "connection",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "host",
        "sec-websocket-key",
    }
)


def _extended_connect_headers(
    url: ParsedURL, headers: dict[str, str] | None, subprotocols: list[str] | None
) -> list[tuple[bytes, bytes]]:
    """Return the header list of an RFC 8441 §4 extended CONNECT for ``url``."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    fields = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", url.scheme.encode()),
        (b":path", url.target.encode()),
        (b":authority", f"{host}:{url.port}".encode()),
        (b"sec-websocket-version", b"13"),
    ]
    if subprotocols:
        fields.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered not in _NOT_OVER_HTTP2:
            fields.append((lowered.encode(), value.encode("latin-1")))
    return fields


def _picked_subprotocol(
    headers: list[tuple[bytes, bytes]], offered: list[str] | None, where: str
) -> Subprotocol | None:
    """Return the subprotocol the server's 200 names, which must be one we offered."""
    for name, value in headers:
        if name.lower() == b"sec-websocket-protocol":
            picked = value.decode("latin-1").strip()
            if not offered or picked not in offered:
                raise WebSocketHandshakeError(
                    f"WebSocket upgrade failed ({where}): the server picked the subprotocol "
                    f"{picked!r}, which was not offered"
                )
            return Subprotocol(picked)
    return None


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
