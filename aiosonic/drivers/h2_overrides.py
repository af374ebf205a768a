"""Every place we change ``h2`` or ``hpack``: the override, why, and the test that guards it.

``h2`` is our HTTP/2 protocol core; the driver (:mod:`aiosonic.drivers.http2`)
drives the connection :func:`new_h2_connection` builds, which is ``h2``'s own
but for the overrides listed in :data:`OVERRIDES`, the table of this module:
each row names the attribute that overrides, why plain ``h2``/``hpack`` does
not do, and the test that fails if an ``h2``/``hpack`` release breaks it
(``tests/test_http2_core.py::test_override_table_is_current`` keeps the table
in step with the code). They rely on internals of ``h2`` 4.1 to 4.4 and
``hpack`` 4.0 to 4.2: ``setup.cfg`` pins those ranges, and ``make test-oldest``
runs the HTTP/2 tests on the oldest. :func:`new_h2_connection` also turns
``h2``'s own header validation and normalisation off (public configuration,
not an override): :mod:`aiosonic.protocols.h2_headers` does it once.

:class:`ClientH2Connection` keeps receiving after the server's GOAWAY, which
RFC 9113 §6.8 allows and ``h2`` does not (offered upstream:
``docs/upstream/h2-goaway.md``), and avoids two of ``h2``'s costs per request:
HPACK coding of repeated blocks and the scan of every stream when one opens.

**The HPACK memo** (RFC 7541). HPACK is stateful: a block's bytes depend on the
dynamic table, and coding a block may change the table. Yet a block whose
coding left the table exactly as it was codes the same way again for as long as
the table stays as it is. Over one connection a client repeats its request
header lists, and a server its response blocks (nginx sends the same block for
a resource until its ``date`` changes), so after the first one or two, most
blocks are such blocks. :class:`MemoEncoder` and :class:`MemoDecoder`
(subclasses of ``hpack``'s, used by :class:`ClientH2Connection`) remember those
blocks and hand their coding back while the table is unchanged, instead of
coding field by field (with a ``logging.debug`` call per field). Anything else
goes to ``hpack`` as before, so the bytes on the wire and the decoded fields
are exactly ``hpack``'s.

A memo is valid while the table and limits are as they were when its blocks
were coded. In ``hpack`` 4.x (and ``h2`` only uses these) the table changes
in ``encode``/``decode`` and through the size setters, nothing else: the
setters are overridden to clear the memo, and a coding that is not served
from the memo compares the table before and after (``hpack``'s
``HeaderTable.dynamic_entries``, ``maxsize``, ``resized``; entries are only
added at the front, as new tuples, and evicted from the back, so the entry
count and the *identity* of the front entry tell whether the table changed)
and clears the memo if it did. One memo per coder.

What does not live here: the driver and the errors it fails streams with
(:mod:`aiosonic.drivers.http2`), header-block validation
(:mod:`aiosonic.protocols.h2_headers`), and the user's configuration
(:class:`aiosonic.http2.Http2Config`). Sans-IO: no asyncio, no sockets.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from h2.settings import SettingCodes
from hpack.table import HeaderTable

from aiosonic.http2 import Http2Config

__all__ = [
    "MAX_MEMO_BLOCKS",
    "MAX_MEMO_BLOCK_SIZE",
    "OVERRIDES",
    "SWEEP_SLACK",
    "ClientH2Connection",
    "MemoDecoder",
    "MemoEncoder",
    "Override",
    "new_h2_connection",
]


class Override(NamedTuple):
    """One row of :data:`OVERRIDES`."""

    #: ``Class.attribute`` of this module that replaces ``h2``/``hpack`` behaviour.
    what: str
    #: Why plain ``h2``/``hpack`` does not do.
    reason: str
    #: ``tests/<file>.py::<test>`` that fails if a release breaks the override.
    guard: str


#: The table of the module docstring, as data: the test suite checks that each
#: override exists and each guarding test is there.
OVERRIDES = (
    Override(
        "ClientH2Connection._receive_goaway_frame",
        "RFC 9113 §6.8: streams up to GOAWAY's last_stream_id may complete; "
        "h2 goes CLOSED and rejects their frames",
        "tests/test_http2_core.py::test_streams_up_to_goaway_last_stream_id_complete",
    ),
    Override(
        "ClientH2Connection.open_outbound_streams",
        "h2 scans every stream each time one opens: O(streams) per request",
        "tests/test_http2_core.py::test_stream_limit_is_enforced_exactly",
    ),
    Override(
        "ClientH2Connection._receive_settings_frame",
        "the server's stream limit may change: the exact count is re-planned",
        "tests/test_http2_core.py::test_lowered_limit_applies_to_the_next_stream",
    ),
    Override(
        "ClientH2Connection.__init__",
        "installs the memo HPACK coders, keeping h2's decoder limits",
        "tests/test_http2_core.py::test_connection_uses_the_memo_coders_with_our_limits",
    ),
    Override(
        "MemoEncoder.__init__",
        "adds the memo of blocks already coded",
        "tests/test_http2_core.py::test_memo_coders_code_exactly_as_hpack",
    ),
    Override(
        "MemoDecoder.__init__",
        "adds the memo and the limits (hpack's __init__ sets the limits through our setters)",
        "tests/test_http2_core.py::test_memo_coders_code_exactly_as_hpack",
    ),
    Override(
        "MemoEncoder.encode",
        "hpack codes a repeated header list field by field, each time",
        "tests/test_http2_core.py::test_memo_coders_code_exactly_as_hpack",
    ),
    Override(
        "MemoDecoder.decode",
        "hpack decodes a repeated block field by field, each time",
        "tests/test_http2_core.py::test_memo_coders_code_exactly_as_hpack",
    ),
    Override(
        "MemoEncoder.header_table_size",
        "a new table size changes the coding: the memo is cleared",
        "tests/test_http2_core.py::test_memo_encoder_reuses_a_neutral_block_and_forgets_on_resize",
    ),
    Override(
        "MemoDecoder.header_table_size",
        "a new table size changes the decoding: the memo is cleared",
        "tests/test_http2_core.py::test_memo_coders_code_exactly_as_hpack",
    ),
    Override(
        "MemoDecoder.max_header_list_size",
        "a new limit may refuse a remembered block: the memo is cleared",
        "tests/test_http2_core.py::test_memo_decoder_honours_new_limits",
    ),
    Override(
        "MemoDecoder.max_allowed_table_size",
        "a new limit may refuse a remembered block: the memo is cleared",
        "tests/test_http2_core.py::test_memo_is_bounded",
    ),
)

#: Blocks remembered per coder: a connection repeats a handful of header lists
#: (one per kind of request, or per response shape); past this the memo starts over.
MAX_MEMO_BLOCKS = 16
#: Largest encoded block remembered: repeated blocks are small (mostly indexed
#: fields); this bounds the memo's memory at ``MAX_MEMO_BLOCKS`` small blocks.
MAX_MEMO_BLOCK_SIZE = 2048

_PLAIN = frozenset({tuple})

#: (entry count, front entry, table size, resize pending): see the module
#: docstring. Two states are equal only with the *same* front entry.
State = tuple[int, object, int, bool]


def table_state(table: HeaderTable) -> State:
    """Return what identifies the contents of ``table`` (compare with :func:`same_state`)."""
    entries = table.dynamic_entries
    return (len(entries), entries[0] if entries else None, table.maxsize, table.resized)


def same_state(a: State, b: State) -> bool:
    """Whether two states of one table describe the same contents."""
    return a[1] is b[1] and a == b


class MemoEncoder(hpack.Encoder):
    """``hpack.Encoder`` that reuses the block of a header list it coded before.

    A header list is remembered when coding it changed nothing in the table,
    and only if it holds plain tuples (an ``hpack.HeaderTuple`` carries its
    never-indexed flag outside tuple equality, so it is always coded afresh).
    Every remembered block was coded in the table's present state: coding
    that changes the table, or a new table size, clears the memo.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple[Any, ...], bytes] = {}
        super().__init__()

    @property
    def header_table_size(self) -> int:
        """The HPACK table size (setting it clears the memo)."""
        return self.header_table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._memo.clear()
        hpack.Encoder.header_table_size.fset(self, value)  # type: ignore[attr-defined]

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        """Return the HPACK block of ``headers``, as ``hpack.Encoder.encode`` would."""
        if type(headers) is not list or not _PLAIN.issuperset(map(type, headers)):
            self._memo.clear()  # coded afresh, which may change the table
            return super().encode(headers, huffman)
        key = (huffman, *headers)
        memo = self._memo
        known = memo.get(key)
        if known is not None:
            return known
        before = table_state(self.header_table)
        try:
            block = super().encode(headers, huffman)
        except BaseException:
            memo.clear()  # the table may have changed before the error
            raise
        if not same_state(before, table_state(self.header_table)):
            memo.clear()
        elif len(block) <= MAX_MEMO_BLOCK_SIZE:
            if len(memo) >= MAX_MEMO_BLOCKS:
                memo.clear()
            memo[key] = block
        return block


