"""Write the API manifests of the published aiosonic releases.

Run ``make compat-manifest`` (or this script with ``--help``). For each release
in ``RELEASES`` the script downloads the sdist with pip into a temporary
directory, unpacks it and reads every module of the ``aiosonic`` package with
``ast``. Nothing of the published code is imported or run: the releases depend
on different packages, and importing runs their code.

The result is one JSON file per release in ``tests/compat/manifest/``. It holds
names and signatures only, never code: for each public module its ``__all__``
(when it has one) and its public module-level names; for each name what it is
(class, function, variable, import and where from); for each class its bases
as written, its constructor signature, its methods (parameter names, kinds,
whether each has a default and the default's source text, sync or async),
its properties, class attributes and the attributes ``__init__`` sets.

``tests/compat/test_compat_manifest.py`` checks our package against these files.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tarfile
import tempfile
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RELEASES", "build_manifest", "main"]

# The last patch of each release line the drop-in issue names, plus the last
# of the 0.31 and 1.0 lines so every line a user may pin is covered.
RELEASES = (
    "0.14.1",
    "0.16.2",
    "0.20.1",
    "0.23.1",
    "0.24.0",
    "0.30.1",
    "0.31.1",
    "1.0.5",
    "1.0.8",
    "1.3.3",
)

PACKAGE = "aiosonic"
MANIFEST_DIR = Path(__file__).resolve().parent / "manifest"

# Decorators that change what calling the function gives back.
_PROPERTY_DECORATORS = {"property", "cached_property", "functools.cached_property"}
_WRAPPING_DECORATORS = {
    "asynccontextmanager",
    "contextlib.asynccontextmanager",
    "contextmanager",
    "contextlib.contextmanager",
}
# Exceptions from the standard library whose constructor takes ``*args``.
_EXCEPTION_BASES = {
    "Exception",
    "BaseException",
    "ValueError",
    "TypeError",
    "RuntimeError",
    "OSError",
    "ConnectionError",
    "TimeoutError",
    "asyncio.TimeoutError",
    "KeyError",
}
# Dunders that say nothing about the public surface.
_IGNORED_DUNDERS = {
    "__init__",
    "__post_init__",
    "__del__",
    "__init_subclass__",
    "__class_getitem__",
}


# --------------------------------------------------------------------------- download


def _pip(python: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "pip", *args], capture_output=True, text=True, check=False)


def download_sdist(version: str, dest: Path) -> Path:
    """Download the sdist of one release with pip and return its path.

    Args:
        version: The release, e.g. ``"1.3.3"``.
        dest: Directory the archive goes to.

    Returns:
        The path of the ``.tar.gz``.

    Raises:
        RuntimeError: pip failed even with the fallback build environment.
    """
    args = [
        "download",
        "-q",
        "--no-deps",
        "--no-binary",
        ":all:",
        "-d",
        str(dest),
        f"{PACKAGE}=={version}",
    ]
    done = _pip(sys.executable, args)
    if done.returncode != 0:
        # Old releases (0.14, 0.16) prepare their metadata with a setup.py that
        # needs pkg_resources and bdist_wheel, which pip's isolated build
        # environment no longer provides: retry in a venv that has both.
        builder = dest / "build-venv"
        if not builder.exists():
            venv.create(builder, with_pip=True)
            _pip(str(builder / "bin" / "python"), ["install", "-q", "setuptools<70", "wheel"])
        done = _pip(str(builder / "bin" / "python"), [*args[:1], "--no-build-isolation", *args[1:]])
    found = sorted(dest.glob(f"{PACKAGE}-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        raise RuntimeError(f"pip could not download {PACKAGE}=={version}: {done.stderr[-2000:]}")
    return found[0]


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack an sdist and return the directory of its ``aiosonic`` package."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    packages = sorted(p.parent for p in dest.glob(f"*/{PACKAGE}/__init__.py"))
    if len(packages) != 1:
        raise RuntimeError(f"expected one {PACKAGE} package in {archive.name}, found {packages}")
    return packages[0]


# --------------------------------------------------------------------------- signatures


def _src(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _param(
    arg: ast.arg, kind: str, default: ast.expr | None = None, has_default: bool = False
) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": arg.arg, "kind": kind, "has_default": has_default}
    if has_default:
        entry["default"] = _src(default)
    return entry


def signature_of(args: ast.arguments) -> list[dict[str, Any]]:
    """Return the parameters of a ``def`` as the manifest records them."""
    params: list[dict[str, Any]] = []
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    for index, arg in enumerate(positional):
        kind = "POSITIONAL_ONLY" if index < len(args.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        if index >= first_default:
            params.append(_param(arg, kind, args.defaults[index - first_default], True))
        else:
            params.append(_param(arg, kind))
    if args.vararg is not None:
        params.append(_param(args.vararg, "VAR_POSITIONAL"))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(_param(arg, "KEYWORD_ONLY", default, default is not None))
    if args.kwarg is not None:
        params.append(_param(args.kwarg, "VAR_KEYWORD"))
    return params


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[str]:
    names = []
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        names.append(ast.unparse(target))
    return names


def _has_yield(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Tell whether the body itself (not a nested def) yields."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(current))
    return False


def function_entry(
    node: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool = False
) -> dict[str, Any]:
    """Describe a function or method: its call form, signature and decorators."""
    decorators = _decorator_names(node)
    is_async = isinstance(node, ast.AsyncFunctionDef)
    yields = _has_yield(node)
    if any(d in _WRAPPING_DECORATORS for d in decorators):
        call = (
            "async_context_manager"
            if any(d.endswith("asynccontextmanager") for d in decorators)
            else "context_manager"
        )
    elif is_async:
        call = "async_generator" if yields else "coroutine"
    else:
        call = "generator" if yields else "sync"
    params = signature_of(node.args)
    binding = None
    if method:
        if "staticmethod" in decorators:
            binding = "static"
        else:
            binding = "class" if "classmethod" in decorators else "instance"
            params = params[1:]  # self / cls
    entry: dict[str, Any] = {"kind": "function", "call": call, "params": params}
    if binding is not None:
        entry["binding"] = binding
    if decorators:
        entry["decorators"] = decorators
    return entry


# --------------------------------------------------------------------------- classes


def _self_attributes(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Return the public ``self.x`` names a method assigns."""
    names: set[str] = set()
    for node in ast.walk(func):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "self"
                    and not sub.attr.startswith("_")
                ):
                    names.add(sub.attr)
    return names


