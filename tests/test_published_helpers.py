"""The published helper modules kept for code that imports them: structures, compression, utils."""

from __future__ import annotations

import gzip
import logging
from urllib.parse import urlparse

import pytest

from aiosonic.compression import DEFAULT_MAX_DECOMPRESSED_SIZE, decompress_body, get_decompressor
from aiosonic.exceptions import DecompressionError
from aiosonic.structures import CaseInsensitiveDict
from aiosonic.utils import (
    connection_key,
    default_port,
    get_debug_logger,
    join_url,
    merge_params,
    parse_link_header,
    url_without_userinfo,
)


def test_case_insensitive_dict() -> None:
    cid = CaseInsensitiveDict({"Accept": "a"}, X=1)
    assert cid["ACCEPT"] == "a" and "accept" in cid and list(cid) == ["Accept", "X"]
    cid["accept"] = "b"
    assert list(cid) == ["accept", "X"] and cid == {"ACCEPT": "b", "x": 1}
    assert dict(cid.lower_items()) == {"accept": "b", "x": 1}
    copy = cid.copy()
    del copy["X"]
    assert len(copy) == 1 and len(cid) == 2
    assert repr(copy) == "CaseInsensitiveDict({'accept': 'b'})"


def test_compression_helpers() -> None:
    assert DEFAULT_MAX_DECOMPRESSED_SIZE == 100 * 1024 * 1024
    assert decompress_body(gzip.compress(b"x" * 100), "gzip") == b"x" * 100
    assert decompress_body(b"plain", "identity") == b"plain"
    with pytest.raises(DecompressionError):
        decompress_body(gzip.compress(b"x" * 100), "gzip", max_size=10)
    decoder = get_decompressor("gzip")
    assert decoder is not None and decoder.decode(gzip.compress(b"ab")) + decoder.flush() == b"ab"


def test_utils() -> None:
    url = urlparse("https://u:p@h.test/x?q=1")
    assert default_port(url) == 443 and default_port(urlparse("http://h:8080/")) == 8080
    assert connection_key(url) == "https://h.test:443"
    assert url_without_userinfo(url) == "https://h.test/x?q=1"
    assert join_url("http://h/api/", "/v1") == "http://h/api/v1"
    assert join_url("http://h/api", "https://o/") == "https://o/"
    assert merge_params({"a": 1, "b": 2}, [("b", 3)]) == [("a", 1), ("b", 3)]
    assert merge_params(None, {"a": 1}) == {"a": 1}
    assert parse_link_header('<http://h/2>; rel="next"') == [{"url": "http://h/2", "rel": "next"}]
    logger = get_debug_logger()
    assert logger is logging.getLogger("aiosonic") and not logger.handlers
