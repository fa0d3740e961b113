"""request(..., sink=..., resume=...): bodies streamed to disk or to a writable,
against real local servers (plain and TLS). Files are compared byte for byte (by
SHA-256) with what the server sent."""

from __future__ import annotations

import gzip
import hashlib
import http.client as http_client
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional

import httplib2
import pytest

import asynchttp
from asynchttp import _sink
from tests.facade import conftest as facade_fixtures
from tests.facade.conftest import WAIT, hang_guard, wait_until  # noqa: F401 - hang_guard: a fixture
from tests.servers.http_server import KNOWN_TEXT, Raw, Request, Response, TestServer, pattern
from tests.servers.leaks import LeakChecker

# the facade suite's Http factory (all shut down after)
make_http = facade_fixtures.make_http


@pytest.fixture
def http(make_http: Callable[..., asynchttp.Http]) -> asynchttp.Http:
    return make_http(blocking=True)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    return sha(path.read_bytes())


def part_of(path: Path) -> Path:
    return Path(str(path) + ".part")


# A body larger than one write batch, and not a multiple of it.
BIG = 3 * _sink.BATCH_BYTES + 12345


class RangeServer:
    """A route serving ``pattern(n)`` that honours ``Range: bytes=N-`` (206), or
    misbehaves as told by ``mode``: "ignore" (200 with the whole body), "shifted"
    (206 starting 1 byte early), "416", "short" (a 206 ending before the end)."""

    def __init__(self, server: TestServer, n: int) -> None:
        self.n = n
        self.mode = "honour"
        self.ranges: list[Optional[str]] = []
        server.route("/ranged", self.handle)

    async def handle(self, request: Request) -> Response:
        wanted = request.header("range")
        self.ranges.append(wanted)
        body = pattern(self.n)
        if wanted is None or self.mode == "ignore":
            return Response(body=body)
        start = int(re.match(r"bytes=(\d+)-$", wanted).group(1))  # type: ignore[union-attr]
        if self.mode == "416" or start >= self.n:
            return Response(status=416, body=b"unsatisfiable", headers=[("Content-Range", "bytes */%d" % self.n)])
        if self.mode == "shifted":
            start -= 1
        end = self.n - 1 if self.mode != "short" else self.n - 100
        return Response(
            status=206,
            body=body[start : end + 1],
            headers=[("Content-Range", "bytes %d-%d/%d" % (start, end, self.n))],
        )


# ---------------------------------------------------------------------------
# Path sinks


@pytest.mark.parametrize("path_query", ["/bytes?n=%d" % BIG, "/chunked?n=%d&size=7001" % BIG])
@pytest.mark.parametrize("blocking", [True, False])
def test_body_goes_to_the_file_byte_exact(
    http_server: TestServer, make_http: Callable[..., asynchttp.Http], tmp_path: Path, path_query: str, blocking: bool
) -> None:
    http = make_http(blocking=blocking)
    target = tmp_path / "out.bin"
    response, content = http.request(http_server.url(path_query), sink=target)
    assert response.status == 200
    assert content == b"" and type(bytes(content)) is bytes
    assert file_sha(target) == sha(pattern(BIG))
    assert not part_of(target).exists()
    future = response.future if not blocking else None
    if future is not None:
        assert future.body_bytes == BIG
    assert http_server.requests[-1].header("accept-encoding") == "identity"


def test_body_bytes_on_the_future_and_str_paths(http_server: TestServer, make_http: Any, tmp_path: Path) -> None:
    http = make_http()
    response, content = http.request(http_server.url("/bytes?n=1000"), sink=str(tmp_path / "a"))
    assert content == b""  # waits for the answer
    assert content.future.body_bytes == 1000
    assert (tmp_path / "a").read_bytes() == pattern(1000)
    plain_response, plain = http.request(http_server.url("/bytes?n=10"))
    assert plain == pattern(10) and plain.future.body_bytes is None