def _dataclass_init(node: ast.ClassDef) -> list[dict[str, Any]]:
    """Build the ``__init__`` parameters ``@dataclass`` derives from the fields."""
    params = []
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        if _src(stmt.annotation) in {"ClassVar", "typing.ClassVar"} or (
            isinstance(stmt.annotation, ast.Subscript)
            and "ClassVar" in ast.unparse(stmt.annotation.value)
        ):
            continue
        arg = ast.arg(arg=stmt.target.id)
        if stmt.value is None:
            params.append(_param(arg, "POSITIONAL_OR_KEYWORD"))
        else:
            params.append(_param(arg, "POSITIONAL_OR_KEYWORD", stmt.value, True))
    return params


def class_entry(node: ast.ClassDef) -> dict[str, Any]:
    """Describe a class as written: bases, constructor and members."""
    decorators = _decorator_names(node)
    methods: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    class_attributes: set[str] = set()
    instance_attributes: set[str] = set()
    dunders: set[str] = set()
    init: dict[str, Any] | None = None
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = _decorator_names(stmt)
            if stmt.name in {"__init__", "__post_init__"}:
                instance_attributes |= _self_attributes(stmt)
            if stmt.name == "__init__":
                init = {
                    "params": function_entry(stmt, method=True)["params"],
                    "defined_by": "__init__",
                }
            elif any(n in _PROPERTY_DECORATORS for n in names):
                properties.setdefault(stmt.name, {"settable": False})
            elif any(n.endswith((".setter", ".deleter")) for n in names):
                properties.setdefault(stmt.name, {"settable": False})["settable"] = True
            elif stmt.name.startswith("__") and stmt.name.endswith("__"):
                if stmt.name not in _IGNORED_DUNDERS:
                    dunders.add(stmt.name)
            elif not stmt.name.startswith("_"):
                methods[stmt.name] = function_entry(stmt, method=True)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name) and not target.id.startswith("_"):
                    class_attributes.add(target.id)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.target.id.startswith("_"):
                continue
            # A bare annotation declares an instance attribute (a dataclass field
            # without a default); only an assigned value lives on the class.
            if stmt.value is None:
                instance_attributes.add(stmt.target.id)
            else:
                class_attributes.add(stmt.target.id)
    if init is None and any(d.split(".")[-1] == "dataclass" for d in decorators):
        init = {"params": _dataclass_init(node), "defined_by": "dataclass"}
    entry: dict[str, Any] = {
        "kind": "class",
        "bases": [ast.unparse(b) for b in node.bases],
        "init": init,
        "methods": methods,
        "properties": properties,
        "class_attributes": sorted(class_attributes),
        "instance_attributes": sorted(instance_attributes - set(properties)),
        "dunders": sorted(dunders),
    }
    if decorators:
        entry["decorators"] = decorators
    return entry


