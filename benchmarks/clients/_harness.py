"""Measurement loop shared by the client scripts (stdlib only).

Each client script defines a ``load()`` function that imports its library and returns a
class implementing this small interface (one instance per benchmark run)::

    class Client:
        name: str
        version: str
        def __init__(self, concurrency: int, tls: Tls | None = None) -> None: ...
        async def __aenter__(self) -> Client: ...     # create session/pool (+ SSL context)
        async def __aexit__(self, *exc) -> None: ...    # close it
        async def get(self, url: str) -> tuple[int, bytes, Any]:
            # status, full body, the library's own HTTP version value of the response
        async def post(self, url: str, data: bytes) -> tuple[int, bytes, Any]:

and then calls ``main(load)``.  The script prints exactly one JSON line on stdout.
``tls`` is given for the ``https://`` scenarios: the client creates its SSL context with
``tls.context()`` inside ``__aenter__`` (so it is part of a cold start) and asks for HTTP/2
exactly when ``tls.http2`` is set.  The HTTP version of every response is checked against
the scenario (``"2"`` for h2_get_small, else ``"1.1"``): a mismatch is an error, so no
number is ever labelled with a protocol that was not used.

Measurement: C worker tasks loop over requests for the whole run.  After ``--warmup``
seconds a snapshot (completed requests, bytes, wall clock, ``getrusage`` user+sys) is
taken; the second snapshot is taken after ``--duration`` seconds or once ``--requests``
more requests have completed.  Numbers are the differences between the snapshots, so
connection set-up, imports and warm-up are excluded and the pool stays warm.

``cold_https`` is different: each iteration creates a new client (and SSL context), does
one GET over a new TLS connection and closes the client.  After ``--warmup`` seconds of
such iterations (at least one: imports and lazy initialisation), ``--iterations`` of them
are timed one by one (stopping early after ``--duration`` seconds).

Event loop: ``--loop asyncio`` (default) runs on asyncio's default loop, ``--loop uvloop``
on uvloop's (``uvloop.new_event_loop``); the record's ``loop`` names the loop class that
really ran, and a run on another loop than asked for is an error.

CPU: ``getrusage(RUSAGE_SELF)`` is the whole process, i.e. the CPU time of all its threads
(Linux sums them), so clients that do their I/O on threads of their own (wreq and
pyreqwest run a tokio runtime) are charged for them.  The record also has the main
thread's share (``cpu_main_thread_s``, ``time.thread_time``) and the number of OS threads
at the end of the measured window (``os_threads``), to show where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import ssl
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
SMALL_LEN = 100
BIG_LEN = 10 * MIB
UPLOAD_REPLY = b"ok"
LOOPS = ("asyncio", "uvloop")
# Scenario -> (what is done, TLS?, HTTP/2?).  The https ones need --ca (or the
# AIOSONIC_BENCH_TLS_CA environment variable that run.sh exports).
SCENARIOS = {
    "get_small": ("get_small", False, False),
    "get_10m": ("get_10m", False, False),
    "post_10m": ("post_10m", False, False),
    "tls_get_small": ("get_small", True, False),
    "h2_get_small": ("get_small", True, True),
    "cold_https": ("cold", True, False),
    # Ours only: the same small GET through a user-written (stream-based) network
    # backend, i.e. through aiosonic's stream adapter instead of its own protocol.
    "backend_get_small": ("get_small", False, False),
}


@dataclass(frozen=True)
class Tls:
    """How a client must set up TLS: trust ``ca``; negotiate HTTP/2 iff ``http2``."""

    ca: str
    http2: bool

    def context(self) -> ssl.SSLContext:
        """The SSL context every client uses, created the way a user would."""
        return ssl.create_default_context(cafile=self.ca)


def normalize_version(raw: Any) -> str:
    """``"2"``, ``"1.1"``, ... from each library's own representation.

    aiohttp: ``HttpVersion(major, minor)``; httpx: ``"HTTP/2"``/``"HTTP/1.1"``;
    aiosonic: ``"2"``/``"1.1"``; pyreqwest: ``"HTTP/2.0"``/``"HTTP/1.1"``; wreq: the
    enum ``Version.HTTP_2``/``Version.HTTP_11`` (``str()`` gives ``"Version.HTTP_11"``).
    """
    if isinstance(raw, tuple) and len(raw) >= 2:
        major, minor = int(raw[0]), int(raw[1])
        return "2" if major == 2 else f"{major}.{minor}"
    text = str(raw).strip().upper().removeprefix("HTTP/")
    if text.startswith("VERSION.HTTP_"):  # wreq: HTTP_09, HTTP_10, HTTP_11, HTTP_2, HTTP_3
        digits = text.removeprefix("VERSION.HTTP_")
        text = f"{digits[0]}.{digits[1:]}" if len(digits) == 2 else digits
    return "2" if text in ("2", "2.0") else text


class ProtocolCheck:
    """Checks the HTTP version of every response; cheap after the first good one."""

    __slots__ = ("expected", "good_raw", "hint", "seen")

    def __init__(self, expected: str, hint: str = "") -> None:
        self.expected = expected
        self.hint = hint
        self.good_raw: Any = object()  # the last raw value that was verified
        self.seen: str | None = None

    def __call__(self, raw: Any) -> str | None:
        """None if ``raw`` is the expected version, else an error message."""
        if raw == self.good_raw:
            return None
        version = normalize_version(raw)
        self.seen = version
        if version == self.expected:
            self.good_raw = raw
            return None
        text = f"protocol: response was HTTP/{version} ({raw!r}), expected HTTP/{self.expected}"
        return text + (f" [{self.hint}]" if self.hint else "")


def _cpu_seconds() -> float:
    """User+sys CPU seconds of the whole process: every thread, not just this one."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _os_threads() -> int | None:
    """Threads of this process, as the kernel counts them (Rust runtimes' included)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return f"{type(loop).__module__}.{type(loop).__qualname__}"


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


class _Stats:
    __slots__ = ("done", "errors", "first_error", "nbytes")

    def __init__(self) -> None:
        self.done = 0
        self.errors = 0
        self.nbytes = 0
        self.first_error: str | None = None

    def error(self, text: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = text


def _tls(args: argparse.Namespace) -> Tls | None:
    _, tls, http2 = SCENARIOS[args.scenario]
    return Tls(args.ca, http2) if tls else None


def _protocol_check(client_cls: Any, tls: Tls | None) -> ProtocolCheck:
    if tls is not None and tls.http2:
        return ProtocolCheck("2", getattr(client_cls, "http2_hint", "") or "")
    return ProtocolCheck("1.1")


async def _run(client_cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    stats = _Stats()
    stop = False
    target_reached = asyncio.Event()
    completed = asyncio.Event()
    # Counted from the warm-up snapshot on; None while warming up or in duration mode.
    goal: list[int | None] = [None]
    kind = SCENARIOS[args.scenario][0]
    payload = b"\xa5" * BIG_LEN if kind == "post_10m" else b""
    tls = _tls(args)
    check = _protocol_check(client_cls, tls)

    if hasattr(client_cls, "scenario"):  # a client script that varies by scenario
        client_cls.scenario = args.scenario
    client = await client_cls(args.concurrency, tls).__aenter__()
    close_error = None
    try:
        if kind == "post_10m":

            async def one() -> None:
                status, body, version = await client.post(args.url, payload)
                if status != 200 or body != UPLOAD_REPLY:
                    stats.error(f"status={status} body={body[:40]!r}")
                    return
                wrong = check(version)
                if wrong:
                    stats.error(wrong)
                    return
                stats.done += 1
                stats.nbytes += BIG_LEN

        else:
            expected = SMALL_LEN if kind == "get_small" else BIG_LEN

            async def one() -> None:
                status, body, version = await client.get(args.url)
                if status != 200 or len(body) != expected:
                    stats.error(f"status={status} len={len(body)} expected={expected}")
                    return
                wrong = check(version)
                if wrong:
                    stats.error(wrong)
                    return
                stats.done += 1
                stats.nbytes += expected

        async def worker() -> None:
            while not stop:
                try:
                    await one()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    stats.error(_short(exc))
                    # Never spin without yielding if a client fails synchronously.
                    await asyncio.sleep(0.001)
                completed.set()
                g = goal[0]
                if g is not None and stats.done >= g:
                    target_reached.set()

        async def next_completion() -> bool:
            completed.clear()
            try:
                await asyncio.wait_for(completed.wait(), args.max_seconds)
            except TimeoutError:
                return False
            return True

        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
        try:
            await asyncio.sleep(args.warmup)
            # Start and end measuring at request boundaries (matters for slow sequential
            # requests, where a partial request would otherwise be a visible error).
            stalled = not await next_completion()
            d0, b0, e0, t0, c0 = stats.done, stats.nbytes, stats.errors, loop.time(), _cpu_seconds()
            m0 = time.thread_time()
            warmup_done = d0
            truncated = False
            if stalled:
                # Hung client: do not burn the whole time budget on it.
                stats.error(f"stalled: no request finished within {args.max_seconds:g}s")
            elif args.requests:
                goal[0] = d0 + args.requests
                try:
                    await asyncio.wait_for(target_reached.wait(), args.max_seconds)
                except TimeoutError:
                    truncated = True
            else:
                await asyncio.sleep(args.duration)
                await next_completion()
            d1, b1, e1, t1, c1 = stats.done, stats.nbytes, stats.errors, loop.time(), _cpu_seconds()
            m1, threads = time.thread_time(), _os_threads()
        finally:
            stop = True
            # Let in-flight requests finish (keeps the client's pool consistent), but
            # never wait for a hung client forever.
            _, pending = await asyncio.wait(tasks, timeout=args.drain_timeout)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
    finally:
        # A failure while closing is reported but does not void the measurement.
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), 10)
        except Exception as exc:
            close_error = _short(exc)

    wall = t1 - t0
    requests = d1 - d0
    errors = e1 - e0
    cpu = c1 - c0
    return {
        "scenario": args.scenario,
        "concurrency": args.concurrency,
        "url": args.url,
        "http_version": check.seen,
        "requests": requests,
        "errors": errors,
        "errors_total": stats.errors,
        "first_error": stats.first_error,
        "warmup_requests": warmup_done,
        "requests_total": stats.done,
        "wall_s": round(wall, 6),
        "req_per_s": requests / wall if wall > 0 else 0.0,
        "mib_per_s": (b1 - b0) / MIB / wall if wall > 0 else 0.0,
        "cpu_s": round(cpu, 6),
        "cpu_main_thread_s": round(m1 - m0, 6),
        "os_threads": threads,
        "cpu_us_per_req": cpu * 1e6 / requests if requests else None,
        "cpu_util": cpu / wall if wall > 0 else None,
        "truncated": truncated,
        "close_error": close_error,
        "loop": _loop_name(loop),
    }


async def _run_cold(client_cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    """New client + SSL context, one GET over a new TLS connection, close: per iteration."""
    tls = _tls(args)
    check = _protocol_check(client_cls, tls)
    loop = asyncio.get_running_loop()

    async def once() -> None:
        async with asyncio.timeout(args.max_seconds):
            client = await client_cls(1, tls).__aenter__()
            try:
                status, body, version = await client.get(args.url)
            finally:
                await client.__aexit__(None, None, None)
        if status != 200 or len(body) != SMALL_LEN:
            raise RuntimeError(f"status={status} len={len(body)} expected={SMALL_LEN}")
        wrong = check(version)
        if wrong:
            raise RuntimeError(wrong)

    error: str | None = None
    warmup = 0
    times: list[float] = []
    t0 = t1 = loop.time()
    c0 = c1 = _cpu_seconds()
    m0 = m1 = time.thread_time()
    try:
        deadline = loop.time() + args.warmup
        while True:
            await once()
            warmup += 1
            if loop.time() >= deadline:
                break
        t0, c0, m0 = loop.time(), _cpu_seconds(), time.thread_time()
        while len(times) < args.iterations and (not times or loop.time() - t0 < args.duration):
            started = time.perf_counter()
            await once()
            times.append(time.perf_counter() - started)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = _short(exc)
    t1, c1, m1 = loop.time(), _cpu_seconds(), time.thread_time()
    n = len(times)
    wall, cpu = t1 - t0, c1 - c0
    return {
        "scenario": args.scenario,
        "concurrency": 1,
        "url": args.url,
        "http_version": check.seen,
        "requests": n if error is None else 0,
        "iterations": n,
        "errors": 0 if error is None else 1,
        "errors_total": 0 if error is None else 1,
        "first_error": error,
        "warmup_requests": warmup,
        "requests_total": warmup + n,
        "wall_s": round(wall, 6),
        "req_per_s": n / wall if wall > 0 else 0.0,
        "mib_per_s": 0.0,
        "cpu_s": round(cpu, 6),
        "cpu_main_thread_s": round(m1 - m0, 6),
        "os_threads": _os_threads(),
        "cpu_us_per_req": cpu * 1e6 / n if n else None,
        "cpu_ms_per_iter": cpu * 1e3 / n if n else None,
        "iter_ms_mean": statistics.fmean(times) * 1e3 if n else None,
        "iter_ms_p50": statistics.median(times) * 1e3 if n else None,
        "iter_ms_min": min(times) * 1e3 if n else None,
        "iter_ms_max": max(times) * 1e3 if n else None,
        "cpu_util": cpu / wall if wall > 0 else None,
        "truncated": n < args.iterations,
        "close_error": None,
        "loop": _loop_name(loop),
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="HTTP client benchmark runner (one JSON line out)")
    p.add_argument("--info", action="store_true", help="only print library name/version")
    p.add_argument("--scenario", choices=SCENARIOS)
    p.add_argument("--url")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument(
        "--loop", choices=LOOPS, default="asyncio",
        help="event loop: asyncio's default one, or uvloop's (must be installed)",
    )  # fmt: skip
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    p.add_argument("--requests", type=int, default=0, help="measure N requests instead")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    p.add_argument(
        "--max-seconds", type=float, default=15.0,
        help="cap for --requests mode, and for waiting on any single request",
    )  # fmt: skip
    p.add_argument("--drain-timeout", type=float, default=5.0)
    p.add_argument(
        "--iterations", type=int, default=200,
        help="cold_https: timed iterations (fewer if --duration runs out first)",
    )  # fmt: skip
    p.add_argument(
        "--ca", default=os.environ.get("AIOSONIC_BENCH_TLS_CA", ""),
        help="CA file (PEM) for the https scenarios (default: $AIOSONIC_BENCH_TLS_CA)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if not args.info and (not args.scenario or not args.url):
        p.error("--scenario and --url are required")
    if not args.info and SCENARIOS[args.scenario][1]:
        if not args.url.startswith("https://"):
            p.error(f"--scenario {args.scenario} needs an https:// --url")
        if not args.ca:
            p.error(f"--scenario {args.scenario} needs --ca (or $AIOSONIC_BENCH_TLS_CA)")
    if args.iterations < 1:
        p.error("--iterations must be >= 1")
    if args.concurrency < 1:
        p.error("--concurrency must be >= 1")
    return args


def _dist_version(dist: str | None) -> str | None:
    if not dist:
        return None
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """None (asyncio's default loop) or uvloop's; same for every client."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def main(
    load: Callable[[], Any],
    dist: str | None = None,
    argv: list[str] | None = None,
    *,
    skip_finalization: bool = False,
) -> None:
    """Entry point of a client script; ``dist`` names the distribution to report the
    version of even when importing the library fails.

    ``skip_finalization``: once the record is out, end the process with ``os._exit``
    instead of letting the interpreter finalize, for a library whose own threads can
    crash the finalizing interpreter (pyreqwest 0.15: "Fatal Python error:
    PyGILState_Release" in about one HTTPS run out of three).  The measurement is over
    by then; only the exit code would be lost.
    """
    args = _parse(argv)
    base: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "version": _dist_version(dist),
        "uvloop": _dist_version("uvloop"),
    }
    try:
        client_cls = load()
        base.update(
            client=client_cls.name,
            version=client_cls.version,
            module_path=getattr(client_cls, "module_path", None),
        )
    except Exception as exc:
        _emit({**base, "ok": False, "error": "import/setup failed: " + _short(exc)})
        traceback.print_exc()
        sys.exit(1)
    if args.info:
        _emit({**base, "ok": True})
        return
    try:
        runner = _run_cold if SCENARIOS[args.scenario][0] == "cold" else _run
        with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as loop_runner:
            result = loop_runner.run(runner(client_cls, args))
    except Exception as exc:
        _emit({**base, "ok": False, "scenario": args.scenario, "error": _short(exc)})
        traceback.print_exc()
        sys.exit(1)
    # A run capped by --max-seconds is still a valid (if shorter) measurement.
    result["ok"] = result["requests"] > 0 and result["errors"] == 0
    on_uvloop = result["loop"].startswith("uvloop")
    if on_uvloop != (args.loop == "uvloop"):
        result["ok"] = False
    if not result["ok"]:
        reasons = []
        if on_uvloop != (args.loop == "uvloop"):
            reasons.append(f"ran on {result['loop']}, not on {args.loop}")
        if result["requests"] == 0:
            reasons.append("no request completed")
        if result["errors"]:
            reasons.append(f"{result['errors']} errors (first: {result['first_error']})")
        result["error"] = "; ".join(reasons)
    _emit({**base, **result})
    if skip_finalization:
        sys.stderr.flush()
        os._exit(0 if result["ok"] else 1)
