"""Coverage-guided fuzz target (atheris) for what a hostile server controls.

Three targets share one input format; the first control value picks one:

* ``parser``: the bytes go to :class:`~aiosonic.protocols.h11_response.ResponseParser`
  whole and in pieces cut where the input says, then (optionally) EOF. The
  outcome must not depend on the cuts, as in ``tests/test_h11_fuzz.py``;
* ``decoder``: the bytes go to :func:`aiosonic.decoders.build_decoder` for
  gzip, deflate, br or a chain, with a small cap; the decoded size must stay
  under the cap and the result must not depend on the cuts either;
* ``response``: a whole response, parsed, then its body decoded under its own
  ``Content-Encoding``, as ``HttpResponse`` does.

Only ``aiosonic.exceptions.AiosonicError`` subclasses (``HttpParsingError``,
``NetworkError``, ``DecompressionError``) may escape the library; any other
exception, or a broken invariant (:class:`InvariantBroken`), is a crash.

Input layout, so seeds can be written by hand: atheris'
``FuzzedDataProvider`` takes integers from the end of the input and bytes from
the front. The last byte picks the target, the one before it the options, the
one before that the number of cuts, then two bytes per cut; what is left at the
front is the payload. A payload followed by three zero bytes is the parser
target, for a GET, default limits, no EOF, fed whole.

Run ``make fuzz`` (``FUZZ_SECONDS=600 make fuzz`` for longer), or directly::

    .venv/bin/python fuzz/fuzz_response.py --write-seeds fuzz/corpus
    .venv/bin/python fuzz/fuzz_response.py -max_total_time=60 fuzz/corpus

Findings become regression tests with their exact bytes in
``tests/test_h11_response.py`` or ``tests/test_decoders.py``.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import atheris
import brotli

with atheris.instrument_imports(include=["aiosonic"]):
    from aiosonic.decoders import DECODE_STEP_SIZE, ContentDecoder, build_decoder
    from aiosonic.exceptions import AiosonicError, HttpParsingError, NetworkError
    from aiosonic.protocols.h11_events import (
        Data,
        EndOfMessage,
        Event,
        H11Limits,
        NeedData,
        ResponseHead,
    )
    from aiosonic.protocols.h11_response import ResponseParser

TARGET_PARSER, TARGET_DECODER, TARGET_RESPONSE = 0, 1, 2
TARGETS = 3
#: Most cuts per input: enough to land in every parser state, cheap per run.
MAX_CUTS = 16
METHODS = (b"GET", b"HEAD", b"CONNECT", b"POST")
#: Content-Encoding values the decoder target picks from (by the options byte).
CODINGS = (
    "gzip",
    "deflate",
    "br",
    "x-gzip",
    "gzip, br",
    "br, deflate",
    "deflate, gzip",
    "identity",
    "gzip, gzip, gzip",
)
#: Cap on decoded bytes: small, so bombs reach it in microseconds, yet a few
#: decode steps long, so the loops that drain a step's pending output run.
DECODE_CAP = 4 * DECODE_STEP_SIZE
# Limits small enough that short inputs reach every one of them.
TIGHT_LIMITS = H11Limits(
    max_status_line_size=32,
    max_header_line_size=40,
    max_header_count=4,
    max_head_size=96,
    max_trailer_count=2,
    max_trailer_size=24,
    max_chunk_line_size=10,
    max_informational_responses=1,
)
URL = "http://fuzz.test/"


class InvariantBroken(AssertionError):
    """A property the library promises did not hold: a finding, not an input error."""


@dataclass(frozen=True)
class FuzzInput:
    """One input, decoded from the fuzzer's bytes."""

    target: int
    options: int
    cuts: tuple[int, ...]
    payload: bytes

    def pieces(self) -> list[bytes]:
        """The payload cut at ``cuts`` (taken modulo its length)."""
        size = len(self.payload) + 1
        bounds = [0, *sorted(cut % size for cut in self.cuts), len(self.payload)]
        return [self.payload[a:b] for a, b in pairwise(bounds)]


