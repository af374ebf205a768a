"""What `make bench` measures: the clients (table columns) and the rows (stdlib only).

Used by compare.py; the client scripts themselves live in clients/.
"""

from __future__ import annotations

from dataclasses import dataclass

BIG_LEN = 10 * 1024 * 1024

# Column order of the table; "ours" must stay first.  name -> script in clients/.
CLIENT_SCRIPTS = {
    "ours": "aiosonic_client.py",
    "aiosonic-pypi": "aiosonic_client.py",
    "aiohttp": "aiohttp_client.py",
    "httpx": "httpx_client.py",
    "wreq": "wreq_client.py",
    "pyreqwest": "pyreqwest_client.py",
    "websockets": "websockets_client.py",
    "ws-floor": "ws_floor_client.py",
}
OURS = "ours"
# The clients of the WebSocket rows; the others have no WebSocket client, or (aiosonic
# 1.3.3) are left out to keep `make bench` short.  websockets has no HTTP client, and
# ws-floor is no client: the loop and the socket alone, the bound of the WebSocket rows.
WS_CLIENTS = ("ours", "aiohttp", "websockets", "ws-floor")
WS_ONLY = ("websockets", "ws-floor")
_NOT_WS = tuple(c for c in CLIENT_SCRIPTS if c not in WS_CLIENTS)


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    scenario: str  # the client scripts' --scenario
    path: str
    concurrency: int
    big: bool = False  # 10 MiB transfers: reported in MiB/s, own duration / request count
    tls: bool = False  # against --tls-url (nginx's TLS port, ALPN h2 + http/1.1)
    cold: bool = False  # new client per request: ms per iteration, lower is better
    loop: str = "asyncio"  # the client scripts' --loop, the same for every client
    na: tuple[str, ...] = WS_ONLY  # clients this row does not apply to
    ws: bool = False  # WebSocket echo against --ws-url: msg/s, own warm-up and duration


_SMALL_C1 = Row("get_small_c1", "GET 100 B, C=1", "get_small", "/small", 1)
_SMALL_C64 = Row("get_small_c64", "GET 100 B, C=64", "get_small", "/small", 64)
_TLS = Row("tls_get_small", "HTTPS/1.1 GET 100 B, C=64", "tls_get_small", "/small", 64, tls=True)
_H2 = Row(
    "h2_get_small", "HTTP/2 GET 100 B, C=64", "h2_get_small", "/small", 64, tls=True,
    na=("aiohttp", *WS_ONLY),
)  # fmt: skip


_NOT_OURS = tuple(name for name in CLIENT_SCRIPTS if name != OURS)


def _on_uvloop(row: Row) -> Row:
    """The same row with every client on uvloop."""
    return Row(
        row.key + "_uvloop", "uvloop: " + row.title, row.scenario, row.path, row.concurrency,
        big=row.big, tls=row.tls, cold=row.cold, loop="uvloop", na=row.na, ws=row.ws,
    )  # fmt: skip


def _ws(key: str, title: str, scenario: str, concurrency: int, big: bool = False) -> Row:
    return Row(key, title, scenario, "/ws", concurrency, big=big, na=_NOT_WS, ws=True)


_WS_ROWS = (
    _ws("ws_text100_c1", "WebSocket echo 100 B, C=1", "ws_text100", 1),
    _ws("ws_text100_c64", "WebSocket echo 100 B, C=64", "ws_text100", 64),
    _ws("ws_bin1m", "WebSocket echo 1 MiB, C=1", "ws_bin1m", 1, big=True),
)


ROWS = [
    _SMALL_C1,
    _SMALL_C64,
    Row("get_10m", "GET 10 MiB, sequential", "get_10m", "/10m", 1, big=True),
    Row("post_10m", "POST 10 MiB, sequential", "post_10m", "/upload", 1, big=True),
    _TLS,
    _H2,
    Row("cold_https", "cold HTTPS GET, new client", "cold_https", "/small", 1, tls=True, cold=True),
    *(_on_uvloop(r) for r in (_SMALL_C1, _SMALL_C64, _TLS, _H2)),
    # Ours only: compare with "GET 100 B, C=64" above (the default backend).
    Row(
        "backend_get_small_c64",
        "GET 100 B, C=64, user-written stream backend",
        "backend_get_small",
        "/small",
        64,
        na=_NOT_OURS,
    ),
    *_WS_ROWS,
    *(_on_uvloop(r) for r in _WS_ROWS),
]
# (scenario, client) -> why that client has no number in rows of that scenario.
NA_REASONS = {
    ("h2_get_small", "aiohttp"): "aiohttp has no HTTP/2 client (not applicable)",
    **{
        ("backend_get_small", name): "aiosonic's own network-backend interface (ours only)"
        for name in _NOT_OURS
    },
}
