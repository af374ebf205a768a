"""Run every client script on every scenario and compare them (stdlib only).

Normally started by run.sh, which provides the nginx server and the client venvs.
Prints a markdown table and writes results/<timestamp>.json and results/latest.md.

Exit status: 0 when every baseline client (aiosonic from PyPI, aiohttp, httpx) worked,
even if ours failed (then a warning is printed); 1 when a baseline failed, since that
means the harness or the machine is broken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CLIENTS_DIR = BENCH_DIR / "clients"
BIG_LEN = 10 * 1024 * 1024

# Column order of the table; "ours" must stay first.
CLIENT_SCRIPTS = {
    "ours": "aiosonic_client.py",
    "aiosonic-pypi": "aiosonic_client.py",
    "aiohttp": "aiohttp_client.py",
    "httpx": "httpx_client.py",
}
OURS = "ours"
NOISY = 0.10  # share of the CPUs used by other processes above which results are flagged


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    scenario: str  # the client scripts' --scenario
    path: str
    concurrency: int
    big: bool  # 10 MiB transfers: reported in MiB/s, own duration / request count
    tls: bool = False  # against --tls-url (nginx's TLS port, ALPN h2 + http/1.1)
    cold: bool = False  # new client per request: ms per iteration, lower is better
    na: tuple[str, ...] = ()  # clients this row does not apply to (see NA_REASONS)


ROWS = [
    Row("get_small_c1", "GET 100 B, C=1", "get_small", "/small", 1, False),
    Row("get_small_c64", "GET 100 B, C=64", "get_small", "/small", 64, False),
    Row("get_10m", "GET 10 MiB, sequential", "get_10m", "/10m", 1, True),
    Row("post_10m", "POST 10 MiB, sequential", "post_10m", "/upload", 1, True),
    Row(
        "tls_get_small", "HTTPS/1.1 GET 100 B, C=64", "tls_get_small", "/small", 64, False, tls=True
    ),
    Row(
        "h2_get_small",
        "HTTP/2 GET 100 B, C=64",
        "h2_get_small",
        "/small",
        64,
        False,
        tls=True,
        na=("aiohttp",),
    ),
    Row(
        "cold_https",
        "cold HTTPS GET, new client",
        "cold_https",
        "/small",
        1,
        False,
        tls=True,
        cold=True,
    ),
]
NA_REASONS = {("h2_get_small", "aiohttp"): "aiohttp has no HTTP/2 client (not applicable)"}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


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
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.cold_iterations < 1:
        p.error("--cold-iterations must be >= 1")
    if any(r.tls for r in args.rows) and not (args.tls_url and args.tls_ca):
        p.error("the https scenarios need --tls-url and --tls-ca (run.sh provides both)")
    return args


def run_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run a client script; return its JSON record, or a synthesized error record."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr or b""
        tail = (err.decode(errors="replace") if isinstance(err, bytes) else err)[-500:]
        return {"ok": False, "error": f"timed out after {timeout:.0f}s", "stderr_tail": tail}
    except OSError as exc:
        return {"ok": False, "error": f"cannot start: {exc}"}
    record: dict[str, Any] | None = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                record = json.loads(line)
                break
            except ValueError:
                pass
    if record is None:
        record = {"ok": False, "error": f"exit code {proc.returncode}, no JSON output"}
    elif proc.returncode != 0 and record.get("ok"):
        record["ok"] = False
        record["error"] = f"exit code {proc.returncode}"
    if proc.stderr.strip():
        record["stderr_tail"] = proc.stderr[-1500:]
    if not record.get("ok") and "stderr_tail" in record and not record.get("error"):
        record["error"] = record["stderr_tail"].strip().splitlines()[-1]
    return record


def client_cmd(args: argparse.Namespace, name: str, extra: list[str]) -> list[str]:
    pin = ["taskset", "-c", args.client_cpu] if args.client_cpu else []
    return [*pin, args.pythons[name], str(CLIENTS_DIR / CLIENT_SCRIPTS[name]), *extra]


class UploadLog:
    """Reads the lines nginx appended to the /upload log since the last call."""

    def __init__(self, path: str) -> None:
        self.path = Path(path) if path else None
        self.offset = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size if self.path else 0
        except FileNotFoundError:
            return 0

    def new_lines(self) -> list[str]:
        if not self.path or not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode(errors="replace").splitlines()

    def verify(self, record: dict[str, Any]) -> None:
        """Check nginx got every byte of each upload the client counted as done."""
        lines = self.new_lines()
        if not self.path:
            return
        complete = 0
        for line in lines:
            parts = line.split()  # status method request_length content_length
            if (
                len(parts) == 4
                and parts[0] == "200"
                and parts[1] == "POST"
                and int(parts[2]) >= BIG_LEN
                and parts[3] == str(BIG_LEN)
            ):
                complete += 1
        claimed = int(record.get("requests_total") or 0)
        record["server_complete_uploads"] = complete
        record["server_logged_uploads"] = len(lines)
        if record.get("ok") and complete < claimed:
            record["ok"] = False
            record["error"] = f"nginx saw {complete} complete uploads, client claims {claimed}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ForeignCpu:
    """CPU time used by processes other than the client and nginx during a run.

    total busy time of all CPUs (/proc/stat) minus the client's (RUSAGE_CHILDREN) and
    nginx's (/proc/<pid>/stat of the master and its workers), as a share of the CPUs'
    capacity over the run's wall time.  Other engineers' test suites show up here.
    """

    def __init__(self, nginx_pid: int) -> None:
        self.nginx_pid = nginx_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def _busy_s(self) -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / self.tick  # minus idle, iowait

    def _nginx_s(self) -> float:
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            rest = stat[stat.rindex(")") + 2 :].split()  # fields after "(comm)"
            if int(entry) == self.nginx_pid or int(rest[1]) == self.nginx_pid:
                total += int(rest[11]) + int(rest[12])  # utime, stime
        return total / self.tick

    def _sample(self) -> tuple[float, float, float, float] | None:
        try:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            nginx = self._nginx_s() if self.nginx_pid else 0.0
            client = children.ru_utime + children.ru_stime
            return time.monotonic(), self._busy_s(), client, nginx
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> None:
        self.before = self._sample()

    def share(self) -> float | None:
        after = self._sample()
        if not self.before or not after:
            return None
        wall = after[0] - self.before[0]
        foreign = (after[1] - self.before[1]) - (after[2] - self.before[2])
        foreign -= after[3] - self.before[3]
        ncpu = os.cpu_count() or 1
        return max(0.0, foreign / (wall * ncpu)) if wall > 0 else None


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
    good = [r for r in runs if r.get("ok")]
    failed = [r for r in runs if not r.get("ok")]
    out: dict[str, Any] = {"rounds": len(runs), "failed_rounds": len(failed)}
    if name in row.na:
        out["na"] = NA_REASONS.get((row.key, name), "not applicable")
        return out
    if failed:
        out["error"] = failed[0].get("error") or "failed"
    if good and row.cold:
        # Best of the rounds, each metric on its own (lower is better for all three).
        for key in ("iter_ms_mean", "iter_ms_p50", "cpu_ms_per_iter"):
            values = [r[key] for r in good if r.get(key) is not None]
            out[key] = min(values) if values else None
        best = min(good, key=lambda r: r["iter_ms_mean"])
        out["best_run_foreign_cpu_share"] = best.get("foreign_cpu_share")
        out["iterations"] = best.get("iterations")
        out["truncated"] = any(r.get("truncated") for r in good)
        out["http_version"] = best.get("http_version")
    elif good:
        # Best of the rounds: interference from other processes only ever makes a run
        # slower, so the best run is the least disturbed one (as timeit does).
        out["req_per_s"] = max(r["req_per_s"] for r in good)
        out["mib_per_s"] = max(r["mib_per_s"] for r in good)
        best = max(good, key=lambda r: r["req_per_s"])
        out["best_run_foreign_cpu_share"] = best.get("foreign_cpu_share")
        cpus = [r["cpu_us_per_req"] for r in good if r.get("cpu_us_per_req") is not None]
        out["cpu_us_per_req"] = min(cpus) if cpus else None
        out["truncated"] = any(r.get("truncated") for r in good)
        out["http_version"] = best.get("http_version")
    return out


def fmt_value(value: float, unit: str) -> str:
    if unit == "req/s":
        return f"{value:,.0f}"
    if "ms" in unit:
        return f"{value:,.2f}"
    return f"{value:,.1f}"


def build_table(
    args: argparse.Namespace,
    infos: dict[str, dict[str, Any]],
    agg: dict[str, dict[str, dict[str, Any]]],
    git: str,
) -> tuple[str, list[str]]:
    """Return the markdown table and its footnotes."""
    names = args.client_names
    others = [n for n in names if n != OURS] if OURS in names else []
    notes: list[str] = []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    header = ["scenario", "metric", *(label(n, infos[n], git) for n in names)]
    header += [f"ours vs {short_label(n, infos[n])}" for n in others]
    lines: list[list[str]] = []
    for row in args.rows:
        metrics = [("req/s", "req_per_s", True)]
        if row.cold:
            metrics = [
                ("ms/iter, mean", "iter_ms_mean", False),
                ("ms/iter, p50", "iter_ms_p50", False),
                ("CPU ms/iter", "cpu_ms_per_iter", False),
            ]
        elif row.big:
            metrics = [("MiB/s", "mib_per_s", True)]
        else:
            metrics.append(("CPU µs/req", "cpu_us_per_req", False))
        for unit, key, higher_better in metrics:
            cells = [row.title, unit]
            values: dict[str, float] = {}
            for name in names:
                a = agg[name][row.key]
                if a.get("na"):
                    cells.append("n/a " + note(f"{name}, {row.title}: {a['na']}"))
                    continue
                if a.get(key) is None:
                    err = a.get("error") or infos[name].get("error") or "no data"
                    cells.append("ERROR " + note(f"{name}: {err}"))
                    continue
                values[name] = a[key]
                cell = fmt_value(a[key], unit)
                if (a.get("best_run_foreign_cpu_share") or 0.0) > NOISY and key == metrics[0][1]:
                    cell = "~" + cell
                if a.get("failed_rounds") and key == metrics[0][1]:
                    cell += " " + note(
                        f"{name}, {row.title}: {a['failed_rounds']}/{a['rounds']} rounds "
                        f"failed ({a.get('error')}); best of the others"
                    )
                if a.get("truncated") and key == metrics[0][1]:
                    if row.cold:
                        text = (
                            f"{name}, {row.title}: only {a.get('iterations')} of "
                            f"{args.cold_iterations} iterations in {args.cold_seconds:g} s"
                        )
                    else:
                        text = (
                            f"{name}, {row.title}: stopped after {args.max_seconds:g}s, "
                            f"before {args.big_requests} requests"
                        )
                    cell += " " + note(text)
                cells.append(cell)
            for other in others:
                if agg[other][row.key].get("na"):
                    cells.append("n/a")
                elif OURS in values and other in values and values[OURS] and values[other]:
                    if higher_better:
                        ratio = values[OURS] / values[other]
                    else:
                        ratio = values[other] / values[OURS]
                    cells.append(f"{ratio:.2f}x")
                else:
                    cells.append("-")
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
    table = "\n".join([fmt(header), sep, *(fmt(r) for r in lines)])
    return table, notes


def main() -> int:
    args = parse_args()
    started = dt.datetime.now(dt.UTC)
    foreign = ForeignCpu(args.nginx_pid)
    git = git_describe()
    upload_log = UploadLog(args.upload_log)

    infos: dict[str, dict[str, Any]] = {}
    for name in args.client_names:
        if name not in args.pythons:
            infos[name] = {"ok": False, "error": "venv not available (see run.sh output)"}
        else:
            infos[name] = run_json(client_cmd(args, name, ["--info"]), timeout=120)
        status = infos[name].get("version") if infos[name].get("ok") else infos[name].get("error")
        log(f"{name}: {status}")
    usable = [n for n in args.client_names if infos[n].get("ok")]

    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        n: {r.key: [] for r in args.rows} for n in args.client_names
    }
    for rnd in range(1, args.rounds + 1):
        for row in args.rows:
            for name in usable:
                if name in row.na:
                    continue
                if any(not r.get("ok") for r in raw[name][row.key]):
                    continue  # failures are usually deterministic: keep the run short
                if args.nginx_pid and not alive(args.nginx_pid):
                    log(f"ERROR: nginx (pid {args.nginx_pid}) is gone; aborting")
                    return 1
                base = args.tls_url if row.tls else args.base_url
                extra = [
                    "--scenario", row.scenario,
                    "--url", base.rstrip("/") + row.path,
                    "--concurrency", str(row.concurrency),
                    "--warmup", str(args.warmup),
                    "--max-seconds", str(args.max_seconds),
                ]  # fmt: skip
                if row.tls:
                    extra += ["--ca", args.tls_ca]
                if row.cold:
                    extra += [
                        "--iterations", str(args.cold_iterations),
                        "--duration", str(args.cold_seconds),
                    ]  # fmt: skip
                    measured = args.cold_seconds
                elif row.big and args.big_requests:
                    extra += ["--requests", str(args.big_requests)]
                    measured = args.max_seconds
                else:
                    measured = args.big_duration if row.big else args.duration
                    extra += ["--duration", str(measured)]
                # warm-up + measuring + 2 request-boundary waits + drain/close + start-up
                timeout = args.warmup + measured + 2 * args.max_seconds + 45
                if row.scenario == "post_10m":
                    upload_log.new_lines()  # skip anything logged before this run
                foreign.start()
                record = run_json(client_cmd(args, name, extra), timeout=timeout)
                record["foreign_cpu_share"] = foreign.share()
                if row.scenario == "post_10m":
                    upload_log.verify(record)
                record["round"] = rnd
                raw[name][row.key].append(record)
                if record.get("ok") and row.cold:
                    other = record["foreign_cpu_share"]
                    log(
                        f"round {rnd}/{args.rounds} {row.key:<13} {name:<13} "
                        f"{record['iter_ms_mean']:>7.2f} ms/iter mean "
                        f"{record['iter_ms_p50']:>7.2f} p50 "
                        f"{record['cpu_ms_per_iter']:>6.2f} CPU ms/iter "
                        f"({record['iterations']} iter, HTTP/{record.get('http_version')})"
                        + (f"  (other processes: {other:.0%} CPU)" if other is not None else "")
                    )
                elif record.get("ok"):
                    unit = "MiB/s" if row.big else "req/s"
                    value = record["mib_per_s"] if row.big else record["req_per_s"]
                    cpu = record.get("cpu_us_per_req") or 0.0
                    other = record["foreign_cpu_share"]
                    log(
                        f"round {rnd}/{args.rounds} {row.key:<13} {name:<13} "
                        f"{value:>10,.1f} {unit}  {cpu:>9,.1f} CPU µs/req"
                        f"  HTTP/{record.get('http_version')}"
                        + (f"  (other processes: {other:.0%} CPU)" if other is not None else "")
                    )
                else:
                    log(f"round {rnd}/{args.rounds} {row.key:<13} {name:<13} FAILED: "
                        f"{record.get('error')}")  # fmt: skip
                time.sleep(0.2)

    agg = {n: {r.key: aggregate(raw[n][r.key], r, n) for r in args.rows} for n in args.client_names}
    for name in args.client_names:
        if not infos[name].get("ok"):
            for row in args.rows:
                if not agg[name][row.key].get("na"):
                    agg[name][row.key]["error"] = infos[name].get("error")

    table, notes = build_table(args, infos, agg, git)
    shares = [
        r["foreign_cpu_share"]
        for per_client in raw.values()
        for runs in per_client.values()
        for r in runs
        if r.get("foreign_cpu_share") is not None
    ]
    busy = statistics.mean(shares) if shares else None
    noisy = busy is not None and busy > NOISY
    if noisy:
        log(f"WARNING: other processes used {busy:.0%} of the CPUs during the runs: noisy numbers")
    big = (
        f"{args.big_requests} sequential requests"
        if args.big_requests
        else f"{args.big_duration:g} s of sequential requests"
    )
    py = next(
        (infos[n]["python"] for n in usable if infos[n].get("python")), platform.python_version()
    )
    versions = ", ".join(label(n, infos[n], git) for n in args.client_names)
    pin = f"taskset -c {args.client_cpu}" if args.client_cpu else "not pinned"
    header_lines = [
        f"# aiosonic benchmark — {started.strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- Clients: {versions}",
        f"- Python {py} ({platform.python_implementation()}), default asyncio event loop "
        "for every client (no uvloop)",
        f"- CPU: {cpu_model()} ({os.cpu_count()} CPUs), Linux {platform.release()}",
        f"- Server: nginx {args.nginx_version or '?'} on 127.0.0.1, 1 worker pinned to CPU 0, "
        f"keep-alive; clients {pin}",
        f"- Each cell: best of {args.rounds} run(s), each a fresh process with "
        f"{args.warmup:g} s warm-up, then {args.duration:g} s measured (100 B) or {big} "
        "(10 MiB); CPU = getrusage user+sys of the client process",
        *(
            [
                "- HTTPS rows: nginx's TLS port (P-256 certificate from a throw-away CA); each "
                "client trusts the CA through its own `ssl.create_default_context(cafile=CA)`; "
                "the HTTP version of every response is checked (HTTP/2 in the HTTP/2 row, "
                "HTTP/1.1 everywhere else)"
            ]
            if any(r.tls for r in args.rows)
            else []
        ),
        *(
            [
                f"- cold HTTPS: per iteration a new client and SSL context, one GET over a new "
                f"TLS connection, close; {args.cold_iterations} iterations timed (at most "
                f"{args.cold_seconds:g} s) after the warm-up; lower is better"
            ]
            if any(r.cold for r in args.rows)
            else []
        ),
        "- CPU used by other processes during the runs (mean): "
        + (f"{busy:.0%}" if busy is not None else "unknown")
        + (" — **NOISY: the machine was busy, numbers are unreliable**" if noisy else ""),
        "- Ratios are ours' advantage: >1.00x means ours is better (higher throughput, "
        "or fewer client CPU µs per request, or other's ms / ours' ms for cold HTTPS)",
        *(
            [
                f"- `~`: even the best run of that cell had over {NOISY:.0%} of the CPUs taken by "
                "other processes"
            ]
            if "| ~" in table or " ~" in table
            else []
        ),
    ]
    footnotes = [f"[{i}] {text}" for i, text in enumerate(notes, 1)]
    report = "\n".join([*header_lines, "", table, "", *footnotes]).rstrip() + "\n"
    print(report)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    result = {
        "started": started.isoformat(),
        "git": git,
        "python": py,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "foreign_cpu_share_mean": busy,
        "nginx_version": args.nginx_version,
        "server": {"http": args.base_url, "tls_h2": args.tls_url, "tls_ca": args.tls_ca},
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
        },
        "clients": infos,
        "summary": agg,
        "runs": raw,
        "report_md": report,
    }
    json_path = args.results_dir / f"{stamp}.json"
    json_path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (args.results_dir / "latest.md").write_text(report)
    log(f"wrote {json_path.relative_to(REPO_DIR)} and {args.results_dir.name}/latest.md")

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
