"""Logging on the "asynchttp" logger (item 9) and BlockingHttp, the drop-in that
returns real values and raises at the call (item 8)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Callable

import httplib2
import pytest

import asynchttp
from tests.servers import closed_port
from tests.servers.http_server import TestServer

MakeHttp = Callable[..., asynchttp.Http]


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asynchttp" and r.levelno == level]


def test_debug_lines_for_each_step(
    http: asynchttp.Http, http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="asynchttp"):
        first = http.request(http_server.url("/hello"), callback=lambda p: None)
        assert first[1] == b"hello world"
        response, content = http.request(http_server.url("/wait?key=log"))
        assert http_server.wait_arrived("log")
        waiter = threading.Thread(target=lambda: content.upper())
        waiter.start()
        http_server.release("log")
        waiter.join(10)
    lines = messages(caplog)
    request_id = response.future.request_id
    mine = [line for line in lines if re.search(r"request %d\b" % request_id, line)]
    text = "\n".join(mine)
    for step in ("queued", "started", "connection", "sent", "response head", "body done", "resolved", "waited on"):
        assert step in text, (step, text)
    assert "GET http://%s/wait?key=log" % http_server.netloc in text
    first_id = first[0].future.request_id
    first_text = "\n".join(line for line in lines if re.search(r"request %d\b" % first_id, line))
    assert "callback start" in first_text and "callback end" in first_text
    # the thread shows through the record, for a format with %(threadName)s
    threads = {r.threadName for r in caplog.records if r.name == "asynchttp"}
    assert "asynchttp-loop" in threads and threading.current_thread().name in threads


def test_credentials_never_logged(
    http: asynchttp.Http, http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        url = "http://alice:s3cret@%s/hello" % http_server.netloc
        response, content = http.request(url)
        assert content.wait(10)
        failing = http.request("http://bob:hunter2@127.0.0.1:%d/" % closed_port())
        assert failing[1].wait(10)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret" not in text and "hunter2" not in text
    assert "alice" not in text and "bob" not in text
    assert "/hello" in text


def test_failure_is_a_warning(http: asynchttp.Http, caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    with caplog.at_level(logging.WARNING, logger="asynchttp"):
        _, content = http.request("http://127.0.0.1:%d/x" % port)
        assert content.wait(10)
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "failed" in warnings[0] and "ConnectionRefusedError" in warnings[0] and "/x" in warnings[0]


def test_quiet_when_debug_is_off(
    http: asynchttp.Http, http_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="asynchttp"):
        assert http.request(http_server.url("/hello"))[1] == b"hello world"
    assert [r for r in caplog.records if r.name.startswith("asynchttp")] == []


def test_library_adds_only_a_null_handler() -> None:
    handlers = logging.getLogger("asynchttp").handlers
    assert handlers and all(isinstance(h, logging.NullHandler) for h in handlers)


# -- BlockingHttp -----------------------------------------------------------------


def test_blocking_returns_real_values(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(blocking=True)
    response, content = http.request(http_server.url("/hello"))
    assert type(response) is httplib2.Response and type(content) is bytes
    assert response.status == 200 and content == b"hello world"


def test_blocking_raises_at_the_call(make_http: MakeHttp) -> None:
    http = make_http(blocking=True)
    with pytest.raises(ConnectionRefusedError) as info:
        http.request("http://127.0.0.1:%d/" % closed_port())
    assert info.value.__cause__ is not None
    with pytest.raises(httplib2.RelativeURIError):
        http.request("no/scheme")


def test_blocking_callback_and_threads(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(blocking=True, max_connections=4)

    def upper(promise: asynchttp.Promise) -> None:
        promise.content = promise.content.upper()

    assert http.request(http_server.url("/hello"), callback=upper)[1] == b"HELLO WORLD"
    results: list[bytes] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            content = http.request(http_server.url("/hello"))[1]
            with lock:
                results.append(content)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [b"hello world"] * 80


def test_blocking_is_an_http(make_http: MakeHttp) -> None:
    http = make_http(blocking=True)
    assert isinstance(http, asynchttp.Http)
    assert http.follow_redirects is True and http.connections == {}


def test_credentials_in_error_messages_are_not_logged(http: asynchttp.Http, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        # a port the core refuses: its error quotes the URL
        _, content = http.request("http://bob:hunter2@127.0.0.1:99999/")
        assert content.wait(10)
        assert content.exception() is not None
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed" in text
    assert "hunter2" not in text and "bob" not in text
