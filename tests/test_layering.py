"""Which module may import which: the layering of docs (STYLE.md), checked on the source.

Imports are read with ``ast``, never by importing, so a rule sees every import
(inside functions and ``if TYPE_CHECKING:`` too) and no import side effect can
hide one. A rule is one line of :data:`RULES`: the files it covers (a path
under the repository; a directory covers every ``.py`` below it), the modules
they must not import (``forbid``), and, optionally, the only ``aiosonic``
modules they may import (``only``). A module name matches itself and everything below it
(``asyncio`` covers ``asyncio.events``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rule:
    """Files under ``where`` import none of ``forbid``, and of aiosonic only ``only``."""

    where: str
    forbid: tuple[str, ...] = ()
    #: The aiosonic modules these files may import; None: any.
    only: tuple[str, ...] | None = None


#: What touches the network or the event loop.
IO = ("asyncio", "socket", "ssl")

RULES = [
    # Sans-IO: bytes in, events out; the errors are the one thing shared with the rest.
    Rule("aiosonic/protocols", forbid=IO, only=("aiosonic.protocols", "aiosonic.exceptions")),
    # The lazy timer: its clock is injected (tests/test_timer.py uses a fake one).
    Rule("aiosonic/timer.py", forbid=IO, only=()),
    # The response holds metadata and a body stream: HTTP/1.1 and HTTP/2 differ
    # only inside the stream, so it knows no driver, no connection, no connector.
    Rule(
        "aiosonic/response.py",
        forbid=("aiosonic.drivers", "aiosonic.connection", "aiosonic.connectors"),
    ),
    # The client sits above the protocols: it hands a request to the connector
    # and gets a response back; leases, drivers and wire formats are below it.
    Rule(
        "aiosonic/client.py",
        forbid=("aiosonic.protocols", "aiosonic.drivers", "aiosonic.connection"),
    ),
    # Retry is policy around "send once": no I/O of its own.
    Rule("aiosonic/retry.py", forbid=IO),
    # Opening a connection is below the connector: it reads the connector's
    # settings through a Protocol and knows no pool, slot or lease.
    Rule(
        "aiosonic/opening.py",
        forbid=("aiosonic.connectors", "aiosonic.pools", "aiosonic.connection", "aiosonic.client"),
    ),
]


def is_under(module: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    """Return the dotted name of the module at ``path`` (under ROOT)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Return ``(line, imported name)`` for every name an import in ``source`` binds.

    ``import x.y`` gives ``x.y``; ``from x import y`` gives ``x.y`` (``y`` may
    be a submodule or a name in ``x``: either way it comes from ``x``).
    Relative imports are resolved against ``module``.
    """
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(rule: Rule, source: str, module: str, is_package: bool = False) -> list[str]:
    """Return what in ``source`` breaks ``rule``, one ``line N: imports X`` each."""
    broken = []
    for line, name in imports(source, module, is_package):
        outside = rule.only is not None and not is_under(name, rule.only)
        if is_under(name, rule.forbid) or (outside and is_under(name, ("aiosonic",))):
            broken.append(f"line {line}: imports {name}")
    return broken


def covered(rule: Rule) -> list[Path]:
    """Return the files ``rule`` covers."""
    target = ROOT / rule.where
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


CASES = [(rule, path) for rule in RULES for path in covered(rule)]


@pytest.mark.parametrize(("rule", "path"), CASES, ids=[str(p.relative_to(ROOT)) for _, p in CASES])
def test_module_keeps_its_layer(rule: Rule, path: Path) -> None:
    broken = violations(
        rule, path.read_text(), module_name(path), is_package=path.name == "__init__.py"
    )
    assert not broken, f"{path.relative_to(ROOT)} breaks {rule}:\n" + "\n".join(broken)


def test_every_rule_covers_files() -> None:
    assert all(covered(rule) and all(p.exists() for p in covered(rule)) for rule in RULES)


PROTOCOLS = RULES[0]
RESPONSE = next(rule for rule in RULES if rule.where == "aiosonic/response.py")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import asyncio\n", ["line 1: imports asyncio"]),
        ("import asyncio.events as e\n", ["line 1: imports asyncio.events"]),
        ("from ssl import SSLContext\n", ["line 1: imports ssl.SSLContext"]),
        ("def f():\n    import socket\n", ["line 2: imports socket"]),
        ("if TYPE_CHECKING:\n    from asyncio import Future\n", ["line 2: imports asyncio.Future"]),
        ("from aiosonic.drivers import http2\n", ["line 1: imports aiosonic.drivers.http2"]),
        ("from aiosonic import connection\n", ["line 1: imports aiosonic.connection"]),
        ("from aiosonic import HTTPClient\n", ["line 1: imports aiosonic.HTTPClient"]),
        ("from ..response import X\n", ["line 1: imports aiosonic.response.X"]),
        ("import aiosonic\n", ["line 1: imports aiosonic"]),
        ("import socketserver\nimport sslx\n", []),  # a prefix of a name is not the name
        ("from aiosonic.exceptions import HttpParsingError\n", []),
        ("from aiosonic import exceptions\n", []),
        ("from aiosonic.protocols import h11_events\n", []),
        ("from .h11_events import Data\nfrom . import h11_buffer\n", []),
    ],
)
def test_checker_finds_each_kind_of_import(source: str, expected: list[str]) -> None:
    assert violations(PROTOCOLS, source, "aiosonic.protocols.example") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from aiosonic.drivers.http11 import HTTP11Driver\n",
            ["line 1: imports aiosonic.drivers.http11.HTTP11Driver"],
        ),
        (
            "from aiosonic.connection import HTTP2Stream\n",
            ["line 1: imports aiosonic.connection.HTTP2Stream"],
        ),
        (
            "if TYPE_CHECKING:\n    from aiosonic.connectors import TCPConnector\n",
            ["line 2: imports aiosonic.connectors.TCPConnector"],
        ),
        ("from aiosonic.decoders import build_decoder\n", []),
        ("from aiosonic.protocols.h11_events import ResponseHead\n", []),
    ],
)
def test_response_rule_finds_driver_and_connection_imports(
    source: str, expected: list[str]
) -> None:
    assert violations(RESPONSE, source, "aiosonic.response") == expected
