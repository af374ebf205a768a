"""The SDK's own unit tests: no network, aiosonic responses built by hand."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from aiosonic import HTTPClient, HttpResponse
from aiosonic.exceptions import HTTPStatusError

from acme_sdk import AcmeAPI


def fake_response(status: int, payload: Any, reason: str = "OK") -> HttpResponse:
    response = HttpResponse()
    response.response_initial = {"version": "1.1", "code": status, "reason": reason}
    response.headers.update({"Content-Type": "application/json"})
    response.body = json.dumps(payload).encode()
    return response


async def test_process_response_decodes_json() -> None:
    api = AcmeAPI("http://acme.invalid", HTTPClient())
    response = fake_response(200, [{"id": 1, "name": "alpha"}])
    assert response.ok
    assert await api.process_response(response) == [{"id": 1, "name": "alpha"}]
    await api.client.aclose()


async def test_error_status_raises() -> None:
    api = AcmeAPI("http://acme.invalid", HTTPClient())
    response = fake_response(404, {"error": "gone"}, reason="Not Found")
    try:
        await api.process_response(response)
    except HTTPStatusError as exc:
        assert exc.response is response
        assert exc.response.status_code == 404
        assert await exc.response.json() == {"error": "gone"}
    else:
        raise AssertionError("404 must raise HTTPStatusError")
    await api.client.aclose()


async def test_requests_carry_defaults() -> None:
    api = AcmeAPI("http://acme.invalid/", HTTPClient())
    with mock.patch.object(api.client, "post", return_value=fake_response(201, {"id": 4})) as post:
        assert await api.create_project("delta") == {"id": 4}
    (url,) = post.call_args.args
    kwargs = post.call_args.kwargs
    assert url == "http://acme.invalid/v2/projects", url
    assert kwargs["json"] == {"name": "delta"}
    assert kwargs["params"] == {"api_version": "2"}
    assert kwargs["headers"]["User-Agent"] == "acme-sdk/2.4"
    await api.client.aclose()


async def test_text_body() -> None:
    response = HttpResponse()
    response.response_initial = {"version": "1.1", "code": "200", "reason": "OK"}
    response.headers["content-type"] = "text/plain; charset=utf-8"
    response.body = "naïve café".encode()
    assert response.status_code == 200
    assert await response.text() == "naïve café"
    assert [line async for line in response.iter_lines()] == ["naïve café"]


UNIT_TESTS = [
    test_process_response_decodes_json,
    test_error_status_raises,
    test_requests_carry_defaults,
    test_text_body,
]
