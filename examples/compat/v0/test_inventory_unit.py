"""The SDK's own unit tests: no network, aiosonic responses built by hand.

This is how the SDK's authors mocked aiosonic 0.2x: an ``HttpResponse()`` with
``response_initial``, ``headers`` and ``body`` set, returned from a patched verb.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from aiosonic import HttpResponse

from inventory_sdk import InventoryClient, InventoryError


def fake_response(status: int, payload: Any, reason: str = "OK") -> HttpResponse:
    response = HttpResponse()
    response.response_initial = {"version": "1.1", "code": str(status), "reason": reason}
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.body = json.dumps(payload).encode()
    return response


async def test_get_item_parses_json() -> None:
    sdk = InventoryClient("http://inventory.invalid", api_key="k")
    with mock.patch.object(
        sdk.client, "get", return_value=fake_response(200, {"id": 7, "name": "saw"})
    ) as get:
        assert await sdk.get_item(7) == {"id": 7, "name": "saw"}
    url = get.call_args.args[0]
    assert url == "http://inventory.invalid/items/7", url
    assert get.call_args.kwargs["headers"]["X-Api-Key"] == "k"


async def test_error_status_raises_with_body() -> None:
    sdk = InventoryClient("http://inventory.invalid", api_key="k")
    missing = fake_response(404, {"error": "no such item"}, reason="Not Found")
    assert missing.status_code == 404
    assert not missing.ok
    with mock.patch.object(sdk.client, "get", return_value=missing):
        try:
            await sdk.get_item(9)
        except InventoryError as exc:
            assert exc.status == 404
            assert json.loads(exc.body) == {"error": "no such item"}
        else:
            raise AssertionError("a 404 must raise InventoryError")


async def test_hand_built_response_reads() -> None:
    response = HttpResponse()
    response.response_initial = {"version": "1.1", "code": "201", "reason": "Created"}
    response.headers.update({"content-type": "text/plain; charset=utf-8"})
    response.body = "créé".encode()
    assert response.status_code == 201
    assert response.ok
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert await response.content() == "créé".encode()
    assert await response.text() == "créé"


UNIT_TESTS = [
    test_get_item_parses_json,
    test_error_status_raises_with_body,
    test_hand_built_response_reads,
]
