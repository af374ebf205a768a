"""The receive fast path gives what the core alone gives, byte for byte.

``WebSocketDriver.data_received`` decodes whole unfragmented TEXT/BINARY
frames itself and feeds the core everything else at frame boundaries. Here
the same server bytes (random sequences of data, control, fragmented, close
and faulty frames, with or without the HTTP/1.1 answer to the upgrade first),
cut at random offsets or at every offset, go to two drivers: one as shipped,
one forced onto the core for every byte (the path before the fast one). Both
must yield the same messages, the same error (type, text, close code), the
same bytes sent back (pongs, close frames) and the same backpressure calls.

No sockets: a recording transport, and the read buffer of ``get_buffer``
overwritten after every read, so a message that kept a view of it shows.
Seeded and bounded: each seed is one case, reproducible by its number.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import struct
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri
from websockets.utils import accept_key

from aiosonic.drivers.websocket import WebSocketDriver
from aiosonic.drivers.websocket_reads import IN_PLACE_CHUNK, driver_class
from aiosonic.exceptions import ReadTimeout
from aiosonic.protocols.websocket import WebSocketConfig

URL = "ws://example.test/ws"
#: Small reads, so big frames arrive in many pieces and the buffer is reused often.
READ_BUFFER = 4096


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """A server frame (RFC 6455 §5.2); ``length`` may lie about the payload's size."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    masked = 0x80 if mask is not None else 0
    if size < 126:
        head = struct.pack("!BB", first, masked | size)
    elif size < 65536:
        head = struct.pack("!BBH", first, masked | 126, size)
    else:
        head = struct.pack("!BBQ", first, masked | 127, size)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


