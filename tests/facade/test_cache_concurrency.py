"""The cache under concurrency: queued requests for one URL behave as httplib2's serial loop.

While a cacheable request (GET, HEAD...) for a cache key is in flight on an Http, a
later one for the same key waits for it, then runs as httplib2 would run it next:
served from the cache, revalidated, or sent. The real local server counts what it
received. Requests without a cache and other URLs never wait (an unsafe method waits
for a read in flight but makes none wait), and a failed or cancelled first request
releases the ones behind it.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import httplib2
import pytest

import asynchttp
from asynchttp import _semantics
from tests.servers.http_server import Raw, Request, Response, TestServer

WAIT = 10.0  # every wait in these tests is bounded by this


class Gates:
    """Server-side gates: a route handler waits on one until the test opens it, and
    every arrival is counted, so a test can wait for N requests to be in flight."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.arrived: dict[str, int] = {}
        self._cond = threading.Condition()
        self._events: dict[str, asyncio.Event] = {}

    def arrive(self, path: str) -> int:
        with self._cond:
            self.arrived[path] = self.arrived.get(path, 0) + 1
            self._cond.notify_all()
            return self.arrived[path]

    def wait_arrived(self, path: str, count: int) -> int:
        with self._cond:
            assert self._cond.wait_for(lambda: self.arrived.get(path, 0) >= count, WAIT), (path, self.arrived)
            return self.arrived[path]

    def event(self, name: str) -> asyncio.Event:
        return self._events.setdefault(name, asyncio.Event())  # used on the server loop only

    async def wait_open(self, name: str) -> None:
        await asyncio.wait_for(self.event(name).wait(), WAIT)

    def open(self, name: str) -> None:
        self.server.call(lambda: self.event(name).set())


def _dated(*headers: tuple[str, str]) -> list[tuple[str, str]]:
    # httplib2 judges freshness from Date: without it nothing is ever fresh
    return [("Date", email.utils.formatdate(usegmt=True)), *headers]


def _count(server: TestServer, path: str) -> int:
    return sum(1 for request in server.requests if request.path == path)


@pytest.fixture
def gated(http_server: TestServer) -> Iterator[tuple[TestServer, Gates]]:
    gates = Gates(http_server)

    async def fresh(request: Request) -> Response:
        gates.arrive("/fresh")
        await gates.wait_open("fresh")
        return Response(
            body=b"fresh", headers=_dated(("Cache-Control", "max-age=3600"), ("Content-Type", "text/plain"))
        )

    async def moved(request: Request) -> Response:
        gates.arrive("/moved")
        await gates.wait_open("moved")
        return Response(301, b"", headers=[("Location", "/target")])

    async def target(request: Request) -> Response:
        return Response(body=b"target", headers=[("Cache-Control", "no-store")])

    async def nostore(request: Request) -> Response:
        n = gates.arrive("/nostore")
        await gates.wait_open("first" if n == 1 else "rest")
        return Response(body=b"n%d" % n, headers=[("Cache-Control", "no-store")])

    async def flaky(request: Request) -> Any:
        n = gates.arrive("/flaky")
        if n == 1:
            await gates.wait_open("flaky")
            # a body cut short: the first request fails (IncompleteRead), with no retry
            return Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=60\r\n\r\nshort", close=True)
        return Response(body=b"whole", headers=_dated(("Cache-Control", "max-age=60")))

    async def held(request: Request) -> Response:
        gates.arrive(request.path)
        await gates.wait_open(request.path)
        return Response(body=b"held", headers=_dated(("Cache-Control", "max-age=60")))

    for path, handler in {
        "/fresh": fresh,
        "/moved": moved,
        "/target": target,
        "/nostore": nostore,
        "/flaky": flaky,
        "/held": held,
        "/held2": held,
    }.items():
        http_server.route(path, handler)
    yield http_server, gates


