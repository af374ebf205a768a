"""Content-coding decoders for response bodies: streamed, strict and size-capped.

A :class:`ContentDecoder` turns compressed body chunks into decoded bytes as
they arrive (``decode``) and checks at the end that the compressed stream was
complete (``flush``). :func:`build_decoder` reads a ``Content-Encoding`` value
and returns the decoder, or chain of decoders, for it.

Every decoder is bounded twice, because a response body is hostile input:

* one zlib or brotli call yields at most :data:`DECODE_STEP_SIZE` bytes, so a
  small input chunk cannot inflate in one go before the cap is checked;
* the decoded total is checked against ``max_size`` after every step, so no
  more than ``max_size`` plus one step is ever held.

Reading the body off the connection, and ``Transfer-Encoding``, live in the
connection and protocol layers; this module only sees the body's bytes.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import brotli

from aiosonic.exceptions import QUOTE_LIMIT, DecompressionError

__all__ = [
    "DECODE_STEP_SIZE",
    "MAX_CONTENT_ENCODINGS",
    "MAX_DECOMPRESSED_SIZE",
    "SUPPORTED_ENCODINGS",
    "BrotliDecoder",
    "ContentDecoder",
    "DecodeLimits",
    "DeflateDecoder",
    "GzipDecoder",
    "IdentityDecoder",
    "MultiDecoder",
    "accept_encoding_value",
    "build_decoder",
]

#: Default cap, in bytes, on one body's decoded size. It is what a body read
#: whole with ``content()`` may cost in memory: 100 MiB is far above any API
#: payload, the same default as the published aiosonic, and deflate's best
#: ratio (~1:1030) means an attacker needs only ~100 KiB of input to reach it.
#: Bulk downloads raise it per client (``TCPConnector(max_decompressed_size=...)``)
#: or per decoder (``build_decoder(..., max_size=...)``).
MAX_DECOMPRESSED_SIZE = 100 * 1024 * 1024

#: Most codings one ``Content-Encoding`` may chain. Real servers apply one;
#: five leaves room for odd proxies, while each extra layer costs a full
#: decompressor (32 KiB zlib window, up to 16 MiB brotli window) per response.
#: Settable per client: ``TCPConnector(max_content_encodings=...)``.
MAX_CONTENT_ENCODINGS = 5

#: Most bytes one zlib/brotli call may yield before the cap is checked again.
#: 64 KiB bounds the overshoot past ``max_size`` and keeps the per-call Python
#: overhead negligible (a 10 MiB body takes ~160 steps).
DECODE_STEP_SIZE = 64 * 1024

#: Codings we decode, in the order we advertise them.
SUPPORTED_ENCODINGS: tuple[str, ...] = ("gzip", "deflate", "br")


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """The bounds one response's decoders run under.

    The connector has the same two attributes; this value replaces it when a
    client or a request sets its own ``max_decompressed_size``.

    Attributes:
        max_decompressed_size: Most bytes one body may decode to.
        max_content_encodings: Most codings one ``Content-Encoding`` may chain.
    """

    max_decompressed_size: int = MAX_DECOMPRESSED_SIZE
    max_content_encodings: int = MAX_CONTENT_ENCODINGS


# RFC 1952 §2.3.1: every gzip member starts with ID1 ID2 = 0x1f 0x8b.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


def accept_encoding_value() -> str:
    """Return the ``Accept-Encoding`` value sent by default: ``"gzip, deflate, br"``."""
    return ", ".join(SUPPORTED_ENCODINGS)


class ContentDecoder(ABC):
    """Decode one content-coding of a response body, chunk by chunk."""

    @abstractmethod
    def decode(self, data: bytes) -> bytes:
        """Decode the next chunk of the body.

        Args:
            data: The next encoded bytes; may be empty.

        Returns:
            The decoded bytes this chunk completed; may be empty.

        Raises:
            DecompressionError: The data is corrupt or the decoded size passed
                the decoder's cap.
        """

    @abstractmethod
    def flush(self) -> bytes:
        """Finish decoding at the end of the body.

        Returns:
            Any decoded bytes still held back.

        Raises:
            DecompressionError: The encoded stream stopped before its end.
        """


class IdentityDecoder(ContentDecoder):
    """Pass bytes through unchanged: the ``identity`` coding.

    It applies no cap, since nothing is inflated; the size of a plain body is
    bounded by whoever reads it.
    """

    def decode(self, data: bytes) -> bytes:
        """Return ``data`` unchanged."""
        return data

    def flush(self) -> bytes:
        """Return nothing: identity holds no state."""
        return b""


class _CappedDecoder(ContentDecoder):
    """Shared accounting: decoded size against ``max_size``, and bytes fed.

    Args:
        max_size: Most decoded bytes the body may yield.
    """

    #: The coding's name, as used in error messages.
    coding: ClassVar[str]

    def __init__(self, max_size: int = MAX_DECOMPRESSED_SIZE) -> None:
        self.max_size = max_size
        self._decoded = 0
        # Encoded bytes received so far, the chunk being decoded included.
        self._fed = 0

    def _count(self, chunk: bytes) -> None:
        """Add ``chunk`` to the decoded total; raise once it passes the cap."""
        self._decoded += len(chunk)
        if self._decoded > self.max_size:
            raise DecompressionError(
                f"{self.coding} body decodes past max_size={self.max_size} bytes "
                f"(within the first {self._fed} encoded bytes); raise max_size "
                "(TCPConnector's max_decompressed_size) to accept it"
            )

    def _corrupt(self, what: str) -> DecompressionError:
        """Build the error for a bad stream, saying where it went wrong."""
        return DecompressionError(
            f"invalid {self.coding} data within the first {self._fed} encoded bytes: {what}"
        )

    def _truncated(self) -> DecompressionError:
        """Build the error for a stream that ended early."""
        return DecompressionError(
            f"truncated {self.coding} body: the stream had not ended "
            f"after {self._fed} encoded bytes"
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} [{self._fed} in, {self._decoded} out, "
            f"max_size={self.max_size}]>"
        )


class _ZlibDecoder(_CappedDecoder):
    """Drive a zlib ``decompressobj`` in bounded steps.

    Subclasses choose the window bits and what to do with bytes found after
    the end of a stream.
    """

    def __init__(self, max_size: int = MAX_DECOMPRESSED_SIZE) -> None:
        super().__init__(max_size)
        self._inflater: zlib._Decompress | None = None

    def _inflate(self, data: bytes, out: list[bytes]) -> bytes:
        """Feed ``data`` to the current inflater, appending output to ``out``.

        Returns:
            The bytes found after the end of the stream (``unused_data``).
        """
        inflater = self._inflater
        assert inflater is not None
        try:
            chunk = inflater.decompress(data, DECODE_STEP_SIZE)
            self._count(chunk)
            out.append(chunk)
            # A full step may leave output pending even with no input left. At the
            # end of the stream nothing is pending; CPython may then keep the bytes
            # after it in unconsumed_tail as well as unused_data, and decoding
            # that tail again yields nothing and never empties it: stop there.
            while not inflater.eof and (inflater.unconsumed_tail or len(chunk) == DECODE_STEP_SIZE):
                chunk = inflater.decompress(inflater.unconsumed_tail, DECODE_STEP_SIZE)
                if not chunk and not inflater.unconsumed_tail:
                    break
                self._count(chunk)
                out.append(chunk)
        except zlib.error as exc:
            raise self._corrupt(str(exc)) from exc
        return inflater.unused_data if inflater.eof else b""


class GzipDecoder(_ZlibDecoder):
    """Decode ``Content-Encoding: gzip`` (RFC 1952), capped at ``max_size``.

    Concatenated members are decoded one after the other, as RFC 1952 §2.2
    defines a gzip stream as a series of members. NUL bytes after a member are
    skipped, like gzip(1) does for padded files. Any other trailing bytes must
    start a valid member, otherwise they raise :class:`DecompressionError`
    instead of being dropped silently.

    Args:
        max_size: Most decoded bytes the body may yield.
    """

    coding = "gzip"

    def __init__(self, max_size: int = MAX_DECOMPRESSED_SIZE) -> None:
        super().__init__(max_size)
        self._in_member = False
        self._members = 0

    def decode(self, data: bytes) -> bytes:
        """Decode the next chunk; see :meth:`ContentDecoder.decode`."""
        self._fed += len(data)
        out: list[bytes] = []
        while data:
            if not self._in_member:
                if self._members:
                    data = data.lstrip(b"\x00")  # padding after a member
                    if not data:
                        break
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
                self._in_member = True
            data = self._inflate(data, out)
            if self._inflater is not None and self._inflater.eof:
                self._in_member = False
                self._members += 1
        return b"".join(out)

    def flush(self) -> bytes:
        """Check the last member finished; see :meth:`ContentDecoder.flush`."""
        if self._in_member:
            raise self._truncated()
        return b""


class DeflateDecoder(_ZlibDecoder):
    """Decode ``Content-Encoding: deflate``, zlib-wrapped or raw, capped at ``max_size``.

    RFC 9110 §8.4.1.2 means the zlib format (RFC 1950), but some servers send
    bare RFC 1951 data. The first two bytes decide: a valid zlib header (CM=8,
    window <= 32 KiB, header check divisible by 31) selects zlib, anything else
    raw deflate. A raw stream can pass that check only if it opens with a
    non-final stored block whose padding bits are not zero (RFC 1951 §3.2.3-4:
    Huffman blocks set bit 1 or 2 of the first byte), and encoders pad with
    zeros, so the guess is safe in practice.
    Bytes after the end of the stream raise :class:`DecompressionError`.

    Args:
        max_size: Most decoded bytes the body may yield.
    """

    coding = "deflate"

    def __init__(self, max_size: int = MAX_DECOMPRESSED_SIZE) -> None:
        super().__init__(max_size)
        # Bytes held until the two that identify the format have arrived.
        self._head = b""

    def decode(self, data: bytes) -> bytes:
        """Decode the next chunk; see :meth:`ContentDecoder.decode`."""
        self._fed += len(data)
        if self._inflater is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = b""
            self._inflater = zlib.decompressobj(
                _ZLIB_WBITS if _has_zlib_header(data) else _RAW_DEFLATE_WBITS
            )
        elif self._inflater.eof and data:
            raise self._corrupt(f"{len(data)} bytes after the end of the stream")
        out: list[bytes] = []
        rest = self._inflate(data, out)
        if rest:
            raise self._corrupt(f"{len(rest)} bytes after the end of the stream")
        return b"".join(out)

    def flush(self) -> bytes:
        """Check the stream finished; see :meth:`ContentDecoder.flush`."""
        if self._inflater is None and not self._head:
            return b""  # an empty body: nothing was encoded
        if self._inflater is None or not self._inflater.eof:
            raise self._truncated()
        return b""


def _has_zlib_header(data: bytes) -> bool:
    """Tell whether ``data`` starts with an RFC 1950 §2.2 zlib header."""
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


class BrotliDecoder(_CappedDecoder):
    """Decode ``Content-Encoding: br`` (RFC 7932), capped at ``max_size``.

    Bytes after the end of the stream raise :class:`DecompressionError`.

    Args:
        max_size: Most decoded bytes the body may yield.
    """

    coding = "br"

    def __init__(self, max_size: int = MAX_DECOMPRESSED_SIZE) -> None:
        super().__init__(max_size)
        self._decompressor = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        """Decode the next chunk; see :meth:`ContentDecoder.decode`."""
        if not data:
            return b""
        self._fed += len(data)
        decompressor = self._decompressor
        if decompressor.is_finished():
            raise self._corrupt(f"{len(data)} bytes after the end of the stream")
        out: list[bytes] = []
        try:
            chunk: bytes = decompressor.process(data, output_buffer_limit=DECODE_STEP_SIZE)
            self._count(chunk)
            out.append(chunk)
            # A step that reached the limit may hold output back, and brotli then
            # takes only empty input until it is drained; can_accept_more_data()
            # alone does not report output pending once all input is consumed.
            while len(chunk) >= DECODE_STEP_SIZE or not decompressor.can_accept_more_data():
                chunk = decompressor.process(b"", output_buffer_limit=DECODE_STEP_SIZE)
                if not chunk:
                    break  # no progress: the next call with data reports the error
                self._count(chunk)
                out.append(chunk)
        except brotli.error as exc:
            raise self._corrupt(str(exc)) from exc
        return b"".join(out)

    def flush(self) -> bytes:
        """Check the stream finished; see :meth:`ContentDecoder.flush`."""
        if self._fed and not self._decompressor.is_finished():
            raise self._truncated()
        return b""


class MultiDecoder(ContentDecoder):
    """Undo a chain of codings, last applied first.

    Args:
        decoders: One decoder per coding, in the order the codings appear
            in ``Content-Encoding`` (the order they were applied).
    """

    def __init__(self, decoders: Sequence[ContentDecoder]) -> None:
        # RFC 9110 §8.4: codings are listed in the order they were applied.
        self._decoders = tuple(reversed(decoders))

    def decode(self, data: bytes) -> bytes:
        """Run ``data`` through every decoder; see :meth:`ContentDecoder.decode`."""
        for decoder in self._decoders:
            data = decoder.decode(data)
        return data

    def flush(self) -> bytes:
        """Flush each decoder into the next; see :meth:`ContentDecoder.flush`."""
        data = b""
        for decoder in self._decoders:
            # What the previous stage released at its end is this stage's last input.
            head = decoder.decode(data) if data else b""
            data = head + decoder.flush()
        return data

    def __repr__(self) -> str:
        return f"<MultiDecoder {list(self._decoders)!r}>"


def _decoder_factory(coding: str) -> Callable[[int], ContentDecoder] | None:
    """Return the constructor for a canonical coding name, or ``None``."""
    match coding:
        case "gzip" | "x-gzip":  # RFC 9110 §8.4.1.3: x-gzip is gzip
            return GzipDecoder
        case "deflate":
            return DeflateDecoder
        case "br":
            return BrotliDecoder
    return None


def build_decoder(
    content_encoding: str | None,
    max_size: int = MAX_DECOMPRESSED_SIZE,
    max_encodings: int = MAX_CONTENT_ENCODINGS,
) -> ContentDecoder | None:
    """Return the decoder for a ``Content-Encoding`` value.

    The value is a comma-separated list, matched case-insensitively with
    surrounding whitespace ignored; ``identity`` and empty items are skipped
    and ``x-gzip`` means ``gzip``. An unknown coding raises rather than
    passing the body through: handing still-encoded bytes to the caller as if
    they were the content would corrupt it silently. Callers that want the
    raw bytes should not decode at all.

    Args:
        content_encoding: The header value, or ``None`` when absent.
        max_size: Most decoded bytes the body may yield; applied to every
            stage of a chain.
        max_encodings: Most codings the value may chain (``identity`` not
            counted).

    Returns:
        A decoder, a :class:`MultiDecoder` for several codings, or ``None``
        when there is nothing to decode.

    Raises:
        DecompressionError: A coding is not supported, or more than
            ``max_encodings`` codings are chained.
    """
    if not content_encoding:
        return None
    codings = [item.strip().lower() for item in content_encoding.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return None
    if len(codings) > max_encodings:
        raise DecompressionError(
            f"Content-Encoding chains {len(codings)} codings, more than "
            f"max_content_encodings={max_encodings}: "
            f"{content_encoding[:QUOTE_LIMIT]!r}"
        )
    decoders: list[ContentDecoder] = []
    for coding in codings:
        factory = _decoder_factory(coding)
        if factory is None:
            raise DecompressionError(
                f"unsupported content-coding {coding[:QUOTE_LIMIT]!r} in Content-Encoding "
                f"{content_encoding[:QUOTE_LIMIT]!r}; supported: {accept_encoding_value()}"
            )
        decoders.append(factory(max_size))
    return decoders[0] if len(decoders) == 1 else MultiDecoder(decoders)
