"""google-apitools (what generated Google clients such as gsutil's are built on): its
transport core ``http_wrapper.MakeRequest`` (retries on 5xx, 429 and transport errors)
and ``transfer.Download`` (ranged chunks written to a stream).

The Http is passed in, or built by ``http_wrapper.GetHttp()`` (which calls
``httplib2.Http()``) for the swapped ways. ``time.sleep`` is the one thing patched.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any

import pytest
from apitools.base.py import exceptions, http_wrapper, transfer

from tests.realworld.conftest import NOT_A_BUFFER, Way, ways
from tests.servers.http_server import pattern
from tests.servers.realworld import BLOB_SIZE, GoogleLikeApi

PROMISE_WRITE_REASON = (
    "apitools' Download writes response.content into its stream: a content promise is "
    "not a buffer before Python 3.12, so io.BytesIO.write raises TypeError, and "
    "apitools' fallback then decodes the binary body as UTF-8 (UnicodeDecodeError)"
)
DOWNLOAD_XFAIL = (
    {"Http": (PROMISE_WRITE_REASON, UnicodeDecodeError), "swap-Http": (PROMISE_WRITE_REASON, UnicodeDecodeError)}
    if NOT_A_BUFFER
    else {}
)


def _http(way: Way) -> Any:
    http = way.http()
    if http is None:
        http = http_wrapper.GetHttp(timeout=10)
    assert type(http) is way.cls
    return http


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    record: list[float] = []
    monkeypatch.setattr(time, "sleep", record.append)
    return record


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_make_request_retries_500_and_429(way: Way, google_api: GoogleLikeApi, slept: list[float]) -> None:
    http = _http(way)
    google_api.flaky_plan["a"] = [500, 429, 503]
    request = http_wrapper.Request(google_api.server.url("/things/v1/flaky?plan=a"))
    response = http_wrapper.MakeRequest(http, request, retries=5)
    assert response.status_code == 200
    assert b'"name": "a"' in bytes(response.content)
    assert len(slept) == 3
    assert 308 not in http.redirect_codes  # MakeRequest takes it out, as for httplib2

    google_api.flaky_plan["b"] = [500, 500]
    with pytest.raises(exceptions.BadStatusCodeError):
        http_wrapper.MakeRequest(
            http, http_wrapper.Request(google_api.server.url("/things/v1/flaky?plan=b")), retries=2
        )


@pytest.mark.parametrize("way", ways(), indirect=True)
def test_make_request_retries_refused_connection(way: Way, slept: list[float]) -> None:
    """apitools retries in a try around its whole request-and-check step, where
    a promise's error also surfaces: this works with promises too."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = http_wrapper.Request(f"http://127.0.0.1:{port}/nothing")
    with pytest.raises(ConnectionRefusedError):
        http_wrapper.MakeRequest(_http(way), request, retries=3)
    assert len(slept) == 2


@pytest.mark.parametrize("way", ways(xfail=DOWNLOAD_XFAIL), indirect=True)
def test_chunked_download_to_stream(way: Way, google_api: GoogleLikeApi) -> None:
    stream = io.BytesIO()
    download = transfer.Download.FromStream(stream, auto_transfer=True, chunksize=64 * 1024)
    download.InitializeDownload(http_wrapper.Request(google_api.server.url("/media/blob")), http=_http(way))
    assert stream.getvalue() == pattern(BLOB_SIZE)
    ranges = [r.header("range") for r in google_api.server.requests]
    assert ranges == ["bytes=0-65535", "bytes=65536-131071", "bytes=131072-196607", "bytes=196608-199999"]
