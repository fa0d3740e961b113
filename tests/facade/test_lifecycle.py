"""The loop thread and the lifecycle (items 5 and 7): one lazily started daemon loop
thread, a fresh one after fork, shutdown that resolves every promise, prompt exit with
requests pending, a garbage-collected Http freeing its pool, and a thread count that
does not follow the queue."""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from typing import Any, Callable

import pytest

import asynchttp
from asynchttp import _loop
from tests.facade.conftest import WAIT, wait_until
from tests.servers.http_server import TestServer
from tests.servers.leaks import LeakChecker

MakeHttp = Callable[..., asynchttp.Http]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(source: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh interpreter with the project importable."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def test_loop_thread_starts_on_first_request_only(http_server: TestServer) -> None:
    result = run_script(
        """
        import json, threading
        import asynchttp
        names = lambda: [t.name for t in threading.enumerate()]
        before_http = names()
        http = asynchttp.Http()
        before_request = names()
        response, content = http.request(%r)
        after = {t.name: t.daemon for t in threading.enumerate()}
        print(json.dumps([before_http, before_request, after, content.decode()]))
        """
        % http_server.url("/hello")
    )
    assert result.returncode == 0, result.stderr
    before_http, before_request, after, text = json.loads(result.stdout)
    assert "asynchttp-loop" not in before_http + before_request  # never at import
    assert after.get("asynchttp-loop") is True  # named, daemon
    assert text == "hello world"


def test_one_loop_thread_for_many_https(make_http: MakeHttp, http_server: TestServer) -> None:
    first, second = make_http(), make_http()
    assert first.request(http_server.url("/hello"))[1] == second.request(http_server.url("/hello"))[1]
    loops = [t for t in threading.enumerate() if t.name == "asynchttp-loop"]
    assert len(loops) == 1 and loops[0].daemon
    assert first._client.loop is second._client.loop


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_child_after_fork_makes_requests(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http()
    assert http.request(http_server.url("/hello"))[1] == b"hello world"  # loop running
    pending = http.request(http_server.url("/wait?key=forked"))
    assert http_server.wait_arrived("forked")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        status = 1
        try:
            report: dict[str, Any] = {}
            try:
                pending[1].upper()
            except RuntimeError as exc:
                report["pending"] = "lost: %s" % exc
            report["same_http"] = http.request(http_server.url("/hello"))[1].decode()
            fresh = asynchttp.Http()
            report["fresh_http"] = fresh.request(http_server.url("/json"))[0].status
            report["loop_threads"] = sum(t.name == "asynchttp-loop" for t in threading.enumerate())
            fresh.shutdown()
            os.write(write_end, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        data = b""
        deadline = time.monotonic() + WAIT * 3
        while True:  # bounded: a child that hangs is killed, and the test fails
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                break
            piece = os.read(read_end, 65536)
            if not piece:
                break
            data += piece
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    report = json.loads(data)
    assert report["pending"].startswith("lost:")
    assert report["same_http"] == "hello world"
    assert report["fresh_http"] == 200
    assert report["loop_threads"] == 1
    # the parent is untouched by its child
    http_server.release("forked")
    assert pending[1] == b"released forked\n"


def test_shutdown_cancelling_resolves_every_promise(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=2)
    promises = [http.request(http_server.url("/wait?key=stuck&max=20")) for _ in range(1000)]
    assert http_server.wait_arrived("stuck", 2)
    http.shutdown(wait=True, cancel_pending=True)
    assert all(content.done() for _, content in promises)
    assert all(content.cancelled() for _, content in promises)
    with pytest.raises(asynchttp.ShutdownError):
        http.request(http_server.url("/hello"))


def test_shutdown_waiting_finishes_pending_requests(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=3)
    seen: list[int] = []
    promises = [
        http.request(http_server.url("/bytes?n=%d" % n), callback=lambda p: seen.append(len(p.content)))
        for n in range(300)
    ]
    http.shutdown(wait=True)
    assert [len(content) for _, content in promises] == list(range(300))
    assert sorted(seen) == list(range(300))
    assert http._client.workers.thread_count() == 0
    http.shutdown()  # again: harmless


def test_shutdown_without_waiting_returns_and_still_resolves(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http()
    response, content = http.request(http_server.url("/wait?key=nowait"))
    assert http_server.wait_arrived("nowait")
    http.shutdown(wait=False)
    assert not content.done()
    http_server.release("nowait")
    assert content == b"released nowait\n"


def test_context_manager_shuts_down(http_server: TestServer) -> None:
    with asynchttp.Http() as http:
        response, content = http.request(http_server.url("/hello"))
    assert content.done() and content == b"hello world"
    with pytest.raises(asynchttp.ShutdownError):
        http.request(http_server.url("/hello"))
    assert "shut down" in repr(http)


def test_shutdown_of_an_unused_http() -> None:
    http = asynchttp.Http()
    http.shutdown()
    with pytest.raises(asynchttp.ShutdownError):
        http.request("http://127.0.0.1/")


def test_garbage_collected_http_frees_its_pool(http_server: TestServer, no_leaks: LeakChecker) -> None:
    no_leaks.ignore_threads(_loop.LOOP_THREAD_NAME)
    warm = asynchttp.Http()  # the process-wide loop (its selector and pipe) is not a leak
    assert warm.request(http_server.url("/hello"))[1] == b"hello world"
    warm.shutdown()
    no_leaks.snapshot()
    http = asynchttp.Http()
    response, content = http.request(http_server.url("/hello"), callback=lambda p: None)
    assert content == b"hello world"
    assert no_leaks.leaks()[0]  # its kept-alive connection is open now
    del http, response, content
    gc.collect()
    no_leaks.check()  # ...and gone, with the worker thread, once the Http is collected


def test_temporary_http_still_completes(http_server: TestServer) -> None:
    response, content = asynchttp.Http().request(http_server.url("/hello"))
    gc.collect()
    assert content == b"hello world"


@pytest.mark.slow
def test_thread_count_does_not_follow_the_queue(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=4, max_workers=2)
    assert http.request(http_server.url("/hello"), callback=lambda p: None)[1] == b"hello world"
    baseline = threading.active_count()
    promises = [http.request(http_server.url("/hello")) for _ in range(10_000)]
    assert threading.active_count() <= baseline  # (an idle worker may have ended meanwhile)
    promises += [http.request(http_server.url("/hello"), callback=lambda p: None) for _ in range(500)]
    assert all(content.wait(WAIT * 6) for _, content in promises)
    assert all(content == b"hello world" for _, content in promises[::97])
    assert threading.active_count() <= baseline + 1  # the second worker, at most


@pytest.mark.slow
def test_a_queued_request_costs_under_2_kib(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=1)
    blocker = http.request(http_server.url("/wait?key=mem&max=20"))
    assert http_server.wait_arrived("mem")
    uri = http_server.url("/hello")
    count = 10_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        promises = [http.request(uri) for _ in range(count)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_request = (after - before) / count
    assert per_request < 2048, per_request
    http_server.release("mem")
    assert blocker[1] == b"released mem\n"
    assert promises[-1][1] == b"hello world"


def test_process_exits_promptly_with_requests_pending(http_server: TestServer) -> None:
    result = run_script(
        """
        import asynchttp
        http = asynchttp.Http(max_connections=5)
        promises = [http.request(%r) for _ in range(500)]
        promises.append(http.request(%r, callback=lambda p: None))
        other = asynchttp.Http()
        other.request(%r)
        print("queued", flush=True)
        """
        % (http_server.url("/wait?key=exit&max=25"), http_server.url("/hello"), http_server.url("/slow?delay=25"))
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "queued\n"
    assert "Traceback" not in result.stderr


def test_shutdown_all_then_the_loop_restarts(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http()
    response, content = http.request(http_server.url("/wait?key=all&max=20"))
    assert http_server.wait_arrived("all")
    old_loop = _loop.get_loop()
    _loop.shutdown_all()
    assert content.cancelled()
    assert old_loop.is_closed()
    with pytest.raises(asynchttp.ShutdownError):
        http.request(http_server.url("/hello"))
    fresh = make_http()
    assert fresh.request(http_server.url("/hello"))[1] == b"hello world"
    assert fresh._client.loop is not old_loop


@pytest.mark.parametrize("cancel_pending", [True, False])
@pytest.mark.slow
def test_shutdown_racing_with_submitting_threads(
    make_http: MakeHttp, http_server: TestServer, cancel_pending: bool
) -> None:
    http = make_http(max_connections=4)
    promises: list[Any] = []
    refused: list[int] = []
    lock = threading.Lock()
    started = threading.Barrier(9)

    def submitter() -> None:
        started.wait(WAIT)
        for index in range(2000):
            try:
                promise = http.request(http_server.url("/bytes?n=%d" % (index % 50)))
            except asynchttp.ShutdownError:
                with lock:
                    refused.append(index)
                return
            with lock:
                promises.append(promise)
            if index % 7 == 0:
                promise[0].cancel()

    threads = [threading.Thread(target=submitter) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait(WAIT)
    assert wait_until(lambda: len(promises) >= 200)
    http.shutdown(wait=True, cancel_pending=cancel_pending)
    for thread in threads:
        thread.join(WAIT)
    # every promise handed out is resolved (a value or cancelled): none left hanging
    assert all(content.wait(WAIT) for _, content in promises)
    for response, content in promises:
        if not response.cancelled():
            assert len(content) == int(response["content-length"])
    assert refused  # the submitters were refused once shut down


@pytest.mark.slow
def test_a_tight_loop_of_submissions_wakes_the_loop_per_batch(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=8)
    assert http.request(http_server.url("/hello"))[1] == b"hello world"
    before = http._client.wakeups
    promises = [http.request(http_server.url("/hello")) for _ in range(5000)]
    wakeups = http._client.wakeups - before
    assert all(content == b"hello world" for _, content in promises)
    # one wake-up per batch the loop drains, far fewer than one per request
    assert 1 <= wakeups < 5000 // 10, wakeups
