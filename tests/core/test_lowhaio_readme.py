"""The usage example of lowhaio's README runs unchanged against asynchttp_lowhaio.

The two snippets below are the README's, line for line, except: the import names our
package; the URL is a local TLS test server instead of https://example.com/path; the
Pool gets an SSL context trusting the test CA; and each snippet sits in a coroutine
(the README shows bare top-level ``await``). The README also writes
``((b'content-length': content_length),)``, a syntax error in Python, for the pair
``((b'content-length', content_length),)``; the pair is what lowhaio takes.
"""

from __future__ import annotations

import gc
import json
import os
import ssl
import zlib
from pathlib import Path

import pytest

import asynchttp_lowhaio as lowhaio
from tests.servers import run
from tests.servers.http_server import TestServer, pattern


def test_readme_streamed_file_post(
    https_server: TestServer, client_ssl_context: ssl.SSLContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pattern(200_000)
    (tmp_path / "my.file").write_bytes(data)
    monkeypatch.chdir(tmp_path)  # the README opens 'my.file' relative to the working directory
    url = https_server.url("/discard")
    printed: list[bytes] = []

    def print(chunk: bytes) -> None:  # noqa: A001 - the README prints each chunk
        printed.append(chunk)

    async def readme() -> None:
        from asynchttp_lowhaio import Pool

        request, _ = Pool(get_ssl_context=lambda: client_ssl_context)

        path = "my.file"
        content_length = str(os.stat(path).st_size).encode()

        async def file_data():
            with open(path, "rb") as file:
                for chunk in iter(lambda: file.read(16384), b""):
                    yield chunk

        code, headers, body = await request(
            b"POST",
            url,
            params=(),
            headers=((b"content-length", content_length),),
            body=file_data,
        )
        async for chunk in body:
            print(chunk)

    run(readme())
    gc.collect()  # the README never closes its pool: let its sockets go now
    answer = json.loads(b"".join(printed))
    assert answer == {"length": len(data), "crc32": zlib.crc32(data)}
    received = https_server.requests[0]
    assert received.header("content-length") == str(len(data))
    assert not received.chunked


def test_readme_streamed_and_buffered_helpers(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    url = https_server.url("/echo")
    results = {}

    async def readme() -> None:
        from asynchttp_lowhaio import Pool, buffered, streamed

        request, _ = Pool(get_ssl_context=lambda: client_ssl_context)

        content = b"some-data"
        content_length = b"9"
        code, headers, body = await request(
            b"POST",
            url,
            params=(),
            headers=((b"content-length", content_length),),
            body=streamed(content),
        )

        response = await buffered(body)
        results.update(code=code, headers=headers, response=response)

    run(readme())
    gc.collect()
    assert results["code"] == b"200"
    echoed = json.loads(results["response"])
    assert echoed["method"] == "POST" and echoed["body"] == "some-data"
    assert ["content-length", "9"] in echoed["headers"]


def test_module_alias_exposes_the_readme_names() -> None:
    for name in ("Pool", "streamed", "buffered", "HttpError", "HttpConnectionError", "HttpDataError"):
        assert hasattr(lowhaio, name)