class DictCache:
    """A get/set/delete cache that is not a FileCache (memcache-like)."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        return self.store.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.store[key] = value

    def delete(self, key: str) -> None:
        self.store.pop(key, None)


CACHES: dict[str, Callable[[Path], Any]] = {
    "dict-like": lambda tmp: DictCache(),
    "FileCache dir": lambda tmp: str(tmp / "cache"),
}


@pytest.mark.parametrize("cache", list(CACHES))
def test_thousand_queued_requests_send_one(cache: str, gated: tuple, tmp_path: Path) -> None:
    server, gates = gated
    http = asynchttp.Http(cache=CACHES[cache](tmp_path))
    try:
        promises = [http.request(server.url("/fresh")) for _ in range(1000)]
        gates.wait_arrived("/fresh", 1)
        gates.open("fresh")
        results = [(response.status, response.fromcache, bytes(content)) for response, content in promises]
    finally:
        http.close()
    assert _count(server, "/fresh") == 1
    assert results[0] == (200, False, b"fresh")
    assert results[1:] == [(200, True, b"fresh")] * 999


def test_blocking_threads_send_one(gated: tuple, tmp_path: Path) -> None:
    """BlockingHttp shared by threads: whichever runs first sends, every other waits or
    finds the entry: never a second request for a fresh resource."""
    server, gates = gated
    gates.open("fresh")
    http = asynchttp.BlockingHttp(cache=str(tmp_path / "cache"))
    results: list = []

    def fetch() -> None:
        response, content = http.request(server.url("/fresh"))
        results.append((response.status, bytes(content)))

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    finally:
        http.close()
    assert results == [(200, b"fresh")] * 20
    assert _count(server, "/fresh") == 1


def _serial_httplib2_counts(server: TestServer, path: str, times: int) -> tuple[list, dict]:
    http = httplib2.Http(cache=DictCache())
    seen = []
    before = {p: _count(server, p) for p in ("/moved", "/target")}
    for _ in range(times):
        response, content = http.request(server.url(path))
        seen.append((response.status, content, response.previous.status, response.previous.fromcache))
    return seen, {p: _count(server, p) - before[p] for p in before}


def test_permanent_redirect_cached_by_the_first_serves_the_second(gated: tuple) -> None:
    server, gates = gated
    http = asynchttp.Http(cache=DictCache())
    try:
        first, second = http.request(server.url("/moved")), http.request(server.url("/moved"))
        gates.wait_arrived("/moved", 1)
        gates.open("moved")
        ours = [(r.status, bytes(c), r.previous.status, r.previous.fromcache) for r, c in (first, second)]
    finally:
        http.close()
    counts = {"/moved": _count(server, "/moved"), "/target": _count(server, "/target")}
    theirs, their_counts = _serial_httplib2_counts(server, "/moved", 2)
    assert ours == theirs == [(200, b"target", 301, False), (200, b"target", 301, True)]
    assert counts == their_counts == {"/moved": 1, "/target": 2}


def test_not_cacheable_answer_lets_the_waiters_send_at_once(gated: tuple) -> None:
    """no-store: each request sends itself, as in httplib2's loop; those that waited
    for the first are then sent together, not one after another."""
    server, gates = gated
    http = asynchttp.Http(cache=DictCache())
    try:
        promises = [http.request(server.url("/nostore")) for _ in range(5)]
        gates.wait_arrived("/nostore", 1)
        gates.open("first")
        # the four that waited are now all at the server at once ("rest" is still shut)
        gates.wait_arrived("/nostore", 5)
        gates.open("rest")
        bodies = sorted(bytes(content) for _, content in promises)
    finally:
        http.close()
    assert bodies == [b"n1", b"n2", b"n3", b"n4", b"n5"]
    assert _count(server, "/nostore") == 5


def test_failed_first_request_releases_the_waiters(gated: tuple) -> None:
    server, gates = gated
    http = asynchttp.Http(cache=DictCache())
    try:
        promises = [http.request(server.url("/flaky")) for _ in range(3)]
        gates.wait_arrived("/flaky", 1)
        gates.open("flaky")
        first_response, first_content = promises[0]
        with pytest.raises(Exception) as caught:
            bytes(first_content)
        others = [(r.status, bytes(c)) for r, c in promises[1:]]
    finally:
        http.close()
    assert "IncompleteRead" in type(caught.value).__name__
    # nothing was stored: the two that waited are sent together (httplib2's loop would
    # send the second and answer the third from the cache: docs/httplib2.rst, a bounded wait wins)
    assert others == [(200, b"whole"), (200, b"whole")]
    assert _count(server, "/flaky") == 3


def test_cancelled_first_request_releases_the_waiters(gated: tuple) -> None:
    server, gates = gated
    http = asynchttp.Http(cache=DictCache())
    try:
        promises = [http.request(server.url("/held")) for _ in range(3)]
        gates.wait_arrived("/held", 1)
        assert promises[0][0].cancel()
        # the two that waited go out now: both are at the server before anything is answered
        gates.wait_arrived("/held", 3)
        gates.open("/held")
        others = [(r.status, bytes(c)) for r, c in promises[1:]]
    finally:
        http.close()
    assert promises[0][1].cancelled()
    assert others == [(200, b"held"), (200, b"held")]


def test_write_waits_for_the_read_in_flight(gated: tuple) -> None:
    """A PUT queued behind a GET of its URL runs after it, as in httplib2's loop: it
    carries the GET's ETag (If-Match) and its invalidation is not undone by the GET
    storing its answer afterwards."""
    server, gates = gated

    async def tagged(request: Request) -> Response:
        gates.arrive("/tagged:" + request.method)
        if request.method == "GET":
            await gates.wait_open("tagged")
        return Response(body=b"v1", headers=_dated(("ETag", '"v1"'), ("Cache-Control", "max-age=3600")))

    server.route("/tagged", tagged)
    cache = DictCache()
    http = asynchttp.Http(cache=cache)
    try:
        read = http.request(server.url("/tagged"))
        gates.wait_arrived("/tagged:GET", 1)
        write = http.request(server.url("/tagged"), "PUT", body=b"v2")
        gates.open("tagged")
        assert (read[0].status, write[0].status) == (200, 200)
    finally:
        http.close()
    (put,) = [r for r in server.requests if r.path == "/tagged" and r.method == "PUT"]
    assert put.header("if-match") == '"v1"'
    assert cache.store == {}  # the write invalidated what the read stored before it


@pytest.mark.parametrize("setup", ["no cache", "unsafe method", "other url"])
def test_requests_that_need_not_wait_do_not(setup: str, gated: tuple, tmp_path: Path) -> None:
    """Without a cache, for POST, or for another URL, requests all reach the server
    while the first is still held there."""
    server, gates = gated
    http = asynchttp.Http(cache=None if setup == "no cache" else DictCache())
    try:
        if setup == "other url":
            promises = [http.request(server.url("/held")), http.request(server.url("/held2"))]
            gates.wait_arrived("/held", 1)
            gates.wait_arrived("/held2", 1)
            gates.open("/held")
            gates.open("/held2")
        else:
            method = "POST" if setup == "unsafe method" else "GET"
            promises = [http.request(server.url("/held"), method) for _ in range(4)]
            gates.wait_arrived("/held", 4)
            gates.open("/held")
        assert [bytes(content) for _, content in promises] == [b"held"] * len(promises)
    finally:
        http.close()


def test_redirect_loop_between_two_queued_requests_does_not_deadlock(http_server: TestServer) -> None:
    """A leads /a, B leads /b, each redirects to the other: only a request's first hop
    leads or waits, so they cannot wait for each other; both end in RedirectLimit."""

    async def a(request: Request) -> Response:
        return Response(302, b"", headers=[("Location", "/b"), ("Cache-Control", "no-store")])

    async def b(request: Request) -> Response:
        return Response(302, b"", headers=[("Location", "/a"), ("Cache-Control", "no-store")])

    http_server.route("/a", a)
    http_server.route("/b", b)
    http = asynchttp.Http(cache=DictCache())
    try:
        promises = [http.request(http_server.url(p), redirections=3) for p in ("/a", "/b", "/a", "/b")]
        for _response, content in promises:
            with pytest.raises(httplib2.RedirectLimit):
                bytes(content)
    finally:
        http.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_waits_for_none_of_its_parents_requests(gated: tuple) -> None:
    server, gates = gated
    http = asynchttp.Http(cache=DictCache())
    try:
        response, content = http.request(server.url("/held"))
        gates.wait_arrived("/held", 1)
        assert _semantics._in_flight  # the parent's request leads for its URL
        pid = os.fork()
        if pid == 0:  # the child only reports: it never returns into pytest
            os._exit(0 if not _semantics._in_flight else 1)
        _, status = os.waitpid(pid, 0)
        gates.open("/held")
        assert bytes(content) == b"held"
    finally:
        http.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not _semantics._in_flight  # and the parent's entry went with its request


class _BrokenTruthCache(DictCache):
    """A cache whose truthiness fails once broken (a shelve whose database went away)."""

    broken = False

    def __len__(self) -> int:
        if self.broken:
            raise RuntimeError("cache unavailable")
        return 1


@pytest.mark.parametrize("force", [False, True])
def test_a_cache_that_fails_its_truth_test_fails_as_in_httplib2(force: bool, http_server: TestServer) -> None:
    def outcome(http: Any) -> Any:
        http.force_exception_to_status_code = force
        http.cache.broken = True  # after the constructor, which tests it too
        try:
            response, content = http.request(http_server.url("/hello"))
            return response.status, bytes(content)
        except Exception as exc:
            return type(exc), str(exc)
        finally:
            http.close()

    theirs = outcome(httplib2.Http(cache=_BrokenTruthCache()))
    ours = outcome(asynchttp.BlockingHttp(cache=_BrokenTruthCache()))
    assert ours == theirs == ((400, b"cache unavailable") if force else (RuntimeError, "cache unavailable"))


@pytest.mark.parametrize("force", [False, True])
def test_relative_uri_with_a_cache_fails_as_in_httplib2(force: bool) -> None:
    """Through the semantics layer directly (the facade refuses it at the call): the
    in-flight bookkeeping lets the request meet httplib2's own error."""
    http = httplib2.Http(cache=DictCache())
    http.force_exception_to_status_code = force

    async def send_once(*args: Any) -> Any:
        raise AssertionError("nothing may be sent")

    async def ours() -> Any:
        try:
            response, content = await _semantics.run_httplib2_request(http, send_once, "/relative")
            return response.status
        except httplib2.RelativeURIError as exc:
            return type(exc)

    try:
        theirs: Any = http.request("/relative")[0].status
    except httplib2.RelativeURIError as exc:
        theirs = type(exc)
    assert asyncio.run(ours()) == theirs == (400 if force else httplib2.RelativeURIError)


