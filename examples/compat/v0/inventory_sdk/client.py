"""The Inventory service client.

Written against the published aiosonic 0.23 (``aiosonic>=0.20,<0.24``): a
``TCPConnector`` sized with ``pool_size``, per-call ``Timeouts``, cookies kept by
the client for the login session, and aiosonic's exceptions mapped to our own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiosonic
from aiosonic.connectors import TCPConnector
from aiosonic.exceptions import (
    ConnectionDisconnected,
    ConnectionPoolAcquireTimeout,
    ConnectTimeout,
    HttpParsingError,
    ReadTimeout,
    RequestTimeout,
)
from aiosonic.pools import SmartPool
from aiosonic.timeout import Timeouts

DEFAULT_TIMEOUTS = Timeouts(sock_connect=3, sock_read=5, request_timeout=10)


class InventoryError(Exception):
    """The service answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"inventory service answered {status}: {body}")
        self.status = status
        self.body = body


class InventoryUnavailable(Exception):
    """The service could not be reached, or did not answer in time."""


class InventoryClient:
    """Talks to the Inventory service over a pool of keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        pool_size: int = 8,
        pool_cls: Any = SmartPool,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session_id: str | None = None
        self.headers = {"X-Api-Key": api_key, "Accept": "application/json"}
        connector = TCPConnector(
            pool_size=pool_size, timeouts=timeouts or DEFAULT_TIMEOUTS, pool_cls=pool_cls
        )
        self.client = aiosonic.HTTPClient(connector, verify_ssl=False)
        # The login session lives on its own client: aiosonic 0.2x can not send
        # extra headers on a request to a host it holds cookies for (ValueError
        # in _add_cookies_to_request), so session calls carry no custom headers.
        self.session = aiosonic.HTTPClient(
            TCPConnector(pool_size=1, timeouts=timeouts or DEFAULT_TIMEOUTS),
            handle_cookies=True,
        )

    async def __aenter__(self) -> InventoryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Wait for requests in flight, then close every pooled connection."""
        for client in (self.client, self.session):
            await client.wait_requests()
            await client.connector.cleanup()

    def _url(self, path: str) -> str:
        return self.base_url + path

    @staticmethod
    async def _parse(response: aiosonic.HttpResponse) -> Any:
        if response.status_code >= 400:
            raise InventoryError(response.status_code, await response.text())
        if response.status_code == 204:
            return None
        return await response.json()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        call = getattr(self.client, method)
        try:
            response = await call(self._url(path), headers=headers, **kwargs)
        except (ConnectTimeout, ConnectionPoolAcquireTimeout, ReadTimeout, RequestTimeout) as exc:
            raise InventoryUnavailable(f"{method.upper()} {path} timed out") from exc
        except (ConnectionDisconnected, HttpParsingError, ConnectionRefusedError) as exc:
            raise InventoryUnavailable(f"{method.upper()} {path} failed: {exc!r}") from exc
        return await self._parse(response)

    # session
    async def login(self, user: str, password: str) -> dict[str, Any]:
        body = {"user": user, "password": password}
        response = await self.session.post(self._url("/login"), json=body)
        user = await self._parse(response)
        self.session_id = response.cookies["session"].value
        return user

    async def whoami(self) -> dict[str, Any]:
        response = await self.session.get(self._url("/me"))
        return await self._parse(response)

    # items
    async def list_items(self, category: str | None = None, page: int = 1) -> dict[str, Any]:
        params = {"page": str(page)}
        if category:
            params["category"] = category
        return await self._call("get", "/items", params=params)

    async def get_item(self, item_id: int) -> dict[str, Any]:
        return await self._call("get", f"/items/{item_id}")

    async def create_item(self, item: dict[str, Any]) -> dict[str, Any]:
        return await self._call("post", "/items", json=item)

    async def replace_item(self, item_id: int, item: dict[str, Any]) -> dict[str, Any]:
        return await self._call("put", f"/items/{item_id}", json=item)

    async def rename_item(self, item_id: int, name: str) -> dict[str, Any]:
        # The service wants a pre-serialised body on PATCH (its own key order).
        return await self._call(
            "patch",
            f"/items/{item_id}",
            data=json.dumps({"name": name}),
            headers={"Content-Type": "application/json"},
        )

    async def delete_item(self, item_id: int) -> None:
        await self._call("delete", f"/items/{item_id}")

    async def legacy_catalog(self) -> dict[str, Any]:
        """The v1 catalog path now redirects; follow it."""
        return await self._call("get", "/v1/catalog", follow=True)

    async def notes(self) -> str:
        response = await self.client.get(self._url("/notes"), headers=self.headers)
        return await response.text()

    async def export_rows(self) -> list[str]:
        """Stream the CSV export: the service sends it chunked, a chunk per batch."""
        response = await self.client.get(self._url("/export"), headers=self.headers)
        if response.status_code != 200:
            raise InventoryError(response.status_code, await response.text())
        data = b""
        async for chunk in response.read_chunks():
            data += chunk
        return data.decode().splitlines()

    async def export_raw(self) -> bytes:
        response = await self.client.get(self._url("/export"), headers=self.headers)
        return await response.content()

    async def upload_attachment(self, item_id: int, path: str, note: str) -> dict[str, Any]:
        fh = await asyncio.to_thread(open, path, "rb")
        with fh:
            response = await self.client.post(
                self._url(f"/items/{item_id}/attachments"),
                data={"note": note, "file": fh},
                multipart=True,
                headers=self.headers,
            )
        return await self._parse(response)

    async def is_healthy(self, within: float = 1.0) -> bool:
        """Whether the service answers its health check in ``within`` seconds."""
        try:
            response = await self.client.get(
                self._url("/slow"), timeouts=Timeouts(sock_read=within)
            )
        except ReadTimeout:
            return False
        return response.status_code == 200

    async def ping_with_deadline(self, deadline: float) -> bool:
        """Whether the whole ping request finishes before ``deadline`` seconds."""
        try:
            await self.client.get(
                self._url("/slow"), timeouts=Timeouts(sock_read=30, request_timeout=deadline)
            )
        except RequestTimeout:
            return False
        return True
