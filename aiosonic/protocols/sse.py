"""Sans-IO parser of the ``text/event-stream`` format (Server-Sent Events).

The grammar is WHATWG HTML §9.2.5 ("Parsing an event stream") and the rules
of §9.2.6 ("Interpreting an event stream"): bytes go in with
:meth:`EventStreamParser.feed`, finished events come out. Nothing here does
I/O; the reconnecting client that drives it is :mod:`aiosonic.sse_client`.

What lives here: line splitting (CR, LF and CRLF, with a CR at the end of
one read and its LF at the start of the next), the one leading BOM, comments,
the ``data``/``event``/``id``/``retry`` fields, dispatch on a blank line, the
last event ID and the reconnection time a stream sets, and the size limits.
What does not: HTTP, reconnection and waiting (the client's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from aiosonic.exceptions import SSEParsingError, quote_bytes

__all__ = [
    "MAX_EVENT_DATA_SIZE",
    "MAX_LINE_SIZE",
    "MAX_RETRY_DIGITS",
    "EventStreamParser",
    "SSEEvent",
    "SSELimits",
]

# --- limits -----------------------------------------------------------------
# A stream is read as it arrives, for as long as the server likes; these bound
# the memory one hostile or broken stream can make us hold.

#: One line (a field or a comment) before its line end. A single ``data:``
#: line often carries a whole JSON document (LLM streaming APIs send a few
#: hundred bytes each); 1 MiB is far above that and still bounds the buffer.
MAX_LINE_SIZE = 1024 * 1024
#: The ``data`` of one event, every ``data:`` line of it together, held until
#: the blank line that dispatches it. 16 MiB fits any document sent as one
#: event; a stream that never sends the blank line would otherwise grow without end.
MAX_EVENT_DATA_SIZE = 16 * 1024 * 1024
#: Digits of a ``retry:`` value that are read exactly. 18 digits of milliseconds
#: is over 30 million years; longer values are read as that (the client caps
#: the wait anyway) rather than paying for ``int()`` of a huge digit string.
MAX_RETRY_DIGITS = 18

_BOM = b"\xef\xbb\xbf"
_FIELD_DATA, _FIELD_EVENT, _FIELD_ID, _FIELD_RETRY = b"data", b"event", b"id", b"retry"


@dataclass(frozen=True, slots=True)
class SSELimits:
    """Bounds applied to an event stream; pass one to tighten or relax them.

    Args:
        max_line_size: Bytes of one line before its line end.
        max_event_data_size: Bytes of one event's data (its ``data:`` values
            and the line feeds between them).
    """

    max_line_size: int = MAX_LINE_SIZE
    max_event_data_size: int = MAX_EVENT_DATA_SIZE


class SSEEvent(TypedDict):
    """One dispatched event, as the published aiosonic yields it.

    Attributes:
        data: The ``data:`` values joined by line feeds.
        event: The ``event:`` type, or ``None`` for the default type
            ``"message"`` (no ``event:`` field, or an empty one).
        id: The ``id:`` this event's block set (``""`` when it reset the ID),
            or ``None`` when the block had no valid ``id:`` field. The ID the
            stream resumes from is :attr:`EventStreamParser.last_event_id`.
        retry: The ``retry:`` milliseconds this event's block set, or ``None``.
    """

    data: str
    event: str | None
    id: str | None
    retry: int | None


class EventStreamParser:
    """Turn the bytes of one or more event streams into events.

    After a stream ends (or breaks), call :meth:`restart` before feeding the
    next one: the last event ID and the reconnection time carry over, as the
    reconnection of WHATWG HTML §9.2.3 needs.

    Attributes:
        last_event_id: The ID to send as ``Last-Event-ID`` on reconnection:
            the last ``id:`` seen, taken at each dispatch (blank line), even
            of a block without data. ``""`` means none.
        retry: The reconnection time in milliseconds the server set with
            ``retry:``, or ``None`` while it has set none.

    Args:
        limits: Size limits; the defaults if None.
        last_event_id: The ID a new parser starts from (resuming a stream).
    """

    __slots__ = (
        "_at_start",
        "_block_id",
        "_block_retry",
        "_data",
        "_data_size",
        "_event_type",
        "_id_buffer",
        "_limits",
        "_partial",
        "_skip_lf",
        "last_event_id",
        "retry",
    )

    def __init__(self, limits: SSELimits | None = None, last_event_id: str = "") -> None:
        self._limits = limits or SSELimits()
        self.last_event_id = last_event_id
        self.retry: int | None = None
        # The last event ID buffer of §9.2.6: set by ``id:``, read at dispatch.
        self._id_buffer = last_event_id
        self._partial = bytearray()
        self._skip_lf = False
        self._at_start = True
        self._data: list[bytes] = []
        self._data_size = 0
        self._event_type = b""
        self._block_id: str | None = None
        self._block_retry: int | None = None

    def __repr__(self) -> str:
        return (
            f"<EventStreamParser [last_event_id={self.last_event_id!r}, retry={self.retry}, "
            f"pending_data_lines={len(self._data)}, partial_line={len(self._partial)}]>"
        )

    def restart(self) -> None:
        """Start a new stream: drop the unfinished line and event of the last one.

        §9.2.6: at the end of a stream, an event not yet ended by a blank line
        is discarded, and so is an ``id:`` it set: the new stream's ID starts
        from :attr:`last_event_id`, the one sent as ``Last-Event-ID``. The next
        stream may begin with a BOM again.
        """
        self._id_buffer = self.last_event_id
        self._partial.clear()
        self._skip_lf = False
        self._at_start = True
        self._reset_event()

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Parse the next bytes of the stream and return the events they finish.

        Args:
            data: Any slice of the stream: a line may span calls, and so may
                a CRLF or a multi-byte character.

        Returns:
            The events dispatched, in order (empty when no blank line ended one).

        Raises:
            SSEParsingError: A line or an event's data passed its limit.
        """
        if not data:
            return []
        if self._skip_lf:
            # The previous read ended with CR: an LF now is the rest of CRLF.
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if data.find(b"\n") < 0 and data.find(b"\r") < 0:
            self._partial += data
            self._check_partial()
            return []
        if self._partial:
            data = bytes(self._partial) + data
            self._partial.clear()
        lines = data.splitlines(keepends=True)
        last = lines[-1]
        if last[-1:] not in (b"\n", b"\r"):
            self._partial += lines.pop()
            self._check_partial()
        elif last[-1:] == b"\r":
            self._skip_lf = True
        events: list[SSEEvent] = []
        for line in lines:
            # bytes.splitlines splits on CR, LF and CRLF only (never on
            # Unicode separators), which is exactly the event-stream grammar.
            line = line[:-2] if line[-2:] == b"\r\n" else line[:-1]
            if len(line) > self._limits.max_line_size:
                raise self._line_too_long(line)
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    # --- one line ---------------------------------------------------------------

    def _process_line(self, line: bytes) -> SSEEvent | None:
        """Apply one line (its line end removed); return the event it dispatches, if any."""
        if self._at_start:
            self._at_start = False
            if line[:3] == _BOM:  # §9.2.5: one leading BOM is stripped
                line = line[3:]
        if not line:
            return self._dispatch()
        colon = line.find(b":")
        if colon == 0:
            return None  # a comment
        if colon < 0:
            name, value = line, b""  # the whole line names the field
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == _FIELD_DATA:
            self._data_size += len(value) + (1 if self._data else 0)
            if self._data_size > self._limits.max_event_data_size:
                size = self._data_size
                self._reset_event()
                raise SSEParsingError(
                    f"event data longer than max_event_data_size="
                    f"{self._limits.max_event_data_size} bytes ({size} bytes"
                    f" without a blank line)"
                )
            self._data.append(value)
        elif name == _FIELD_EVENT:
            self._event_type = value
        elif name == _FIELD_ID:
            if b"\x00" not in value:  # §9.2.6: an id with NULL is ignored
                self._id_buffer = self._block_id = value.decode("utf-8", "replace")
        elif name == _FIELD_RETRY and value.isdigit():
            # §9.2.6: only ASCII digits (bytes.isdigit); anything else is ignored.
            retry = int(value) if len(value) <= MAX_RETRY_DIGITS else 10**MAX_RETRY_DIGITS - 1
            self.retry = self._block_retry = retry
        # Any other field name is ignored.
        return None

    def _dispatch(self) -> SSEEvent | None:
        """§9.2.6 "dispatch the event": a blank line ended a block."""
        self.last_event_id = self._id_buffer
        if not self._data:
            self._reset_event()
            return None
        event: SSEEvent = {
            "data": b"\n".join(self._data).decode("utf-8", "replace"),
            "event": self._event_type.decode("utf-8", "replace") or None,
            "id": self._block_id,
            "retry": self._block_retry,
        }
        self._reset_event()
        return event

    def _reset_event(self) -> None:
        self._data = []
        self._data_size = 0
        self._event_type = b""
        self._block_id = None
        self._block_retry = None

    # --- limits -----------------------------------------------------------------

    def _check_partial(self) -> None:
        if len(self._partial) > self._limits.max_line_size:
            line = bytes(self._partial)
            self._partial.clear()
            raise self._line_too_long(line, ended=False)

    def _line_too_long(self, line: bytes, *, ended: bool = True) -> SSEParsingError:
        state = f"{len(line)} bytes" if ended else f"{len(line)} bytes and no line end yet"
        return SSEParsingError(
            f"event-stream line longer than max_line_size={self._limits.max_line_size} bytes"
            f" ({state}; starts {quote_bytes(line)})"
        )
