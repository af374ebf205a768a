"""HPACK coders that reuse the coding of a repeated header block (RFC 7541).

HPACK is stateful: a block's bytes depend on the dynamic table, and coding a
block may change the table. Yet a block whose coding left the table exactly as
it was codes the same way again for as long as the table stays as it is. Over
one connection a client repeats its request header lists, and a server its
response blocks (nginx sends the same block for a resource until its ``date``
changes), so after the first one or two, most blocks are such blocks.
:class:`MemoEncoder` and :class:`MemoDecoder` (subclasses of ``hpack``'s, used
by :class:`~aiosonic.drivers.h2_core.ClientH2Connection`) remember those blocks
and hand their coding back while the table is unchanged, instead of coding field
by field (with a ``logging.debug`` call per field). Anything else goes to
``hpack`` as before, so the bytes on the wire and the decoded fields are exactly
``hpack``'s.

A memo is valid while the table and limits are as they were when its blocks
were coded. In ``hpack`` 4.x (and ``h2`` only uses these) the table changes
in ``encode``/``decode`` and through the size setters, nothing else: the
setters are overridden to clear the memo, and a coding that is not served
from the memo compares the table before and after (``hpack``'s
``HeaderTable.dynamic_entries``, ``maxsize``, ``resized``; entries are only
added at the front, as new tuples, and evicted from the back, so the entry
count and the *identity* of the front entry tell whether the table changed)
and clears the memo if it did. Sans-IO, no asyncio; one memo per coder.
"""

from __future__ import annotations

from typing import Any

import hpack
from hpack.table import HeaderTable

__all__ = ["MAX_MEMO_BLOCKS", "MAX_MEMO_BLOCK_SIZE", "MemoDecoder", "MemoEncoder"]

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
