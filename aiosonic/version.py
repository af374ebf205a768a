"""The package version: one string, read by setup.cfg and sent in the default User-Agent."""

from __future__ import annotations

__all__ = ["VERSION"]

#: Newer than the last published release (1.3.3), so pins such as
#: ``aiosonic>=0.24`` and ``aiosonic>=1,<2`` accept this package.
VERSION = "1.4.0"
