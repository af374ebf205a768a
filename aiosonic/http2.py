"""The published import path of the HTTP/2 settings: ``aiosonic.http2.Http2Config``.

The HTTP/2 driver, and :class:`Http2Config` with it, live in
:mod:`aiosonic.drivers.http2`; the published package had them in this module.
Nothing else lives here.
"""

from __future__ import annotations

from aiosonic.drivers.http2 import Http2Config

__all__ = ["Http2Config"]
