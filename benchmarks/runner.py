"""Runs the client scripts, round after round, and checks what they did (stdlib only).

Each run is one client process (pinned with taskset) that prints one JSON record; this
module adds what the client cannot know itself: the CPU other processes used meanwhile
(ForeignCpu) and, for uploads, whether nginx really received every byte (UploadLog).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scenarios import BIG_LEN, CLIENT_SCRIPTS, Row

CLIENTS_DIR = Path(__file__).resolve().parent / "clients"

Runs = dict[str, dict[str, list[dict[str, Any]]]]  # client -> row key -> one record per round


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


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
    """The command line of one client run; taskset pins every thread of the process."""
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

    total busy time of all CPUs (/proc/stat) minus the client's (RUSAGE_CHILDREN: all
    threads of the waited-for client process) and nginx's (/proc/<pid>/stat of the
    master and its workers; and the WebSocket echo server's), as a share of the CPUs'
    capacity over the run's wall time.
    Other engineers' test suites show up here.
    """

    def __init__(self, nginx_pid: int, server_pids: tuple[int, ...] = ()) -> None:
        self.nginx_pid = nginx_pid
        self.server_pids = {p for p in (nginx_pid, *server_pids) if p}
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
            if int(entry) in self.server_pids or int(rest[1]) in self.server_pids:
                total += int(rest[11]) + int(rest[12])  # utime, stime
        return total / self.tick

    def _sample(self) -> tuple[float, float, float, float] | None:
        try:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            nginx = self._nginx_s() if self.server_pids else 0.0
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


def _scenario_args(args: argparse.Namespace, row: Row) -> tuple[list[str], float]:
    """The client script's arguments for ``row``, and its measured seconds (at most)."""
    if row.ws:
        extra = [
            "--scenario", row.scenario,
            "--url", args.ws_url.rstrip("/") + row.path,
            "--concurrency", str(row.concurrency),
            "--loop", row.loop,
            "--warmup", str(args.ws_warmup),
            "--max-seconds", str(args.max_seconds),
            "--duration", str(args.ws_duration),
        ]  # fmt: skip
        return extra, args.ws_duration
    base = args.tls_url if row.tls else args.base_url
    extra = [
        "--scenario", row.scenario,
        "--url", base.rstrip("/") + row.path,
        "--concurrency", str(row.concurrency),
        "--loop", row.loop,
        "--warmup", str(args.warmup),
        "--max-seconds", str(args.max_seconds),
    ]  # fmt: skip
    if row.tls:
        extra += ["--ca", args.tls_ca]
    if row.cold:
        extra += ["--iterations", str(args.cold_iterations), "--duration", str(args.cold_seconds)]
        return extra, args.cold_seconds
    if row.big and args.big_requests:
        return [*extra, "--requests", str(args.big_requests)], args.max_seconds
    measured = args.big_duration if row.big else args.duration
    return [*extra, "--duration", str(measured)], measured


def _log_record(rnd: int, rounds: int, row: Row, name: str, record: dict[str, Any]) -> None:
    head = f"round {rnd}/{rounds} {row.key:<20} {name:<13}"
    if not record.get("ok"):
        log(f"{head} FAILED: {record.get('error')}")
        return
    other = record["foreign_cpu_share"]
    tail = f"  (other processes: {other:.0%} CPU)" if other is not None else ""
    if row.cold:
        log(
            f"{head} {record['iter_ms_mean']:>7.2f} ms/iter mean "
            f"{record['iter_ms_p50']:>7.2f} p50 {record['cpu_ms_per_iter']:>6.2f} CPU ms/iter "
            f"({record['iterations']} iter, HTTP/{record.get('http_version')}){tail}"
        )
        return
    cpu = record.get("cpu_us_per_req") or 0.0
    if row.ws:
        log(
            f"{head} {record['req_per_s']:>10,.1f} msg/s  {record['mib_per_s']:>7,.1f} MiB/s"
            f"  {cpu:>9,.1f} CPU µs/msg{tail}"
        )
        return
    unit = "MiB/s" if row.big else "req/s"
    value = record["mib_per_s"] if row.big else record["req_per_s"]
    log(
        f"{head} {value:>10,.1f} {unit}  {cpu:>9,.1f} CPU µs/req"
        f"  HTTP/{record.get('http_version')}, {record.get('os_threads')} threads{tail}"
    )


def run_rounds(args: argparse.Namespace, usable: list[str]) -> Runs | None:
    """Every row for every usable client, ``args.rounds`` times, the clients interleaved.

    Returns one record per run (None if nginx died).  A client that failed a row once
    is not run on it again: failures are usually deterministic.
    """
    foreign = ForeignCpu(args.nginx_pid, (args.ws_server_pid,))
    upload_log = UploadLog(args.upload_log)
    raw: Runs = {n: {r.key: [] for r in args.rows} for n in args.client_names}
    for rnd in range(1, args.rounds + 1):
        for row in args.rows:
            for name in usable:
                if name in row.na or any(not r.get("ok") for r in raw[name][row.key]):
                    continue
                if args.nginx_pid and not alive(args.nginx_pid):
                    log(f"ERROR: nginx (pid {args.nginx_pid}) is gone; aborting")
                    return None
                if row.ws and args.ws_server_pid and not alive(args.ws_server_pid):
                    log(f"ERROR: the WebSocket echo server (pid {args.ws_server_pid}) is gone")
                    return None
                extra, measured = _scenario_args(args, row)
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
                _log_record(rnd, args.rounds, row, name, record)
                time.sleep(0.2)
    return raw
