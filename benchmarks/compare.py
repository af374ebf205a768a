"""Run every client script on every scenario and compare them (stdlib only).

Normally started by run.sh, which provides the nginx server and the client venvs.
Prints a markdown table and writes results/<timestamp>.json and results/latest.md.
The parts: scenarios.py (clients and rows), runner.py (running the client scripts),
report.py (best of the rounds, the table); this file is the command line and the output.

Exit status: 0 when every baseline client (aiosonic from PyPI, aiohttp, httpx, wreq,
pyreqwest) worked, even if ours failed (then a warning is printed); 1 when a baseline
failed, since that means the harness or the machine is broken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from report import NOISY, cpu_model, git_describe, render, summarize
from runner import client_cmd, log, run_json, run_rounds
from scenarios import CLIENT_SCRIPTS, OURS, ROWS

BENCH_DIR = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--base-url", required=True, help="plain HTTP server, e.g. http://127.0.0.1:8080"
    )
    p.add_argument(
        "--tls-url", default="", help="TLS server (ALPN h2 + http/1.1), e.g. https://127.0.0.1:8443"
    )
    p.add_argument(
        "--tls-ca", default=os.environ.get("AIOSONIC_BENCH_TLS_CA", ""),
        help="CA file (PEM) of --tls-url (default: $AIOSONIC_BENCH_TLS_CA)",
    )  # fmt: skip
    p.add_argument("--upload-log", default="", help="nginx log of /upload, to verify bodies")
    p.add_argument("--nginx-version", default="")
    p.add_argument("--nginx-pid", type=int, default=0, help="abort if this process dies")
    p.add_argument(
        "--ws-url", default="",
        help="WebSocket echo server (ws_echo_server.py), e.g. ws://127.0.0.1:8765; "
        "without it the WebSocket rows are left out",
    )  # fmt: skip
    p.add_argument("--ws-server-pid", type=int, default=0, help="abort if this process dies")
    p.add_argument("--ws-warmup", type=float, default=0.5, help="warm-up seconds (WebSocket)")
    p.add_argument("--ws-duration", type=float, default=1.5, help="measured seconds (WebSocket)")
    p.add_argument("--venv", action="append", default=[], metavar="NAME=PYTHON")
    p.add_argument("--clients", default=",".join(CLIENT_SCRIPTS))
    p.add_argument("--scenarios", default=",".join(r.key for r in ROWS))
    p.add_argument("--client-cpu", default="1", help="CPU for taskset -c ('' = no pinning)")
    p.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    p.add_argument("--duration", type=float, default=2.0, help="measured seconds (100 B)")
    p.add_argument("--big-duration", type=float, default=1.5, help="measured seconds (10 MiB)")
    p.add_argument(
        "--big-requests", type=int, default=0,
        help="measure this many 10 MiB requests instead of --big-duration",
    )  # fmt: skip
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    p.add_argument(
        "--cold-iterations", type=int, default=200,
        help="cold_https: timed iterations per run (new client + 1 GET + close each)",
    )  # fmt: skip
    p.add_argument(
        "--cold-seconds", type=float, default=2.0,
        help="cold_https: stop a run's timed iterations after this many seconds",
    )  # fmt: skip
    p.add_argument(
        "--max-seconds", type=float, default=15.0,
        help="per run: cap for --big-requests, and longest wait for any single request",
    )  # fmt: skip
    p.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    args = p.parse_args()
    args.pythons = {}
    for item in args.venv:
        name, sep, python = item.partition("=")
        if not sep or name not in CLIENT_SCRIPTS:
            p.error(f"bad --venv {item!r}")
        args.pythons[name] = python
    args.client_names = [c for c in CLIENT_SCRIPTS if c in args.clients.split(",")]
    unknown = set(args.clients.split(",")) - set(CLIENT_SCRIPTS)
    if unknown or not args.client_names:
        p.error(f"--clients: unknown {sorted(unknown)}; choose from {list(CLIENT_SCRIPTS)}")
    keys = args.scenarios.split(",")
    args.rows = [r for r in ROWS if r.key in keys]
    unknown = set(keys) - {r.key for r in ROWS}
    if unknown or not args.rows:
        p.error(f"--scenarios: unknown {sorted(unknown)}; choose from {[r.key for r in ROWS]}")
    if not args.ws_url and any(r.ws for r in args.rows):
        log("no --ws-url (the echo server did not start?): leaving the WebSocket rows out")
        args.rows = [r for r in args.rows if not r.ws]
        if not args.rows:
            p.error("--scenarios: only WebSocket rows, and no --ws-url")
    # A client none of the chosen rows applies to is not run at all.
    args.client_names = [n for n in args.client_names if any(n not in r.na for r in args.rows)]
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.cold_iterations < 1:
        p.error("--cold-iterations must be >= 1")
    if any(r.tls for r in args.rows) and not (args.tls_url and args.tls_ca):
        p.error("the https scenarios need --tls-url and --tls-ca (run.sh provides both)")
    return args


def client_infos(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each client's --info record (library version, python, uvloop version)."""
    infos: dict[str, dict[str, Any]] = {}
    for name in args.client_names:
        if name not in args.pythons:
            infos[name] = {"ok": False, "error": "venv not available (see run.sh output)"}
        else:
            infos[name] = run_json(client_cmd(args, name, ["--info"]), timeout=120)
        status = infos[name].get("version") if infos[name].get("ok") else infos[name].get("error")
        log(f"{name}: {status}")
    return infos