class MemoDecoder(hpack.Decoder):
    """``hpack.Decoder`` that reuses the fields of a block it decoded before.

    A block is remembered when decoding it changed nothing in the table.
    Every remembered block was decoded in the table's present state and under
    the present limits: decoding that changes the table, or setting a limit or
    the table size, clears the memo.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple[bytes, bool], list[Any]] = {}
        self._limits = (0, 0)
        super().__init__()

    @property
    def header_table_size(self) -> int:
        """The HPACK table size (setting it clears the memo)."""
        return self.header_table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._memo.clear()
        self.header_table.maxsize = value

    @property
    def max_header_list_size(self) -> int:
        """Largest decoded block accepted (setting it clears the memo)."""
        return self._limits[0]

    @max_header_list_size.setter
    def max_header_list_size(self, value: int) -> None:
        self._memo.clear()
        self._limits = (value, self._limits[1])

    @property
    def max_allowed_table_size(self) -> int:
        """Largest table size the peer may set (setting it clears the memo)."""
        return self._limits[1]

    @max_allowed_table_size.setter
    def max_allowed_table_size(self, value: int) -> None:
        self._memo.clear()
        self._limits = (self._limits[0], value)

    def decode(self, data: bytes, raw: bool = False) -> Any:
        """Return the fields of the HPACK block ``data``, as ``hpack.Decoder.decode`` would."""
        key = (bytes(data), raw)
        memo = self._memo
        known = memo.get(key)
        if known is not None:
            return list(known)
        before = table_state(self.header_table)
        try:
            fields = list(super().decode(data, raw))
        except BaseException:
            memo.clear()  # the table may have changed before the error
            raise
        if not same_state(before, table_state(self.header_table)):
            memo.clear()
        elif len(key[0]) <= MAX_MEMO_BLOCK_SIZE:
            if len(memo) >= MAX_MEMO_BLOCKS:
                memo.clear()
            memo[key] = fields
        return list(fields)


# --- the h2 connection ------------------------------------------------------------


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
      (:class:`MemoEncoder`, :class:`MemoDecoder`); the bytes are ``hpack``'s own.
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
