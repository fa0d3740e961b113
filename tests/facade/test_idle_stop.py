"""Issue 11, item 1: nothing is left running once the last Http is closed.

When every ``Http`` is closed (``shutdown()``, ``with``, garbage collection, or
httplib2's ``close()``) and nothing is pending, the loop thread ends and closes its
selector and wake-up socket pair; idle callback workers and cache threads end too; the
next request starts what it needs again. The counts are exact, so the cycles run in a
fresh interpreter (this process has servers and other tests' threads); the grace is the
documented ``asynchttp.IDLE_GRACE`` setting, lowered here only where a test says so.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

import pytest

import asynchttp
from asynchttp import _loop
from tests.facade.conftest import wait_until
from tests.facade.test_lifecycle import run_script
from tests.servers.http_server import TestServer

MakeHttp = Callable[..., asynchttp.Http]

# Run in a fresh interpreter: snapshot /proc/self/fd and the threads, run the cycles,
# then wait (bounded) until both are back to the snapshot and report what differs.
CYCLES_SCRIPT = """
import gc, json, os, sys, threading, time
import asynchttp
from asynchttp import _loop
from tests.servers.leaks import warm_uvloop

warm_uvloop()  # on uvloop runs: its process-wide fds are open before the snapshot

asynchttp.IDLE_GRACE = float(sys.argv[1])
url, cache_dir, cycles = sys.argv[2], sys.argv[3], int(sys.argv[4])

def fds():
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass  # listdir's own descriptor
    return out

def one_cycle(index):
    mode = index % 6
    if mode == 0:  # the per-request pattern of httplib2 code, with a context manager
        with asynchttp.Http() as http:
            assert http.request(url)[1] == b"hello world"
    elif mode == 1:  # httplib2's close() after each use, and the object reused
        http = CLOSED_AND_REUSED
        assert http.request(url, callback=lambda p: None)[1] == b"hello world"
        http.close()
    elif mode == 2:  # dropped without closing: garbage collection
        assert asynchttp.Http().request(url)[1] == b"hello world"
    elif mode == 3:
        http = asynchttp.BlockingHttp()
        assert http.request(url)[1] == b"hello world"
        http.shutdown()
    elif mode == 4:  # a cache: its I/O runs in the asynchttp-cache threads
        with asynchttp.Http(cache=asynchttp.FileCache(cache_dir)) as http:
            assert http.request(url + "&cycle=%d" % index)[1] == b"hello world"
    else:  # a callback that makes a request of its own
        with asynchttp.Http() as http:
            inner = []
            http.request(url, callback=lambda p: inner.append(http.request(url)[1] == b"hello world"))[1].upper()
            assert inner == [True]

fds_before, threads_before = fds(), set(threading.enumerate())
CLOSED_AND_REUSED = asynchttp.Http()
names_seen = set()
for index in range(cycles):
    one_cycle(index)
    names_seen.update(t.name.rstrip("0123456789-") for t in threading.enumerate())
del CLOSED_AND_REUSED  # closed after its last use, but still referenced until here
deadline = time.monotonic() + 10 + 4 * asynchttp.IDLE_GRACE
while time.monotonic() < deadline:
    gc.collect()
    if fds() == fds_before and set(threading.enumerate()) == threads_before:
        break
    time.sleep(0.01)