def main() -> int:
    args = parse_args()
    started = dt.datetime.now(dt.UTC)
    git = git_describe()
    infos = client_infos(args)
    usable = [n for n in args.client_names if infos[n].get("ok")]
    raw = run_rounds(args, usable)
    if raw is None:
        return 1
    agg = summarize(args, infos, raw)

    shares = [
        r["foreign_cpu_share"]
        for per_client in raw.values()
        for runs in per_client.values()
        for r in runs
        if r.get("foreign_cpu_share") is not None
    ]
    busy = statistics.mean(shares) if shares else None
    if busy is not None and busy > NOISY:
        log(f"WARNING: other processes used {busy:.0%} of the CPUs during the runs: noisy numbers")
    py = next(
        (infos[n]["python"] for n in usable if infos[n].get("python")), platform.python_version()
    )
    report = render(
        args, infos, agg,
        git=git, started=started.strftime("%Y-%m-%d %H:%M UTC"), python=py, busy=busy,
    )  # fmt: skip
    print(report)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "started": started.isoformat(),
        "git": git,
        "python": py,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "foreign_cpu_share_mean": busy,
        "nginx_version": args.nginx_version,
        "server": {
            "http": args.base_url,
            "tls_h2": args.tls_url,
            "tls_ca": args.tls_ca,
            "ws_echo": args.ws_url,
        },
        "client_cpu": args.client_cpu,
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "big_duration_s": args.big_duration,
            "big_requests": args.big_requests,
            "max_seconds": args.max_seconds,
            "cold_iterations": args.cold_iterations,
            "cold_seconds": args.cold_seconds,
            "ws_warmup_s": args.ws_warmup,
            "ws_duration_s": args.ws_duration,
        },
        "rows": {r.key: {"title": r.title, "loop": r.loop} for r in args.rows},
        "clients": infos,
        "summary": agg,
        "runs": raw,
        "report_md": report,
    }
    json_path = args.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    json_path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (args.results_dir / "latest.md").write_text(report)
    log(f"wrote {json_path} and {args.results_dir / 'latest.md'}")

    def broken(name: str) -> bool:
        return not infos[name].get("ok") or any(
            agg[name][r.key].get("failed_rounds") or agg[name][r.key].get("error")
            for r in args.rows
        )

    bad_baselines = [n for n in args.client_names if n != OURS and broken(n)]
    if OURS in args.client_names and broken(OURS):
        log("WARNING: our aiosonic failed in at least one scenario (see ERROR cells above)")
    if bad_baselines:
        log(f"ERROR: baseline client(s) failed: {', '.join(bad_baselines)}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
