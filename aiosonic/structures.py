"""``CaseInsensitiveDict``, as the published 1.3 line had it in this module.

A plain mapping whose keys compare without regard to case and keep the
spelling they were last set with. Headers in aiosonic are
:class:`aiosonic.headers.HttpHeaders` (a case-insensitive multidict); this
class is kept for code that imports it from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["CaseInsensitiveDict"]


class CaseInsensitiveDict(MutableMapping[str, Any]):
    """A dict with case-insensitive ``str`` keys.

    ``cid["Accept"] = "a"`` then ``cid["ACCEPT"] == "a"``; iteration yields
    the keys as last set; equality with any mapping ignores key case.

    Args:
        data: A mapping or ``(key, value)`` pairs to start with.
        **kwargs: More items.
    """

    def __init__(
        self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        self._items: dict[str, tuple[str, Any]] = {}
        if data:
            self.update(data)
        if kwargs:
            self.update(kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> Any:
        return self._items[key.lower()][1]

    def __delitem__(self, key: str) -> None:
        del self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def lower_items(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(lower-case key, value)`` pairs."""
        return ((lower, pair[1]) for lower, pair in self._items.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        theirs = other if isinstance(other, CaseInsensitiveDict) else CaseInsensitiveDict(other)
        return dict(self.lower_items()) == dict(theirs.lower_items())

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> CaseInsensitiveDict:
        """Return a shallow copy."""
        return CaseInsensitiveDict(self._items.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"
