"""Callbacks (item 4): on named worker threads, after the I/O and before readers are
released; effects visible to readers; failures logged with the request's origin and
raised on access; nested requests inside callbacks do not deadlock."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

import httplib2
import pytest

import asynchttp
from tests.facade.conftest import WAIT
from tests.servers import closed_port
from tests.servers.http_server import JSON_BODY, TestServer

MakeHttp = Callable[..., asynchttp.Http]


def test_callback_runs_on_a_worker_and_can_replace_content(http: asynchttp.Http, http_server: TestServer) -> None:
    seen: dict[str, Any] = {}

    def parse(promise: asynchttp.Promise) -> None:
        seen["thread"] = threading.current_thread().name
        seen["status"] = promise.response.status
        seen["exception"] = promise.exception
        seen["done_before"] = promise.done()
        promise.content = json.loads(promise.content)
        promise.response.parsed = True

    response, content = http.request(http_server.url("/json"), callback=parse)
    assert content == JSON_BODY  # the callback's replacement
    assert content["hello"] == "world"
    assert response.parsed is True
    assert seen["status"] == 200 and seen["exception"] is None
    assert seen["done_before"] is False  # readers are released only after it ran
    assert seen["thread"].startswith("asynchttp-http") and "worker" in seen["thread"]
    assert seen["thread"] != "asynchttp-loop"
    assert response.future.result()[1] == JSON_BODY


def test_readers_wait_for_the_callback(http: asynchttp.Http, http_server: TestServer) -> None:
    entered = threading.Event()
    leave = threading.Event()

    def slow_callback(promise: asynchttp.Promise) -> None:
        entered.set()
        leave.wait(WAIT)
        promise.content = b"after callback"

    _, content = http.request(http_server.url("/hello"), callback=slow_callback)
    assert entered.wait(WAIT)
    assert not content.done()  # I/O is over but the callback still runs
    assert content.wait(0.05) is False
    leave.set()
    assert content == b"after callback"


def test_callback_sees_the_request_error(http: asynchttp.Http) -> None:
    seen: list[Any] = []

    def callback(promise: asynchttp.Promise) -> None:
        seen.append((promise.response, promise.content, type(promise.exception)))

    _, content = http.request("http://127.0.0.1:%d/" % closed_port(), callback=callback)
    with pytest.raises(ConnectionRefusedError):
        content.strip()
    assert seen == [(None, None, ConnectionRefusedError)]


def test_callback_may_recover_from_an_error(http: asynchttp.Http) -> None:
    def fallback(promise: asynchttp.Promise) -> None:
        promise.response = httplib2.Response({"status": "599"})
        promise.content = b"fallback"
        promise.exception = None

    response, content = http.request("http://127.0.0.1:%d/" % closed_port(), callback=fallback)
    assert content == b"fallback" and response.status == 599


def test_failing_callback_is_logged_with_the_request_origin_and_raised(
    http: asynchttp.Http, http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(promise: asynchttp.Promise) -> None:
        raise LookupError("callback bug")

    def make_the_request() -> Any:
        return http.request(http_server.url("/hello"), callback=broken)

    with caplog.at_level(logging.ERROR, logger="asynchttp"):
        response, content = make_the_request()
        with pytest.raises(LookupError, match="callback bug"):
            content.upper()
        with pytest.raises(LookupError):
            response.status  # noqa: B018
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "make_the_request" in message  # the stack of the request() call
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is LookupError


def test_request_error_wins_over_callback_error(http: asynchttp.Http) -> None:
    def broken(promise: asynchttp.Promise) -> None:
        raise LookupError("callback bug")

    _, content = http.request("http://127.0.0.1:%d/" % closed_port(), callback=broken)
    with pytest.raises(ConnectionRefusedError):
        len(content)


def test_callback_can_make_requests_and_wait_without_deadlock(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_workers=1)

    def inner_callback(promise: asynchttp.Promise) -> None:
        promise.content = promise.content.upper()

    def outer_callback(promise: asynchttp.Promise) -> None:
        # the only worker blocks here on requests whose callbacks need a worker too
        inner = [http.request(http_server.url("/hello"), callback=inner_callback) for _ in range(3)]
        promise.content = [bytes(content) for _, content in inner]

    promises = [http.request(http_server.url("/hello"), callback=outer_callback) for _ in range(3)]
    for _, content in promises:
        assert content.wait(WAIT)
        assert content == [b"HELLO WORLD"] * 3
    # spare threads retire: back to the limit once nothing blocks
    assert http._client.workers.thread_count() <= 3 + 1


def test_callbacks_use_at_most_max_workers_threads(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_workers=3)
    names: set[str] = set()
    lock = threading.Lock()

    def record(promise: asynchttp.Promise) -> None:
        with lock:
            names.add(threading.current_thread().name)

    promises = [http.request(http_server.url("/hello"), callback=record) for _ in range(200)]
    for _, content in promises:
        assert content == b"hello world"
    assert 1 <= len(names) <= 3
    assert http._client.workers.thread_count() <= 3


def test_done_callbacks_never_run_on_the_loop_thread(http: asynchttp.Http, http_server: TestServer) -> None:
    threads: list[str] = []
    done = threading.Event()
    response, _ = http.request(http_server.url("/wait?key=cb"))

    def on_done(future: Any) -> None:
        threads.append(threading.current_thread().name)
        # blocking here would deadlock the loop if it ran there
        threads.append(http.request(http_server.url("/hello"))[1].decode())
        done.set()

    response.future.add_done_callback(on_done)
    assert http_server.wait_arrived("cb")
    http_server.release("cb")
    assert done.wait(WAIT)
    assert threads[0] != "asynchttp-loop" and threads[1] == "hello world"


def test_waiting_on_the_loop_thread_is_refused(http: asynchttp.Http, http_server: TestServer) -> None:
    from asynchttp import _loop

    response, _ = http.request(http_server.url("/wait?key=loop"))
    outcome: list[Any] = []

    def on_loop() -> None:
        try:
            response.status  # noqa: B018
        except RuntimeError as exc:
            outcome.append(exc)

    _loop.get_loop().call_soon_threadsafe(on_loop)
    http_server.release("loop")
    assert response.wait(WAIT)
    for _ in range(100):
        if outcome:
            break
        threading.Event().wait(0.01)
    assert outcome and "deadlock" in str(outcome[0])


def test_worker_pool_survives_a_crashing_call() -> None:
    from asynchttp._loop import WorkerPool

    pool = WorkerPool(2, "asynchttp-test-pool")
    done = threading.Event()
    pool.submit(lambda: 1 / 0)
    pool.submit(done.set)
    assert done.wait(WAIT)
    pool.stop(wait=True, timeout=WAIT)
    assert pool.thread_count() == 0
    late = threading.Event()
    pool.submit(late.set)  # after stop: its own short-lived thread
    assert late.wait(WAIT)
    with pytest.raises(ValueError):
        WorkerPool(0, "x")


def test_close_and_shutdown_from_inside_a_callback(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_workers=1)
    done = threading.Event()
    outcome: list[Any] = []

    def closing(promise: asynchttp.Promise) -> None:
        http.close()  # waits for the loop to drop idle connections: must not deadlock
        outcome.append(http.request(http_server.url("/hello"))[1].decode())
        http.shutdown(wait=True)  # joins the other workers, never itself
        outcome.append("shut down")
        done.set()

    _, content = http.request(http_server.url("/hello"), callback=closing)
    assert done.wait(WAIT)
    assert content == b"hello world"
    assert outcome == ["hello world", "shut down"]
    with pytest.raises(asynchttp.ShutdownError):
        http.request(http_server.url("/hello"))


def test_callback_calling_sys_exit_still_resolves_the_promise(http: asynchttp.Http, http_server: TestServer) -> None:
    import sys

    def leaving(promise: asynchttp.Promise) -> None:
        sys.exit(3)

    _, content = http.request(http_server.url("/hello"), callback=leaving)
    with pytest.raises(SystemExit):
        len(content)
    # the worker survived it: the next callback runs
    assert http.request(http_server.url("/hello"), callback=lambda p: None)[1] == b"hello world"


def test_promise_repr_hides_credentials(http: asynchttp.Http, http_server: TestServer) -> None:
    seen: list[str] = []
    url = "http://alice:s3cret@%s/hello" % http_server.netloc
    _, content = http.request(url, callback=lambda p: seen.append(repr(p)))
    assert content.wait(WAIT)
    assert seen and "s3cret" not in seen[0] and "alice" not in seen[0] and "/hello" in seen[0]
    from asynchttp._promise import without_userinfo

    assert without_userinfo("no scheme") == "no scheme"
    assert without_userinfo("http://h:1") == "http://h:1"