def read_input(data: bytes) -> FuzzInput:
    """Decode the fuzzer's bytes; see the module docstring for the layout."""
    provider = atheris.FuzzedDataProvider(data)
    target = provider.ConsumeIntInRange(0, TARGETS - 1)
    options = provider.ConsumeIntInRange(0, 255)
    count = provider.ConsumeIntInRange(0, MAX_CUTS)
    cuts = tuple(provider.ConsumeIntListInRange(count, 0, 0xFFFF))
    return FuzzInput(target, options, cuts, provider.ConsumeBytes(provider.remaining_bytes()))


def write_input(target: int, options: int, payload: bytes) -> bytes:
    """Encode an uncut input: the inverse of :func:`read_input` for seeds."""
    return payload + bytes([0, options, target])


# --- parser target -------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a parse produced, in a form that does not depend on the cuts."""

    events: tuple[Event, ...]
    error: str | None
    state: str
    trailing: bytes
    reusable: bool


def merge_data(events: Sequence[Event]) -> tuple[Event, ...]:
    """Join adjacent ``Data`` events: their boundaries follow the cuts."""
    merged: list[Event] = []
    for event in events:
        if isinstance(event, Data) and merged and isinstance(merged[-1], Data):
            merged[-1] = Data(merged[-1].data + event.data)
        else:
            merged.append(event)
    return tuple(merged)


def drain(parser: ResponseParser, events: list[Event]) -> None:
    while not isinstance(event := parser.next_event(), NeedData):
        events.append(event)


def parse(pieces: Sequence[bytes], method: bytes, limits: H11Limits | None, eof: bool) -> Outcome:
    """Feed ``pieces`` and (if ``eof``) the peer's close; never raise a library error."""
    parser = ResponseParser(limits)
    parser.start(method, URL)
    events: list[Event] = []
    error: str | None = None
    try:
        for piece in pieces:
            parser.receive_data(piece)
            drain(parser, events)
        if eof:
            parser.receive_eof()
            drain(parser, events)
    except HttpParsingError:
        error = "parsing"
    except NetworkError:
        error = "network"
    # After an error, how far feeding got depends on the cuts: not compared.
    trailing = parser.trailing_data if error is None else b""
    return Outcome(merge_data(events), error, parser.state, trailing, parser.is_reusable)


def check_parser(case: FuzzInput) -> None:
    method = METHODS[case.options & 3]
    limits = TIGHT_LIMITS if case.options & 4 else None
    eof = bool(case.options & 8)
    whole = parse([case.payload], method, limits, eof)
    split = parse(case.pieces(), method, limits, eof)
    if split != whole:
        raise InvariantBroken(f"outcome depends on the cuts:\n whole {whole}\n split {split}")
    if whole.reusable and not (whole.error is None and whole.state == "DONE"):
        raise InvariantBroken(f"reusable in a bad state: {whole}")


# --- decoder target ------------------------------------------------------------


def decode(decoder: ContentDecoder | None, pieces: Sequence[bytes]) -> bytes | None:
    """Decode ``pieces`` then flush; ``None`` when the library refused the body."""
    if decoder is None:
        return b"".join(pieces)
    out: list[bytes] = []
    try:
        for piece in pieces:
            out.append(decoder.decode(piece))
        out.append(decoder.flush())
    except AiosonicError:
        return None
    decoded = b"".join(out)
    if len(decoded) > DECODE_CAP:
        raise InvariantBroken(f"{len(decoded)} bytes decoded past the cap of {DECODE_CAP}")
    return decoded


def check_decoder(case: FuzzInput) -> None:
    coding = CODINGS[case.options % len(CODINGS)]
    whole = decode(build_decoder(coding, DECODE_CAP), [case.payload])
    split = decode(build_decoder(coding, DECODE_CAP), case.pieces())
    if split != whole:
        shown = [None if r is None else len(r) for r in (whole, split)]
        raise InvariantBroken(f"{coding} result depends on the cuts (whole, split): {shown}")


