"""Our use of ``h2``: the connection object we drive, and its outcomes as our errors.

:func:`new_h2_connection` builds ``h2``'s client connection with our settings
(no server push, our windows and limits, field validation left to
``protocols.h2_headers``). :class:`ClientH2Connection` keeps receiving after the
server's GOAWAY, which RFC 9113 allows and ``h2`` does not, and overrides two
of ``h2``'s costs per request: HPACK coding of repeated blocks and the scan of
every stream when one opens. It relies on internals of ``h2`` 4.1 to 4.4 and
``hpack`` 4.x, each override documented where it is; ``tests/test_http2_core.py``
checks them against plain ``h2``/``hpack``.
The ``*_error`` functions turn what the server did to a stream into the
``aiosonic.exceptions`` error a caller sees, saying whether it may be re-sent.
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from aiosonic.drivers.h2_hpack import MemoDecoder, MemoEncoder
from aiosonic.drivers.h2_stream import Http2Config
from aiosonic.exceptions import (
    ConnectionDisconnected,
    ConnectionTerminated,
    NetworkError,
    StreamReset,
)

__all__ = [
    "ClientH2Connection",
    "goaway_error",
    "lost_error",
    "new_h2_connection",
    "not_sent_error",
    "reset_error",
]

#: Closed streams ``h2`` may keep before :attr:`ClientH2Connection.open_outbound_streams`
#: sweeps them, beyond twice the open ones.
SWEEP_SLACK = 32


class ClientH2Connection(h2.connection.H2Connection):
    """``h2``'s client connection, with three changes (relies on h2 4.1-4.4 internals).

    * It still receives after the server's GOAWAY. RFC 9113 §6.8: streams up
      to ``last_stream_id`` may still complete. ``h2`` moves to CLOSED on GOAWAY
      and then rejects every frame, even those of streams the server promised
      to finish (and in the same read as the GOAWAY). The driver opens no
      stream after GOAWAY, so going on receiving is safe.
    * Its HPACK coders reuse the coding of repeated header blocks
      (:mod:`aiosonic.drivers.h2_hpack`); the bytes are ``hpack``'s own.
    * :attr:`open_outbound_streams` does not scan every stream on each new
      stream (see there).
    """

    def __init__(self, config: h2.config.H2Configuration | None = None) -> None:
        super().__init__(config)
        decoder = MemoDecoder()
        decoder.max_header_list_size = self.decoder.max_header_list_size
        decoder.max_allowed_table_size = self.decoder.max_allowed_table_size
        self.encoder, self.decoder = MemoEncoder(), decoder
        self._exact_from = 0
        self._plan_exact_count()

    @property
    def open_outbound_streams(self) -> int:
        """Open outbound streams: exact from the server's limit on, else an upper bound.

        ``h2`` counts them by scanning every stream it knows (dropping the
        closed ones as it goes) each time a stream opens: O(streams) per
        request. Its one use of the count (``send_headers``) is to refuse a
        stream beyond SETTINGS_MAX_CONCURRENT_STREAMS; every open stream is in
        ``self.streams``, so while that holds fewer streams than the limit, its
        size decides the same. The exact scan runs once the size reaches the
        limit, or twice the streams the last scan left (plus
        :data:`SWEEP_SLACK`), which keeps closed streams from piling up, at
        O(1) amortised cost.
        """
        known = len(self.streams)
        if known < self._exact_from:
            return known
        count: int = super().open_outbound_streams
        self._plan_exact_count()
        return count

    def _plan_exact_count(self) -> None:
        limit = self.remote_settings.max_concurrent_streams
        self._exact_from = min(limit, 2 * len(self.streams) + SWEEP_SLACK)

    def _receive_settings_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        result: tuple[list[Any], list[h2.events.Event]] = super()._receive_settings_frame(frame)
        self._plan_exact_count()  # the server's stream limit may have changed
        return result

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        frames, events = super()._receive_goaway_frame(frame)
        machine = self.state_machine
        if machine.state is h2.connection.ConnectionState.CLOSED:
            machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return frames, events


def new_h2_connection(config: Http2Config) -> ClientH2Connection:
    """Return a client connection advertising ``config``'s windows and limits.

    Fields are validated and normalised once, by us (``protocols.h2_headers``),
    both ways: ``h2``'s generator chains cost more than all the rest of a
    response's header handling.
    """
    conn = ClientH2Connection(
        config=h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
    )
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            SettingCodes.ENABLE_PUSH: 0,
            SettingCodes.MAX_CONCURRENT_STREAMS: 100,
            SettingCodes.INITIAL_WINDOW_SIZE: config.initial_stream_window,
            SettingCodes.MAX_FRAME_SIZE: config.max_frame_size,
            SettingCodes.MAX_HEADER_LIST_SIZE: config.max_header_list_size,
        },
    )
    conn.max_inbound_frame_size = config.max_frame_size
    conn.decoder.max_header_list_size = config.max_header_list_size
    return conn


def reset_error(code: int, stream_id: int, url: str, reused: bool) -> StreamReset:
    """RST_STREAM from the server; REFUSED_STREAM means it was not processed."""
    refused = code == ErrorCodes.REFUSED_STREAM
    try:
        name = ErrorCodes(code).name
    except ValueError:
        name = str(code)
    return StreamReset(
        f"the server reset stream {stream_id} with {name} ({url})"
        + ("; it was not processed" if refused else ""),
        error_code=code,
        reused_connection=reused,
        unprocessed=refused,
    )


def goaway_error(code: int, last: int, stream_id: int, url: str, reused: bool) -> NetworkError:
    """GOAWAY that did not cover ``stream_id``: the server did not process it."""
    return ConnectionTerminated(
        f"the server sent GOAWAY (code {code}, last stream {last}) before taking stream "
        f"{stream_id}; it was not processed ({url})",
        error_code=code,
        last_stream_id=last,
        reused_connection=reused,
        unprocessed=True,
    )


def not_sent_error(goaway: tuple[int, int] | None, url: str, reused: bool) -> NetworkError:
    """The connection closed, or got GOAWAY, before this request's HEADERS went out."""
    if goaway is None:
        return ConnectionDisconnected(
            f"HTTP/2 connection closed before the request was sent ({url})",
            reused_connection=reused,
        )
    return ConnectionTerminated(
        f"the server sent GOAWAY; request not sent ({url})",
        error_code=goaway[0],
        last_stream_id=goaway[1],
        request_sent=False,
        reused_connection=reused,
        unprocessed=True,
    )


def lost_error(reason: str, stream_id: int, url: str, reused: bool) -> NetworkError:
    """The connection ended with this stream open: it may have been processed."""
    return ConnectionDisconnected(
        f"{reason} with stream {stream_id} open; the server may have processed the request ({url})",
        request_sent=True,
        reused_connection=reused,
    )
