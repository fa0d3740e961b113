"""Http.imap: bounded submission from blocking code, against real local servers.

The window is observed where it matters, at the server (requests in progress at
once); cancellation is observed on the Http (nothing queued or running) and at the
server (no request arrives after the loop ended); leaks with the fd/thread checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import threading
import tracemalloc
from concurrent.futures import CancelledError
from typing import Any, Callable, Iterator

import httplib2
import pytest

import asynchttp
from tests.facade import conftest as facade_fixtures
from tests.facade.conftest import WAIT, hang_guard, wait_until  # noqa: F401 - hang_guard: a fixture
from tests.servers import closed_port
from tests.servers.fast_server import FastServer
from tests.servers.http_server import Request, Response, TestServer
from tests.servers.leaks import LeakChecker

# the facade suite's fixtures: an Http factory (all shut down after) and one Http of it
make_http = facade_fixtures.make_http
http = facade_fixtures.http


class Gauge:
    """Requests in progress at the server, and the most seen at once."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0
        self.seen = 0

    def install(self, server: TestServer, path: str = "/gauge") -> None:
        async def handler(request: Request) -> Response:
            self.now += 1  # the server's loop thread only
            self.seen += 1
            self.max = max(self.max, self.now)
            try:
                await asyncio.sleep(float(request.args.get("delay", "0.005")))
            finally:
                self.now -= 1
            return Response(body=request.args.get("i", "").encode())

        server.route(path, handler)


def idle(http: asynchttp.Http) -> bool:
    client = http._client
    return not client.pending and not client.running


# ---------------------------------------------------------------------------
# The window


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("blocking", [False, True])
def test_window_bounds_the_requests_in_progress_at_the_server(
    http_server: TestServer, make_http: Callable[..., asynchttp.Http], ordered: bool, blocking: bool
) -> None:
    gauge = Gauge()
    gauge.install(http_server)
    http = make_http(blocking=blocking)
    items = (http_server.url("/gauge?i=%d" % i) for i in range(120))
    outcomes = list(http.imap(items, window=6, ordered=ordered))
    assert len(outcomes) == 120 and all(o.ok and o.status == 200 for o in outcomes)
    assert gauge.seen == 120
    assert 1 < gauge.max <= 6  # concurrent (BlockingHttp too), never above the window
    bodies = [o.content for o in outcomes]
    if ordered:
        assert bodies == [b"%d" % i for i in range(120)]
    else:
        assert sorted(bodies) == sorted(b"%d" % i for i in range(120))


def test_window_is_filled_and_not_exceeded_while_the_server_holds_every_request(
    http_server: TestServer, http: asynchttp.Http
) -> None:
    pulled = []

    def items() -> Iterator[str]:
        for i in itertools.count():
            pulled.append(i)
            yield http_server.url("/wait?key=gate&i=%d" % i)

    results: list[asynchttp.Outcome] = []
    outcomes = http.imap(items(), window=4)
    consumer = threading.Thread(target=lambda: results.append(next(outcomes)), name="consumer")
    consumer.start()
    try:
        assert http_server.wait_arrived("gate", 4, timeout=WAIT)
        # the window is full: no fifth request arrives, no fifth item is pulled
        assert not http_server.wait_arrived("gate", 5, timeout=0.2)
        assert len(pulled) == 4
    finally:
        http_server.release("gate")  # whatever failed, the consumer is not left waiting
        consumer.join(WAIT)
    assert results and results[0].ok
    outcomes.close()  # type: ignore[attr-defined]
    assert wait_until(lambda: idle(http))


def test_ordered_waits_for_the_slow_head_and_keeps_the_window(http_server: TestServer, http: asynchttp.Http) -> None:
    gauge = Gauge()
    gauge.install(http_server)
    # the first request is slow, the rest fast: they finish first, and are buffered
    items = [http_server.url("/gauge?i=0&delay=0.3")] + [http_server.url("/gauge?i=%d" % i) for i in range(1, 30)]
    outcomes = list(http.imap(items, window=5, ordered=True))
    assert [o.content for o in outcomes] == [b"%d" % i for i in range(30)]
    assert gauge.max <= 5