class RecordingTransport:
    """What a driver does to its transport, in order."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def sent(self) -> tuple[list[tuple[int, bytes]], list[Any]]:
        """The frames written after the upgrade request, unmasked, and the other calls.

        Writes may be cut differently, and masking keys are random, so the
        frames are compared as (first header byte, payload).
        """
        data = b"".join(call[1] for call in self.calls if isinstance(call, tuple))
        if data.startswith(b"GET "):
            data = data[data.index(b"\r\n\r\n") + 4 :]
        frames = []
        while data:
            length, offset = data[1] & 0x7F, 2
            assert data[1] & 0x80, "a client frame must be masked"
            if length == 126:
                length, offset = struct.unpack(">H", data[2:4])[0], 4
            elif length == 127:
                length, offset = struct.unpack(">Q", data[2:10])[0], 10
            key, offset = data[offset : offset + 4], offset + 4
            body = data[offset : offset + length]
            frames.append((data[0], bytes(b ^ key[i % 4] for i, b in enumerate(body))))
            data = data[offset + length :]
        return frames, [call for call in self.calls if not isinstance(call, tuple)]


@dataclass
class Case:
    """One stream of server bytes and the settings it is read with."""

    stream: bytes
    config: WebSocketConfig
    with_head: bool
    queue: tuple[int, bool] = (100, False)
    eof: bool = True
    notes: list[str] = field(default_factory=list)
    #: Offsets in ``stream`` where frames end.
    boundaries: list[int] = field(default_factory=list)


def _driver(case: Case, fast: bool) -> tuple[WebSocketDriver, RecordingTransport]:
    config = case.config
    state = State.CONNECTING if case.with_head else State.OPEN
    core = ClientProtocol(
        parse_uri(URL), state=state, max_size=(config.max_message_size, config.max_frame_size)
    )
    request = core.connect() if case.with_head else None
    loop = asyncio.get_running_loop()
    driver = driver_class(config, loop)(core, request, config, URL)  # type: ignore[arg-type]
    driver.set_queue(*case.queue)
    if not fast:  # the core gets every byte, as before the fast path
        driver._framing = False
        driver._in_head = False
    transport = RecordingTransport()
    if case.with_head:
        driver.connection_made(transport)  # type: ignore[arg-type]
    else:  # as the RFC 8441 driver: open from the start
        driver.transport = transport  # type: ignore[assignment]
        driver.opened.set_result(None)  # type: ignore[arg-type]
    return driver, transport


def _head(driver: WebSocketDriver) -> bytes:
    key = driver._request.headers["Sec-WebSocket-Key"]
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


async def _outcome(
    case: Case, cuts: list[int] | None, fast: bool, loop_reads: bool = False
) -> dict[str, Any]:
    """Feed the stream cut at ``cuts`` (None: one read per frame, the head in one of its
    own); ``loop_reads``: as bytes to data_received (uvloop's default), else through the
    driver's own buffer (get_buffer/buffer_updated)."""
    driver, transport = _driver(case, fast)
    head = _head(driver) if case.with_head else b""
    stream = head + case.stream
    if cuts is None:
        cuts = [len(head), *(len(head) + offset for offset in case.boundaries)]
    if not fast:
        # The core alone, one frame per read: what the driver did before, minus
        # one quirk of its batches. When the driver itself failed a frame (bad
        # UTF-8), the core had already acted on the frames after it in the same
        # read (answered a ping, failed on a bad close frame). The fast path
        # fails at that frame, as a frame-per-read core does.
        cuts = cuts + [len(head) + offset for offset in case.boundaries]
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(stream)), len(stream)]
    for start, stop in itertools.pairwise(bounds):
        at = start
        while at < stop:  # a read never passes the buffer it is given
            if loop_reads:
                piece = stream[at : min(stop, at + READ_BUFFER)]
                driver.data_received(piece)
                at += len(piece)
                continue
            buffer = driver.get_buffer(-1)
            assert len(buffer) > 0  # as the loop requires (a read of 0 bytes is EOF)
            piece = stream[at : min(stop, at + len(buffer))]
            buffer[: len(piece)] = piece
            driver.buffer_updated(len(piece))
            assert driver._read_buffer is not None
            if buffer.obj is driver._read_buffer.obj:  # the next read reuses it
                buffer[: len(piece)] = b"\xee" * len(piece)
            at += len(piece)
    if case.eof:
        driver.eof_received()
    driver.connection_lost(None)
    messages = []
    while True:
        try:
            message = await driver.receive()
        except Exception as exc:  # the connection's end, with why
            error = (type(exc).__name__, str(exc), getattr(exc, "close_code", None))
            break
        messages.append((message.type, message.data, message.raw_data, message.opcode))
    pongs = list(driver._pongs)
    return {
        "messages": messages,
        "error": error,
        "sent": transport.sent(),
        "close_code": driver.close_code,
        "close_reason": driver.close_reason,
        "dropped": driver.dropped_messages,
        "pongs": pongs,
        "state": driver._core.state,
    }


async def check(case: Case, cuts: list[int] | None) -> dict[str, Any]:
    fast = await _outcome(case, cuts, fast=True)
    core = await _outcome(case, cuts, fast=False)
    assert fast == core, (case.notes, cuts)
    assert await _outcome(case, cuts, fast=True, loop_reads=True) == core, (case.notes, cuts)
    return fast


# --- random server streams ----------------------------------------------------------

LENGTHS = [0, 1, 2, 100, 125, 126, 127, 1000, 65535, 65536, 70000]
TEXT_CHARS = "aZ0 é€😀\u0800"