# --- response target -----------------------------------------------------------


def check_response(case: FuzzInput) -> None:
    """Parse a response, then decode its body as ``HttpResponse`` would."""
    outcome = parse(case.pieces(), METHODS[case.options & 3], None, bool(case.options & 8))
    heads = [event for event in outcome.events if isinstance(event, ResponseHead)]
    if not heads or not isinstance(outcome.events[-1], EndOfMessage):
        return
    values = [v for n, v in heads[0].headers if n.lower() == b"content-encoding"]
    body = [event.data for event in outcome.events if isinstance(event, Data)]
    try:
        decoder = build_decoder(b", ".join(values).decode("latin-1"), DECODE_CAP)
    except AiosonicError:
        return
    decode(decoder, body)


CHECKS = (check_parser, check_decoder, check_response)


def test_one_input(data: bytes) -> None:
    """Run one input through its target; non-library errors propagate as crashes."""
    case = read_input(data)
    CHECKS[case.target](case)


# --- seeds ---------------------------------------------------------------------


TEXT = b"".join(b"line %d of a fuzzing seed\n" % i for i in range(200))


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _chunked(body: bytes, size: int = 100) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\nX-Checksum: abc\r\n\r\n"


def seeds() -> list[bytes]:
    """Valid inputs for every target, so mutation starts from deep paths."""
    responses = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nclose-delimited body",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nSet-Cookie: a=b; Path=/\r\n\r\nrest",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\n",
        # RFC 9112 §2.2: bare LF line endings, alone and mixed with CRLF, in
        # heads, interim heads and trailers; a later CRLFCRLF must not end the head.
        b"HTTP/1.1 200 OK\nContent-Length: 5\nContent-Type: text/plain\n\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\n\r\na\r\n\r\nbHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\nLink: </a>\r\n\nHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
        b"5\r\nhello\r\n0\r\nX-Checksum: abc\nX-B: 1\r\n\n",
    ]
    out = [write_input(TARGET_PARSER, options, r) for r in responses for options in (0, 8, 12)]
    out.append(write_input(TARGET_PARSER, 1 | 8, responses[0]))  # HEAD
    encoded = {
        "gzip": gzip.compress(TEXT),
        "deflate": zlib.compress(TEXT),
        "br": brotli.compress(TEXT),
        "x-gzip": gzip.compress(TEXT) + gzip.compress(b"second member"),
        "gzip, br": brotli.compress(gzip.compress(TEXT)),
        "br, deflate": _raw_deflate(brotli.compress(TEXT)),
        "deflate, gzip": gzip.compress(zlib.compress(TEXT)),
        "gzip, gzip, gzip": gzip.compress(gzip.compress(gzip.compress(TEXT))),
    }
    zeros = bytes(DECODE_CAP)  # exactly the cap, then one byte past it
    for index, coding in enumerate(CODINGS):
        if coding in encoded:
            out.append(write_input(TARGET_DECODER, index, encoded[coding]))
    for index, encode in enumerate((gzip.compress, zlib.compress, brotli.compress)):
        out.append(write_input(TARGET_DECODER, index, encode(zeros)))
        out.append(write_input(TARGET_DECODER, index, encode(zeros + b"!")))
    for coding in ("gzip", "deflate", "br", "gzip, br"):
        body = encoded[coding]
        head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n" % coding.encode()
        out.append(
            write_input(
                TARGET_RESPONSE, 0, head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        )
        out.append(
            write_input(
                TARGET_RESPONSE, 0, head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body)
            )
        )
    return out


def write_seeds(directory: Path) -> None:
    """Write the seeds to ``directory``, checking each decodes as intended."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds()):
        case = read_input(seed)
        if case.cuts or case.payload != seed[:-3]:
            raise InvariantBroken(f"seed {index} does not decode as written: {case}")
        test_one_input(seed)  # a seed must pass, or the target is broken
        (directory / f"seed-{index:03d}").write_bytes(seed)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-seeds":
        write_seeds(Path(sys.argv[2]))
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
