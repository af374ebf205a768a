"""The reporting module was first written for httpx; it runs on aiosonic's
httpx-compatible ``AsyncClient`` with only the import changed."""

from __future__ import annotations

from typing import Any

from aiosonic.exceptions import HTTPStatusError
from aiosonic.httpx_client import AsyncClient


async def weekly_report(base_url: str, user: str, password: str) -> dict[str, Any]:
    async with AsyncClient(
        base_url=base_url,
        auth=(user, password),
        headers={"User-Agent": "acme-reports/1.0"},
        params={"api_version": "2"},
        timeout=5.0,
        follow_redirects=True,
    ) as client:
        first = await client.get("/v2/projects")
        first.raise_for_status()
        report: dict[str, Any] = {
            "status": first.status_code,
            "content_type": first.headers["content-type"],
            "first_page": [project["name"] for project in first.json()],
            "moved": (await client.get("/v2/old-projects")).json()[0]["name"],
        }
        created = await client.post("/v2/projects", json={"name": "report"})
        report["created"] = (created.status_code, created.json()["name"])
        uploaded = await client.post(
            "/v2/uploads",
            data={"caption": "weekly"},
            files={"file": ("report.csv", b"week,builds\n48,310\n", "text/csv")},
        )
        report["uploaded"] = uploaded.json()
        async with client.stream("GET", "/v2/logs") as stream:
            report["log_head"] = [line async for line in stream.aiter_lines()][:2]
        missing = await client.get("/v2/projects/999")
        try:
            missing.raise_for_status()
        except HTTPStatusError as exc:
            report["missing"] = exc.response.status_code
        report["missing_text"] = missing.text
        return report