def test_unordered_yields_as_they_complete(http_server: TestServer, http: asynchttp.Http) -> None:
    items = [http_server.url("/wait?key=late&i=0")] + [http_server.url("/hello?i=%d" % i) for i in range(1, 6)]
    outcomes = http.imap(items, window=10)
    first = [next(outcomes) for _ in range(5)]  # the held one is not among them
    assert all(o.item != items[0] for o in first)
    http_server.release("late")
    last = list(outcomes)
    assert [o.item for o in last] == [items[0]]


def test_items_and_tags_come_back_with_their_outcome(http_server: TestServer, http: asynchttp.Http) -> None:
    items = [
        {"uri": http_server.url("/echo"), "method": "POST", "body": b"abc", "tag": ("row", 1)},
        {"uri": http_server.url("/echo"), "headers": {"X-A": "1"}, "tag": 2},
        http_server.url("/hello"),
    ]
    outcomes = list(http.imap(items, window=3, ordered=True))
    assert [o.tag for o in outcomes] == [("row", 1), 2, None]
    assert [o.item for o in outcomes] == items
    assert b'"body": "abc"' in outcomes[0].content
    assert b'"X-A", "1"' in outcomes[1].content or b'"x-a", "1"' in outcomes[1].content
    assert outcomes[2].content == b"hello world"
    assert isinstance(outcomes[0].response, httplib2.Response) and type(outcomes[0].content) is bytes
    assert outcomes[0].future is not None and outcomes[0].future.done()


def test_outcome_is_immutable(http_server: TestServer, http: asynchttp.Http) -> None:
    (outcome,) = http.imap([http_server.url("/hello")])
    with pytest.raises(AttributeError):
        outcome.error = ValueError()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del outcome.item
    assert "status=200" in repr(outcome)


# ---------------------------------------------------------------------------
# Errors are outcomes


def test_failures_are_outcomes_never_raised(http_server: TestServer, http: asynchttp.Http) -> None:
    refused = "http://127.0.0.1:%d/" % closed_port()
    items: list[Any] = [
        refused,
        "relative/uri",
        "nope://host/",
        42,
        {"method": "GET"},
        {"uri": http_server.url("/hello"), "bogus": 1, "tag": "t"},
        {"uri": http_server.url("/hello"), "headers": {"X": "a\nb"}},
        http_server.url("/status?code=404"),
        http_server.url("/hello"),
    ]
    outcomes = list(http.imap(items, window=3, ordered=True))
    errors = [type(o.error) for o in outcomes]
    assert errors[0] is ConnectionRefusedError
    assert errors[1] is httplib2.RelativeURIError
    assert errors[2] is KeyError
    assert errors[3] is TypeError and outcomes[3].future is None
    assert errors[4] is ValueError
    assert errors[5] is TypeError and outcomes[5].tag == "t"
    assert errors[6] is ValueError
    assert [o.ok for o in outcomes] == [False] * 7 + [True, True]
    assert outcomes[7].status == 404 and outcomes[7].content == b"status 404\n"  # a 404 is an answer
    assert outcomes[0].response is None and outcomes[0].content is None and outcomes[0].status is None
    assert "error=" in repr(outcomes[0])


def test_an_error_of_the_items_iterator_propagates_after_cancelling(
    http_server: TestServer, http: asynchttp.Http
) -> None:
    def items() -> Iterator[str]:
        for i in range(3):
            yield http_server.url("/wait?key=never&max=20&i=%d" % i)
        raise LookupError("bad input")

    with pytest.raises(LookupError, match="bad input"):
        for _ in http.imap(items(), window=10):
            pass
    assert wait_until(lambda: idle(http))  # the three held requests were cancelled


