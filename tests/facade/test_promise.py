"""The promises (item 3): content behaves as bytes, response as httplib2.Response, both
block until done; and the Future underneath (lazy condition, settle, cancel, wait)."""

from __future__ import annotations

import concurrent.futures
import copy
import json
import pickle
import threading
from concurrent.futures import CancelledError, InvalidStateError
from typing import Any

import httplib2
import pytest

import asynchttp
from asynchttp._promise import ContentPromise, RequestFuture, ResponsePromise, charset_of
from tests.facade.conftest import WAIT, wait_until
from tests.servers.http_server import JSON_BODY, Response, TestServer


def test_content_behaves_like_bytes(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/hello"))
    real = b"hello world"
    assert isinstance(content, bytes)
    assert type(content) is ContentPromise  # still the proxy: isinstance goes by __class__
    assert content.__class__ is bytes
    assert content == real and real == content and not (content != real)
    assert content < b"i" and content <= real and content > b"a" and content >= real
    assert len(content) == 11
    assert content[0] == real[0] and content[-5:] == b"world" and content[::2] == real[::2]
    assert list(content) == list(real)
    assert list(reversed(content)) == list(reversed(real))
    assert b"world" in content and 104 in content
    assert content + b"!" == real + b"!"
    assert b">" + content == b">" + real
    assert content * 2 == real * 2 and 2 * content == real * 2
    assert hash(content) == hash(real)
    assert bytes(content) == real and type(bytes(content)) is bytes
    assert bool(content)
    assert content.upper() == b"HELLO WORLD"
    assert content.split() == [b"hello", b"world"]
    assert content.decode() == "hello world"
    assert content.startswith(b"hello") and content.find(b"o") == 4
    assert repr(content) == repr(real)
    assert format(content, "") == format(real, "")
    assert {content: 1}[real] == 1
    assert copy.copy(content) == real and copy.deepcopy(content) == real
    assert pickle.loads(pickle.dumps(content)) == real
    assert type(pickle.loads(pickle.dumps(content, protocol=0))) is bytes
    assert memoryview(bytes(content)).tobytes() == real
    assert "upper" in dir(content)
    assert content.__sizeof__() == real.__sizeof__()


def test_bytes_formatting(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/hello"))
    assert content % () == b"hello world"
    assert b"<%s>" % content == b"<hello world>"
    assert b"<%b>" % bytes(content) == b"<hello world>"
    assert content.strip().split()[1] == b"world"


def test_json_loads_and_str_decoding(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/json"))
    assert json.loads(content) == JSON_BODY
    assert str(content) == bytes(content).decode("utf-8")  # text, not "b'...'"
    assert str(content).startswith('{"hello"')


def test_str_uses_the_response_charset(http: asynchttp.Http, http_server: TestServer) -> None:
    async def latin(request: Any) -> Response:
        return Response(
            body="caf\u00e9".encode("latin-1"), headers=[("Content-Type", 'text/plain; charset="ISO-8859-1"')]
        )

    async def nocharset(request: Any) -> Response:
        return Response(body="caf\u00e9".encode("utf-8"), headers=[("Content-Type", "text/plain")])

    async def unknown(request: Any) -> Response:
        return Response(body=b"caf\xc3\xa9", headers=[("Content-Type", "text/plain; charset=no-such-codec")])

    http_server.route("/latin", latin)
    http_server.route("/nocharset", nocharset)
    http_server.route("/unknown", unknown)
    assert str(http.request(http_server.url("/latin"))[1]) == "caf\u00e9"
    assert str(http.request(http_server.url("/nocharset"))[1]) == "caf\u00e9"
    assert str(http.request(http_server.url("/unknown"))[1]) == "caf\u00e9"


def test_charset_of() -> None:
    assert charset_of({"content-type": "text/html; charset=latin-1"}) == "iso8859-1"
    assert charset_of({"content-type": "text/html; foo=bar"}) == "utf-8"
    assert charset_of({}) == "utf-8"
    assert charset_of(None) == "utf-8"


def test_response_proxy_dict_behaviour(http: asynchttp.Http, http_server: TestServer) -> None:
    response, _ = http.request(http_server.url("/hello"))
    assert isinstance(response, httplib2.Response) and isinstance(response, dict)
    response["x-added"] = "1"
    assert response["x-added"] == "1"
    del response["x-added"]
    assert "x-added" not in response
    response.custom = "attr"  # attributes go to the real Response
    assert response.custom == "attr" and response._get().custom == "attr"
    del response.custom
    assert not hasattr(response, "custom")
    assert (response | {"x": "y"})["x"] == "y"
    assert ({"x": "y"} | response)["status"] == "200"
    assert copy.copy(response) == dict(response)
    restored = pickle.loads(pickle.dumps(response))
    assert isinstance(restored, httplib2.Response) and restored.status == 200
    with pytest.raises(TypeError):
        hash(response)
    assert str(response) == str(dict(response))
    other, _ = http.request(http_server.url("/hello"))
    assert (response == other) is False  # x-conn-requests differs
    with pytest.raises(AttributeError):
        response.no_such_attribute  # noqa: B018


def test_non_blocking_helpers(http: asynchttp.Http, http_server: TestServer) -> None:
    response, content = http.request(http_server.url("/wait?key=helpers"))
    assert http_server.wait_arrived("helpers")
    assert not response.done() and not content.cancelled()
    assert response.future is content.future
    with pytest.raises(concurrent.futures.TimeoutError):
        content.exception(timeout=0.01)
    http_server.release("helpers")
    assert response.wait(WAIT) is True
    assert content.exception() is None
    assert response.future.result() == (response._get(), content._get())


def test_touching_blocks_until_done(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/wait?key=block"))
    seen: list[bytes] = []
    reader = threading.Thread(target=lambda: seen.append(content.upper()))
    reader.start()
    assert http_server.wait_arrived("block")
    reader.join(0.05)
    assert reader.is_alive() and not seen  # blocked on the promise
    http_server.release("block")
    reader.join(WAIT)
    assert seen == [b"RELEASED BLOCK\n"]


# -- the Future underneath --------------------------------------------------------


def test_future_settles_without_building_a_condition() -> None:
    future = RequestFuture()
    assert future._cond is None
    future.set_result(("r", b"c"))
    assert future._cond is None  # nobody waited: no condition was ever needed
    assert future.done() and not future.running() and not future.cancelled()
    assert future.result() == ("r", b"c") and future.exception() is None
    with pytest.raises(InvalidStateError):
        future.set_result(1)
    with pytest.raises(InvalidStateError):
        future.set_exception(ValueError())
    with pytest.raises(TypeError):
        RequestFuture().set_exception(None)
    assert "finished" in repr(future).lower()


def test_future_wakes_a_waiter_from_another_thread() -> None:
    future = RequestFuture()
    results: list[Any] = []
    waiter = threading.Thread(target=lambda: results.append(future.result(WAIT)))
    waiter.start()
    assert wait_until(lambda: future._wake is not None)  # the waiter holds its wake lock
    assert future._cond is None  # a blocking read needs no condition
    future.set_result(7)
    waiter.join(WAIT)
    assert results == [7]


def test_one_settle_wakes_every_blocked_reader() -> None:
    future = RequestFuture()
    results: list[Any] = []
    readers = [
        threading.Thread(target=lambda: results.append(future.result(WAIT))),
        threading.Thread(target=lambda: results.append(future.exception(WAIT))),
        threading.Thread(target=lambda: results.append(future.wait(WAIT))),
    ]
    for reader in readers:
        reader.start()
    assert wait_until(lambda: future._wake is not None)
    future.set_result("answer")
    for reader in readers:
        reader.join(WAIT)
    assert sorted(map(repr, results)) == sorted(map(repr, ["answer", None, True]))
    assert future._wake is None  # dropped once released


def test_blocking_read_times_out_then_sees_the_answer() -> None:
    future = RequestFuture()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(0.01)
    with pytest.raises(concurrent.futures.TimeoutError):
        future.exception(0)
    assert future.wait(0.01) is False
    future.set_exception(OSError("late"))
    assert future.wait(0) is True
    assert isinstance(future.exception(0), OSError)
    with pytest.raises(OSError, match="late"):
        future.result(0)


def test_cancel_wakes_a_blocked_reader_with_cancelled_error() -> None:
    future = RequestFuture()
    outcome: list[Any] = []

    def read() -> None:
        try:
            future.result(WAIT)
        except CancelledError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    assert wait_until(lambda: future._wake is not None)
    assert future.cancel()
    reader.join(WAIT)
    assert len(outcome) == 1 and isinstance(outcome[0], CancelledError)


def test_blocked_reader_and_as_completed_both_wake() -> None:
    future = RequestFuture()
    results: list[Any] = []
    reader = threading.Thread(target=lambda: results.append(future.result(WAIT)))
    reader.start()
    assert wait_until(lambda: future._wake is not None)
    completed: list[Any] = []
    watcher = threading.Thread(target=lambda: completed.extend(concurrent.futures.as_completed([future], timeout=WAIT)))
    watcher.start()
    assert wait_until(lambda: future._cond is not None)  # as_completed uses the condition
    future.set_result(3)
    reader.join(WAIT)
    watcher.join(WAIT)
    assert results == [3] and completed == [future]


def test_future_exception_is_raised_with_its_traceback() -> None:
    future = RequestFuture()
    try:
        raise OSError("boom")
    except OSError as exc:
        future.set_exception(exc)
    with pytest.raises(OSError, match="boom") as info:
        future.result()
    assert any(entry.name == "test_future_exception_is_raised_with_its_traceback" for entry in info.traceback)
    assert isinstance(future.exception(), OSError)


def test_future_cancel_and_running_states() -> None:
    future = RequestFuture()
    assert future.cancel() and future.cancel()  # idempotent
    assert future.cancelled() and future.done()
    with pytest.raises(CancelledError):
        future.result()
    assert future.wait(0) is True
    assert future._settle(1, None) is False  # a late answer is dropped
    running = RequestFuture()
    assert running._begin_running() and running.running()
    assert not running.cancel()
    assert not running._begin_running()
    running.set_result(2)
    assert running.result() == 2
    cancelled = RequestFuture()
    cancelled.cancel()
    assert not cancelled._begin_running()
    # with a condition present, the locked paths are taken
    waited = RequestFuture()
    assert waited.wait(0.001) is False
    assert waited._begin_running()
    assert not waited._begin_running()
    waited.set_exception(KeyError("k"))
    assert isinstance(waited.exception(), KeyError)


def test_future_timeout_and_done_callbacks_off_thread() -> None:
    future = RequestFuture()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0.01)
    called: list[Any] = []
    future.add_done_callback(lambda f: called.append((f.result(), threading.current_thread().name)))
    future.set_result("v")
    assert called == [("v", threading.current_thread().name)]


def test_proxy_over_a_failed_future_raises_on_every_touch() -> None:
    future = RequestFuture()
    future.set_exception(httplib2.ServerNotFoundError("Unable to find the server at x"))
    response, content = ResponsePromise(future), ContentPromise(future)
    for touch in (
        lambda: len(content),
        lambda: content == b"",
        lambda: response.status,
        lambda: isinstance(content, bytes),
        lambda: str(content),
        lambda: repr(response),
    ):
        with pytest.raises(httplib2.ServerNotFoundError):
            touch()
    assert content.done() and isinstance(content.exception(), httplib2.ServerNotFoundError)
    assert content.wait() is True  # wait never raises the request's error


def test_proxy_content_replaced_by_something_else() -> None:
    future = RequestFuture()
    future.set_result(({"content-type": "x"}, {"parsed": [1, 2]}))
    content = ContentPromise(future)
    assert content["parsed"] == [1, 2]
    assert str(content) == "{'parsed': [1, 2]}"
    assert isinstance(content, dict)
    content["more"] = 1
    assert future.result()[1]["more"] == 1
    numbers = RequestFuture()
    numbers.set_result(({}, 41))
    value = ContentPromise(numbers)
    assert int(value) + 1 == 42 and float(value) == 41.0
    assert value - 1 == 40 and 50 - value == 9 and value % 4 == 1 and 100 % value == 18
    assert value & 1 == 1 and 1 & value == 1 and value ^ 1 == 40 and 1 ^ value == 40
    assert value | 2 == 43