after = fds()
print(json.dumps({
    "new_fds": sorted(v for k, v in after.items() if fds_before.get(k) != v),
    "gone_fds": sorted(v for k, v in fds_before.items() if after.get(k) != v),
    "threads": sorted(t.name for t in set(threading.enumerate()) ^ threads_before),
    "loop_starts": _loop.loop_starts,
    "names_seen": sorted(names_seen),
}))
"""


def run_cycles(url: str, cache_dir: str, grace: float, cycles: int = 200) -> dict[str, Any]:
    result = run_script(
        "import sys; sys.argv[1:] = %r\n" % [str(grace), url, cache_dir, str(cycles)] + CYCLES_SCRIPT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("grace", [0.0, 0.2])
def test_200_cycles_end_with_the_threads_and_fds_they_began_with(
    http_server: TestServer, tmp_path: Any, grace: float
) -> None:
    report = run_cycles(http_server.url("/hello?x=1"), str(tmp_path / "cache"), grace)
    assert report["new_fds"] == [] and report["gone_fds"] == []
    assert report["threads"] == []
    if grace == 0.0:
        assert report["loop_starts"] > 1  # stopped while idle, started again by the next request
    else:
        # running between the cycles (within the grace), and ended since
        assert {"asynchttp-loop", "asynchttp-cache", "worker"} <= {
            name.rsplit("-", 1)[-1] if "-worker" in name else name for name in report["names_seen"]
        }


def test_submitters_racing_the_idle_stop_lose_no_request(http_server: TestServer) -> None:
    """With no grace the loop stops whenever it is idle: a thread that opens, uses and
    closes its own Http and one that keeps close()-ing a shared Http race that stop
    (the timer fires on the loop thread as the other thread submits). Every request is
    answered, the loop did stop and restart, and nothing is left afterwards."""
    result = run_script(
        """
        import gc, json, os, threading, time
        import asynchttp
        from asynchttp import _loop
        from tests.servers.leaks import warm_uvloop
        warm_uvloop()  # on uvloop runs: its process-wide fds are open before the snapshot
        asynchttp.IDLE_GRACE = 0.0
        url = %r
        threads_before = set(threading.enumerate())
        fds_before = sorted(os.listdir("/proc/self/fd"))
        shared = asynchttp.Http()
        answers, failures = [], []

        def own_http(seed):
            try:
                for index in range(150):
                    with asynchttp.Http() as http:
                        answers.append(http.request(url)[1] == b"hello world")
            except BaseException as exc:
                failures.append(repr(exc))

        def shared_http():
            try:
                for index in range(150):
                    promise = shared.request(url)
                    shared.close()  # drops the pool: the loop may stop as the next request comes
                    answers.append(promise[1].wait(30) and promise[1] == b"hello world")
            except BaseException as exc:
                failures.append(repr(exc))

        workers = [threading.Thread(target=own_http, args=(n,)) for n in range(1)]
        workers.append(threading.Thread(target=shared_http))
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(60)
        hung = [t.name for t in workers if t.is_alive()]
        del shared
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            gc.collect()
            if set(threading.enumerate()) == threads_before and sorted(os.listdir("/proc/self/fd")) == fds_before:
                break
            time.sleep(0.01)
        print(json.dumps({
            "answers": len(answers), "all_ok": all(answers), "failures": failures, "hung": hung,
            "threads": sorted(t.name for t in set(threading.enumerate()) ^ threads_before),
            "fds": sorted(set(os.listdir("/proc/self/fd")) ^ set(fds_before)),
            "loop_starts": _loop.loop_starts,
        }))
        """
        % http_server.url("/hello"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failures"] == [] and report["hung"] == []
    assert report["answers"] == 150 + 150 and report["all_ok"]
    assert report["threads"] == [] and report["fds"] == []
    assert report["loop_starts"] > 1, report["loop_starts"]  # the race did happen: stops and restarts


def test_idle_workers_end_and_come_back(
    make_http: MakeHttp, http_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asynchttp, "IDLE_GRACE", 0.05)
    http = make_http(max_workers=3)
    seen: list[str] = []
    promises = [
        http.request(http_server.url("/hello"), callback=lambda p: seen.append(threading.current_thread().name))
        for _ in range(20)
    ]
    assert all(content == b"hello world" for _, content in promises)
    assert seen and all(name.startswith("asynchttp-http") and "-worker-" in name for name in seen)
    assert wait_until(lambda: http._client.workers.thread_count() == 0)  # ended while idle
    response, content = http.request(http_server.url("/hello"), callback=lambda p: seen.append("again"))
    assert content == b"hello world" and seen[-1] == "again"  # a new worker ran it


def test_closed_http_lets_the_loop_go_and_its_next_request_holds_it_again(
    make_http: MakeHttp, http_server: TestServer
) -> None:
    http = make_http()
    assert http.request(http_server.url("/hello"))[1] == b"hello world"
    client = http._client
    assert client.loop is not None and client.gens  # a pool with a kept-alive connection
    http.close()
    assert client.loop is None and not client.gens and not client.runner_tasks  # let go
    response, content = http.request(http_server.url("/hello"))
    assert content == b"hello world" and response.status == 200
    assert client.loop is not None  # held again: the loop running now, or a fresh one


def test_the_grace_setting_is_read_at_each_use(monkeypatch: pytest.MonkeyPatch) -> None:
    assert asynchttp.IDLE_GRACE == _loop.DEFAULT_IDLE_GRACE == 0.5
    monkeypatch.setattr(asynchttp, "IDLE_GRACE", 0.01)
    assert _loop.idle_grace() == 0.01
    monkeypatch.setattr(asynchttp, "IDLE_GRACE", -3)
    assert _loop.idle_grace() == 0.0
    monkeypatch.setattr(asynchttp, "IDLE_GRACE", "not a number")
    assert _loop.idle_grace() == _loop.DEFAULT_IDLE_GRACE


def test_a_loop_nobody_holds_stops_after_the_grace() -> None:
    """get_loop() alone (no Http) keeps no thread: the idle timer runs from the start."""
    result = run_script(
        """
        import json, threading, time
        import asynchttp
        from asynchttp import _loop
        asynchttp.IDLE_GRACE = 0.05
        loop = _loop.get_loop()
        running = [t.name for t in threading.enumerate()]
        deadline = time.monotonic() + 10
        while not loop.is_closed() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0)  # the thread ends right after closing its loop
        for thread in threading.enumerate():
            if thread.name == "asynchttp-loop":
                thread.join(10)
        print(json.dumps([running, loop.is_closed(), [t.name for t in threading.enumerate()]]))
        """
    )
    assert result.returncode == 0, result.stderr
    running, closed, after = json.loads(result.stdout)
    assert "asynchttp-loop" in running
    assert closed and after == ["MainThread"]


def test_fork_and_exit_after_the_loop_stopped(http_server: TestServer) -> None:
    """A child forked while no loop runs starts its own; both processes exit cleanly
    with the loop idle-stopping (or stopped) at interpreter exit."""
    result = run_script(
        """
        import json, os, sys, time, warnings
        import asynchttp
        from asynchttp import _loop
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
        asynchttp.IDLE_GRACE = 0.01
        url = %r
        with asynchttp.Http() as http:
            first = http.request(url)[1] == b"hello world"
        deadline = time.monotonic() + 10
        while _loop._state is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        stopped = _loop._state is None
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                with asynchttp.Http() as http:
                    os.write(write_end, bytes(http.request(url)[1]))
            finally:
                os._exit(0)
        os.close(write_end)
        child = b""
        while True:
            piece = os.read(read_end, 100)
            if not piece:
                break
            child += piece
        _, status = os.waitpid(pid, 0)
        asynchttp.IDLE_GRACE = 0.0
        again = asynchttp.Http().request(url)[1] == b"hello world"  # exits while it stops
        print(json.dumps([first, stopped, child.decode(), os.WEXITSTATUS(status), again]))
        """
        % http_server.url("/hello")
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert json.loads(result.stdout) == [True, True, "hello world", 0, True]
