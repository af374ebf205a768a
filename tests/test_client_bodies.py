"""Request bodies in every accepted shape, checked by what a real server received.

aiohttp decodes the framing and parses forms and multipart bodies the way a
production server would; a scripted socket server checks the exact chunked
framing on the wire.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import HTTPServer, RawServer
from multidict import CIMultiDictProxy

import aiosonic
from aiosonic.exceptions import InvalidRequest
from aiosonic.multipart import MultipartForm, Part

RawServerFactory = Callable[..., Awaitable[RawServer]]


@dataclass
class Upload:
    """A file part as the server parsed it."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Received:
    """What the server got: headers, raw body, and the parsed form if any."""

    method: str
    headers: CIMultiDictProxy[str]
    body: bytes
    form: list[tuple[str, str | Upload]] | None


async def _parse_form(request: web.Request) -> list[tuple[str, str | Upload]]:
    form: list[tuple[str, str | Upload]] = []
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            # aiohttp closes the spooled file when the handler returns.
            form.append((name, Upload(value.filename, value.content_type, value.file.read())))
        else:
            assert isinstance(value, str)
            form.append((name, value))
    return form


async def start_body_server(server: HTTPServer) -> list[Received]:
    """Record each request; ``/form`` parses the body with ``request.post()``."""
    received: list[Received] = []

    async def record(request: web.Request) -> web.Response:
        if request.path == "/form":
            form = await _parse_form(request)
            received.append(Received(request.method, request.headers, b"", form))
        else:
            # Streamed, so aiohttp's 1 MiB client_max_size for read() does not apply.
            body = b"".join([piece async for piece in request.content.iter_any()])
            received.append(Received(request.method, request.headers, body, None))
        return web.Response(text="ok")

    server.app.router.add_route("*", "/{tail:.*}", record)
    await server.start()
    return received


def _is_chunked(headers: CIMultiDictProxy[str]) -> bool:
    return headers.get("Transfer-Encoding", "").lower() == "chunked"


# --- fixed-size bodies ------------------------------------------------------


