"""WebSockets over HTTP/2 (RFC 8441): one stream of a shared connection per WebSocket.

When the connector's HTTP/2 connection to the origin has
SETTINGS_ENABLE_CONNECT_PROTOCOL=1 from the server (RFC 8441 §3), a WebSocket
opens as a stream on it with an *extended CONNECT* (§4: ``:method CONNECT``,
``:protocol websocket``, ``:scheme``, ``:path``, ``:authority``); a 200 answer
accepts it (§5). The stream's DATA then carries the WebSocket frames both
ways, and the end of the stream is the end of the WebSocket ("TCP" of RFC
6455 maps to the stream: §5.1).

The pieces, each reusing what exists:

* :class:`H2WebSocketStream` makes that stream a byte stream
  (:class:`~aiosonic.backends.NetworkStreamInterface`): reads are the
  stream's DATA in order (its window re-opens as they are read), writes go out
  within the flow-control windows. :class:`~aiosonic.drivers.stream_transport.StreamTransport`
  turns it into the asyncio transport the WebSocket driver expects.
* :class:`H2WebSocketDriver` is the WebSocket driver with the upgrade already
  done: websockets' ``ClientProtocol`` starts in state OPEN, as the HTTP/1.1
  handshake (``Sec-WebSocket-Key``/``Accept``) does not exist here.

The stream's lease goes back to the connector when the stream ends, either
side; after the close handshake the client resets its side (see
:meth:`H2WebSocketStream.close`).

Not here: choosing HTTP/2 or HTTP/1.1, and the handshake's headers and checks
(:mod:`aiosonic.web_socket_client`); HTTP/2 itself (:mod:`aiosonic.drivers.http2`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from aiosonic.backends import NetworkStreamInterface
from aiosonic.drivers.websocket import WebSocketDriver
from aiosonic.exceptions import ConnectionDisconnected, InvalidRequest
from aiosonic.protocols.h11_events import Data, EndOfMessage, ResponseHead
from aiosonic.protocols.websocket import WebSocketConfig
from aiosonic.protocols.ws_unmask import MaskedFrameFilter

if TYPE_CHECKING:
    import ssl

    from aiosonic.connection import HTTP2Stream

__all__ = ["H2WebSocketDriver", "H2WebSocketStream"]

logger = logging.getLogger(__name__)


class H2WebSocketStream(NetworkStreamInterface):
    """One extended-CONNECT stream as a byte stream; its lease goes back when it ends.

    Args:
        lease: A stream lease on an HTTP/2 connection whose server accepts
            extended CONNECT.
        release: Gives the lease back to the connector.
        where: The WebSocket URL, for errors.
    """

    def __init__(
        self, lease: HTTP2Stream, release: Callable[[HTTP2Stream], None], where: str
    ) -> None:
        self._lease = lease
        self._release = release
        self.where = where
        # Set when the lease goes back: the body below ends.
        self._end = asyncio.Event()
        self._finished = False

    def __repr__(self) -> str:
        state = "finished" if self._finished else "open"
        return f"<H2WebSocketStream [{self.where}, {state}] {self._lease!r}>"

    async def _body(self) -> AsyncIterator[bytes]:
        """The request body: nothing; it keeps our side of the stream open while the lease lives.

        Writes go straight to the driver (:meth:`write`), within the windows.
        """
        await self._end.wait()
        return
        yield b""  # pragma: no cover - makes this an async generator

    async def open(self, headers: list[tuple[bytes, bytes]]) -> ResponseHead:
        """Send the extended CONNECT with ``headers``; return the server's response head.

        Raises:
            NetworkError: The stream was reset or the connection lost first.
        """
        try:
            return await self._lease.open_with_headers(headers, self._body(), "CONNECT", self.where)
        except BaseException:
            self._finish()
            raise

    async def read(self, max_bytes: int | None = None) -> bytes:
        """Return the next DATA payload; ``b""`` when the server ended the stream."""
        stream = self._lease.stream
        if stream is None or self._finished:
            return b""
        driver = self._lease.driver
        try:
            while True:
                event = await driver.next_event(stream)
                if type(event) is Data:
                    if event.data:
                        return bytes(event.data)
                elif type(event) is EndOfMessage:
                    self._finish()
                    return b""
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._finish()
            raise

    async def write(self, data: bytes) -> None:
        """Send ``data`` as DATA on the stream, waiting for flow-control window."""
        stream = self._lease.stream
        if stream is None or self._finished:
            raise ConnectionDisconnected(f"the WebSocket stream to {self.where} has ended")
        await self._lease.driver.send_data(stream, data)

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str | None = None) -> None:
        """Refuse: the HTTP/2 connection under the stream has its own TLS."""
        raise InvalidRequest(f"TLS cannot start on an HTTP/2 stream ({self.where})")

    def get_extra_info(self, key: str) -> Any:
        """Return the HTTP/2 connection's transport info (``ssl_object``, ``peername``...)."""
        return self._lease.driver.get_extra_info(key)

    async def close(self) -> None:
        """Give the lease back, resetting the stream unless both sides ended it; idempotent.

        The WebSocket's close handshake is over when this runs (or the
        connection failed), so nothing is left to deliver: RST_STREAM(CANCEL)
        ends our side rather than END_STREAM. hypercorn 0.18, after the close
        frames, forgets the stream without ending it, and a DATA frame (an
        END_STREAM) on a stream it forgot drops its whole connection, with
        every other stream on it; a reset it takes.
        """
        self._finish()

    def _finish(self) -> None:
        """Give the lease back once (resetting the stream if either side is still open)."""
        if self._finished:
            return
        self._finished = True
        self._end.set()
        self._release(self._lease)


class H2WebSocketDriver(WebSocketDriver):
    """The WebSocket driver on an RFC 8441 stream: open from the start, no upgrade to send.

    Args:
        core: The sans-I/O client, in state OPEN.
        config: Limits and settings.
        where: The URL, for error messages.
        response: The server's 200 head, the result of ``opened``.
    """

    def __init__(
        self, core: ClientProtocol, config: WebSocketConfig, where: str, response: ResponseHead
    ) -> None:
        super().__init__(core, cast(Request, None), config, where)
        headers = Headers()
        for name, value in response.headers:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        self.opened.set_result(Response(response.status_code, "", headers))
        unmask = MaskedFrameFilter(in_http_head=False) if config.accept_masked_frames else None
        self._unmask = unmask.feed if unmask is not None else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the stream's transport; the handshake was the extended CONNECT."""
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Feed ``data`` (unmasked first with ``accept_masked_frames``) to the core."""
        unmask = self._unmask
        super().data_received(unmask(data) if unmask is not None else data)