def _text(rng: random.Random, size: int) -> bytes:
    text = "".join(rng.choice(TEXT_CHARS) for _ in range(size // 2 + 1))
    while len(text.encode()) > size:  # whole characters, at most ``size`` bytes
        text = text[:-1]
    return text.encode()


def _size(rng: random.Random) -> int:
    return rng.choice(LENGTHS) if rng.random() < 0.4 else rng.randrange(0, 300)


def _fragments(rng: random.Random, data: bytes) -> list[bytes]:
    cuts = sorted(rng.randrange(0, len(data) + 1) for _ in range(rng.randrange(1, 4)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _good_frames(rng: random.Random, notes: list[str]) -> list[bytes]:
    kind = rng.choices(["text", "binary", "ping", "pong", "fragmented", "big"], [5, 5, 2, 2, 2, 1])[
        0
    ]
    notes.append(kind)
    if kind == "text":
        return [frame(0x1, _text(rng, _size(rng)))]
    if kind == "binary":
        return [frame(0x2, rng.randbytes(_size(rng)))]
    if kind == "ping":
        return [frame(0x9, rng.randbytes(rng.randrange(0, 126)))]
    if kind == "pong":
        return [frame(0xA, rng.randbytes(rng.randrange(0, 126)))]
    if kind == "big":
        return [frame(rng.choice([0x1, 0x2]), b"a" * rng.choice([65535, 65536, 70000]))]
    is_text = rng.random() < 0.5
    data = _text(rng, rng.randrange(0, 400)) if is_text else rng.randbytes(rng.randrange(400))
    parts = _fragments(rng, data)  # text may be cut inside a character
    out = []
    for i, part in enumerate(parts):
        opcode = (0x1 if is_text else 0x2) if i == 0 else 0x0
        out.append(frame(opcode, part, fin=i == len(parts) - 1))
        if i < len(parts) - 1 and rng.random() < 0.3:
            out.append(frame(0x9, b"mid"))  # control frames may come between fragments
    return out


def _bad_frame(rng: random.Random, notes: list[str]) -> bytes:
    kind = rng.choice(
        [
            "masked",
            "rsv1",
            "rsv3",
            "opcode",
            "oversize",
            "oversize-head",
            "cont-alone",
            "bad-utf8",
            "bad-utf8-fragment",
            "long-ping",
            "fragmented-ping",
            "text-in-fragmented",
            "close",
            "close-empty",
            "close-bad-code",
        ]
    )
    notes.append(kind)
    if kind == "masked":
        return frame(rng.choice([0x1, 0x2, 0x9]), b"hello", mask=rng.randbytes(4))
    if kind in ("rsv1", "rsv3"):
        return frame(0x1, b"hi", rsv=4 if kind == "rsv1" else 1)
    if kind == "opcode":
        return frame(rng.choice([0x3, 0x7, 0xB, 0xF]), b"x")
    if kind == "oversize":
        return frame(0x2, b"z" * 200_000)
    if kind == "oversize-head":  # announced, never sent: must fail on the header
        return frame(0x1, b"", length=rng.choice([200_000, 1 << 40]))
    if kind == "cont-alone":
        return frame(0x0, b"x")
    if kind == "bad-utf8":
        return frame(0x1, b"ok" + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]))
    if kind == "bad-utf8-fragment":
        return frame(0x1, b"\xff", fin=False) + frame(0x0, b"x")
    if kind == "long-ping":
        return frame(0x9, b"p" * 126)
    if kind == "fragmented-ping":
        return frame(0x9, b"p", fin=False)
    if kind == "text-in-fragmented":
        return frame(0x1, b"a", fin=False) + frame(0x1, b"b")
    if kind == "close":
        return frame(0x8, struct.pack("!H", rng.choice([1000, 1001, 4000])) + b"bye")
    if kind == "close-empty":
        return frame(0x8, b"")
    return frame(0x8, struct.pack("!H", 999))


def _case(seed: int) -> Case:
    rng = random.Random(seed)
    notes: list[str] = []
    frames: list[bytes] = []
    for _ in range(rng.randrange(1, 12)):
        frames += _good_frames(rng, notes)
    if rng.random() < 0.5:
        frames.append(_bad_frame(rng, notes))
        frames += _good_frames(rng, notes)  # after the end: the core discards it
    stream = b"".join(frames)
    boundaries = [sum(len(f) for f in frames[: i + 1]) for i in range(len(frames))]
    if rng.random() < 0.2:
        stream = stream[: rng.randrange(len(stream) + 1)]  # the server stops mid-frame
        notes.append("truncated")
    config = WebSocketConfig(
        max_message_size=rng.choice([None, 100_000, 64 * 1024 * 1024]),
        max_frame_size=rng.choice([None, 70_000, 65_535, 16 * 1024 * 1024]),
        read_buffer_size=READ_BUFFER,
        accept_masked_frames=rng.random() < 0.15,
    )
    queue = rng.choice([(100, False), (3, False), (2, True)])
    return Case(stream, config, rng.random() < 0.5, queue, rng.random() < 0.7, notes, boundaries)


def _random_cuts(rng: random.Random, size: int) -> list[int]:
    if size == 0:
        return []
    how = rng.random()
    if how < 0.2:
        return []  # the whole stream in reads of READ_BUFFER bytes
    if how < 0.3 and size < 3000:
        return list(range(1, size))  # byte by byte
    return [rng.randrange(1, size + 1) for _ in range(rng.randrange(1, 12))]


@pytest.mark.parametrize("seed", range(600))
async def test_random_streams_match_the_core(seed: int) -> None:
    case = _case(seed)
    rng = random.Random(seed + 10_000)
    for _ in range(3):
        await check(case, _random_cuts(rng, len(case.stream) + 200))
    await check(case, None)  # a read per frame, as a request/response exchange reads


@pytest.mark.parametrize(
    "stream",
    [
        # A 16-bit length (126) in a read of 2 + 126 bytes: not a 7-bit frame of 126.
        struct.pack("!BBH", 0x82, 126, 124) + b"b" * 124,
        struct.pack("!BBH", 0x81, 126, 124) + b"t" * 124,
        # A 64-bit length (127) in a read of 2 + 127 bytes.
        struct.pack("!BBQ", 0x82, 127, 119) + b"q" * 119,
        frame(0x1, b"x" * 125),  # the longest 7-bit frame
        frame(0x1, b"bad\xff"),  # invalid UTF-8: the core's 1007
        frame(0x2, b"x" * 100, mask=b"abcd"),  # masked: the core's 1002
        frame(0x1, b"x" * 100, rsv=4),  # RSV1 without an extension
        frame(0x1, b"a", fin=False) + frame(0x0, b"b"),
        frame(0x1, b"a", fin=False) + frame(0x1, b"b"),  # TEXT inside a fragmented message
        frame(0x2, b"a", fin=False) + frame(0x2, b"b"),
    ],
)
@pytest.mark.parametrize("limit", [None, 50, 124])
async def test_one_frame_reads_match_the_core(stream: bytes, limit: int | None) -> None:
    """Reads of exactly one frame (the driver's shortest path) against the core alone,
    also with a max_frame_size under the frame's size."""
    boundaries = [len(stream)] if stream[0] & 0x80 else [3, len(stream)]
    config = WebSocketConfig(max_frame_size=limit, read_buffer_size=READ_BUFFER)
    for with_head in (False, True):
        case = Case(stream, config, with_head, eof=False, boundaries=boundaries)
        outcome = await check(case, None)
        if limit is not None and stream[0] == 0x81 and limit < stream[1] < 126:
            assert outcome["error"][2] == 1009  # over the limit, failed by the core
            assert outcome["messages"] == []


def _small_stream() -> bytes:
    return b"".join(
        [
            frame(0x1, "héllo".encode()),
            frame(0x9, b"ping!"),
            frame(0x2, b"\x00" * 126),
            frame(0x1, "é".encode()[:1], fin=False),
            frame(0xA, b"pong"),
            frame(0x0, "é".encode()[1:] + b"!"),
            frame(0x2, b""),
            frame(0x8, struct.pack("!H", 1000) + b"done"),
            frame(0x1, b"after close"),
        ]
    )


@pytest.mark.parametrize("with_head", [False, True])
async def test_every_two_way_split_matches_the_core(with_head: bool) -> None:
    stream = _small_stream()
    case = Case(stream, WebSocketConfig(read_buffer_size=READ_BUFFER), with_head)
    total = len(stream) + (len(_head(_driver(case, True)[0])) if with_head else 0)
    for cut in range(total + 1):
        for second in (None, cut + 1, cut + 3):
            await check(case, [cut] if second is None else [cut, second])
    outcome = await check(case, list(range(1, total)))  # byte by byte
    assert [m[1] for m in outcome["messages"]] == ["héllo", b"\x00" * 126, "é!", b""]
    assert outcome["close_code"] == 1000


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (frame(0x1, b"ok\xff"), 1007),
        (frame(0x1, b"x", mask=b"abcd"), 1002),
        (frame(0x1, b"x", rsv=4), 1002),
        (frame(0x2, b"", length=1 << 30), 1009),
        (frame(0x2, b"", length=70_000), 1009),
        # Bad UTF-8 at the end of a text payload read in place (more than a read buffer).
        (frame(0x1, b"a" * 20_000 + b"\xff"), 1007),
        (frame(0x1, b"a" * 20_000 + b"\xff") + frame(0x1, b"after"), 1007),
    ],
)
async def test_faults_close_with_the_core_code(stream: bytes, code: int) -> None:
    config = WebSocketConfig(max_frame_size=65_536, read_buffer_size=READ_BUFFER)
    case = Case(frame(0x1, b"first") + stream, config, with_head=True, eof=False)
    outcome = await check(case, [])
    assert outcome["messages"] == [(outcome["messages"][0][0], "first", b"first", 1)]
    assert outcome["error"][2] == code
    assert outcome["sent"][1][-1] == "close"  # TCP closed after the close frame


