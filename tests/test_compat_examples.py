"""The example projects of ``examples/compat/`` run unchanged on our package (issue 12).

``v0/`` is an SDK written against the published aiosonic 0.23 and ``v1_3/`` one
written against 1.3.3; each passed on the release it targets (see their
READMEs). Each runs here once per session, in a subprocess of this interpreter
(so with this checkout's aiosonic) on the loop the suite runs on, and prints one
``ok``/``FAIL`` line per scenario. A scenario that fails on ours is a drop-in
bug: it is listed in ``KNOWN_GAPS`` with what the published release does, and
its test is a strict xfail, so fixing it shows up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from conftest import TEST_LOOP

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "compat"

#: Scenario names each project prints, in order.
SCENARIOS = {
    "v0": [
        "crud",
        "bad_key",
        "session_cookie",
        "redirect",
        "text_charset",
        "chunked_export",
        "upload",
        "timeouts",
        "pool_limits",
        "test_get_item_parses_json",
        "test_error_status_raises_with_body",
        "test_hand_built_response_reads",
    ],
    "v1_3": [
        "paginated_projects",
        "status_errors",
        "redirects",
        "logged_urls",
        "credentials_stay_home",
        "auth_overrides",
        "event_hooks",
        "response_details",
        "streaming",
        "multipart_file",
        "server_sent_events",
        "httpx_compatible",
        "test_process_response_decodes_json",
        "test_error_status_raises",
        "test_requests_carry_defaults",
        "test_text_body",
    ],
}

#: Scenarios that fail on ours, with the published behaviour they rely on.
KNOWN_GAPS = {
    ("v1_3", "logged_urls"): (
        "1.3.3's response.url is the URL as the caller passed it, without the query "
        "that params= adds (http://h/v2/old-projects); ours includes it "
        "(http://h/v2/old-projects?api_version=2), as httpx and aiohttp do"
    ),
}

#: Run the project's script on the suite's loop, with this checkout's aiosonic.
BOOTSTRAP = """\
import asyncio, runpy, sys
import aiosonic
assert aiosonic.__file__.startswith({repo!r}), f"not ours: {{aiosonic.__file__}}"
if {loop!r} == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
sys.argv = ["run_project.py"]
runpy.run_path("run_project.py", run_name="__main__")
"""


@cache
def run_project(project: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AIOSONIC_TEST_NO_SOCKETS"}
    code = BOOTSTRAP.format(repo=str(REPO / "aiosonic"), loop=TEST_LOOP)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=EXAMPLES / project,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )


def scenario_report(output: str, scenario: str) -> str:
    """The lines the project printed for ``scenario`` (its traceback if it failed)."""
    lines = output.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.split()[1:] == [scenario]),
        None,
    )
    if start is None:
        return f"{scenario} did not run:\n{output}"
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "Traceback", "AssertionError")):
        end += 1
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("project", sorted(SCENARIOS))
def test_project_runs_every_scenario(project: str) -> None:
    result = run_project(project)
    printed = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith(("ok   ", "FAIL "))
    ]
    assert printed == SCENARIOS[project], result.stdout + result.stderr
    gaps = any(p == project for p, _ in KNOWN_GAPS)
    assert result.returncode == (1 if gaps else 0), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("project", "scenario"),
    [
        pytest.param(
            project,
            scenario,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[(project, scenario)])]
            if (project, scenario) in KNOWN_GAPS
            else [],
            id=f"{project}-{scenario}",
        )
        for project, names in sorted(SCENARIOS.items())
        for scenario in names
    ],
)
def test_scenario_passes_on_ours(project: str, scenario: str) -> None:
    result = run_project(project)
    report = scenario_report(result.stdout, scenario)
    assert report.startswith(f"ok   {scenario}"), report + "\n" + result.stderr
