"""aiosonic.multipart.MultipartFile sent by HTTPClient to a real aiohttp.web server.

Checked on the server side: each part's name, filename, Content-Type and
bytes. File lifetimes are checked without timing: a FIFO cannot be opened for
writing without blocking (ENXIO) unless a reader holds it open, which tells
exactly when the form has the path open.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import BodyPartReader, web

import aiosonic
from aiosonic import HTTPClient
from aiosonic.exceptions import InvalidRequest
from aiosonic.multipart import MultipartFile, MultipartForm

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")


async def _parts(request: web.Request) -> web.Response:
    """Return every part as the aiohttp multipart reader parsed it."""
    reader = await request.multipart()
    parts = []
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        data = await part.read()
        parts.append(
            {
                "name": part.name,
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
                "data": bytes(data).decode("latin-1"),
            }
        )
    chunked = request.headers.get("Transfer-Encoding") == "chunked"
    return web.json_response({"parts": parts, "chunked": chunked})


@pytest.fixture
async def server(http_server: Any) -> Any:
    http_server.app.router.add_post("/upload", _parts)
    return await http_server.start()


async def _send(server: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
    async with HTTPClient() as client:
        response = await client.post(f"{server.url}/upload", data=data, **kwargs)
        assert response.status_code == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


def _reader_holds(fifo: Path) -> bool:
    """Whether some descriptor has ``fifo`` open for reading (never blocks)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return False
        raise
    os.close(fd)
    return True


async def test_path_parts_carry_filename_type_and_bytes(server: Any, tmp_path: Path) -> None:
    image = tmp_path / "img.bin"
    image.write_bytes(bytes(range(256)) * 10)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"line one\r\nline two\n")
    form = MultipartForm()
    form.add_field("title", "holiday")
    form.add_field(
        "image", MultipartFile(str(image), filename="custom.png", content_type="image/png")
    )
    form.add_field("notes", MultipartFile(notes))  # os.PathLike, defaults from the path
    result = await _send(server, form)
    assert result["chunked"] is False  # a regular file is sized up front
    assert result["parts"] == [
        {"name": "title", "filename": None, "content_type": None, "data": "holiday"},
        {
            "name": "image",
            "filename": "custom.png",
            "content_type": "image/png",
            "data": (bytes(range(256)) * 10).decode("latin-1"),
        },
        {
            "name": "notes",
            "filename": "notes.txt",
            "content_type": "text/plain",
            "data": "line one\r\nline two\n",
        },
    ]


async def test_add_field_filename_wins_over_the_file_s(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.dat"
    path.write_bytes(b"abc")
    form = MultipartForm()
    form.add_field("f", MultipartFile(path, filename="inner.dat"), filename="outer.dat")
    (part,) = (await _send(server, form))["parts"]
    assert (part["filename"], part["content_type"], part["data"]) == (
        "outer.dat",
        "application/octet-stream",
        "abc",
    )


async def test_file_object_is_read_from_its_position_and_left_open(
    server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"skip|a,b\n1,2\n")
    with path.open("rb") as file:
        file.seek(5)
        upload = MultipartFile(file, content_type="text/csv")
        assert upload.filename == "report.csv"
        assert upload.file_path is None
        form = MultipartForm()
        form.add_field("report", upload)
        for _ in range(2):  # rewound to where it was for the second send
            (part,) = (await _send(server, form))["parts"]
            assert part == {
                "name": "report",
                "filename": "report.csv",
                "content_type": "text/csv",
                "data": "a,b\n1,2\n",
            }
        assert not file.closed


async def test_nameless_file_object_is_called_file(server: Any) -> None:
    form = MultipartForm()
    form.add_field("blob", MultipartFile(io.BytesIO(b"\x00\xff")))
    (part,) = (await _send(server, form))["parts"]
    assert (part["filename"], part["data"]) == ("file", "\x00\xff")


async def test_dict_with_a_multipart_file_is_sent_as_multipart(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"{}")
    result = await _send(server, {"meta": "1", "doc": MultipartFile(path)})
    assert [(p["name"], p["filename"], p["content_type"]) for p in result["parts"]] == [
        ("meta", None, None),
        ("doc", "x.json", "application/json"),
    ]


@needs_fifo
async def test_path_is_opened_only_while_sent_and_closed_after(server: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "stream.bin"
    os.mkfifo(fifo)
    upload = MultipartFile(fifo, content_type="application/x-stream")
    form = MultipartForm()
    form.add_field("stream", upload)
    assert upload.size == 0  # a FIFO has no size; nothing was opened to learn it
    assert not _reader_holds(fifo)

    sending = asyncio.create_task(_send(server, form))
    loop = asyncio.get_running_loop()
    # Blocks until the form opens the FIFO for reading: the send has begun.
    writer = await loop.run_in_executor(None, os.open, fifo, os.O_WRONLY)
    try:
        assert _reader_holds(fifo)
        os.write(writer, b"streamed bytes")
    finally:
        os.close(writer)  # EOF ends the part
    result = await sending
    assert result["chunked"] is True  # a FIFO has no size: sent chunked
    assert result["parts"] == [
        {
            "name": "stream",
            "filename": "stream.bin",
            "content_type": "application/x-stream",
            "data": "streamed bytes",
        }
    ]
    assert not _reader_holds(fifo)  # closed after sending


async def test_missing_path_fails_before_sending(server: Any, tmp_path: Path) -> None:
    form = MultipartForm()
    form.add_field("f", MultipartFile(tmp_path / "gone.txt"))
    with pytest.raises(InvalidRequest, match=r"'f'.*cannot stat"):
        await _send(server, form)
    assert server.requests == 0


def test_size_file_obj_and_close(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"12345")
    upload = MultipartFile(str(path))
    assert (upload.file_path, upload.filename, upload.content_type) == (str(path), "data.bin", None)
    assert upload.size == 5
    file = upload.file_obj  # opened on first access, then the same object
    assert upload.file_obj is file
    assert file.read() == b"12345"
    upload.close()
    upload.close()
    assert file.closed
    assert MultipartFile(tmp_path / "missing").size == 0  # as published: unknown is 0

    caller_file = io.BytesIO(b"abcdef")
    caller_file.seek(2)
    wrapped = MultipartFile(caller_file)
    assert wrapped.size == 6
    assert caller_file.tell() == 2  # sizing left the position alone
    assert wrapped.file_obj is caller_file
    wrapped.close()
    assert not caller_file.closed  # the caller's file is never closed here


def test_unusable_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="path or a binary file object, got int"):
        MultipartFile(3)  # type: ignore[arg-type]
    text = tmp_path / "t.txt"
    text.write_text("x")
    with text.open() as handle, pytest.raises(InvalidRequest, match="text mode"):
        MultipartForm().add_field("t", MultipartFile(handle))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="CR, LF and NUL"):
        MultipartForm().add_field("t", MultipartFile(text, filename="a\r\nb"))


def test_published_import_paths() -> None:
    assert aiosonic.MultipartFile is MultipartFile
    assert aiosonic.multipart.MultipartFile is MultipartFile