async def test_str_body_is_utf8_text(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/", data="héllo ☃")
    body = "héllo ☃".encode()
    assert received[0].body == body
    assert received[0].headers["Content-Length"] == str(len(body))
    assert received[0].headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not _is_chunked(received[0].headers)


@pytest.mark.parametrize("data", [b"\x00\xffraw\r\n", bytearray(b"\x00\xffraw\r\n")])
async def test_bytes_body_is_sent_verbatim(http_server: HTTPServer, data: bytes) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.put(http_server.url + "/", data=data)
    assert received[0].method == "PUT"
    assert received[0].body == b"\x00\xffraw\r\n"
    assert received[0].headers["Content-Length"] == "7"
    # Bytes carry no implied media type.
    assert "Content-Type" not in received[0].headers


async def test_caller_content_type_wins(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(
            http_server.url + "/", data="<a/>", headers={"content-type": "application/xml"}
        )
    assert received[0].headers.getall("Content-Type") == ["application/xml"]
    assert received[0].body == b"<a/>"


async def test_caller_framing_headers_cannot_contradict_a_sized_body(
    http_server: HTTPServer,
) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(
            http_server.url + "/",
            data=b"12345",
            headers={"Content-Length": "99", "Transfer-Encoding": "chunked"},
        )
        # The connection stayed in sync: a second request on it works.
        await client.get(http_server.url + "/")
    assert received[0].headers.getall("Content-Length") == ["5"]
    assert "Transfer-Encoding" not in received[0].headers
    assert received[0].body == b"12345"
    assert len(received) == 2
    assert http_server.connections == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "a b&c=d", "accent": "é"}, [("name", "a b&c=d"), ("accent", "é")]),
        ((("k", "1"), ("k", "2"), ("x", "y z")), [("k", "1"), ("k", "2"), ("x", "y z")]),
    ],
    ids=["dict", "tuple"],
)
async def test_form_urlencoded_body(
    http_server: HTTPServer, data: Any, expected: list[tuple[str, str]]
) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/form", data=data)
    assert received[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received[0].form == expected


async def test_query_params_on_the_wire(raw_server: RawServerFactory) -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    srv = await raw_server(handler)
    params = {"tag": ["a", "b"], "on": True, "off": False, "none": None, "n": 1, "f": 0.5}
    async with aiosonic.HTTPClient() as client:
        await client.get(srv.url + "/p?z=0", params=params)
        await client.get(srv.url + "/p", params=[("tag", ("x", "y")), ("b", b"\xe9")])
    assert heads[0].startswith(
        b"GET /p?z=0&tag=a&tag=b&on=true&off=false&none=&n=1&f=0.5 HTTP/1.1\r\n"
    )
    assert heads[1].startswith(b"GET /p?tag=x&tag=y&b=%E9 HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("data", "body"),
    [
        ({"tag": ["a", "b"]}, b"tag=a&tag=b"),
        ({"on": True, "off": False}, b"on=true&off=false"),
        ({"none": None, "x": "1"}, b"none=&x=1"),
        ({"i": 3, "f": 2.5, "b": b"\xff"}, b"i=3&f=2.5&b=%FF"),
        ((("tag", ["a", "b"]), ("x", None)), b"tag=a&tag=b&x="),
        ([("k", "1"), ("k", True)], b"k=1&k=true"),
    ],
    ids=["list", "bool", "none", "scalars", "tuple-of-pairs", "list-of-pairs"],
)
async def test_form_values_are_never_sent_as_python_reprs(
    http_server: HTTPServer, data: Any, body: bytes
) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/", data=data)
    assert received[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received[0].body == body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"k": object()}, "form field 'k': cannot send a value of type object"),
        ({"k": {"a": 1}}, "form field 'k': cannot send a value of type dict"),
        ({"k": [[1]]}, "form field 'k': cannot send a value of type list"),
        ((("k", object()),), "form field 'k': cannot send a value of type object"),
        ([("k",)], "form field is not a (name, value) pair: ('k',)"),
    ],
)
async def test_form_values_of_other_types_are_refused(
    http_server: HTTPServer, data: Any, message: str
) -> None:
    await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest) as info:
            await client.post(http_server.url + "/", data=data)
    assert str(info.value) == message
    assert http_server.requests == 0


async def test_form_path_value_asks_for_multipart(http_server: HTTPServer, tmp_path: Path) -> None:
    # A path is not uploaded unless asked: reading a file from disk because a
    # form value happened to be a Path would surprise.
    await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest, match="pass multipart=True to upload the file"):
            await client.post(http_server.url + "/", data={"doc": tmp_path / "x.txt"})
        # Also when a file object elsewhere makes the form multipart.
        with pytest.raises(InvalidRequest, match="pass multipart=True to upload the file"):
            await client.post(
                http_server.url + "/",
                data={"f": io.BytesIO(b"x"), "doc": [tmp_path / "x.txt"]},
            )
    assert http_server.requests == 0


@pytest.mark.parametrize("as_list", [False, True], ids=["value", "in-a-list"])
async def test_form_with_a_file_object_is_sent_as_multipart(
    http_server: HTTPServer, tmp_path: Path, as_list: bool
) -> None:
    received = await start_body_server(http_server)
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    async with aiosonic.HTTPClient() as client:
        with path.open("rb") as file:
            await client.post(
                http_server.url + "/form",
                data={"doc": [file] if as_list else file, "name": "x", "flag": True, "n": None},
            )
    assert received[0].headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert received[0].form == [
        ("doc", Upload("report.csv", "text/csv", b"a,b\n1,2\n")),
        ("name", "x"),
        ("flag", "true"),
        ("n", ""),
    ]