class _OverlapCache:
    """A dict cache that records any call running beside another on this object
    (which asynchttp's per-cache serialisation forbids) and whose set() is slow."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.active = 0
        self.overlaps: list[str] = []
        self.in_set = threading.Event()
        self.release_set = threading.Event()
        self._lock = threading.Lock()

    def _enter(self, what: str) -> None:
        with self._lock:
            self.active += 1
            if self.active > 1:
                self.overlaps.append(what)

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def get(self, key: str) -> Any:
        self._enter("get")
        try:
            return self.data.get(key)
        finally:
            self._leave()

    def set(self, key: str, value: Any) -> None:
        self._enter("set")
        try:
            self.in_set.set()
            assert self.release_set.wait(WAIT)
            self.data[key] = value
        finally:
            self._leave()

    def delete(self, key: str) -> None:
        self._enter("delete")
        try:
            self.data.pop(key, None)
        finally:
            self._leave()


def test_cancelled_request_keeps_the_cache_serialised(http_server: TestServer) -> None:
    """A request cancelled while its cache.set runs in a cache thread: the next
    request's cache calls wait for that set to end, never run beside it."""

    async def cacheable(request: Request) -> Response:
        return Response(body=b"ok", headers=_dated(("Cache-Control", "max-age=3600")))

    http_server.route("/cacheable", cacheable)
    cache = _OverlapCache()
    http = asynchttp.Http(cache=cache)
    try:
        first, _ = http.request(http_server.url("/cacheable"))
        assert cache.in_set.wait(WAIT)
        assert first.cancel()
        second, content = http.request(http_server.url("/cacheable"))
        assert not second.wait(0.2)  # its cache.get waits behind the running set
        cache.release_set.set()
        assert second.wait(WAIT)
        assert second.status == 200 and content == b"ok"
        assert cache.overlaps == []
    finally:
        cache.release_set.set()
        http.shutdown(wait=True, cancel_pending=True)
