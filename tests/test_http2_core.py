"""Our changes to ``h2`` and ``hpack`` (``drivers/h2_overrides.py``), without sockets.

The memoising HPACK coders must be indistinguishable from ``hpack``'s: the
same bytes for the same header lists and the same fields for the same blocks,
whatever the sequence of lists, repeats, table-size changes and limits (a
differential property test against plain ``hpack``). ClientH2Connection's
stream count must refuse a stream exactly where ``h2``'s would, and keep closed
streams bounded; its streams up to a GOAWAY's last stream id must complete
(where plain ``h2`` refuses them). The table of overrides must name every
override there is, each with a guarding test that exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
import pytest
from h2.settings import SettingCodes
from hyperframe.frame import SettingsFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiosonic.drivers.h2_overrides import (
    MAX_MEMO_BLOCKS,
    OVERRIDES,
    SWEEP_SLACK,
    ClientH2Connection,
    MemoDecoder,
    MemoEncoder,
    new_h2_connection,
)
from aiosonic.http2 import Http2Config

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# A few header lists, so that sequences repeat them; long values fill small tables.
LISTS = [
    [(b":method", b"GET"), (b":path", b"/a"), (b"user-agent", b"x/1")],
    [(b":method", b"GET"), (b":path", b"/b"), (b"user-agent", b"x/1")],
    [(b":method", b"POST"), (b":path", b"/a"), (b"x-long", b"v" * 300)],
    [(b":status", b"200"), (b"date", b"Sat, 21 Nov 2026 20:11:36 GMT")],
    [(b"authorization", b"secret"), (b"cookie", b"a=1")],
]
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("list"), st.integers(0, len(LISTS) - 1), st.booleans()),
        st.tuples(st.just("size"), st.sampled_from([0, 64, 400, 4096]), st.just(False)),
        # What a peer may send that our encoder would not: repeated literals
        # "with incremental indexing" (each adds again), references to the table.
        st.tuples(st.just("naive"), st.integers(0, len(LISTS) - 1), st.just(False)),
        st.tuples(st.just("index"), st.integers(62, 66), st.just(False)),
        # A block cut short: its first fields are added to the table, then it fails.
        st.tuples(st.just("truncated"), st.integers(0, len(LISTS) - 1), st.just(False)),
    ),
    max_size=40,
)


def naive_block(fields: list[tuple[bytes, bytes]]) -> bytes:
    """Literal fields with incremental indexing, new names, no Huffman (RFC 7541 §6.2.1)."""
    return b"".join(
        b"\x40" + bytes([len(n)]) + n + bytes([len(v[:99])]) + v[:99] for n, v in fields
    )


def decode_both(plain: hpack.Decoder, memo: MemoDecoder, block: bytes) -> None:
    """Both decoders give the same fields for ``block``, or both refuse it."""
    try:
        expected = plain.decode(block, raw=True)
    except hpack.HPACKError:
        with pytest.raises(hpack.HPACKError):
            memo.decode(block, raw=True)
        return
    assert memo.decode(block, raw=True) == expected


@PROPERTY_SETTINGS
@given(OPS)
def test_memo_coders_code_exactly_as_hpack(ops: list[tuple[str, int, bool]]) -> None:
    plain, memo = hpack.Encoder(), MemoEncoder()
    plain_decoder, memo_decoder = hpack.Decoder(), MemoDecoder()
    peer_decoder, peer_memo = hpack.Decoder(), MemoDecoder()  # fed the "naive"/"index" blocks
    for kind, value, huffman in ops:
        if kind == "size":
            # (hpack drops the pending update if the same new size is set twice.)
            if value != plain.header_table_size:
                plain.header_table_size = memo.header_table_size = value
            continue
        if kind != "list":
            if kind == "index":
                block = bytes([0x80 | value])
            else:
                block = naive_block(LISTS[value])[: -1 if kind == "truncated" else None]
            decode_both(peer_decoder, peer_memo, block)
            continue
        block = plain.encode(list(LISTS[value]), huffman)
        assert memo.encode(list(LISTS[value]), huffman) == block
        table = plain_decoder.header_table
        before = (list(table.dynamic_entries), table.maxsize)
        decode_both(plain_decoder, memo_decoder, block)
        if (list(table.dynamic_entries), table.maxsize) == before:
            # The block left the table as it was, so it may come again (a memo hit).
            decode_both(plain_decoder, memo_decoder, block)


def test_memo_encoder_reuses_a_neutral_block_and_forgets_on_resize() -> None:
    encoder, plain, headers = MemoEncoder(), hpack.Encoder(), LISTS[0]
    first = encoder.encode(list(headers))  # adds to the table: not remembered
    second = encoder.encode(list(headers))  # all indexed, table unchanged: remembered
    assert (first, second) == (plain.encode(list(headers)), plain.encode(list(headers)))
    assert second != first and encoder._memo
    assert encoder.encode(list(headers)) is second  # served from the memo
    encoder.header_table_size = plain.header_table_size = 0  # the peer's new table size
    assert not encoder._memo
    resized = encoder.encode(list(headers))  # opens with the table size update
    assert resized == plain.encode(list(headers)) and resized[:1] == b"\x20"
    assert encoder.encode(list(headers)) == plain.encode(list(headers))


def test_memo_encoder_never_serves_a_never_indexed_field_from_the_memo() -> None:
    # With no table, a plain field is a literal "with indexing" that changes
    # nothing (so it is remembered); a never-indexed one must not reuse it.
    encoder, plain = MemoEncoder(), hpack.Encoder()
    encoder.header_table_size = plain.header_table_size = 0
    headers = [(b"authorization", b"secret")]
    for _ in range(2):
        assert encoder.encode(list(headers)) == plain.encode(list(headers))
    assert encoder._memo
    sensitive = [hpack.NeverIndexedHeaderTuple(b"authorization", b"secret")]
    block = encoder.encode(list(sensitive))
    assert block == plain.encode(list(sensitive))
    decoded = hpack.Decoder()
    decoded.header_table_size = 0
    assert decoded.decode(block, raw=True)[0].indexable is False


def test_memo_decoder_honours_new_limits() -> None:
    block = hpack.Encoder().encode([(b"x", b"y" * 100)])
    decoder = MemoDecoder()
    decoder.decode(block)
    decoder.decode(block)
    decoder.max_header_list_size = 64  # our SETTINGS_MAX_HEADER_LIST_SIZE, lowered
    with pytest.raises(hpack.OversizedHeaderListError):
        decoder.decode(block)


def test_memo_is_bounded() -> None:
    decoder = MemoDecoder()
    decoder.header_table_size = 0  # nothing is indexed: every block is neutral
    decoder.max_allowed_table_size = 0
    for i in range(3 * MAX_MEMO_BLOCKS):
        decoder.decode(hpack.Encoder().encode([(b"x", str(i).encode())]))
    assert 0 < len(decoder._memo) <= MAX_MEMO_BLOCKS


# --- ClientH2Connection's stream count ------------------------------------------------


def connection_with_limit(limit: int | None) -> ClientH2Connection:
    conn = new_h2_connection(Http2Config())
    conn.initiate_connection()
    frame = SettingsFrame(0)
    if limit is not None:
        frame.settings = {SettingCodes.MAX_CONCURRENT_STREAMS: limit}
    conn.receive_data(frame.serialize())
    conn.data_to_send()
    return conn


def open_stream(conn: ClientH2Connection) -> int:
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, [(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    return stream_id


def end_stream(conn: ClientH2Connection, stream_id: int) -> None:
    """The server answers ``stream_id``, which closes it (both sides ended)."""
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    block = server.encoder.encode([(b":status", b"204")])
    frame = len(block).to_bytes(3, "big") + b"\x01\x05" + stream_id.to_bytes(4, "big") + block
    conn.receive_data(frame)


@pytest.mark.parametrize("limit", [1, 5, 100])
def test_stream_limit_is_enforced_exactly(limit: int) -> None:
    conn = connection_with_limit(limit)
    ids = [open_stream(conn) for _ in range(limit)]
    with pytest.raises(h2.exceptions.TooManyStreamsError):
        open_stream(conn)
    end_stream(conn, ids[0])  # one closes: exactly one more may open
    open_stream(conn)
    with pytest.raises(h2.exceptions.TooManyStreamsError):
        open_stream(conn)


def test_closed_streams_do_not_pile_up_without_a_limit() -> None:
    conn = connection_with_limit(None)  # the server sets no limit
    for _ in range(20 * SWEEP_SLACK):
        end_stream(conn, open_stream(conn))
    assert len(conn.streams) <= 2 * SWEEP_SLACK + 1
    assert conn.open_outbound_streams == 0


def test_lowered_limit_applies_to_the_next_stream() -> None:
    conn = connection_with_limit(100)
    for _ in range(3):
        open_stream(conn)
    frame = SettingsFrame(0)
    frame.settings = {SettingCodes.MAX_CONCURRENT_STREAMS: 3}
    conn.receive_data(frame.serialize())
    with pytest.raises(h2.exceptions.TooManyStreamsError):
        open_stream(conn)


# --- GOAWAY, the coders in place, and the table of overrides ----------------------------

REQUEST = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"h")]


def two_streams_then_goaway_for_the_second(conn: h2.connection.H2Connection) -> bytes:
    """Open streams 1 and 3 on ``conn``; return a server's GOAWAY(last 1), then stream 1's response.

    RFC 9113 §6.8: the server promises to finish stream 1 and refuses stream 3;
    its answer to stream 1 comes after the GOAWAY (here in the same read).
    """
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    conn.initiate_connection()
    for _ in range(2):
        conn.send_headers(conn.get_next_available_stream_id(), REQUEST, end_stream=True)
    server.receive_data(conn.data_to_send())
    conn.receive_data(server.data_to_send())  # the server's SETTINGS, and its ACK
    server.send_headers(1, [(b":status", b"200")])
    server.send_data(1, b"hello", end_stream=True)
    goaway = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + (1).to_bytes(4, "big") + bytes(4)
    return goaway + server.data_to_send()


def test_streams_up_to_goaway_last_stream_id_complete() -> None:
    conn = new_h2_connection(Http2Config())
    events = conn.receive_data(two_streams_then_goaway_for_the_second(conn))
    kinds = [type(event) for event in events]
    assert kinds[:1] == [h2.events.ConnectionTerminated]
    assert events[0].last_stream_id == 1
    assert h2.events.ResponseReceived in kinds and h2.events.StreamEnded in kinds
    assert [e.data for e in events if isinstance(e, h2.events.DataReceived)] == [b"hello"]
    # The reference: plain h2 refuses the promised stream's frames. When an h2
    # release accepts them, ClientH2Connection._receive_goaway_frame can go
    # (docs/upstream/h2-goaway.md).
    plain = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    with pytest.raises(h2.exceptions.ProtocolError):
        plain.receive_data(two_streams_then_goaway_for_the_second(plain))


def test_connection_uses_the_memo_coders_with_our_limits() -> None:
    conn = new_h2_connection(Http2Config(max_header_list_size=1234))
    plain = h2.connection.H2Connection()
    assert type(conn.encoder) is MemoEncoder and type(conn.decoder) is MemoDecoder
    assert conn.decoder.max_header_list_size == 1234
    assert conn.decoder.max_allowed_table_size == plain.decoder.max_allowed_table_size
    conn.initiate_connection()
    for _ in range(3):  # h2 codes through conn.encoder: the repeat is remembered
        conn.send_headers(conn.get_next_available_stream_id(), REQUEST, end_stream=True)
    assert conn.encoder._memo


# Classes of aiosonic.drivers.h2_overrides and the h2/hpack classes they override.
OVERRIDDEN = {
    ClientH2Connection: h2.connection.H2Connection,
    MemoEncoder: hpack.Encoder,
    MemoDecoder: hpack.Decoder,
}


def test_override_table_is_current() -> None:
    """Each override is in OVERRIDES, each row names a real override and a real test."""
    rows = {row.what: row for row in OVERRIDES}
    found = set()
    for cls, base in OVERRIDDEN.items():
        plain = base()  # instance attributes count: a property may replace one
        for name in vars(cls):
            dunder = name.startswith("__") and name != "__init__"
            if not dunder and hasattr(plain, name):
                found.add(f"{cls.__name__}.{name}")
    assert sorted(found) == sorted(rows)
    tests_dir = Path(__file__).parent
    for row in OVERRIDES:
        assert row.reason
        path, _, test = row.guard.partition("::")
        tree = ast.parse((tests_dir.parent / path).read_text())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert test in names, f"{row.what}: guarding test {row.guard} not found"
