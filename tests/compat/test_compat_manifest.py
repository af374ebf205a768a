"""Hold our package to the API of the published aiosonic releases.

The manifests in ``tests/compat/manifest/`` (written by ``make_manifest.py``)
list, per published release, every public module and module-level name, and
for each class its constructor, methods and attributes. This test imports OUR
``aiosonic.<module>`` for each of them and checks that:

* the module imports and the name exists at the same path;
* a class is a class, a function is callable, a re-exported name is the same
  object as ours at its origin (else it is checked like the original);
* every call the published signature accepts binds against ours: the test
  builds the calls (required arguments only, each positional prefix, every
  keyword by name, extra ``*args``) and ``inspect.Signature.bind``\\s them,
  and a positional parameter keeps its name at its index;
* a coroutine function stays awaitable and a sync one stays sync, an async
  generator or async context manager stays usable with ``async for``/``with``;
* properties, class attributes and the attributes ``__init__`` sets still exist;
* a class still derives from our version of each published in-package base.

What we deliberately change, and what is not implemented yet, is listed in
``docs/compat_differences.csv`` (rendered in ``docs/migrating.rst``). A problem
listed there passes; a listed entry whose problem is gone fails, so the table
shrinks as the work lands. Nothing here touches the network.
"""

from __future__ import annotations

import ast
import builtins
import csv
import functools
import importlib
import inspect
import json
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
MANIFEST_DIR = HERE / "manifest"
DIFFERENCES = HERE.parents[1] / "docs" / "compat_differences.csv"
ISSUE_HINT = "add it, or list it with a reason in docs/compat_differences.csv"

# Problem kinds; the table's ``kind`` column uses the same words.
MISSING = "missing"
SIGNATURE = "signature"
BASE_CLASS = "base class"
BEHAVIOUR = "behaviour"
KINDS = {MISSING, SIGNATURE, BASE_CLASS, BEHAVIOUR}


def _version_key(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))


MANIFESTS: dict[str, dict[str, Any]] = {
    m["release"]: m
    for m in (json.loads(p.read_text()) for p in sorted(MANIFEST_DIR.glob("aiosonic-*.json")))
}
RELEASES = sorted(MANIFESTS, key=_version_key)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Difference:
    """One row of docs/compat_differences.csv."""

    releases: tuple[str, ...]
    spec: str
    name: str
    kind: str
    reason: str
    line: int


def _expand_releases(spec: str, line: int) -> tuple[str, ...]:
    """Turn ``all``, ``1.3.3`` or ``0.30.1..1.3.3`` (inclusive) into manifest releases."""
    if spec == "all":
        return tuple(RELEASES)
    low, _, high = spec.partition("..")
    high = high or low
    for bound in (low, high):
        if bound not in MANIFESTS:
            raise ValueError(
                f"docs/compat_differences.csv line {line}: no manifest for release {bound!r}"
            )
    return tuple(r for r in RELEASES if _version_key(low) <= _version_key(r) <= _version_key(high))


