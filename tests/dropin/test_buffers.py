"""Issue 14 item 3: a content promise is a buffer where Python allows it (PEP 688,
Python 3.12+); before 3.12 the TypeError C code raises names the fix wherever it
shows the type's name. ``bytes(content)`` works on every version."""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

import asynchttp
from asynchttp import ContentPromise
from tests.dropin.conftest import WAIT
from tests.servers.http_server import TestServer

BUFFERS = sys.version_info >= (3, 12)
HINT = "use bytes(content), or BlockingHttp for libraries"


@pytest.fixture
def content(http_server: TestServer, made: list) -> Any:
    http = asynchttp.Http(timeout=WAIT, proxy_info=None)
    made.append(http)
    _, content = http.request(http_server.url("/hello"))
    assert type(content) is ContentPromise
    return content


def uses(tmp_path: Path) -> dict[str, Any]:
    """What googleapiclient's MediaIoBaseDownload, apitools and wadllib do with content."""
    return {
        "BytesIO.write": lambda c: (lambda b: (b.write(c), b.getvalue())[1])(io.BytesIO()),
        "file.write": lambda c: _write_file(tmp_path / "out.bin", c),
        "hashlib": lambda c: hashlib.sha256(c).hexdigest(),
        "memoryview": lambda c: memoryview(c).tobytes(),
        "join": lambda c: b"".join([c]),
    }


def _write_file(path: Path, content: Any) -> bytes:
    with open(path, "wb") as out:
        out.write(content)
    return path.read_bytes()


EXPECTED = {
    "BytesIO.write": b"hello world",
    "file.write": b"hello world",
    "hashlib": hashlib.sha256(b"hello world").hexdigest(),
    "memoryview": b"hello world",
    "join": b"hello world",
}


@pytest.mark.skipif(not BUFFERS, reason="PEP 688 buffers from Python need 3.12")
@pytest.mark.parametrize("use", sorted(EXPECTED))
def test_content_is_a_buffer(use: str, content: Any, tmp_path: Path) -> None:
    assert uses(tmp_path)[use](content) == EXPECTED[use]


@pytest.mark.skipif(BUFFERS, reason="before 3.12 only")
@pytest.mark.parametrize("use", ["BytesIO.write", "file.write", "memoryview", "join"])
def test_before_312_the_type_error_names_the_fix(use: str, content: Any, tmp_path: Path) -> None:
    with pytest.raises(TypeError) as raised:
        uses(tmp_path)[use](content)
    assert HINT in str(raised.value)


@pytest.mark.skipif(BUFFERS, reason="before 3.12 only")
def test_before_312_hashlib_refuses_without_a_type_name(content: Any) -> None:
    """hashlib's message names no type, so it cannot carry the hint (docs/httplib2.rst says so)."""
    with pytest.raises(TypeError, match="buffer API"):
        hashlib.sha256(content)


@pytest.mark.parametrize("use", sorted(EXPECTED))
def test_the_fix_works_everywhere(use: str, content: Any, tmp_path: Path) -> None:
    assert uses(tmp_path)[use](bytes(content)) == EXPECTED[use]


def test_blocking_http_content_is_real_bytes(http_server: TestServer, made: list, tmp_path: Path) -> None:
    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)
    made.append(http)
    _, content = http.request(http_server.url("/hello"))
    assert type(content) is bytes
    for use, run in uses(tmp_path).items():
        assert run(content) == EXPECTED[use]


def test_the_type_keeps_its_qualified_name(content: Any) -> None:
    """The hint is in ``__name__`` only (what C error messages show): repr, pickling and
    the module's attribute are unchanged."""
    assert ContentPromise.__qualname__ == "ContentPromise"
    assert repr(ContentPromise) == "<class 'asynchttp._promise.ContentPromise'>"
    assert type(pickle.loads(pickle.dumps(content))) is bytes
    assert asynchttp.ContentPromise is ContentPromise


def test_the_response_promise_is_not_a_buffer(http_server: TestServer, made: list) -> None:
    http = asynchttp.Http(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, _ = http.request(http_server.url("/hello"))
    with pytest.raises(TypeError):
        memoryview(response)
