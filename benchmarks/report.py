"""Turns the runs' records into the markdown report: best of the rounds per cell, the
table with ours' ratios, and the header that says how it was measured (stdlib only)."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from scenarios import NA_REASONS, OURS, Row

REPO_DIR = Path(__file__).resolve().parent.parent
NOISY = 0.10  # share of the CPUs used by other processes above which results are flagged

Summary = dict[str, dict[str, dict[str, Any]]]  # client -> row key -> best-of-rounds cell


def git_describe() -> str:
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def label(name: str, info: dict[str, Any], git: str) -> str:
    version = info.get("version") or "?"
    if name == OURS:
        return f"ours {version} ({git})"
    lib = "aiosonic" if name == "aiosonic-pypi" else name
    return f"{lib} {version}"


def short_label(name: str, info: dict[str, Any]) -> str:
    if name == "aiosonic-pypi":
        return f"aiosonic {info.get('version') or '?'}"
    return name


def aggregate(runs: list[dict[str, Any]], row: Row, name: str) -> dict[str, Any]:
    """One cell: the best of the rounds (and why some rounds are missing)."""
    good = [r for r in runs if r.get("ok")]
    failed = [r for r in runs if not r.get("ok")]
    out: dict[str, Any] = {"rounds": len(runs), "failed_rounds": len(failed)}
    if name in row.na:
        out["na"] = NA_REASONS.get((row.scenario, name), "not applicable")
        return out
    if failed:
        out["error"] = failed[0].get("error") or "failed"
    if good and row.cold:
        # Best of the rounds, each metric on its own (lower is better for all three).
        for key in ("iter_ms_mean", "iter_ms_p50", "cpu_ms_per_iter"):
            values = [r[key] for r in good if r.get(key) is not None]
            out[key] = min(values) if values else None
        best = min(good, key=lambda r: r["iter_ms_mean"])
        out["iterations"] = best.get("iterations")
        # Whether the reported (best) run was cut short, not whether any run was.
        out["truncated"] = bool(best.get("truncated"))
    elif good:
        # Best of the rounds: interference from other processes only ever makes a run
        # slower, so the best run is the least disturbed one (as timeit does).
        out["req_per_s"] = max(r["req_per_s"] for r in good)
        out["mib_per_s"] = max(r["mib_per_s"] for r in good)
        best = max(good, key=lambda r: r["req_per_s"])
        cpus = [r["cpu_us_per_req"] for r in good if r.get("cpu_us_per_req") is not None]
        out["cpu_us_per_req"] = min(cpus) if cpus else None
        out["truncated"] = any(r.get("truncated") for r in good)
    if good:
        out["best_run_foreign_cpu_share"] = best.get("foreign_cpu_share")
        out["http_version"] = best.get("http_version")
        out["os_threads"] = best.get("os_threads")
        out["loop"] = best.get("loop")
    return out


def summarize(
    args: argparse.Namespace, infos: dict[str, dict[str, Any]], raw: dict[str, Any]
) -> Summary:
    agg = {n: {r.key: aggregate(raw[n][r.key], r, n) for r in args.rows} for n in args.client_names}
    for name in args.client_names:
        if not infos[name].get("ok"):
            for row in args.rows:
                if not agg[name][row.key].get("na"):
                    agg[name][row.key]["error"] = infos[name].get("error")
    return agg


def _metrics(row: Row) -> list[tuple[str, str, bool]]:
    """(unit, summary key, higher is better) of each table line of ``row``."""
    if row.cold:
        return [
            ("ms/iter, mean", "iter_ms_mean", False),
            ("ms/iter, p50", "iter_ms_p50", False),
            ("CPU ms/iter", "cpu_ms_per_iter", False),
        ]
    if row.ws:
        first = ("MiB/s", "mib_per_s", True) if row.big else ("msg/s", "req_per_s", True)
        return [first, ("CPU µs/msg", "cpu_us_per_req", False)]
    if row.big:
        return [("MiB/s", "mib_per_s", True)]
    return [("req/s", "req_per_s", True), ("CPU µs/req", "cpu_us_per_req", False)]


def fmt_value(value: float, unit: str) -> str:
    if unit in ("req/s", "msg/s"):
        return f"{value:,.0f}"
    if "ms/iter" in unit:
        return f"{value:,.2f}"
    return f"{value:,.1f}"


def build_table(
    args: argparse.Namespace,
    infos: dict[str, dict[str, Any]],
    agg: Summary,
    git: str,
    rows: list[Row],
    notes: list[str],
) -> str:
    """Return the markdown table of ``rows``; its footnotes are added to ``notes``.

    Its columns are the clients at least one of ``rows`` applies to.
    """
    names = [n for n in args.client_names if any(n not in r.na for r in rows)]
    others = [n for n in names if n != OURS] if OURS in names else []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    def cell(name: str, row: Row, key: str, unit: str, first: bool) -> str:
        a = agg[name][row.key]
        if a.get("na"):
            return "n/a " + note(f"{name}, {row.title}: {a['na']}")
        if a.get(key) is None:
            err = a.get("error") or infos[name].get("error") or "no data"
            return "ERROR " + note(f"{name}: {err}")
        text = fmt_value(a[key], unit)
        if not first:  # flags and footnotes go on the row's first line only
            return text
        if (a.get("best_run_foreign_cpu_share") or 0.0) > NOISY:
            text = "~" + text
        if a.get("failed_rounds"):
            text += " " + note(
                f"{name}, {row.title}: {a['failed_rounds']}/{a['rounds']} rounds "
                f"failed ({a.get('error')}); best of the others"
            )
        if a.get("truncated") and row.cold:
            text += " " + note(
                f"{name}, {row.title}: only {a.get('iterations')} of "
                f"{args.cold_iterations} iterations in {args.cold_seconds:g} s"
            )
        elif a.get("truncated"):
            text += " " + note(
                f"{name}, {row.title}: stopped after {args.max_seconds:g}s, "
                f"before {args.big_requests} requests"
            )
        return text

    def ratio(other: str, row: Row, key: str, higher_better: bool) -> str:
        if agg[other][row.key].get("na"):
            return "n/a"
        ours, theirs = agg[OURS][row.key].get(key), agg[other][row.key].get(key)
        if not ours or not theirs:
            return "-"
        return f"{(ours / theirs if higher_better else theirs / ours):.2f}x"

    header = ["scenario", "metric", *(label(n, infos[n], git) for n in names)]
    header += [f"ours vs {short_label(n, infos[n])}" for n in others]
    lines: list[list[str]] = []
    for row in rows:
        for i, (unit, key, higher_better) in enumerate(_metrics(row)):
            cells = [row.title, unit]
            cells += [cell(n, row, key, unit, first=i == 0) for n in names]
            cells += [ratio(n, row, key, higher_better) for n in others]
            lines.append(cells)

    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join(
        "-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
    ) + "|"  # fmt: skip
    return "\n".join([fmt(header), sep, *(fmt(r) for r in lines)])


def render(
    args: argparse.Namespace,
    infos: dict[str, dict[str, Any]],
    agg: Summary,
    *,
    git: str,
    started: str,
    python: str,
    busy: float | None,
) -> str:
    """The whole report: how it was measured, the table, its footnotes."""
    notes: list[str] = []
    http_rows = [r for r in args.rows if not r.ws]
    ws_rows = [r for r in args.rows if r.ws]
    tables = [
        build_table(args, infos, agg, git, rows, notes) for rows in (http_rows, ws_rows) if rows
    ]
    table = "\n\n".join(tables)
    noisy = busy is not None and busy > NOISY
    big = (
        f"{args.big_requests} sequential requests"
        if args.big_requests
        else f"{args.big_duration:g} s of sequential requests"
    )
    versions = ", ".join(label(n, infos[n], git) for n in args.client_names)
    pin = f"taskset -c {args.client_cpu} (all threads)" if args.client_cpu else "not pinned"
    uvloop = next((i["uvloop"] for i in infos.values() if i.get("uvloop")), "?")
    loops = "asyncio's default event loop for every client"
    if any(r.loop == "uvloop" for r in args.rows):
        loops += f", except the `uvloop:` rows: uvloop {uvloop} for every client"
    lines = [
        f"# aiosonic benchmark — {started}",
        "",
        f"- Clients: {versions}",
        f"- Python {python} ({platform.python_implementation()}); {loops}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} CPUs), Linux {platform.release()}",
        f"- Server: nginx {args.nginx_version or '?'} on 127.0.0.1, 1 worker pinned to CPU 0, "
        f"keep-alive; clients {pin}",
        f"- Each cell: best of {args.rounds} run(s), each a fresh process with "
        f"{args.warmup:g} s warm-up, then {args.duration:g} s measured (100 B) or {big} "
        "(10 MiB); CPU = getrusage user+sys of the whole client process, all its threads "
        "(wreq's and pyreqwest's tokio threads included)",
    ]
    if any(r.tls for r in args.rows):
        lines.append(
            "- HTTPS rows: nginx's TLS port (P-256 certificate from a throw-away CA); the "
            "Python clients trust the CA through their own "
            "`ssl.create_default_context(cafile=CA)`, wreq through `tls_verify=Path(CA)`, "
            "pyreqwest through `add_root_certificate_pem(PEM)`; the HTTP version of every "
            "response is checked (HTTP/2 in the HTTP/2 rows, HTTP/1.1 everywhere else)"
        )
    if any(r.cold for r in args.rows):
        lines.append(
            "- cold HTTPS: per iteration a new client (and its TLS set-up), one GET over a new "
            f"TLS connection, close; {args.cold_iterations} iterations timed (at most "
            f"{args.cold_seconds:g} s) after the warm-up; lower is better"
        )
    if ws_rows:
        lines.append(
            "- WebSocket rows: an aiohttp.web echo server on uvloop "
            "(benchmarks/ws_echo_server.py), pinned like nginx; per connection one message "
            "in flight (send, await the echo, "
            f"compare); C connections opened before {args.ws_warmup:g} s of warm-up, then "
            f"{args.ws_duration:g} s measured; no compression; MiB/s counts 1 MiB per round "
            "trip (it goes both ways)"
        )
    lines += [
        "- CPU used by other processes during the runs (mean): "
        + (f"{busy:.0%}" if busy is not None else "unknown")
        + (" — **NOISY: the machine was busy, numbers are unreliable**" if noisy else ""),
        "- Ratios are ours' advantage: >1.00x means ours is better (higher throughput, "
        "or fewer client CPU µs per request, or other's ms / ours' ms for cold HTTPS)",
    ]
    if "| ~" in table or " ~" in table:
        lines.append(
            f"- `~`: even the best run of that cell had over {NOISY:.0%} of the CPUs taken by "
            "other processes"
        )
    footnotes = [f"[{i}] {text}" for i, text in enumerate(notes, 1)]
    return "\n".join([*lines, "", table, "", *footnotes]).rstrip() + "\n"