def test_bad_arguments(http: asynchttp.Http) -> None:
    with pytest.raises(ValueError):
        http.imap([], window=0)
    with pytest.raises(TypeError):
        http.imap([], window=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        http.imap([], window=True)
    assert list(http.imap([])) == []
    http.shutdown()
    with pytest.raises(asynchttp.ShutdownError):
        http.imap(["http://127.0.0.1/"])


# ---------------------------------------------------------------------------
# Ending early leaves nothing running


def test_break_out_of_an_endless_generator(http_server: TestServer, http: asynchttp.Http) -> None:
    pulled = itertools.count()

    def endless() -> Iterator[str]:
        while True:
            n = next(pulled)
            yield http_server.url("/hello?i=%d" % n)

    consumed = 0
    for outcome in http.imap(endless(), window=8):
        assert outcome.ok
        consumed += 1
        if consumed == 50:
            break
    assert wait_until(lambda: idle(http))
    taken = next(pulled)  # how many items the loop pulled
    assert taken <= 50 + 8  # never more than the window ahead
    # A request cancelled in flight may still be read by the server after the client
    # is idle (its bytes were sent before the break), so the server's count is not
    # final yet; what must hold is that no item beyond those pulled is ever sent and
    # none is sent twice: nothing keeps running or retrying after the break.
    assert not wait_until(lambda: len(http_server.requests) > taken, timeout=0.2)
    sent = [r.target for r in http_server.requests]
    assert len(set(sent)) == len(sent)
    assert set(sent) <= {"/hello?i=%d" % n for n in range(taken)}


def test_break_cancels_requests_in_flight(
    http_server: TestServer, make_http: Callable[..., asynchttp.Http], no_leaks: LeakChecker
) -> None:
    http = make_http()
    items = [http_server.url("/hello")] + [http_server.url("/wait?key=held&max=20&i=%d" % i) for i in range(5)]
    with contextlib.closing(http.imap(items, window=6)) as outcomes:
        for outcome in outcomes:
            assert outcome.ok
            assert http_server.wait_arrived("held", 5, timeout=WAIT)
            break
    assert wait_until(lambda: idle(http))  # without the cancel they would run for 20 s
    http.shutdown(wait=True)
    no_leaks.check()


def test_an_exception_in_the_consumer_cancels_the_window(
    http_server: TestServer, make_http: Callable[..., asynchttp.Http], no_leaks: LeakChecker
) -> None:
    http = make_http(blocking=True)
    items = [http_server.url("/hello")] + [http_server.url("/wait?key=held&max=20&i=%d" % i) for i in range(5)]
    with pytest.raises(ZeroDivisionError):
        for _ in http.imap(items, window=6):
            assert http_server.wait_arrived("held", 5, timeout=WAIT)
            raise ZeroDivisionError
    assert wait_until(lambda: idle(http))
    http.shutdown(wait=True)
    no_leaks.check()


def test_throw_into_the_generator_cancels(http_server: TestServer, http: asynchttp.Http) -> None:
    items = [http_server.url("/hello")] + [http_server.url("/wait?key=t&max=20&i=%d" % i) for i in range(3)]
    outcomes = http.imap(items, window=4)
    next(outcomes)
    assert http_server.wait_arrived("t", 3, timeout=WAIT)
    with pytest.raises(KeyboardInterrupt):
        outcomes.throw(KeyboardInterrupt())  # type: ignore[attr-defined]
    assert wait_until(lambda: idle(http))


def test_close_inside_the_loop_ends_it(http_server: TestServer, http: asynchttp.Http) -> None:
    items = [http_server.url("/hello")] + [http_server.url("/wait?key=c&max=20&i=%d" % i) for i in range(4)]
    seen = []
    for outcome in http.imap(items, window=5):
        seen.append(outcome)
        assert http_server.wait_arrived("c", 4, timeout=WAIT)
        http.close()
    assert len(seen) == 1
    assert wait_until(lambda: idle(http))
    # the Http still works after httplib2's close()
    response, content = http.request(http_server.url("/hello"))
    assert content == b"hello world"


def test_close_from_another_thread_wakes_the_waiting_loop(http_server: TestServer, http: asynchttp.Http) -> None:
    items = (http_server.url("/wait?key=w&max=20&i=%d" % i) for i in itertools.count())
    closer = threading.Timer(0, lambda: http_server.wait_arrived("w", 3, timeout=WAIT) and http.close())
    closer.start()
    outcomes = list(http.imap(items, window=3))  # blocks until close() ends it
    closer.join(WAIT)
    assert outcomes == []
    assert wait_until(lambda: idle(http))


def test_shutdown_from_another_thread_ends_the_loop(
    http_server: TestServer, make_http: Callable[..., asynchttp.Http], no_leaks: LeakChecker
) -> None:
    http = make_http()
    items = (http_server.url("/wait?key=s&max=20&i=%d" % i) for i in itertools.count())
    shutter = threading.Thread(target=lambda: http_server.wait_arrived("s", 2, timeout=WAIT) and http.shutdown())
    shutter.start()
    assert list(http.imap(items, window=2)) == []
    shutter.join(WAIT)
    no_leaks.check()


# ---------------------------------------------------------------------------
# Callbacks


def test_item_callbacks_run_on_worker_threads_before_the_outcome(http_server: TestServer, http: asynchttp.Http) -> None:
    threads: list[str] = []

    def callback(promise: asynchttp.Promise) -> None:
        threads.append(threading.current_thread().name)
        promise.content = promise.content.upper()

    items = [{"uri": http_server.url("/hello"), "callback": callback, "tag": i} for i in range(10)]
    outcomes = list(http.imap(items, window=4))
    assert sorted(o.tag for o in outcomes) == list(range(10))
    assert all(o.content == b"HELLO WORLD" for o in outcomes)
    assert len(threads) == 10
    assert all("worker" in name for name in threads) and threading.current_thread().name not in threads


def test_a_callback_error_is_the_outcome(http_server: TestServer, http: asynchttp.Http) -> None:
    def callback(promise: asynchttp.Promise) -> None:
        raise RuntimeError("callback failed")

    (outcome,) = http.imap([{"uri": http_server.url("/hello"), "callback": callback}])
    assert isinstance(outcome.error, RuntimeError)


def test_a_cancelled_request_is_an_outcome(http_server: TestServer, http: asynchttp.Http) -> None:
    def cancel_self(promise: asynchttp.Promise) -> None:
        raise CancelledError()

    (outcome,) = http.imap([{"uri": http_server.url("/hello"), "callback": cancel_self}])
    assert isinstance(outcome.error, CancelledError) and not outcome.ok


# ---------------------------------------------------------------------------
# TLS, memory


def test_imap_over_tls(tls: Any, make_http: Callable[..., asynchttp.Http], ca_bundle_path: str) -> None:
    with TestServer(ssl_context=tls.server_context()) as server:
        gauge = Gauge()
        gauge.install(server)
        http = make_http(ca_certs=ca_bundle_path)
        outcomes = list(http.imap((server.url("/gauge?i=%d" % i) for i in range(40)), window=5, ordered=True))
        assert [o.content for o in outcomes] == [b"%d" % i for i in range(40)]
        assert gauge.max <= 5
        http.shutdown(wait=True)


def _peak_traced(http: asynchttp.Http, url: str, n: int) -> int:
    gc.collect()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    count = 0
    for outcome in http.imap((url for _ in range(n)), window=50):
        count += outcome.ok
    assert count == n
    return tracemalloc.get_traced_memory()[1] - base


@pytest.mark.slow
def test_memory_does_not_grow_with_the_input(http: asynchttp.Http) -> None:
    server = FastServer()  # its own process: the test server's request log is not traced
    try:
        url = server.url("/")
        list(http.imap((url for _ in range(500)), window=50))  # warm-up: caches, pools, threads
        tracemalloc.start()
        try:
            small = _peak_traced(http, url, 1_000)
            large = _peak_traced(http, url, 20_000)
        finally:
            tracemalloc.stop()
    finally:
        server.stop()
    # 20,000 requests queued at once hold ~20 MB; through the window the peak is the
    # same as for 1,000 (a coarse bound: allocator noise is a few hundred KB)
    assert large - small < 2 * 1024 * 1024, (small, large)