async def test_a_big_payload_is_read_in_place() -> None:
    """Reads go straight into a buffer of the payload's size once more than a read
    buffer is missing, and to the read buffer again after the frame (or at EOF)."""
    payload = bytes(range(256)) * 80  # 20,480 bytes
    config = WebSocketConfig(read_buffer_size=READ_BUFFER)
    for eof in (False, True):
        case = Case(b"", config, with_head=False, eof=False)
        driver, _ = _driver(case, fast=True)
        stream = frame(0x2, payload) + frame(0x1, b"next")
        first = driver.get_buffer(-1)
        first[:100] = stream[:100]
        driver.buffer_updated(100)  # the header and 96 bytes of payload
        target = driver.get_buffer(-1)
        assert target.obj is not first.obj and len(target) == len(payload) - 96
        target[:1000] = stream[100:1100]
        driver.buffer_updated(1000)
        if eof:
            driver.eof_received()
            assert driver.get_buffer(-1).obj is first.obj  # never an empty view
            continue
        rest = driver.get_buffer(-1)
        assert len(rest) == len(payload) - 1096
        rest[:] = stream[1100 : 4 + len(payload)]
        driver.buffer_updated(len(rest))
        again = driver.get_buffer(-1)
        assert again.obj is first.obj
        again[:6] = stream[4 + len(payload) :]
        driver.buffer_updated(6)
        messages = [await driver.receive(timeout=1) for _ in range(2)]
        assert [m.data for m in messages] == [payload, "next"]


