"""Load and lifecycle of asynchttp.Http (issue 6 item 3), against a fast local server.

- 100,000 requests queued at once on one ``Http`` all resolve, with the thread
  count never above what one request needed (set ``ASYNCHTTP_LOAD_REQUESTS`` to
  run another number, e.g. 20000 on a slow machine);
- ``shutdown()`` and ``close()`` with 1,000 requests pending resolve every promise;
- a process that exits with requests pending ends within 5 s;
- 10,000 requests with keep-alive churn (the server closes every 7th
  connection's answer) leave no fd behind, and the count stays bounded meanwhile.

The server is ``tests/servers/fast_server.py`` in its own process, so it neither shares the
GIL with the client nor slows it; it exits when the test closes its stdin.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any, Callable, Iterator, List

import httplib2
import pytest

from tests.hostile.harness import client_fds, new_threads
from tests.servers import leaks
from tests.servers.fast_server import FastServer

try:
    import asynchttp

    asynchttp.Http  # noqa: B018
except (ImportError, AttributeError) as exc:  # pragma: no cover - only while the facade is missing
    pytest.skip(f"asynchttp.Http cannot be imported yet: {exc!r}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
BODY = b"hello, load"
LOAD_REQUESTS = int(os.environ.get("ASYNCHTTP_LOAD_REQUESTS", "100000"))
DEADLINE = 120.0  # a bound against hangs, not a performance figure

# What touching a failed or cancelled promise may raise: httplib2's family, or the
# cancellation a shutdown with cancel_pending documents.
RESOLVED_ERRORS = (httplib2.HttpLib2Error, http.client.HTTPException, OSError, CancelledError)


@pytest.fixture
def server() -> Iterator[FastServer]:
    srv = FastServer()
    yield srv
    srv.stop()


@pytest.fixture
def churn_server() -> Iterator[FastServer]:
    srv = FastServer("--close-every", "7")
    yield srv
    srv.stop()


@pytest.fixture
def silent_server() -> Iterator[FastServer]:
    srv = FastServer("--no-answer")
    yield srv
    srv.stop()


def bounded(fn: Callable[[], Any], seconds: float = DEADLINE) -> Any:
    """Run ``fn`` in a thread; a hang fails the test instead of stalling the suite."""
    box: List[Any] = []

    def target() -> None:
        try:
            box.append(("ok", fn()))
        except BaseException as exc:  # re-raised below, in the test's thread
            box.append(("err", exc))

    thread = threading.Thread(target=target, name="hostile-load-bounded", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"HANG: not done within {seconds} s")
    kind, value = box[0]
    if kind == "err":
        raise value
    return value


def warm(http: Any, url: str) -> None:
    """One request, so the loop thread and anything started per Http exist."""
    _response, content = http.request(url)
    assert bytes(content) == BODY


@pytest.mark.slow
def test_queued_requests_all_resolve_with_constant_threads(server: FastServer) -> None:
    http = asynchttp.Http(proxy_info=None, timeout=30)
    try:
        warm(http, server.url("/warm"))
        threads_before = threading.active_count()
        url = server.url("/load")
        promises = [http.request(url) for _ in range(LOAD_REQUESTS)]
        assert threading.active_count() <= threads_before  # queueing starts no thread

        def touch_all() -> int:
            most = 0
            good = 0
            for index, (response, content) in enumerate(promises):
                if bytes(content) == BODY and response.status == 200:
                    good += 1
                if index % 5000 == 0:
                    most = max(most, threading.active_count())
            return good if most <= threads_before + 1 else -most  # +1: the bounded() thread

        good = bounded(touch_all)
        assert good == LOAD_REQUESTS, f"{good} of {LOAD_REQUESTS} right answers (negative: thread count)"
        assert all(content.done() for _response, content in promises)
    finally:
        http.shutdown(wait=True)


@pytest.mark.parametrize("cancel_pending", [False, True])
def test_shutdown_with_1000_pending_resolves_every_promise(server: FastServer, cancel_pending: bool) -> None:
    http = asynchttp.Http(proxy_info=None, timeout=30)
    warm(http, server.url("/warm"))
    promises = [http.request(server.url("/pending")) for _ in range(1000)]
    bounded(lambda: http.shutdown(wait=True, cancel_pending=cancel_pending), 60)
    values = errors = 0
    for response, content in promises:
        assert content.done() and response.done()
        try:
            assert bytes(content) == BODY
            values += 1
        except RESOLVED_ERRORS:
            errors += 1
    assert values + errors == 1000
    if not cancel_pending:
        assert values == 1000  # shutdown(wait=True) finishes what was queued
    with pytest.raises(asynchttp.ShutdownError):
        http.request(server.url("/after"))


def test_shutdown_cancelling_requests_nobody_answers(silent_server: FastServer) -> None:
    http = asynchttp.Http(proxy_info=None, timeout=30)
    promises = [http.request(silent_server.url("/never")) for _ in range(1000)]
    bounded(lambda: http.shutdown(wait=True, cancel_pending=True), 30)
    for response, content in promises:
        assert content.done() and response.done()
        with pytest.raises(RESOLVED_ERRORS):
            bytes(content)


def test_close_with_1000_pending_resolves_every_promise(server: FastServer) -> None:
    http = asynchttp.Http(proxy_info=None, timeout=30)
    try:
        warm(http, server.url("/warm"))
        promises = [http.request(server.url("/pending")) for _ in range(1000)]
        http.close()  # httplib2's meaning: drop connections; requests in flight still finish
        answers = bounded(lambda: [bytes(content) for _response, content in promises], 60)
        assert answers == [BODY] * 1000
    finally:
        http.shutdown(wait=True)


def test_process_exiting_with_pending_requests_ends_promptly(silent_server: FastServer) -> None:
    script = textwrap.dedent(f"""
        import sys
        import asynchttp
        http = asynchttp.Http(proxy_info=None, timeout=60)
        promises = [http.request("{silent_server.url("/never")}") for _ in range(1000)]
        print("queued", flush=True)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "queued"
        # issue 6: "a subprocess that exits with requests pending ends within 5 s"
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        pytest.fail("the process did not end within 5 s of its main thread finishing")
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        stderr = proc.stderr.read() if proc.stderr is not None else ""
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == 0, stderr


@pytest.mark.slow
def test_no_fd_growth_with_keep_alive_churn(churn_server: FastServer) -> None:
    warmup = asynchttp.Http(proxy_info=None)
    warm_url = churn_server.url("/warm")
    warm(warmup, warm_url)  # the process-wide loop thread and its fds exist from here
    warmup.shutdown(wait=True)
    before_fds = leaks.open_fds()
    before_threads = set(threading.enumerate())
    limit = 20
    http = asynchttp.Http(proxy_info=None, timeout=30, max_connections=limit)
    try:
        url = churn_server.url("/churn")

        def rounds() -> int:
            most = 0
            for _ in range(10):
                batch = [http.request(url) for _ in range(1000)]
                # the server announces each close (Connection: close): no request may fail
                assert [bytes(content) for _response, content in batch] == [BODY] * 1000
                most = max(most, len(client_fds(before_fds, {churn_server.port})))
            return most

        most = bounded(rounds)
        # never more sockets than the pool's limit (plus a few closing ones)
        assert most <= limit + 5, f"{most} client fds open at once with max_connections={limit}"
    finally:
        http.shutdown(wait=True)
    deadline = time.monotonic() + 3
    while (client_fds(before_fds, {churn_server.port}) or new_threads(before_threads)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not client_fds(before_fds, {churn_server.port}), "fds left behind after shutdown"
    assert not new_threads(before_threads), "threads left behind after shutdown"
