"""Tests for aiosonic.multipart: bodies sent to a real aiohttp.web server, checked per field.

The HTTP client is written elsewhere, so a minimal raw sender writes the
request itself: Content-Length when the form knows its size, chunked otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import string
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import BodyPartReader, web

import aiosonic._multipart_sources as multipart_module
from aiosonic.exceptions import AiosonicError, InvalidRequest
from aiosonic.multipart import CHUNK_SIZE, MultipartForm, Part

HAS_PROC_FDS = Path("/proc/self/fd").is_dir()
needs_proc = pytest.mark.skipif(not HAS_PROC_FDS, reason="needs /proc/self/fd")
needs_fifo = pytest.mark.skipif(
    not (HAS_PROC_FDS and hasattr(os, "mkfifo")), reason="needs mkfifo and /proc"
)


# --- the server --------------------------------------------------------------


async def _echo_parts(request: web.Request) -> web.Response:
    """Describe every part as the aiohttp multipart reader parsed it."""
    reader = await request.multipart()
    parts = []
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        digest = hashlib.sha256()
        size = 0
        while chunk := await part.read_chunk(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
        parts.append(
            {
                "name": part.name,
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
                "disposition": part.headers.get("Content-Disposition"),
                "headers": dict(part.headers.items()),
                "size": size,
                "sha256": digest.hexdigest(),
            }
        )
    return web.json_response(
        {
            "parts": parts,
            "content_length": request.content_length,
            "transfer_encoding": request.headers.get("Transfer-Encoding"),
        }
    )


async def _echo_post(request: web.Request) -> web.Response:
    """Describe the form as ``request.post()`` decoded it."""
    fields: list[list[Any]] = []
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            data = value.file.read()
            fields.append([name, value.filename, value.content_type, _sha(data)])
        else:
            fields.append([name, value])
    return web.json_response(fields)


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_post("/parts", _echo_parts)
    app.router.add_post("/post", _echo_post)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


# --- the raw sender ----------------------------------------------------------


@dataclass
class Sent:
    status: int
    json: Any
    sent_bytes: int
    largest_chunk: int
    chunk_count: int
    length: int | None


async def post_form(port: int, form: MultipartForm, path: str = "/parts") -> Sent:
    """POST ``form`` with a hand-written HTTP/1.1 request and return the answer."""
    length = form.content_length()
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{key}: {value}" for key, value in form.get_headers(length).items()]
    if length is None:
        lines.append("Transfer-Encoding: chunked")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = largest = count = 0
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        async with aclosing(form.get_buffer()) as body:
            async for chunk in body:
                assert chunk, "get_buffer() yielded an empty chunk"
                sent += len(chunk)
                largest = max(largest, len(chunk))
                count += 1
                writer.write(chunk if length is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await writer.drain()
        if length is None:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    if length is not None:
        assert sent == length, "content_length() disagrees with the bytes streamed"
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status == 200, payload
    return Sent(status, json.loads(payload), sent, largest, count, length)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expect(
    name: str, data: bytes, filename: str | None = None, content_type: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "sha256": _sha(data),
    }


def seen(sent: Sent) -> list[dict[str, Any]]:
    keys = ("name", "filename", "content_type", "size", "sha256")
    return [{key: part[key] for key in keys} for part in sent.json["parts"]]


def open_count(path: Path) -> int:
    """Return how many descriptors of this process point at ``path``."""
    target = str(path.resolve())
    count = 0
    for entry in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{entry}") == target
        except OSError:
            continue
    return count


def is_open(path: Path) -> bool:
    return open_count(path) > 0


# --- fields of every kind ----------------------------------------------------


async def test_text_fields(port: int) -> None:
    form = MultipartForm()
    values = {"plain": "hello", "unicode": "héllo ✓", "empty": "", "lines": "a\r\nb\n--c"}
    for name, value in values.items():
        form.add_field(name, value)
    sent = await post_form(port, form)
    assert seen(sent) == [expect(name, value.encode()) for name, value in values.items()]
    assert sent.json["parts"][0]["disposition"] == 'form-data; name="plain"'
    assert sent.json["content_length"] == sent.sent_bytes


async def test_bytes_fields_and_mime_defaults(port: int) -> None:
    raw = bytes(range(256))
    form = MultipartForm()
    form.add_field("raw", raw)
    form.add_field("blob", raw, filename="blob")
    form.add_field("image", raw, filename="pic.PNG")
    form.add_part(Part("custom", raw, filename="pic.png", mime="text/x-custom"))
    form.add_part(Part("archive", raw, filename="a.tar.gz"))
    form.add_part(Part("text-file", "text", filename="notes.txt"))
    sent = await post_form(port, form)
    assert seen(sent) == [
        expect("raw", raw),
        expect("blob", raw, "blob", "application/octet-stream"),
        expect("image", raw, "pic.PNG", "image/png"),
        expect("custom", raw, "pic.png", "text/x-custom"),
        expect("archive", raw, "a.tar.gz", "application/octet-stream"),
        expect("text-file", b"text", "notes.txt", "text/plain"),
    ]


async def test_file_objects_are_read_not_closed_and_resent(port: int, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    (tmp_path / "report.txt").write_bytes(data)
    memory = io.BytesIO(b"0123456789")
    memory.seek(4)  # the part is what follows the position at add time
    form = MultipartForm()
    with open(tmp_path / "report.txt", "rb") as disk:
        form.add_field("disk", disk)
        form.add_field("memory", memory)
        form.add_field("renamed", io.BytesIO(b"abc"), filename="r.bin")
        first = await post_form(port, form)
        second = await post_form(port, form)  # a resend rewinds, e.g. after a 307
        assert not disk.closed and not memory.closed
    expected = [
        expect("disk", data, "report.txt", "text/plain"),
        expect("memory", b"456789", "file", "application/octet-stream"),
        expect("renamed", b"abc", "r.bin", "application/octet-stream"),
    ]
    assert seen(first) == seen(second) == expected
    assert first.largest_chunk <= CHUNK_SIZE


@needs_proc
async def test_add_file_streams_50mib_in_bounded_chunks(port: int, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(50):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    form = MultipartForm()
    form.add_field("note", "big one")
    form.add_file("upload", path)
    assert not is_open(path), "add_file() must not open the file"
    framing = len((await MultipartForm.from_dict({"note": "big one"}).get_body_size())[0])
    upload_head = (
        'Content-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    boundary_line = len(form.boundary) + 4
    expected_length = framing + boundary_line + len(upload_head) + 50 * 1024 * 1024 + 2
    assert form.content_length() == expected_length

    tracemalloc.start()
    try:
        sent = await post_form(port, form)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert seen(sent)[1] == {
        "name": "upload",
        "filename": "big.bin",
        "content_type": "application/octet-stream",
        "size": 50 * 1024 * 1024,
        "sha256": digest.hexdigest(),
    }
    assert sent.largest_chunk <= CHUNK_SIZE
    assert peak < 8 * 1024 * 1024, f"streaming 50 MiB peaked at {peak} bytes"
    assert not is_open(path)


async def test_add_file_is_lazy(port: int, tmp_path: Path) -> None:
    path = tmp_path / "later.csv"
    form = MultipartForm()
    form.add_file("f", str(path))  # does not exist yet: nothing is opened here
    path.write_bytes(b"a,b\n1,2\n")
    sent = await post_form(port, form)
    assert seen(sent) == [expect("f", b"a,b\n1,2\n", "later.csv", "text/csv")]


async def test_missing_file_fails_before_sending(tmp_path: Path) -> None:
    form = MultipartForm()
    form.add_file("gone", tmp_path / "gone.bin", filename="x.bin")
    with pytest.raises(InvalidRequest, match=r"'gone'.*cannot stat") as info:
        form.content_length()
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(InvalidRequest, match="cannot open"):
        await form.get_body_size()


# --- streams -----------------------------------------------------------------

STREAM_CHUNKS: list[bytes | bytearray] = [
    b"a" * 10,
    b"",
    b"b" * (3 * CHUNK_SIZE + 7),
    bytearray(b"c" * 5),
]
STREAM_DATA = b"".join(STREAM_CHUNKS)


def sync_stream() -> Iterator[bytes | bytearray]:
    yield from STREAM_CHUNKS


async def async_stream() -> AsyncIterator[bytes]:
    for chunk in STREAM_CHUNKS:
        await asyncio.sleep(0)
        yield bytes(chunk)


@pytest.mark.parametrize("make", [sync_stream, async_stream], ids=["sync", "async"])
@pytest.mark.parametrize("length", [len(STREAM_DATA), None], ids=["length", "no-length"])
async def test_stream_parts(port: int, make: Callable[[], Any], length: int | None) -> None:
    form = MultipartForm()
    form.add_field("before", "x")
    form.add_part(Part("stream", make(), filename="s.txt", length=length))
    form.add_field("after", "y")
    sent = await post_form(port, form)
    assert seen(sent) == [
        expect("before", b"x"),
        expect("stream", STREAM_DATA, "s.txt", "text/plain"),
        expect("after", b"y"),
    ]
    assert sent.length == (None if length is None else sent.sent_bytes)
    assert sent.json["transfer_encoding"] == (None if length else "chunked")
    assert sent.largest_chunk <= CHUNK_SIZE


async def test_stream_without_filename_has_no_content_type(port: int) -> None:
    form = MultipartForm()
    form.add_part(Part("s", iter([b"12", b"34"])))
    assert seen(await post_form(port, form)) == [expect("s", b"1234")]


@pytest.mark.parametrize("make", [sync_stream, async_stream], ids=["sync", "async"])
async def test_one_shot_iterator_cannot_be_sent_twice(make: Callable[[], Any]) -> None:
    form = MultipartForm()
    form.add_part(Part("s", make()))
    assert (await form.get_body_size())[0].count(STREAM_DATA) == 1
    with pytest.raises(InvalidRequest, match=r"'s'.*already sent once"):
        await form.get_body_size()


async def test_collection_can_be_sent_again() -> None:
    form = MultipartForm()
    form.add_part(Part("s", [b"ab", b"cd"], length=4))
    assert await form.get_body_size() == await form.get_body_size()


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"A" * 5], r"produced 5 of the 10 bytes"),
        ([b"A" * 8, b"B" * 7], r"produced more than the 10 bytes"),
    ],
    ids=["short", "long"],
)
async def test_stream_length_is_enforced(chunks: list[bytes], message: str) -> None:
    form = MultipartForm()
    form.add_part(Part("s", iter(chunks), length=10))
    assert form.content_length() is not None
    received = b""
    with pytest.raises(InvalidRequest, match=message):
        async for chunk in form.get_buffer():
            received += chunk
    assert b"B" not in received, "bytes past the announced length were yielded"


async def test_stream_of_str_is_refused() -> None:
    form = MultipartForm()
    form.add_part(Part("s", iter(["text"])))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="'s' produced str, expected bytes"):
        await form.get_body_size()


# --- a file that changes under us ---------------------------------------------


@needs_proc
@pytest.mark.parametrize("change", ["grow", "shrink"])
async def test_file_changed_after_content_length(tmp_path: Path, change: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 1000)
    form = MultipartForm()
    form.add_file("f", path)
    length = form.content_length()
    path.write_bytes(b"x" * (2000 if change == "grow" else 10))
    received = b""
    with pytest.raises(InvalidRequest, match="'f' produced") as info:
        async for chunk in form.get_buffer():
            received += chunk
    assert isinstance(info.value, AiosonicError)
    assert length is not None and len(received) < length
    assert not is_open(path)
    assert form.content_length() != length  # a fresh measure accepts the new size
    assert len((await form.get_body_size())[0]) == form.content_length()


# --- names and filenames -----------------------------------------------------


async def test_non_ascii_filename(port: int) -> None:
    form = MultipartForm()
    form.add_field("doc", b"%PDF", filename="résumé ✓.pdf")
    sent = await post_form(port, form)
    assert seen(sent) == [expect("doc", b"%PDF", "résumé ✓.pdf", "application/pdf")]
    assert sent.json["parts"][0]["disposition"] == (
        'form-data; name="doc"; filename="résumé ✓.pdf"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%9C%93.pdf"
    )


async def test_quotes_and_backslashes_are_escaped(port: int) -> None:
    form = MultipartForm()
    form.add_field('say "hi"', "1")
    form.add_field("trail\\", b"2", filename='a\\b"c.txt')
    form.add_field("semi;colon", "3")
    sent = await post_form(port, form)
    dispositions = [part["disposition"] for part in sent.json["parts"]]
    assert dispositions == [
        'form-data; name="say %22hi%22"',
        'form-data; name="trail\\\\"; filename="a\\\\b%22c.txt"',
        'form-data; name="semi;colon"',
    ]
    # aiohttp undoes quoted-pairs but, unlike the HTML spec, not %22.
    assert seen(sent) == [
        expect("say %22hi%22", b"1"),
        expect("trail\\", b"2", "a\\b%22c.txt", "text/plain"),
        expect("semi;colon", b"3"),
    ]


def _part_with(where: str, bad: str) -> Part:
    if where == "name":
        return Part(f"a{bad}b", "v")
    if where == "filename":
        return Part("n", b"v", filename=f"f{bad}.txt")
    if where == "mime":
        return Part("n", b"v", mime=f"text/plain{bad}X-Injected: 1")
    if where == "header-name":
        return Part("n", b"v", headers={f"X-A{bad}": "1"})
    return Part("n", b"v", headers={"X-A": f"1{bad}X-Injected: 1"})


@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "\r\n"], ids=["CR", "LF", "NUL", "CRLF"])
@pytest.mark.parametrize("where", ["name", "filename", "mime", "header-name", "header-value"])
def test_control_characters_rejected_at_add_time(where: str, bad: str) -> None:
    with pytest.raises(InvalidRequest, match="CR, LF and NUL are refused") as info:
        _part_with(where, bad)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
def test_form_stays_unchanged_when_a_field_is_rejected(bad: str) -> None:
    form = MultipartForm()
    with pytest.raises(InvalidRequest):
        form.add_field(f"x{bad}", "v")
    with pytest.raises(InvalidRequest):
        form.add_field("x", io.BytesIO(b"v"), filename=f"f{bad}")
    with pytest.raises(InvalidRequest):
        form.add_file("x", "/tmp/whatever", filename=f"f{bad}")
    with pytest.raises(InvalidRequest):
        MultipartForm.from_dict({f"x{bad}": "v"})
    assert form.parts == ()


def test_header_rules() -> None:
    with pytest.raises(InvalidRequest, match="not an RFC 9110 token"):
        Part("n", "v", headers={"X Bad": "1"})
    with pytest.raises(InvalidRequest, match="set name/filename"):
        Part("n", "v", headers={"content-disposition": "form-data"})
    with pytest.raises(InvalidRequest, match="both mime and a Content-Type"):
        Part("n", "v", mime="a/b", headers={"Content-Type": "c/d"})
    part = Part("n", b"v", filename="x.png", headers={"content-type": "image/webp"})
    assert part.mime == "image/webp" and dict(part.headers) == {}


async def test_extra_headers_reach_the_server(port: int) -> None:
    form = MultipartForm()
    form.add_part(Part("n", b"v", headers={"X-Checksum": "abc", "Content-Language": "fr"}))
    headers = (await post_form(port, form)).json["parts"][0]["headers"]
    assert headers["X-Checksum"] == "abc" and headers["Content-Language"] == "fr"


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (io.StringIO("t"), {}, "text mode"),
        (42, {}, "unsupported value type int"),
        (b"abc", {"length": 4}, "length=4 but the value is 3 bytes"),
        (iter([]), {"length": -1}, "length must be an int >= 0"),
        (iter([]), {"length": True}, "length must be an int >= 0"),
    ],
)
def test_bad_values_rejected(value: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        Part("n", value, **kwargs)


def test_add_part_needs_a_part() -> None:
    with pytest.raises(InvalidRequest, match="expects a Part"):
        MultipartForm().add_part("n")  # type: ignore[arg-type]


# --- boundary ----------------------------------------------------------------


def test_boundary_is_random_and_well_formed() -> None:
    boundaries = {MultipartForm().boundary for _ in range(1000)}
    assert len(boundaries) == 1000
    for boundary in boundaries:
        random_part = boundary.removeprefix("aiosonic-")
        assert len(random_part) >= 32 and set(random_part) <= set(string.hexdigits)
        assert len(boundary) <= 70  # RFC 2046 §5.1.1


@pytest.mark.parametrize("as_bytes", [False, True])
async def test_boundary_changes_when_a_value_contains_it(port: int, as_bytes: bool) -> None:
    form = MultipartForm()
    form.add_field("first", "safe")
    old = form.boundary
    value = f"prefix\r\n--{old}--\r\nsuffix"
    form.add_field("evil", value.encode() if as_bytes else value)
    assert form.boundary != old
    assert form.get_headers()["Content-Type"] == f"multipart/form-data; boundary={form.boundary}"
    sent = await post_form(port, form)
    assert seen(sent) == [expect("first", b"safe"), expect("evil", value.encode())]


# --- lifetimes of files we open ----------------------------------------------


@needs_proc
async def test_file_closed_after_streaming_and_after_aclose(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * (3 * CHUNK_SIZE))
    form = MultipartForm()
    form.add_file("f", path)
    body, _ = await form.get_body_size()
    assert body.count(b"z") == 3 * CHUNK_SIZE and not is_open(path)

    buffer = form.get_buffer()
    await anext(buffer)  # the part's headers
    await anext(buffer)  # the first data chunk: the file is open now
    assert is_open(path)
    await buffer.aclose()
    assert not is_open(path)


@needs_fifo
async def test_cancelled_open_closes_the_file_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    closed = asyncio.Event()
    original = multipart_module._close_opened

    def spy(opening: asyncio.Future[Any]) -> None:
        original(opening)
        closed.set()

    monkeypatch.setattr(multipart_module, "_close_opened", spy)
    form = MultipartForm()
    form.add_file("f", fifo)
    assert form.content_length() is None  # a pipe has no size: chunked
    headers_sent = asyncio.Event()

    async def consume() -> None:
        async for _ in form.get_buffer():
            headers_sent.set()  # next: open() blocks in a worker until a writer comes

    task = asyncio.create_task(consume())
    await headers_sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    writer = os.open(fifo, os.O_RDWR)  # lets the blocked open() finish
    try:
        await closed.wait()
        assert open_count(fifo) == 1  # only the test's own descriptor
    finally:
        os.close(writer)


@needs_fifo
async def test_cancelled_read_closes_the_file_when_the_read_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    closed = asyncio.Event()
    original = multipart_module._close_when_done

    def spy(close: Callable[[], None], task: asyncio.Future[Any]) -> None:
        original(close, task)
        closed.set()

    monkeypatch.setattr(multipart_module, "_close_when_done", spy)
    writer = os.open(fifo, os.O_RDWR)
    try:
        await asyncio.to_thread(os.write, writer, b"\x01" * CHUNK_SIZE)
        form = MultipartForm()
        form.add_file("f", fifo)
        got_data = asyncio.Event()

        async def consume() -> None:
            async for chunk in form.get_buffer():
                if chunk.startswith(b"\x01"):
                    got_data.set()  # next: read() blocks in a worker on the empty pipe

        task = asyncio.create_task(consume())
        await got_data.wait()
        assert open_count(fifo) == 2  # the test's writer and the form's reader
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not closed.is_set()  # closing under the blocked read would stall the loop
    finally:
        os.close(writer)  # EOF: the read ends, then the file is closed
    await closed.wait()
    assert not is_open(fifo)


# --- sizes -------------------------------------------------------------------


def _fixed_forms(tmp_path: Path) -> dict[str, MultipartForm]:
    (tmp_path / "f.txt").write_bytes(b"file data " * 5000)
    forms: dict[str, MultipartForm] = {}
    forms["empty"] = MultipartForm()
    forms["text"] = MultipartForm.from_dict({"a": "1", "ü": "ß ✓", "n": 7})
    forms["bytes"] = MultipartForm.from_dict({"b": b"\x00" * 70_000})
    forms["path"] = MultipartForm.from_dict({"p": tmp_path / "f.txt"})
    forms["file-object"] = MultipartForm.from_dict({"o": io.BytesIO(b"q" * 100_000)})
    stream = MultipartForm()
    stream.add_part(Part("s", iter([b"12", b"345"]), length=5, filename="é.bin"))
    forms["stream"] = stream
    mixed = MultipartForm()
    for form in list(forms.values()):
        for part in form.parts:
            if part.name != "s":
                mixed.add_part(part)
    forms["mixed"] = mixed
    return forms


@pytest.mark.parametrize(
    "case", ["empty", "text", "bytes", "path", "file-object", "stream", "mixed"]
)
async def test_content_length_matches_the_bytes(tmp_path: Path, case: str) -> None:
    form = _fixed_forms(tmp_path)[case]
    length = form.content_length()
    body, size = await form.get_body_size()
    assert length == size == len(body)
    assert body.endswith(f"--{form.boundary}--\r\n".encode())
    assert form.get_headers(size) == {
        "Content-Type": f"multipart/form-data; boundary={form.boundary}",
        "Content-Length": str(size),
    }


async def test_small_pieces_are_coalesced(port: int) -> None:
    form = MultipartForm.from_dict({f"f{i}": str(i) for i in range(1000)})
    sent = await post_form(port, form)
    assert len(sent.json["parts"]) == 1000
    assert sent.largest_chunk == CHUNK_SIZE
    assert sent.chunk_count == -(-sent.sent_bytes // CHUNK_SIZE)


async def test_empty_form(port: int) -> None:
    form = MultipartForm()
    assert await form.get_body_size() == (f"--{form.boundary}--\r\n".encode(), 47)
    assert (await post_form(port, form)).json["parts"] == []


# --- from_dict and compatibility ---------------------------------------------


async def test_from_dict(port: int, tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8 jpeg")
    with open(tmp_path / "photo.jpg", "rb") as photo:
        form = MultipartForm.from_dict(
            {
                "title": "trip",
                "count": 3,
                "ratio": 0.5,
                "raw": b"bytes value",
                "photo": photo,
                "by_path": tmp_path / "photo.jpg",
                "tags": ["a", "b"],
                "part": Part("part", b"p", filename="p.bin"),
                "flag": True,
                "off": False,
                "none": None,
            }
        )
        fields = (await post_form(port, form, "/post")).json
    jpeg = _sha(b"\xff\xd8 jpeg")
    assert fields == [
        ["title", "trip"],
        ["count", "3"],
        ["ratio", "0.5"],
        ["raw", "bytes value"],
        ["photo", "photo.jpg", "image/jpeg", jpeg],
        ["by_path", "photo.jpg", "image/jpeg", jpeg],
        ["tags", "a"],
        ["tags", "b"],
        ["part", "p.bin", "application/octet-stream", _sha(b"p")],
        # The same words as a urlencoded form or a query: true, false, "".
        ["flag", "true"],
        ["off", "false"],
        ["none", ""],
    ]


async def test_from_dict_takes_pairs_too(port: int) -> None:
    form = MultipartForm.from_dict((("a", "1"), ("a", 2), ("b", [True, None])))
    fields = (await post_form(port, form, "/post")).json
    assert fields == [["a", "1"], ["a", "2"], ["b", "true"], ["b", ""]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nested": [[1]]}, "'nested': cannot send a value of type list"),
        ((("a",),), "not a \\(name, value\\) pair"),
        ({"key": Part("other", "v")}, "'other' given under key 'key'"),
        ({"obj": object()}, "'obj': cannot send a value of type object"),
    ],
)
def test_from_dict_rejects(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        MultipartForm.from_dict(data)


async def test_get_body_size_equals_streamed_body() -> None:
    form = MultipartForm.from_dict({"a": "1", "b": b"2" * 200_000})
    streamed = b"".join([chunk async for chunk in form.get_buffer()])
    assert await form.get_body_size() == (streamed, len(streamed))
    assert form.get_headers() == {"Content-Type": form.content_type}
    assert form.get_headers(0)["Content-Length"] == "0"


def test_repr() -> None:
    form = MultipartForm()
    form.add_field("a", "1")
    form.add_part(Part("s", iter([b"x"]), filename="s.bin"))
    assert repr(form) == f"<MultipartForm parts=2 boundary={form.boundary!r}>"
    assert (
        repr(form.parts[1])
        == "<Part 's' SyncStream filename='s.bin' mime='application/octet-stream'>"
    )