async def test_form_with_a_part_is_sent_as_multipart(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(
            http_server.url + "/form",
            data=(("p", Part("p", b"\x00", filename="p.bin")), ("q", "1")),
        )
    assert received[0].form == [
        ("p", Upload("p.bin", "application/octet-stream", b"\x00")),
        ("q", "1"),
    ]


# --- streamed bodies --------------------------------------------------------


def sync_pieces() -> Iterator[bytes]:
    yield b"first,"
    yield b""  # an empty piece must not end the chunked body early
    yield b"second,"
    yield b"third"


async def async_pieces() -> AsyncIterator[bytes]:
    for piece in sync_pieces():
        await asyncio.sleep(0)  # yield to the loop between pieces, as real producers do
        yield piece


@pytest.mark.parametrize(
    "make",
    [sync_pieces, async_pieces, lambda: [b"first,", b"second,", b"third"]],
    ids=["sync-iterator", "async-iterator", "list"],
)
async def test_iterable_body_is_sent_chunked(http_server: HTTPServer, make: Any) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        response = await client.post(http_server.url + "/", data=make())
        assert await response.text() == "ok"
    assert _is_chunked(received[0].headers)
    assert "Content-Length" not in received[0].headers
    assert received[0].body == b"first,second,third"


async def test_chunked_framing_on_the_wire(raw_server: RawServerFactory) -> None:
    wire: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.readuntil(b"\r\n0\r\n\r\n")
        wire.extend([head, body])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    srv = await raw_server(handler)
    async with aiosonic.HTTPClient() as client:
        await client.post(srv.url + "/", data=async_pieces())
    head, body = wire
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head
    assert b"Content-Length" not in head
    assert body == b"6\r\nfirst,\r\n7\r\nsecond,\r\n5\r\nthird\r\n0\r\n\r\n"


async def test_large_async_body_streams_with_flow_control(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    block = bytes(range(256)) * 256  # 64 KiB
    count = 64  # 4 MiB in total: more than the socket buffers hold

    async def produce() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield block

    async with aiosonic.HTTPClient() as client:
        response = await client.post(http_server.url + "/", data=produce())
        assert response.status_code == 200
    assert _is_chunked(received[0].headers)
    assert len(received[0].body) == count * len(block)
    assert received[0].body == block * count


async def test_iterable_body_with_caller_content_length_is_not_chunked(
    http_server: HTTPServer,
) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(
            http_server.url + "/", data=iter([b"abc", b"def"]), headers={"Content-Length": "6"}
        )
        await client.get(http_server.url + "/")
    assert received[0].headers["Content-Length"] == "6"
    assert not _is_chunked(received[0].headers)
    assert received[0].body == b"abcdef"
    assert len(received) == 2


# --- json -------------------------------------------------------------------


@pytest.mark.parametrize("value", [{"a": 1, "b": [1, 2], "s": "é"}, [1, "two", None]])
async def test_json_body(http_server: HTTPServer, value: Any) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/", json=value)
    assert received[0].headers["Content-Type"] == "application/json"
    assert received[0].headers["Content-Length"] == str(len(received[0].body))
    assert json.loads(received[0].body) == value


@pytest.mark.parametrize("data", [b"dropped", {"a": "1"}, b""])
async def test_json_and_data_together_are_refused(http_server: HTTPServer, data: Any) -> None:
    await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(InvalidRequest) as info:
            await client.post(http_server.url + "/", data=data, json={"used": True})
    assert str(info.value) == "pass either data= or json=, not both: json= would replace data="
    assert http_server.requests == 0


@pytest.mark.parametrize(
    ("serializer", "expected"),
    [
        (lambda v: json.dumps(v, separators=(",", ":"), sort_keys=True), b'{"a":1,"b":[1,2]}'),
        (lambda v: b"<bytes from serializer>", b"<bytes from serializer>"),
    ],
    ids=["str", "bytes"],
)
async def test_json_serializer(http_server: HTTPServer, serializer: Any, expected: bytes) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.patch(
            http_server.url + "/", json={"b": [1, 2], "a": 1}, json_serializer=serializer
        )
    assert received[0].method == "PATCH"
    assert received[0].body == expected
    assert received[0].headers["Content-Type"] == "application/json"


async def test_json_with_caller_content_type(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(
            http_server.url + "/",
            json={"x": 1},
            headers={"Content-Type": "application/vnd.api+json"},
        )
    assert received[0].headers.getall("Content-Type") == ["application/vnd.api+json"]


# --- multipart --------------------------------------------------------------


async def test_multipart_dict_with_file_object_and_text(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    received = await start_body_server(http_server)
    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 300
    path.write_bytes(content)
    async with aiosonic.HTTPClient() as client:
        with path.open("rb") as file:
            await client.post(
                http_server.url + "/form",
                data={"upload": file, "name": "välue", "count": 3},
                multipart=True,
            )
            # The caller keeps the file object: it is left open.
            assert not file.closed
    headers = received[0].headers
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Content-Length" in headers
    assert received[0].form == [
        ("upload", Upload("data.bin", "application/octet-stream", content)),
        ("name", "välue"),
        ("count", "3"),
    ]


async def test_multipart_dict_with_bytesio(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(
            http_server.url + "/form",
            data={"blob": io.BytesIO(b"in memory"), "raw": b"\x00\x01"},
            multipart=True,
        )
    # A file object is a file part (named "file" when it has no name); bytes
    # are a plain field.
    assert received[0].form == [
        ("blob", Upload("file", "application/octet-stream", b"in memory")),
        ("raw", "\x00\x01"),
    ]


@pytest.mark.parametrize("data", [b"raw bytes", "text", [b"chunk"], iter([("a", "b")])])
async def test_multipart_with_a_non_dict_is_a_value_error(
    http_server: HTTPServer, data: Any
) -> None:
    await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        with pytest.raises(ValueError, match="multipart=True needs a dict") as info:
            await client.post(http_server.url + "/form", data=data, multipart=True)
    assert isinstance(info.value, InvalidRequest)
    assert http_server.requests == 0


async def test_multipart_true_with_pairs(http_server: HTTPServer) -> None:
    received = await start_body_server(http_server)
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/form", data=[("a", "1"), ("a", 2)], multipart=True)
    assert received[0].headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert received[0].form == [("a", "1"), ("a", "2")]


async def test_multipart_form_as_data(http_server: HTTPServer, tmp_path: Path) -> None:
    received = await start_body_server(http_server)
    path = tmp_path / "notes.txt"
    path.write_text("file contents\n" * 1000)
    form = MultipartForm()
    form.add_field("title", "holiday")
    form.add_file("doc", str(path))
    form.add_field("blob", b"\x00\x01\x02", filename="blob.bin")
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/form", data=form)
    headers = received[0].headers
    assert headers["Content-Type"] == form.content_type
    assert headers["Content-Length"] == str(form.content_length())
    assert received[0].form == [
        ("title", "holiday"),
        ("doc", Upload("notes.txt", "text/plain", path.read_bytes())),
        ("blob", Upload("blob.bin", "application/octet-stream", b"\x00\x01\x02")),
    ]


async def test_multipart_form_with_a_stream_of_unknown_size_is_chunked(
    http_server: HTTPServer,
) -> None:
    received = await start_body_server(http_server)

    async def log_lines() -> AsyncIterator[bytes]:
        for i in range(100):
            yield b"log line %d\n" % i

    form = MultipartForm()
    form.add_part(Part("log", log_lines(), filename="log.txt"))
    form.add_field("after", "tail")
    async with aiosonic.HTTPClient() as client:
        await client.post(http_server.url + "/form", data=form)
    assert _is_chunked(received[0].headers)
    lines = b"".join(b"log line %d\n" % i for i in range(100))
    assert received[0].form == [
        ("log", Upload("log.txt", "text/plain", lines)),
        ("after", "tail"),
    ]
