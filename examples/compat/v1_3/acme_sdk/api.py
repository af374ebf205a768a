"""The Acme REST API on top of ``aiosonic.BaseClient``.

Written against the published aiosonic 1.3.3: the 1.3 ``HTTPClient`` keywords
(``follow``, ``max_redirects``, ``auths``, ``event_hooks``, ``http2``), per-request
``auth``, ``client.stream()`` with ``iter_lines``/``iter_bytes``, ``MultipartFile``
uploads and ``raise_for_status()``.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from typing import Any, ClassVar

from aiosonic import BaseClient, HTTPClient, HttpResponse
from aiosonic.auth import BearerAuth
from aiosonic.multipart import MultipartFile

from acme_sdk.auth import SignatureAuth

log = logging.getLogger(__name__)


def make_http_client(
    api_host: str, user: str, password: str, calls: list[tuple[int, str]]
) -> HTTPClient:
    """The shared aiosonic client: basic auth for the API host only, redirects
    followed (at most 3), a request id on every request and each answer logged
    into ``calls``."""
    ids = itertools.count(1)

    def add_request_id(method: str, url: str, headers: Any) -> None:
        headers["X-Request-Id"] = f"req-{next(ids)}"

    async def record(response: HttpResponse) -> None:
        calls.append((response.status_code, response.url))
        log.debug("%s %s", response.status_code, response.url)

    return HTTPClient(
        follow=True,
        max_redirects=3,
        auths={api_host: (user, password)},
        event_hooks={"request": [add_request_id], "response": [record]},
        http2=False,
    )


class AcmeAPI(BaseClient):
    """Projects, logs, exports and uploads of one Acme account."""

    default_headers: ClassVar[dict[str, str]] = {
        "Accept": "application/json",
        "User-Agent": "acme-sdk/2.4",
    }
    default_params: ClassVar[dict[str, str]] = {"api_version": "2"}

    def __init__(self, base_url: str, http_client: HTTPClient) -> None:
        super().__init__(http_client)
        self.base_url = base_url

    async def process_response(self, response: HttpResponse) -> Any:
        response.raise_for_status()
        if response.status_code == 204:
            return None
        if "json" in response.headers.get("content-type", ""):
            return await response.json()
        return await response.text()

    async def projects(self) -> list[dict[str, Any]]:
        """Every project, following the ``Link: rel="next"`` pages."""
        found: list[dict[str, Any]] = []
        url = "/v2/projects"
        while url:
            response = await self.process_request("GET", url)
            found += await self.process_response(response)
            url = response.links.get("next", {}).get("url", "")
        return found

    async def create_project(self, name: str) -> dict[str, Any]:
        return await self.post("/v2/projects", json={"name": name})

    async def rotate_keys(self, key_id: str, secret: str) -> dict[str, Any]:
        return await self.post("/v2/admin/rotate", auth=SignatureAuth(key_id, secret))

    async def whoami(self, token: str) -> dict[str, Any]:
        return await self.get("/v2/whoami", auth=BearerAuth(token))

    async def tail_logs(self, limit: int) -> list[str]:
        """The first ``limit`` lines of the live log, then hang up."""
        lines: list[str] = []
        url = self.process_request_url("/v2/logs")
        async with self.client.stream("GET", url, params=self.default_params) as response:
            response.raise_for_status()
            async for line in response.iter_lines():
                lines.append(line)
                if len(lines) == limit:
                    break
        return lines

    async def download_sha256(self, path: str) -> tuple[str, int, str]:
        """Stream a download; give its sha256, size and the HTTP version used."""
        digest = hashlib.sha256()
        size = 0
        async with self.client.stream("GET", self.process_request_url(path)) as response:
            version = response.response_initial["version"]
            async for data in response.iter_bytes():
                digest.update(data)
                size += len(data)
        return digest.hexdigest(), size, version

    async def upload(self, path: str, caption: str) -> dict[str, Any]:
        form = {"caption": caption, "file": MultipartFile(path, content_type="image/png")}
        return await self.post("/v2/uploads", data=form, multipart=True)