async def test_in_place_memory_follows_what_arrived() -> None:
    """A header announcing 16 MiB gets a buffer of IN_PLACE_CHUNK, not 16 MiB; a
    payload of several chunks arrives whole, read by read as the loop would."""
    size = 2 * IN_PLACE_CHUNK + 12_345
    payload = random.Random(7).randbytes(size)
    config = WebSocketConfig(read_buffer_size=READ_BUFFER)
    driver, _ = _driver(Case(b"", config, with_head=False, eof=False), fast=True)
    stream = frame(0x2, payload)
    at, sizes = 0, []
    for _ in range(1000):  # bounded: a read of 0 bytes would never end
        if at == len(stream):
            break
        buffer = driver.get_buffer(-1)
        assert len(buffer) > 0
        sizes.append(len(buffer))
        piece = stream[at : at + min(len(buffer), 300_000)]  # reads shorter than asked, too
        buffer[: len(piece)] = piece
        driver.buffer_updated(len(piece))
        at += len(piece)
    assert at == len(stream)
    assert max(sizes) == IN_PLACE_CHUNK
    assert (await driver.receive(timeout=1)).data == payload

    driver, _ = _driver(Case(b"", config, with_head=False, eof=False), fast=True)
    head = frame(0x2, b"", length=16 * 1024 * 1024)
    driver.get_buffer(-1)[: len(head)] = head
    driver.buffer_updated(len(head))
    assert len(driver.get_buffer(-1)) == IN_PLACE_CHUNK


