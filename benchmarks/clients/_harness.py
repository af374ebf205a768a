"""Measurement loop shared by the client scripts (stdlib only).

Each client script defines a ``load()`` function that imports its library and returns a
class implementing this small interface (one instance per benchmark run)::

    class Client:
        name: str
        version: str
        def __init__(self, concurrency: int) -> None: ...
        async def __aenter__(self) -> Client: ...            # create session/pool
        async def __aexit__(self, *exc) -> None: ...           # close it
        async def get(self, url: str) -> tuple[int, bytes]:  # status, full body
        async def post(self, url: str, data: bytes) -> tuple[int, bytes]:

and then calls ``main(load)``.  The script prints exactly one JSON line on stdout.

Measurement: C worker tasks loop over requests for the whole run.  After ``--warmup``
seconds a snapshot (completed requests, bytes, wall clock, ``getrusage`` user+sys) is
taken; the second snapshot is taken after ``--duration`` seconds or once ``--requests``
more requests have completed.  Numbers are the differences between the snapshots, so
connection set-up, imports and warm-up are excluded and the pool stays warm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import sys
import traceback
from collections.abc import Callable
from typing import Any

MIB = 1024 * 1024
SMALL_LEN = 100
BIG_LEN = 10 * MIB
UPLOAD_REPLY = b"ok"
SCENARIOS = ("get_small", "get_10m", "post_10m")


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


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


async def _run(client_cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    stats = _Stats()
    stop = False
    target_reached = asyncio.Event()
    completed = asyncio.Event()
    # Counted from the warm-up snapshot on; None while warming up or in duration mode.
    goal: list[int | None] = [None]
    payload = b"\xa5" * BIG_LEN if args.scenario == "post_10m" else b""

    client = await client_cls(args.concurrency).__aenter__()
    close_error = None
    try:
        if args.scenario == "post_10m":

            async def one() -> None:
                status, body = await client.post(args.url, payload)
                if status != 200 or body != UPLOAD_REPLY:
                    stats.error(f"status={status} body={body[:40]!r}")
                    return
                stats.done += 1
                stats.nbytes += BIG_LEN

        else:
            expected = SMALL_LEN if args.scenario == "get_small" else BIG_LEN

            async def one() -> None:
                status, body = await client.get(args.url)
                if status != 200 or len(body) != expected:
                    stats.error(f"status={status} len={len(body)} expected={expected}")
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
        "cpu_us_per_req": cpu * 1e6 / requests if requests else None,
        "cpu_util": cpu / wall if wall > 0 else None,
        "truncated": truncated,
        "close_error": close_error,
        "loop": f"{type(loop).__module__}.{type(loop).__qualname__}",
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="HTTP client benchmark runner (one JSON line out)")
    p.add_argument("--info", action="store_true", help="only print library name/version")
    p.add_argument("--scenario", choices=SCENARIOS)
    p.add_argument("--url")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    p.add_argument("--requests", type=int, default=0, help="measure N requests instead")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    p.add_argument(
        "--max-seconds", type=float, default=15.0,
        help="cap for --requests mode, and for waiting on any single request",
    )  # fmt: skip
    p.add_argument("--drain-timeout", type=float, default=5.0)
    args = p.parse_args(argv)
    if not args.info and (not args.scenario or not args.url):
        p.error("--scenario and --url are required")
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


def main(load: Callable[[], Any], dist: str | None = None, argv: list[str] | None = None) -> None:
    """Entry point of a client script; ``dist`` names the distribution to report the
    version of even when importing the library fails."""
    args = _parse(argv)
    base: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "version": _dist_version(dist),
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
        # Plain asyncio.run: the default event loop, never uvloop (same for every client).
        result = asyncio.run(_run(client_cls, args))
    except Exception as exc:
        _emit({**base, "ok": False, "scenario": args.scenario, "error": _short(exc)})
        traceback.print_exc()
        sys.exit(1)
    # A run capped by --max-seconds is still a valid (if shorter) measurement.
    result["ok"] = result["requests"] > 0 and result["errors"] == 0
    if not result["ok"]:
        reasons = []
        if result["requests"] == 0:
            reasons.append("no request completed")
        if result["errors"]:
            reasons.append(f"{result['errors']} errors (first: {result['first_error']})")
        result["error"] = "; ".join(reasons)
    _emit({**base, **result})