# --------------------------------------------------------------------------- modules


@dataclass
class ModuleScan:
    """What one module defines at module level, before star imports are expanded."""

    name: str
    all: list[str] | None = None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    star_imports: list[str] = field(default_factory=list)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, target] if target else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def _walk_module_body(body: list[ast.stmt]) -> list[ast.stmt]:
    """Flatten the statements that run at import time (``if``/``try`` bodies too)."""
    flat: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.If):
            if _is_type_checking(stmt.test):
                continue
            flat.extend(_walk_module_body(stmt.body))
            flat.extend(_walk_module_body(stmt.orelse))
        elif isinstance(stmt, ast.Try):
            flat.extend(_walk_module_body(stmt.body))
            for handler in stmt.handlers:
                flat.extend(_walk_module_body(handler.body))
            flat.extend(_walk_module_body(stmt.orelse))
            flat.extend(_walk_module_body(stmt.finalbody))
        else:
            flat.append(stmt)
    return flat


def scan_module(name: str, path: Path, is_package: bool) -> ModuleScan:
    """Read the module-level names of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scan = ModuleScan(name)
    for stmt in _walk_module_body(tree.body):
        if isinstance(stmt, ast.ClassDef):
            scan.entries[stmt.name] = class_entry(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scan.entries[stmt.name] = function_entry(stmt)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    scan.entries[alias.asname] = {
                        "kind": "module_import",
                        "from": alias.name,
                        "alias": True,
                    }
                else:
                    top = alias.name.split(".")[0]
                    scan.entries[top] = {"kind": "module_import", "from": top}
        elif isinstance(stmt, ast.ImportFrom):
            origin = stmt.module or ""
            if stmt.level:
                origin = _resolve_relative(name, is_package, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    scan.star_imports.append(origin)
                    continue
                if origin == "__future__":
                    continue
                entry = {"kind": "import", "from": origin, "name": alias.name}
                if alias.asname is not None:
                    # ``import x as y`` (even ``as x``) is how a module says it re-exports.
                    entry["alias"] = True
                scan.entries[alias.asname or alias.name] = entry
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        if sub.id == "__all__" and isinstance(stmt.value, (ast.List, ast.Tuple)):
                            scan.all = [ast.literal_eval(e) for e in stmt.value.elts]
                        elif sub.id != "__all__":
                            value = _src(stmt.value)
                            entry: dict[str, Any] = {"kind": "variable", "value": value}
                            if isinstance(stmt, ast.AnnAssign):
                                entry["annotation"] = _src(stmt.annotation)
                            scan.entries[sub.id] = entry
    return scan


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name == "__version__"


def _exported(scan: ModuleScan, name: str) -> bool:
    return name in scan.all if scan.all is not None else _is_public(name)


def _origin(scans: dict[str, ModuleScan], module: str, name: str, seen: int = 0) -> tuple[str, str]:
    """Follow in-package imports to the module that defines ``name``."""
    scan = scans.get(module)
    if scan is None or seen > 20:
        return module, name
    entry = scan.entries.get(name)
    if entry is not None and entry["kind"] == "import":
        return _origin(scans, entry["from"], entry["name"], seen + 1)
    return module, name


def _expand_stars(scans: dict[str, ModuleScan]) -> None:
    """Add the names ``from m import *`` brings in, in dependency order."""
    done: set[str] = set()

    def expand(module: str) -> None:
        if module in done:
            return
        done.add(module)
        scan = scans[module]
        for source in scan.star_imports:
            if source not in scans:
                continue
            expand(source)
            src = scans[source]
            for name, entry in src.entries.items():
                if _exported(src, name) and name not in scan.entries:
                    if entry["kind"] in {"import", "module_import"}:
                        scan.entries[name] = dict(entry)
                    else:
                        scan.entries[name] = {"kind": "import", "from": source, "name": name}

    for module in list(scans):
        expand(module)


def _inherit(
    scans: dict[str, ModuleScan], module: str, cls: dict[str, Any], depth: int = 0
) -> None:
    """Merge what a class inherits from in-package bases into its entry."""
    for base in cls["bases"]:
        base_module, base_name = _origin(scans, module, base.split("[")[0])
        base_entry = scans.get(base_module, ModuleScan("")).entries.get(base_name)
        if base_entry is None or base_entry["kind"] != "class" or depth > 10:
            if cls["init"] is None and base in _EXCEPTION_BASES:
                cls["init"] = {
                    "params": [{"name": "args", "kind": "VAR_POSITIONAL", "has_default": False}]
                }
                cls["init"]["defined_by"] = base
            continue
        _inherit(scans, base_module, base_entry, depth + 1)
        if cls["init"] is None and base_entry["init"] is not None:
            cls["init"] = {**base_entry["init"], "defined_by": f"{base_module}.{base_name}"}
        for key in ("methods", "properties"):
            for member, value in base_entry[key].items():
                cls[key].setdefault(member, value)
        for key in ("class_attributes", "instance_attributes", "dunders"):
            cls[key] = sorted(set(cls[key]) | set(base_entry[key]))
    cls["instance_attributes"] = sorted(set(cls["instance_attributes"]) - set(cls["properties"]))


def build_manifest(package_dir: Path, version: str) -> dict[str, Any]:
    """Read a published ``aiosonic`` package directory into a manifest dict."""
    scans: dict[str, ModuleScan] = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        scans[".".join(parts)] = scan_module(".".join(parts), path, is_package)
    _expand_stars(scans)
    for module, scan in scans.items():
        for entry in scan.entries.values():
            if entry["kind"] == "class":
                _inherit(scans, module, entry)

    modules: dict[str, Any] = {}
    for module, scan in sorted(scans.items()):
        if any(part.startswith("_") for part in module.split(".")):
            continue
        names: dict[str, Any] = {}
        for name, entry in sorted(scan.entries.items()):
            if not _exported(scan, name):
                continue
            if entry["kind"] == "import" and f"{entry['from']}.{entry['name']}" in scans:
                # ``from aiosonic import http_parser`` binds a submodule.
                entry = {
                    "kind": "module_import",
                    "from": f"{entry['from']}.{entry['name']}",
                    "internal": True,
                }
            elif entry["kind"] == "import":
                origin = _origin(scans, entry["from"], entry["name"])
                entry = {**entry, "from": origin[0], "name": origin[1]}
                entry["internal"] = origin[0] == PACKAGE or origin[0].startswith(PACKAGE + ".")
            elif entry["kind"] == "module_import":
                entry = {**entry, "internal": entry["from"].startswith(PACKAGE)}
            names[name] = entry
        modules[module] = {
            "all": sorted(scan.all) if scan.all is not None else None,
            "names": names,
        }
    return {
        "package": PACKAGE,
        "release": version,
        "generated_by": "tests/compat/make_manifest.py",
        "modules": modules,
    }


def write_manifest(manifest: dict[str, Any], out_dir: Path) -> Path:
    """Write a manifest as sorted, indented JSON so diffs stay readable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{PACKAGE}-{manifest['release']}.json"
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Download each release, read it and write its manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "releases", nargs="*", default=list(RELEASES), help="releases (default: all in RELEASES)"
    )
    parser.add_argument("--out", type=Path, default=MANIFEST_DIR, help="output directory")
    parser.add_argument("--sdist-dir", type=Path, help="use sdists already downloaded here")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aiosonic-compat-") as tmp:
        work = Path(tmp)
        for version in options.releases:
            local = options.sdist_dir / f"{PACKAGE}-{version}.tar.gz" if options.sdist_dir else None
            archive = (
                local if local is not None and local.exists() else download_sdist(version, work)
            )
            package_dir = unpack(archive, work / f"src-{version}")
            path = write_manifest(build_manifest(package_dir, version), options.out)
            print(f"{version}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
