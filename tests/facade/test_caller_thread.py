"""BlockingHttp on its caller's own thread: which thread did the I/O, and what falls back.

Which thread sent a request is read from the "asynchttp" logger's records (each
record carries the name of the thread that logged it): the core's "connecting",
"request sent" and "response head" lines come from whichever thread drives the
socket. The loop path logs them from the loop thread; the caller's path from the
caller's.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any, Callable, Iterator

import httplib2
import pytest

import asynchttp
from asynchttp import _loop
from tests.servers.http_server import TestServer
from tests.servers.leaks import LeakChecker

MakeHttp = Callable[..., asynchttp.Http]


class _Threads(logging.Handler):
    """The thread names behind the core's per-request lines, by message."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.threadName or "", record.getMessage()))

    def senders(self) -> set[str]:
        return {thread for thread, message in self.records if "request sent on" in message}


@pytest.fixture(autouse=True)
def default_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default driver, whatever the environment of the run says."""
    monkeypatch.delenv("ASYNCHTTP_BLOCKING_DRIVER", raising=False)


@pytest.fixture
def threads_seen() -> Iterator[_Threads]:
    handler = _Threads()
    logger = logging.getLogger("asynchttp")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_a_plain_request_runs_on_the_callers_thread(
    make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads
) -> None:
    http = make_http(blocking=True)
    response, content = http.request(http_server.url("/hello"))
    assert (response.status, content) == (200, b"hello world")
    assert type(response) is httplib2.Response and type(content) is bytes
    assert threads_seen.senders() == {threading.current_thread().name}


def test_redirects_auth_and_decoding_run_there_too(
    make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads
) -> None:
    http = make_http(blocking=True)
    http.add_credentials("user", "pass")
    response, content = http.request(http_server.url("/redirect?to=/gzip"))
    assert response.status == 200 and response.previous.status in (301, 302, 303, 307, 308)
    assert content.startswith(b"The quick brown fox")
    response, _ = http.request(http_server.url("/auth/basic?user=user&password=pass"))
    assert response.status == 200
    assert threads_seen.senders() == {threading.current_thread().name}


def test_threads_share_the_pool_within_its_limits(
    make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads
) -> None:
    http = make_http(blocking=True, max_connections=2)
    answers: list[bytes] = []

    def work() -> None:
        for _ in range(5):
            answers.append(http.request(http_server.url("/hello"))[1])

    workers = [threading.Thread(target=work, name="caller-%d" % i) for i in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert answers == [b"hello world"] * 30
    assert http_server.connections_opened <= 2
    assert threads_seen.senders() == {"caller-%d" % i for i in range(6)}


@pytest.mark.parametrize(
    "setup",
    ["cache", "driver", "callback", "retry", "rate_limit", "sink"],
)
def test_what_cannot_run_there_goes_through_the_loop(
    setup: str, make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads, tmp_path: Any
) -> None:
    kwargs: dict[str, Any] = {}
    if setup == "cache":
        kwargs["cache"] = str(tmp_path / "cache")
    if setup == "driver":
        kwargs["driver"] = "loop"
    if setup == "retry":
        kwargs["retry"] = asynchttp.Retry(attempts=2)
    if setup == "rate_limit":
        kwargs["rate_limit"] = asynchttp.RateLimit(per_second=1000.0, burst=10)
    http = make_http(blocking=True, **kwargs)
    if setup == "sink":
        sink = io.BytesIO()
        response, content = http.request(http_server.url("/hello"), sink=sink)
        assert sink.getvalue() == b"hello world"
        content = sink.getvalue()
    elif setup == "callback":
        seen: list[int] = []
        response, content = http.request(http_server.url("/hello"), callback=lambda p: seen.append(p.response.status))
        assert seen == [200]
    else:
        response, content = http.request(http_server.url("/hello"))
    assert (response.status, content) == (200, b"hello world")
    assert threads_seen.senders() == {_loop.LOOP_THREAD_NAME}


def test_the_environment_switch_selects_the_loop(
    make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCHTTP_BLOCKING_DRIVER", "loop")
    make_http(blocking=True).request(http_server.url("/hello"))
    assert threads_seen.senders() == {_loop.LOOP_THREAD_NAME}
    with pytest.raises(ValueError):
        asynchttp.BlockingHttp(driver="fibers")


def test_errors_are_httplib2s_as_on_the_loop(make_http: MakeHttp, http_server: TestServer) -> None:
    from tests.servers import closed_port

    url = "http://127.0.0.1:%d/" % closed_port()
    errors = []
    for driver in ("thread", "loop"):
        with pytest.raises(OSError) as info:
            make_http(blocking=True, driver=driver).request(url)
        errors.append(info.value)
    assert [type(error) for error in errors] == [ConnectionRefusedError, ConnectionRefusedError]
    assert isinstance(getattr(errors[0], "request_id", None), int)  # as its log lines number it
    assert [type(error.__cause__) for error in errors][0] is type(errors[1].__cause__)
    http = make_http(blocking=True, timeout=0.2)
    with pytest.raises(TimeoutError):
        http.request(http_server.url("/slow?delay=2"))


def test_close_and_shutdown_free_every_socket(http_server: TestServer, no_leaks: LeakChecker) -> None:
    http = asynchttp.BlockingHttp()
    assert http.request(http_server.url("/hello"))[1] == b"hello world"
    http.close()  # idle connections go now; the next request opens another
    assert http.request(http_server.url("/hello"))[1] == b"hello world"
    assert http_server.connections_opened == 2
    http.shutdown()
    with pytest.raises(asynchttp.ShutdownError):
        http.request(http_server.url("/hello"))


def test_shutdown_with_cancel_pending_ends_a_request_in_flight(http_server: TestServer) -> None:
    http = asynchttp.BlockingHttp()
    errors: list[BaseException] = []

    def waiting() -> None:
        try:
            http.request(http_server.url("/wait?key=held"))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=waiting)
    worker.start()
    assert http_server.wait_arrived("held")
    http.shutdown(wait=True, cancel_pending=True)
    worker.join(10)
    http_server.release("held")
    # the connection was shut down under it; httplib2's resend then finds the Http shut down
    assert len(errors) == 1 and isinstance(errors[0], (OSError, asynchttp.ShutdownError)), errors


def test_a_hop_through_a_proxy_goes_to_the_loop(
    make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads
) -> None:
    """The proxy's handshake is async code: that exchange is handed to the loop, the
    answer comes back to the caller as on the loop path."""
    import socks

    from tests.servers.proxies import ProxyServer

    with ProxyServer("socks5") as proxy:
        info = httplib2.ProxyInfo(socks.PROXY_TYPE_SOCKS5, "127.0.0.1", proxy.port, proxy_rdns=True)
        http = make_http(blocking=True, proxy_info=info)
        response, content = http.request("http://localhost:%d/hello" % http_server.port)
        assert (response.status, content) == (200, b"hello world")
        assert len(proxy.log) == 1
        http.close()
    assert threads_seen.senders() == {_loop.LOOP_THREAD_NAME}


def test_a_caller_running_an_event_loop_takes_the_loop_path(
    make_http: MakeHttp, http_server: TestServer, threads_seen: _Threads
) -> None:
    import asyncio

    http = make_http(blocking=True)

    async def inside_a_loop() -> bytes:
        return http.request(http_server.url("/hello"))[1]  # blocks this loop, as httplib2 would

    assert asyncio.run(inside_a_loop()) == b"hello world"
    assert threads_seen.senders() == {_loop.LOOP_THREAD_NAME}


def test_the_driver_refuses_a_pipeline_that_waits_for_a_loop() -> None:
    import asyncio

    from asynchttp._caller import Suspended, drive

    async def done_at_once() -> int:
        return 7

    async def waits() -> None:
        await asyncio.sleep(0)  # yields to a loop: there is none here

    assert drive(done_at_once()) == 7
    with pytest.raises(Suspended):
        drive(waits())