def load_differences() -> list[Difference]:
    """Read the table; malformed rows fail loudly with their line number."""
    rows = []
    with DIFFERENCES.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header != ["release", "name", "kind", "reason"]:
            raise ValueError(f"docs/compat_differences.csv: unexpected header {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 4 or row[2] not in KINDS or not row[3].strip():
                raise ValueError(f"docs/compat_differences.csv line {line}: bad row {row}")
            rows.append(
                Difference(_expand_releases(row[0], line), row[0], row[1], row[2], row[3], line)
            )
    return rows


DIFFS = load_differences()


def _index_differences() -> dict[tuple[str, str, str], list[Difference]]:
    index: dict[tuple[str, str, str], list[Difference]] = {}
    for diff in DIFFS:
        for release in diff.releases:
            index.setdefault((release, diff.kind, diff.name), []).append(diff)
    return index


_DIFF_INDEX = _index_differences()


def covering(release: str, name: str, kind: str) -> list[Difference]:
    """Return the table rows that excuse problem ``kind`` of ``name`` in ``release``."""
    rows = list(_DIFF_INDEX.get((release, kind, name), ()))
    if kind == MISSING:
        parts = name.split(".")
        for cut in range(1, len(parts)):
            rows += _DIFF_INDEX.get((release, kind, ".".join(parts[:cut])), ())
    return rows


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One incompatibility: where, which kind, and what exactly."""

    name: str
    kind: str
    message: str


def _fmt_call(args: tuple[str, ...], kwargs: dict[str, str]) -> str:
    return "(" + ", ".join([*args, *(f"{k}={v}" for k, v in kwargs.items())]) + ")"


def published_calls(params: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], dict[str, str]]]:
    """List calls the published signature accepts, as (positional, keyword) argument names.

    Values are placeholders named after the parameter, since only binding is checked.
    """
    # A parameter whose name starts with "_" is private by convention: callers
    # pass it by position only, so its name is not part of the contract.
    params = [
        {**p, "kind": "POSITIONAL_ONLY"}
        if p["kind"] == "POSITIONAL_OR_KEYWORD" and p["name"].startswith("_")
        else p
        for p in params
    ]
    positional = [p for p in params if p["kind"] in {"POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD"}]
    keyword_only = [p for p in params if p["kind"] == "KEYWORD_ONLY"]
    has_varargs = any(p["kind"] == "VAR_POSITIONAL" for p in params)
    required_kw = {p["name"]: p["name"] for p in keyword_only if not p["has_default"]}
    n_required = sum(1 for p in positional if not p["has_default"])
    calls = []
    for count in range(n_required, len(positional) + 1):
        calls.append((tuple(p["name"] for p in positional[:count]), dict(required_kw)))
    if has_varargs:
        every = tuple(p["name"] for p in positional)
        calls.append(((*every, "extra1", "extra2"), dict(required_kw)))
    # Every keyword-able parameter by name (positional-only ones stay positional).
    by_position = tuple(p["name"] for p in positional if p["kind"] == "POSITIONAL_ONLY")
    by_name = {
        p["name"]: p["name"] for p in [*positional, *keyword_only] if p["kind"] != "POSITIONAL_ONLY"
    }
    calls.append((by_position, by_name))
    # Required only, by keyword.
    required_by_name = {
        p["name"]: p["name"]
        for p in positional
        if p["kind"] != "POSITIONAL_ONLY" and not p["has_default"]
    }
    calls.append((by_position, {**required_by_name, **required_kw}))
    unique = []
    for call in calls:
        if call not in unique:
            unique.append(call)
    return unique


def signature_problems(
    name: str, params: list[dict[str, Any]], ours: inspect.Signature
) -> list[Problem]:
    """Bind every published call against our signature; report the ones that fail."""
    problems = []
    # Binding by position cannot see a parameter that moved: f(a, b) binds
    # against ours f(b, a) too. So each published positional-or-keyword
    # parameter must keep its name at its index (unless ours takes *args there).
    ours_params = list(ours.parameters.values())
    for index, param in enumerate(params):
        if param["kind"] != "POSITIONAL_OR_KEYWORD" or param["name"].startswith("_"):
            continue
        mine = ours_params[index] if index < len(ours_params) else None
        if mine is None or mine.kind is inspect.Parameter.VAR_POSITIONAL:
            break  # binding reports a missing slot; *args takes any position
        if mine.name != param["name"] and mine.kind is not inspect.Parameter.KEYWORD_ONLY:
            problems.append(
                Problem(
                    name,
                    SIGNATURE,
                    f"published {name} has {param['name']!r} at position {index}; "
                    f"ours has {mine.name!r} there ({ours})",
                )
            )
    for args, kwargs in published_calls(params):
        try:
            ours.bind(*args, **kwargs)
        except TypeError as exc:
            problems.append(
                Problem(
                    name,
                    SIGNATURE,
                    f"published call {name}{_fmt_call(args, kwargs)} fails on ours {ours}: {exc}",
                )
            )
    if any(p["kind"] == "VAR_KEYWORD" for p in params) and not any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in ours.parameters.values()
    ):
        problems.append(
            Problem(name, SIGNATURE, f"published {name} takes **kwargs, ours {ours} does not")
        )
    return problems


def _unwrap(func: Any) -> Any:
    return inspect.unwrap(func) if callable(func) else func


def call_form_problems(name: str, call: str, ours: Any) -> list[Problem]:
    """Check that awaiting, iterating or entering the result works as published."""
    func = _unwrap(ours)
    is_coro = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(ours)
    is_agen = inspect.isasyncgenfunction(func)
    if call == "coroutine" and not is_coro:
        return [
            Problem(
                name, SIGNATURE, f"published {name} is a coroutine function (awaited); ours is not"
            )
        ]
    if call in {"sync", "generator", "context_manager"} and (is_coro or is_agen):
        return [
            Problem(name, SIGNATURE, f"published {name} is synchronous ({call}); ours is async")
        ]
    if call in {"async_generator", "async_context_manager"} and is_coro:
        return [
            Problem(
                name,
                SIGNATURE,
                f"published {name} is used with `async {call}`; ours is a coroutine",
            )
        ]
    return []


@functools.cache
def _init_assignments(klass: type) -> frozenset[str]:
    """Return the ``self.x`` names the ``__init__`` of ``klass`` itself assigns."""
    init = klass.__dict__.get("__init__")
    if not isinstance(init, types.FunctionType):
        return frozenset()
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError):
        return frozenset()
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and isinstance(node.ctx, ast.Store)
        ):
            names.add(node.attr)
    return frozenset(names)


def _static_lookup(klass: type, attr: str) -> tuple[bool, Any]:
    for base in klass.__mro__:
        if attr in base.__dict__:
            return True, base.__dict__[attr]
    return False, None


def attribute_problems(
    qual: str, klass: type, attr: str, *, settable: bool, what: str
) -> list[Problem]:
    """Check an attribute read on instances: property, class value, slot or set in ``__init__``.

    Building instances of every class would need servers and loops, so the
    evidence is static: a descriptor or value on the class, an annotation or a
    ``__slots__`` entry, or an assignment to ``self.<attr>`` in an ``__init__``.
    """
    name = f"{qual}.{attr}"
    found, raw = _static_lookup(klass, attr)
    if found:
        if isinstance(raw, (types.FunctionType, staticmethod, classmethod)):
            return [Problem(name, SIGNATURE, f"published {what} {name} is now a method in ours")]
        if settable and isinstance(raw, property) and raw.fset is None:
            return [
                Problem(name, SIGNATURE, f"published {name} can be set; our property has no setter")
            ]
        return []
    for base in klass.__mro__:
        if attr in getattr(base, "__annotations__", {}) or attr in getattr(base, "__slots__", ()):
            return []
        if attr in _init_assignments(base):
            return []
    return [Problem(name, MISSING, f"published {what} {name} does not exist in ours")]


def method_problems(qual: str, klass: type, method: str, entry: dict[str, Any]) -> list[Problem]:
    """Check one published method against ours: exists, same binding, same calls."""
    name = f"{qual}.{method}"
    found, raw = _static_lookup(klass, method)
    if not found:
        return [Problem(name, MISSING, f"published method {name} does not exist in ours")]
    if isinstance(raw, (property, functools.cached_property)):
        return [Problem(name, SIGNATURE, f"published method {name} is a property in ours")]
    if isinstance(raw, staticmethod):
        func, drop_first = raw.__func__, False
    elif isinstance(raw, classmethod):
        func, drop_first = raw.__func__, True
    elif isinstance(raw, types.FunctionType):
        func, drop_first = raw, entry.get("binding") != "static"
        if entry.get("binding") == "static":
            return [
                Problem(
                    name, SIGNATURE, f"published {name} is a staticmethod; ours needs an instance"
                )
            ]
    elif callable(raw):
        func, drop_first = getattr(klass, method), False
    else:
        return [
            Problem(
                name,
                SIGNATURE,
                f"published method {name} is not callable in ours ({type(raw).__name__})",
            )
        ]
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    if drop_first:
        sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    return [
        *signature_problems(name, entry["params"], sig),
        *call_form_problems(name, entry["call"], func),
    ]


def class_problems(release: str, qual: str, ours: Any, entry: dict[str, Any]) -> list[Problem]:
    """Check a published class: bases, constructor, methods, attributes."""
    if not isinstance(ours, type):
        return [
            Problem(qual, SIGNATURE, f"published {qual} is a class; ours is {type(ours).__name__}")
        ]
    problems = []
    module = qual.rsplit(".", 1)[0]
    for base in entry["bases"]:
        target = _resolve_published_base(release, module, base)
        if target is None:
            continue
        if not issubclass(ours, target):
            problems.append(
                Problem(
                    qual,
                    BASE_CLASS,
                    f"published {qual} derives from {base}; ours does not ({ours.__mro__})",
                )
            )
    if entry["init"] is not None:
        try:
            sig = inspect.signature(ours)
        except (TypeError, ValueError):
            sig = None
        if sig is not None:
            problems += signature_problems(qual, entry["init"]["params"], sig)
    for method, method_entry in entry["methods"].items():
        problems += method_problems(qual, ours, method, method_entry)
    for prop, prop_entry in entry["properties"].items():
        problems += attribute_problems(
            qual, ours, prop, settable=prop_entry["settable"], what="property"
        )
    for attr in entry["instance_attributes"]:
        # Published code set these in __init__ for its own use and for reading;
        # reading is the promise, so a read-only property in ours is fine.
        problems += attribute_problems(qual, ours, attr, settable=False, what="attribute")
    for attr in entry["class_attributes"]:
        if not hasattr(ours, attr):
            problems.append(
                Problem(
                    f"{qual}.{attr}", MISSING, f"published class attribute {qual}.{attr} is missing"
                )
            )
    for dunder in entry["dunders"]:
        if not hasattr(ours, dunder):
            problems.append(
                Problem(
                    f"{qual}.{dunder}", MISSING, f"published {qual}.{dunder} is missing in ours"
                )
            )
    return problems


def _resolve_published_base(release: str, module: str, base: str) -> type | None:
    """Return our class for a published base written as ``base`` in ``module``, if we have it."""
    base = base.split("[")[0]
    if "." not in base and isinstance(getattr(builtins, base, None), type):
        return getattr(builtins, base)  # type: ignore[no-any-return]
    names = MANIFESTS[release]["modules"].get(module, {}).get("names", {})
    entry = names.get(base)
    if entry is None or not entry.get("internal", entry["kind"] == "class"):
        return None
    origin_module, origin_name = (
        (entry["from"], entry["name"]) if entry["kind"] == "import" else (module, base)
    )
    ours = _our_object(origin_module, origin_name)
    return ours if isinstance(ours, type) else None


_ABSENT = object()


@functools.cache
def _our_module(module: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return None


def _our_object(module: str, name: str) -> Any:
    mod = _our_module(module)
    return _ABSENT if mod is None else getattr(mod, name, _ABSENT)


def _published_entry(release: str, module: str, name: str) -> dict[str, Any] | None:
    return MANIFESTS[release]["modules"].get(module, {}).get("names", {}).get(name)


def name_problems(release: str, module: str, name: str, entry: dict[str, Any]) -> list[Problem]:
    """Check one published module-level name against ours.

    A name the published module re-exported is checked against the published
    definition; its problems are reported under the definition's name (so one
    table row covers every path it was re-exported at), unless it is ours that
    is missing at this path.
    """
    qual = f"{module}.{name}"
    if _our_module(module) is None:
        return [Problem(module, MISSING, f"published module {module} does not exist in ours")]
    ours = _our_object(module, name)
    if ours is _ABSENT:
        return [Problem(qual, MISSING, f"published {qual} does not exist in ours")]
    kind = entry["kind"]
    if kind == "import":
        origin = _published_entry(release, entry["from"], entry["name"])
        if origin is None:
            return []
        if _our_object(entry["from"], entry["name"]) is ours:
            return []  # the same object is checked where it is defined
        entry, kind, qual = origin, origin["kind"], f"{entry['from']}.{entry['name']}"
    if kind == "module_import":
        if not isinstance(ours, types.ModuleType):
            return [
                Problem(
                    qual, SIGNATURE, f"published {qual} is a module; ours is {type(ours).__name__}"
                )
            ]
        return []
    if kind == "class":
        return class_problems(release, qual, ours, entry)
    if kind == "function":
        if not callable(ours):
            return [
                Problem(
                    qual,
                    SIGNATURE,
                    f"published {qual} is a function; ours is {type(ours).__name__}",
                )
            ]
        try:
            sig = inspect.signature(ours)
        except (TypeError, ValueError):
            return []
        return [
            *signature_problems(qual, entry["params"], sig),
            *call_form_problems(qual, entry["call"], ours),
        ]
    return []  # a variable: existing is all we can promise


# --------------------------------------------------------------------------- cases


def _is_checked(entry: dict[str, Any]) -> bool:
    """Skip names a module merely imported from elsewhere (``asyncio``, ``Optional``)."""
    if entry["kind"] in {"import", "module_import"}:
        return bool(entry.get("internal") or entry.get("alias"))
    return True


@functools.cache
def _problems_for(module: str, name: str, release: str) -> tuple[Problem, ...]:
    """Return the problems of one module (``name=""``) or one module-level name in one release."""
    if not name:
        if _our_module(module) is None:
            return (Problem(module, MISSING, f"published module {module} does not exist in ours"),)
        return ()
    entry = MANIFESTS[release]["modules"][module]["names"][name]
    return tuple(name_problems(release, module, name, entry))


def _published_modules() -> list[str]:
    return sorted({module for manifest in MANIFESTS.values() for module in manifest["modules"]})


@pytest.mark.parametrize("module", _published_modules())
def test_published_module(module: str) -> None:
    """Each published name of the module exists in ours and takes the same use, or is listed.

    One case per module rather than per name: a case per name was ~600 cases
    and pytest's own per-case cost alone took seconds. The failure lists each
    unexcused problem on its own line, with the releases it shows in.
    """
    shown: dict[Problem, list[str]] = {}
    for release in RELEASES:
        info = MANIFESTS[release]["modules"].get(module)
        if info is None:
            continue
        names = ["", *(n for n, e in info["names"].items() if _is_checked(e))]
        for name in names:
            for problem in _problems_for(module, name, release):
                if not covering(release, problem.name, problem.kind):
                    shown.setdefault(problem, []).append(release)
    lines = [
        f"{p.message} [{p.kind}; releases {_span(r)}]"
        for p, r in sorted(shown.items(), key=_by_name)
    ]
    assert not lines, f"{len(lines)} published name(s) broken; {ISSUE_HINT}:\n" + "\n".join(lines)


def _by_name(item: tuple[Problem, list[str]]) -> tuple[str, str]:
    return item[0].name, item[0].message


def _span(releases: list[str]) -> str:
    """Write releases compactly: runs of consecutive manifests as ``a..b``."""
    indexes = [RELEASES.index(r) for r in releases]
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ", ".join(
        RELEASES[r[0]] if len(r) == 1 else f"{RELEASES[r[0]]}..{RELEASES[r[-1]]}" for r in runs
    )


@functools.cache
def _release_problems(release: str) -> tuple[Problem, ...]:
    """Return every problem of one release (each module and checked name)."""
    problems: list[Problem] = []
    for module, info in MANIFESTS[release]["modules"].items():
        problems += _problems_for(module, "", release)
        for name, entry in info["names"].items():
            if _is_checked(entry):
                problems += _problems_for(module, name, release)
    return tuple(problems)


@functools.cache
def _rows_in_use(release: str) -> frozenset[int]:
    """Return the lines of the table rows that excuse a problem of this release."""
    return frozenset(
        d.line for p in _release_problems(release) for d in covering(release, p.name, p.kind)
    )


@functools.cache
def _published_targets(release: str) -> frozenset[str]:
    """Return every module, module prefix, name and class member a release publishes."""
    targets: set[str] = set()
    for module, info in MANIFESTS[release]["modules"].items():
        parts = module.split(".")
        targets.update(".".join(parts[:cut]) for cut in range(1, len(parts) + 1))
        for name, entry in info["names"].items():
            qual = f"{module}.{name}"
            targets.add(qual)
            if entry["kind"] == "class":
                members = [*entry["methods"], *entry["properties"]]
                members += [
                    *entry["instance_attributes"],
                    *entry["class_attributes"],
                    *entry["dunders"],
                ]
                targets.update(f"{qual}.{member}" for member in members)
    return frozenset(targets)


def _row_problems(diff: Difference) -> tuple[list[str], list[str]]:
    """Return (releases that publish the row's name, releases where its problem still shows)."""
    published = [r for r in diff.releases if diff.name in _published_targets(r)]
    current = [r for r in diff.releases if diff.line in _rows_in_use(r)]
    return published, current


def test_difference_rows_are_current() -> None:
    """Every row names a published name, and a missing/signature row still describes ours.

    A row whose problem is gone (the name now exists and is compatible) must be
    removed, so the table shrinks as the work lands. ``behaviour`` and
    ``base class`` rows document what we changed on purpose (a base class we
    added, a bug we fixed); for them only the name is checked. A base class
    that ours LOST is a problem the checker reports, and a ``base class`` row
    is what excuses it.
    """
    lines = []
    seen: set[tuple[str, str, str]] = set()
    for diff in DIFFS:
        where = f"docs/compat_differences.csv line {diff.line}"
        if (diff.spec, diff.name, diff.kind) in seen:
            lines.append(f"{where}: duplicate row for {diff.name} ({diff.kind}) in {diff.spec}")
        seen.add((diff.spec, diff.name, diff.kind))
        published, current = _row_problems(diff)
        if not published:
            lines.append(f"{where}: {diff.name} is not published in {diff.spec}")
            continue
        if diff.kind in {BEHAVIOUR, BASE_CLASS}:
            continue
        stale = [r for r in published if r not in current]
        if stale:
            lines.append(
                f"{where}: {diff.name} ({diff.kind}) is compatible now in {_span(stale)}: "
                "remove the row (or narrow its release range)"
            )
    assert not lines, "\n".join(lines)


# --------------------------------------------------------------------------- the checker itself


def _params_of(func: Any) -> list[dict[str, Any]]:
    """Describe a toy function the way make_manifest.py records a published one."""
    import make_manifest  # beside this file; only these checks need it

    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    node = tree.body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return make_manifest.function_entry(node)["params"]  # type: ignore[no-any-return]


def _published(url, method="GET", *, headers=None): ...  # type: ignore[no-untyped-def]


def _ours_same(url: str, method: str = "GET", *, headers: Any = None, extra: int = 0) -> None: ...
def _ours_required_extra(url: str, method: str = "GET", *, headers: Any = None, x: int) -> None: ...
def _ours_renamed(url: str, verb: str = "GET", *, headers: Any = None) -> None: ...
def _ours_kwonly_method(url: str, *, method: str = "GET", headers: Any = None) -> None: ...
def _ours_required_method(url: str, method: str, *, headers: Any = None) -> None: ...
def _ours_catch_all(*args: Any, **kwargs: Any) -> None: ...


@pytest.mark.parametrize(
    ("ours", "broken"),
    [
        (_ours_same, False),  # adding an optional parameter is fine
        (_ours_catch_all, False),
        (_ours_required_extra, True),  # adding a required one breaks old calls
        (_ours_renamed, True),  # method= by name no longer binds
        (_ours_kwonly_method, True),  # f(url, "POST") no longer binds
        (_ours_required_method, True),  # f(url) no longer binds
    ],
)
def test_checker_binds_published_calls(ours: Any, broken: bool) -> None:
    """The signature check fails exactly when a call the published one accepted stops binding."""
    problems = signature_problems("f", _params_of(_published), inspect.signature(ours))
    assert bool(problems) is broken, problems


async def _coroutine() -> None: ...


async def _agen() -> Any:
    yield 1


def test_checker_keeps_async_and_sync_apart() -> None:
    """An awaited coroutine function must stay one; a sync function must not become async."""
    assert call_form_problems("f", "coroutine", _coroutine) == []
    assert call_form_problems("f", "coroutine", _ours_same) != []
    assert call_form_problems("f", "sync", _coroutine) != []
    assert call_form_problems("f", "async_generator", _agen) == []
    assert call_form_problems("f", "async_generator", _coroutine) != []


def test_checker_attribute_evidence() -> None:
    """An attribute counts if it is a property, a class value, annotated, or set in __init__."""

    class Ours:
        declared: int
        constant = 1

        def __init__(self) -> None:
            self.assigned = 1

        @property
        def readonly(self) -> int:
            return 1

        def method(self) -> int:
            return 1

    def check(attr: str, settable: bool = False) -> list[Problem]:
        return attribute_problems("m.Ours", Ours, attr, settable=settable, what="property")

    assert check("declared") == check("constant") == check("assigned") == check("readonly") == []
    assert [p.kind for p in check("absent")] == [MISSING]
    assert [p.kind for p in check("method")] == [SIGNATURE]  # a property that became a method
    assert [p.kind for p in check("readonly", settable=True)] == [SIGNATURE]
