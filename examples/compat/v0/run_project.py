"""Run the Inventory SDK against a local fake service, then its unit tests.

Usage: ``python run_project.py``. Prints one line per scenario and exits 1 if
any failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import traceback
from collections.abc import Awaitable, Callable

from aiosonic.pools import CyclicQueuePool

from fake_service import EXPORT_BATCHES, PEERS, FakeService
from inventory_sdk import InventoryClient, InventoryError
from test_inventory_unit import UNIT_TESTS

Scenario = Callable[[FakeService, InventoryClient], Awaitable[None]]


async def crud(service: FakeService, sdk: InventoryClient) -> None:
    listed = await sdk.list_items(category="tools", page=2)
    assert listed["page"] == 2, listed
    assert [item["name"] for item in listed["items"]] == ["hammer", "wrench"], listed
    created = await sdk.create_item({"name": "nut", "category": "fasteners"})
    assert created == {"name": "nut", "category": "fasteners", "id": 4}, created
    replaced = await sdk.replace_item(4, {"name": "hex nut", "category": "fasteners"})
    assert replaced["name"] == "hex nut", replaced
    renamed = await sdk.rename_item(4, "wing nut")
    assert renamed == {"name": "wing nut", "category": "fasteners", "id": 4}, renamed
    assert await sdk.delete_item(4) is None
    try:
        await sdk.get_item(4)
    except InventoryError as exc:
        assert exc.status == 404, exc
        assert "no such item" in exc.body, exc.body
    else:
        raise AssertionError("deleted item still there")


async def bad_key(service: FakeService, sdk: InventoryClient) -> None:
    other = InventoryClient(service.url, api_key="wrong", pool_size=1)
    try:
        await other.get_item(1)
    except InventoryError as exc:
        assert exc.status == 403, exc
    else:
        raise AssertionError("a wrong key must be refused")
    finally:
        await other.close()


async def session_cookie(service: FakeService, sdk: InventoryClient) -> None:
    try:
        await sdk.whoami()
    except InventoryError as exc:
        assert exc.status == 401, exc
    else:
        raise AssertionError("not logged in yet")
    assert await sdk.login("ana", "s3cret") == {"user": "ana"}
    assert sdk.session_id == "tok-ana", sdk.session_id
    assert await sdk.whoami() == {"user": "ana"}


async def redirect(service: FakeService, sdk: InventoryClient) -> None:
    assert await sdk.legacy_catalog() == {"categories": ["tools", "fasteners"]}
    unfollowed = await sdk.client.get(service.url + "/v1/catalog")
    assert unfollowed.status_code == 302, unfollowed.status_code
    assert unfollowed.headers["Location"] == "/catalog", unfollowed.headers


async def text_charset(service: FakeService, sdk: InventoryClient) -> None:
    assert await sdk.notes() == "Café opens at 9 — señal ok"


async def chunked_export(service: FakeService, sdk: InventoryClient) -> None:
    rows = await sdk.export_rows()
    assert rows == ["id,name", "1,hammer", "2,wrench", "3,bolt"], rows
    assert await sdk.export_raw() == b"".join(EXPORT_BATCHES)


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


async def upload(service: FakeService, sdk: InventoryClient) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "manual.pdf")
        _write(path, b"%PDF-" + bytes(range(256)) * 40)
        answer = await sdk.upload_attachment(1, path, note="user manual")
    fields = answer["fields"]
    assert fields["note"] == "user manual", fields
    assert fields["file"] == {"filename": "manual.pdf", "size": 5 + 256 * 40, "head": "%PDF-"}


async def timeouts(service: FakeService, sdk: InventoryClient) -> None:
    assert await sdk.is_healthy(within=0.2) is False
    assert await sdk.ping_with_deadline(0.2) is False
    # the client is still usable after both timeouts
    assert (await sdk.get_item(1))["name"] == "hammer"


async def pool_limits(service: FakeService, sdk: InventoryClient) -> None:
    service.app[PEERS].clear()
    async with InventoryClient(service.url, api_key="k-123", pool_size=3) as small:
        got = await asyncio.gather(*(small.get_item(1 + i % 3) for i in range(12)))
        assert [item["id"] for item in got] == [1 + i % 3 for i in range(12)]
        assert await small.client.wait_requests() is True
    assert 1 <= len(service.app[PEERS]) <= 3, service.app[PEERS]

    cyclic = InventoryClient(service.url, api_key="k-123", pool_size=2, pool_cls=CyclicQueuePool)
    async with cyclic:
        names = await asyncio.gather(*(cyclic.get_item(2) for _ in range(5)))
        assert {item["name"] for item in names} == {"wrench"}


SCENARIOS: list[Scenario] = [
    crud,
    bad_key,
    session_cookie,
    redirect,
    text_charset,
    chunked_export,
    upload,
    timeouts,
    pool_limits,
]


async def main() -> int:
    failed = 0
    service = await FakeService().start()
    try:
        async with InventoryClient(service.url, api_key="k-123", pool_size=4) as sdk:
            for scenario in SCENARIOS:
                failed += await _run(scenario.__name__, scenario(service, sdk))
    finally:
        await service.stop()
    for test in UNIT_TESTS:
        failed += await _run(test.__name__, test())
    print(f"{'FAILED' if failed else 'OK'}: {failed} failed")
    return 1 if failed else 0


async def _run(name: str, work: Awaitable[None]) -> int:
    try:
        await asyncio.wait_for(work, 20)
    except Exception:
        print(f"FAIL {name}")
        traceback.print_exc(file=sys.stdout)
        return 1
    print(f"ok   {name}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