async def test_an_oversize_header_fails_before_its_payload() -> None:
    """A header announcing more than max_frame_size fails at once, nothing buffered."""
    config = WebSocketConfig(max_frame_size=1000, read_buffer_size=READ_BUFFER)
    case = Case(frame(0x2, b"", length=5000), config, with_head=False, eof=False)
    driver, transport = _driver(case, fast=True)
    driver.data_received(case.stream)  # the header alone, no payload yet
    assert driver.error is not None and getattr(driver.error, "close_code", None) == 1009
    assert "close" in transport.sent()[1]
    assert not driver._pending


async def test_pings_are_answered_while_nobody_receives() -> None:
    case = Case(
        frame(0x1, b"a") + frame(0x9, b"p1") + frame(0x2, b"b") + frame(0x9, b"p2"),
        WebSocketConfig(read_buffer_size=READ_BUFFER),
        with_head=False,
        eof=False,
    )
    driver, transport = _driver(case, fast=True)
    driver.data_received(case.stream)
    assert transport.sent()[0] == [(0x8A, b"p1"), (0x8A, b"p2")]  # FIN + PONG
    await check(case, [])


async def test_backpressure_pauses_reading_as_before() -> None:
    stream = b"".join(frame(0x1, str(i).encode()) for i in range(10))
    case = Case(stream, WebSocketConfig(read_buffer_size=READ_BUFFER), False, (4, False))
    driver, transport = _driver(case, fast=True)
    driver.data_received(stream)
    assert transport.sent()[1] == ["pause_reading"]
    assert [(await driver.receive()).data for _ in range(7)] == [str(i) for i in range(7)]
    assert transport.sent()[1] == ["pause_reading", "resume_reading"]
    await check(case, [3, 17])


async def test_a_receiver_cancelled_as_its_message_arrives_loses_nothing() -> None:
    """The message waits in the queue until taken: cancelling the woken receiver keeps it."""
    case = Case(b"", WebSocketConfig(read_buffer_size=READ_BUFFER), False, eof=False)
    driver, _ = _driver(case, fast=True)
    receiver = asyncio.create_task(driver.receive())
    await asyncio.sleep(0)  # the receiver now waits for an arrival
    assert len(driver._waiters) == 1
    driver.data_received(frame(0x1, b"kept"))  # wakes it ...
    receiver.cancel()  # ... and it is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await receiver
    assert (await driver.receive(timeout=1)).data == "kept"


async def test_timed_out_receives_leave_no_waiters_behind() -> None:
    case = Case(b"", WebSocketConfig(read_buffer_size=READ_BUFFER), False, eof=False)
    driver, _ = _driver(case, fast=True)
    for _ in range(50):
        with pytest.raises(ReadTimeout):
            await driver.receive(timeout=0.001)
    for _ in range(50):  # cancelled from outside, as asyncio.wait_for does
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(driver.receive(), 0.001)
    assert len(driver._waiters) <= 1
    driver.data_received(frame(0x2, b"next"))
    assert (await driver.receive(timeout=1)).data == b"next"