def test_a_body_delimited_by_close_is_taken_whole(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    async def until_close(request: Request) -> Response:
        async def body() -> Any:
            yield pattern(5000)

        return Response(body=body())  # no length, not chunked: ends when the server closes

    http_server.route("/until-close", until_close)
    target = tmp_path / "c.bin"
    response, _ = http.request(http_server.url("/until-close"), sink=target)
    assert response.status == 200 and target.read_bytes() == pattern(5000)


def test_a_short_body_leaves_no_file(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    async def short(request: Request) -> Raw:
        return Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + pattern(4000), close=True)

    http_server.route("/short", short)
    target = tmp_path / "s.bin"
    target.write_bytes(b"the previous, complete version")
    with pytest.raises(http_client.IncompleteRead):
        http.request(http_server.url("/short"), sink=target)
    assert target.read_bytes() == b"the previous, complete version"  # renamed only on success
    assert wait_until(lambda: not part_of(target).exists())


def test_a_short_body_with_resume_keeps_what_came(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    async def short(request: Request) -> Raw:
        return Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + pattern(4000), close=True)

    http_server.route("/short", short)
    target = tmp_path / "s.bin"
    with pytest.raises(http_client.IncompleteRead):
        http.request(http_server.url("/short"), sink=target, resume=True)
    assert not target.exists()
    assert wait_until(lambda: part_of(target).exists() and part_of(target).stat().st_size == 4000)
    assert part_of(target).read_bytes() == pattern(4000)


def test_non_2xx_answers_stay_in_memory_and_create_no_file(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    target = tmp_path / "n.bin"
    response, content = http.request(http_server.url("/status?code=404"), sink=target)
    assert response.status == 404 and content == b"status 404\n"
    assert not target.exists() and not part_of(target).exists()


def test_only_the_final_answer_of_redirects_goes_to_the_sink(
    http_server: TestServer, http: Any, tmp_path: Path
) -> None:
    target = tmp_path / "r.bin"
    response, content = http.request(http_server.url("/redirect?code=301&to=/bytes%3Fn%3D777"), sink=target)
    assert response.status == 200 and response.previous.status == 301
    assert target.read_bytes() == pattern(777)


def test_the_cache_is_bypassed(http_server: TestServer, make_http: Any, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    http = make_http(str(cache_dir), blocking=True)
    target = tmp_path / "k.bin"
    url = http_server.url("/cache?cache-control=max-age%3D3600")
    for _ in range(2):
        response, content = http.request(url, sink=target)
        assert response.status == 200 and not response.fromcache and content == b""
        assert target.stat().st_size > 0
    assert len([r for r in http_server.requests if r.path == "/cache"]) == 2  # sent both times
    assert not cache_dir.exists() or not any(cache_dir.iterdir())  # nothing stored


def test_a_missing_directory_is_the_request_error(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        http.request(http_server.url("/bytes?n=100"), sink=tmp_path / "no" / "such" / "dir")
    response, content = http.request(http_server.url("/hello"))  # the Http goes on
    assert content == b"hello world"


def test_an_encoded_body_is_written_as_sent(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    target = tmp_path / "g.gz"
    response, _ = http.request(http_server.url("/gzip"), sink=target, headers={"accept-encoding": "gzip"})
    assert response["content-encoding"] == "gzip"
    assert gzip.decompress(target.read_bytes()) == KNOWN_TEXT


def test_cancelling_mid_body_removes_the_part(
    http_server: TestServer, make_http: Any, tmp_path: Path, no_leaks: LeakChecker
) -> None:
    http = make_http()
    target = tmp_path / "x.bin"
    response, content = http.request(http_server.url("/stall-body?n=%d" % (4 * _sink.BATCH_BYTES)), sink=target)
    assert wait_until(lambda: part_of(target).exists() and part_of(target).stat().st_size > 0)
    assert response.cancel()
    assert wait_until(lambda: not part_of(target).exists())
    assert not target.exists()
    http.shutdown(wait=True)
    no_leaks.check()


# ---------------------------------------------------------------------------
# Writable sinks


def test_a_writable_sink_gets_every_byte(http_server: TestServer, http: Any) -> None:
    class Hasher:
        def __init__(self) -> None:
            self.digest = hashlib.sha256()
            self.calls = 0

        def write(self, data: bytes) -> None:
            self.calls += 1
            self.digest.update(data)

    hasher = Hasher()
    response, content = http.request(http_server.url("/stream?n=%d&chunked=1" % BIG), sink=hasher)
    assert content == b"" and hasher.digest.hexdigest() == sha(pattern(BIG))
    assert hasher.calls >= 3  # in pieces, never the whole body at once
    buffer = io.BytesIO()
    http.request(http_server.url("/echo"), sink=buffer)
    assert json.loads(buffer.getvalue())["method"] == "GET"


def test_a_failing_writable_fails_the_request(http_server: TestServer, http: Any) -> None:
    class Full:
        def write(self, data: bytes) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        http.request(http_server.url("/bytes?n=100"), sink=Full())


# ---------------------------------------------------------------------------
# Resume


def test_resume_appends_a_matching_206(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    ranged = RangeServer(http_server, BIG)
    target = tmp_path / "r.bin"
    part_of(target).write_bytes(pattern(BIG)[:1_500_000])
    response, content = http.request(http_server.url("/ranged"), sink=target, resume=True)
    assert response.status == 206 and content == b""
    assert ranged.ranges == ["bytes=1500000-"]
    assert file_sha(target) == sha(pattern(BIG)) and not part_of(target).exists()


def test_resume_without_a_part_is_a_plain_download(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    ranged = RangeServer(http_server, 5000)
    target = tmp_path / "p.bin"
    response, _ = http.request(http_server.url("/ranged"), sink=target, resume=True)
    assert response.status == 200 and ranged.ranges == [None] and target.read_bytes() == pattern(5000)


def test_resume_restarts_cleanly_on_a_200(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    ranged = RangeServer(http_server, 300_000)
    ranged.mode = "ignore"
    target = tmp_path / "r.bin"
    part_of(target).write_bytes(b"garbage that must not stay " * 20_000)  # longer than the answer
    response, _ = http.request(http_server.url("/ranged"), sink=target, resume=True)
    assert response.status == 200 and ranged.ranges == ["bytes=540000-"]
    assert file_sha(target) == sha(pattern(300_000))


@pytest.mark.parametrize("mode", ["shifted", "short"])
def test_resume_refuses_a_206_that_does_not_continue_the_file(
    http_server: TestServer, http: Any, tmp_path: Path, mode: str
) -> None:
    ranged = RangeServer(http_server, 100_000)
    ranged.mode = mode
    target = tmp_path / "r.bin"
    part_of(target).write_bytes(pattern(100_000)[:60_000])
    with pytest.raises(_sink.ResumeError):
        http.request(http_server.url("/ranged"), sink=target, resume=True)
    assert not target.exists()
    # the .part is kept for another try, with what it held (and for "short", what came)
    assert wait_until(lambda: part_of(target).read_bytes() == pattern(100_000)[: part_of(target).stat().st_size])
    assert part_of(target).stat().st_size in (60_000, 100_000 - 99)
    assert asynchttp.ResumeError is _sink.ResumeError and issubclass(_sink.ResumeError, httplib2.HttpLib2Error)


@pytest.mark.parametrize(
    "content_range, length",
    [
        (None, 40),  # no Content-Range at all
        ("bytes 60-99/*", 40),  # unknown total: accepted, see the test below
        ("bytes 60-99/80", 40),  # ends past the resource
        ("bytes 60-99/100", 10),  # Content-Length disagrees with the range
        ("items 60-99/100", 40),  # not a byte range
    ],
)
def test_resume_refuses_a_206_it_cannot_check(
    http_server: TestServer, http: Any, tmp_path: Path, content_range: Optional[str], length: int
) -> None:
    async def partial(request: Request) -> Raw:
        head = "HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\n" % length
        if content_range is not None:
            head += "Content-Range: %s\r\n" % content_range
        return Raw(head.encode() + b"\r\n" + pattern(100)[60 : 60 + length], close=True)

    http_server.route("/partial", partial)
    target = tmp_path / "r.bin"
    part_of(target).write_bytes(pattern(100)[:60])
    if content_range == "bytes 60-99/*":
        response, _ = http.request(http_server.url("/partial"), sink=target, resume=True)
        assert response.status == 206 and target.read_bytes() == pattern(100)
        return
    with pytest.raises(_sink.ResumeError):
        http.request(http_server.url("/partial"), sink=target, resume=True)
    assert part_of(target).read_bytes() == pattern(100)[:60] and not target.exists()


def test_resume_answered_416_is_an_answer_and_keeps_the_part(
    http_server: TestServer, http: Any, tmp_path: Path
) -> None:
    ranged = RangeServer(http_server, 1000)
    target = tmp_path / "r.bin"
    part_of(target).write_bytes(pattern(1000))
    response, content = http.request(http_server.url("/ranged"), sink=target, resume=True)
    assert response.status == 416 and content == b"unsatisfiable" and ranged.ranges == ["bytes=1000-"]
    assert part_of(target).read_bytes() == pattern(1000) and not target.exists()


def test_resume_through_imap(http_server: TestServer, make_http: Any, tmp_path: Path) -> None:
    http = make_http()
    RangeServer(http_server, 50_000)
    items = []
    for i in range(6):
        target = tmp_path / ("f%d" % i)
        part_of(target).write_bytes(pattern(50_000)[: i * 5000])
        items.append({"uri": http_server.url("/ranged"), "sink": target, "resume": True, "tag": target})
    outcomes = list(http.imap(items, window=3))
    assert len(outcomes) == 6
    for outcome in outcomes:
        assert outcome.ok and outcome.content == b""
        assert outcome.status == (200 if outcome.tag.name == "f0" else 206)
        assert outcome.future.body_bytes == 50_000 - int(outcome.tag.name[1:]) * 5000
        assert outcome.tag.read_bytes() == pattern(50_000) and not part_of(outcome.tag).exists()


# ---------------------------------------------------------------------------
# Arguments, TLS


def test_bad_sink_arguments(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    url = http_server.url("/hello")
    with pytest.raises(ValueError, match="needs a sink"):
        http.request(url, resume=True)
    with pytest.raises(ValueError, match="path sink"):
        http.request(url, sink=io.BytesIO(), resume=True)
    with pytest.raises(ValueError, match="HEAD"):
        http.request(url, "HEAD", sink=tmp_path / "h")
    with pytest.raises(TypeError):
        http.request(url, sink=42)
    part_of(tmp_path / "z").write_bytes(b"x")
    with pytest.raises(ValueError, match="Range"):
        http.request(url, sink=tmp_path / "z", resume=True, headers={"Range": "bytes=0-"})
    with pytest.raises(ValueError, match="connection_type"):
        http.request(url, sink=tmp_path / "y", connection_type=httplib2.HTTPConnectionWithTimeout)
    assert not (tmp_path / "h").exists() and not (tmp_path / "y").exists()


def test_sink_over_tls(tls: Any, make_http: Any, ca_bundle_path: str, tmp_path: Path) -> None:
    with TestServer(ssl_context=tls.server_context()) as server:
        ranged = RangeServer(server, BIG)
        http = make_http(ca_certs=ca_bundle_path, blocking=True)
        target = tmp_path / "t.bin"
        http.request(server.url("/bytes?n=%d" % BIG), sink=target)
        assert file_sha(target) == sha(pattern(BIG))
        part_of(target).write_bytes(pattern(BIG)[:777_777])
        response, _ = http.request(server.url("/ranged"), sink=target, resume=True)
        assert response.status == 206 and ranged.ranges == ["bytes=777777-"]
        assert file_sha(target) == sha(pattern(BIG))
        http.shutdown(wait=True)


def test_any_os_pathlike_is_a_path_sink(http_server: TestServer, http: Any, tmp_path: Path) -> None:
    class Where(os.PathLike[str]):
        def __fspath__(self) -> str:
            return str(tmp_path / "pl.bin")

    http.request(http_server.url("/bytes?n=12"), sink=Where())
    assert (tmp_path / "pl.bin").read_bytes() == pattern(12)

    class BytesWhere(os.PathLike[bytes]):
        def __fspath__(self) -> bytes:
            return os.fsencode(str(tmp_path / "pb.bin"))

    http.request(http_server.url("/bytes?n=13"), sink=BytesWhere())
    assert (tmp_path / "pb.bin").read_bytes() == pattern(13)
