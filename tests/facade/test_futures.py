"""The promise's Future works with the standard tools (as_completed, wait,
add_done_callback, asyncio.wrap_future) and cancel() frees the request (item 3)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable

import httplib2
import pytest

import asynchttp
from tests.facade.conftest import WAIT, wait_until
from tests.servers import run
from tests.servers.http_server import Request, Response, TestServer

MakeHttp = Callable[..., asynchttp.Http]


def test_as_completed_yields_in_completion_order(http: asynchttp.Http, http_server: TestServer) -> None:
    late = http.request(http_server.url("/wait?key=late"))
    early = http.request(http_server.url("/hello"))
    futures = [late[0].future, early[0].future]
    iterator = concurrent.futures.as_completed(futures, timeout=WAIT)
    first = next(iterator)
    assert first is early[0].future
    http_server.release("late")
    second = next(iterator)
    assert second is late[0].future
    response, content = second.result()
    assert isinstance(response, httplib2.Response) and content == b"released late\n"


def test_wait_first_completed_and_all(http: asynchttp.Http, http_server: TestServer) -> None:
    slow = http.request(http_server.url("/wait?key=w"))
    fast = http.request(http_server.url("/hello"))
    done, not_done = concurrent.futures.wait(
        [slow[0].future, fast[0].future], timeout=WAIT, return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert done == {fast[0].future} and not_done == {slow[0].future}
    http_server.release("w")
    done, not_done = concurrent.futures.wait([slow[0].future, fast[0].future], timeout=WAIT)
    assert not not_done


def test_wait_sees_a_failure_and_a_cancel(http: asynchttp.Http, http_server: TestServer) -> None:
    from tests.servers import closed_port

    failing = http.request("http://127.0.0.1:%d/" % closed_port())
    pending = http.request(http_server.url("/wait?key=never&max=5"))
    assert http_server.wait_arrived("never")
    assert pending[0].cancel()
    done, not_done = concurrent.futures.wait(
        [failing[0].future, pending[0].future], timeout=WAIT, return_when=concurrent.futures.ALL_COMPLETED
    )
    assert not not_done
    assert isinstance(failing[0].future.exception(), ConnectionRefusedError)
    assert pending[0].future.cancelled()


def test_add_done_callback(http: asynchttp.Http, http_server: TestServer) -> None:
    got: list[Any] = []
    event = threading.Event()
    response, _ = http.request(http_server.url("/hello"))
    response.future.add_done_callback(lambda f: (got.append(f.result()[1]), event.set()))
    assert event.wait(WAIT)
    assert got == [b"hello world"]


def test_await_from_asyncio(http: asynchttp.Http, http_server: TestServer) -> None:
    async def main() -> list[bytes]:
        promises = [http.request(http_server.url("/bytes?n=%d" % n)) for n in (1, 2, 3)]
        results = await asyncio.gather(*(asyncio.wrap_future(r.future) for r, _ in promises))
        return [content for _, content in results]

    assert [len(c) for c in run(main())] == [1, 2, 3]


def test_asyncio_cancellation_cancels_the_request(http: asynchttp.Http, http_server: TestServer) -> None:
    response, _ = http.request(http_server.url("/wait?key=acancel&max=5"))

    async def main() -> None:
        wrapped = asyncio.wrap_future(response.future)
        await asyncio.sleep(0)
        wrapped.cancel()
        with pytest.raises(asyncio.CancelledError):
            await wrapped

    assert http_server.wait_arrived("acancel")
    run(main())
    assert response.future.cancelled()


# -- cancel -------------------------------------------------------------------------


def test_cancel_in_flight_frees_the_connection(make_http: MakeHttp, http_server: TestServer) -> None:
    closed = threading.Event()

    async def hold(request: Request) -> Response:
        # answers only once the client went away (or after 5 s)
        if await request.wait_closed(5):
            closed.set()
        return Response(body=b"too late")

    http_server.route("/hold", hold)
    http = make_http(max_connections=1)
    response, content = http.request(http_server.url("/hold"))
    assert wait_until(lambda: bool(http_server.requests))
    assert content.cancel() is True
    assert content.cancelled() and content.done()
    with pytest.raises(concurrent.futures.CancelledError):
        content.upper()
    with pytest.raises(concurrent.futures.CancelledError):
        response.status  # noqa: B018
    assert closed.wait(WAIT)  # the core closed the connection
    # the only connection slot is free again
    _, again = http.request(http_server.url("/hello"))
    assert again == b"hello world"


def test_cancel_queued_request_never_sends_it(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=1)
    blocker = http.request(http_server.url("/wait?key=q"))
    queued = http.request(http_server.url("/echo?queued=1"))
    assert http_server.wait_arrived("q")
    assert queued[1].cancel()
    http_server.release("q")
    assert blocker[1] == b"released q\n"
    after = http.request(http_server.url("/hello"))
    assert after[1] == b"hello world"
    assert all("queued" not in r.target for r in http_server.requests)


def test_cancel_after_done_is_refused(http: asynchttp.Http, http_server: TestServer) -> None:
    response, content = http.request(http_server.url("/hello"))
    assert content == b"hello world"
    assert response.cancel() is False and not response.cancelled()


def test_cancel_while_callback_runs_is_refused(http: asynchttp.Http, http_server: TestServer) -> None:
    inside = threading.Event()
    leave = threading.Event()

    def callback(promise: asynchttp.Promise) -> None:
        inside.set()
        leave.wait(WAIT)

    _, content = http.request(http_server.url("/hello"), callback=callback)
    assert inside.wait(WAIT)
    assert content.future.running()
    assert content.cancel() is False
    leave.set()
    assert content == b"hello world"


def test_cancel_many_queued_then_everything_else_completes(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_connections=2)
    promises = [http.request(http_server.url("/bytes?n=10")) for _ in range(300)]
    cancelled = [p for i, p in enumerate(promises) if i % 3 == 0 and p[0].cancel()]
    for response, content in promises:
        assert content.wait(WAIT)
        if not response.cancelled():
            assert len(content) == 10
    assert cancelled and all(r.cancelled() for r, _ in cancelled)


class _Interrupted(BaseException):
    pass


def test_blocking_http_interrupted_wait_cancels(make_http: MakeHttp, http_server: TestServer) -> None:
    """A BlockingHttp call interrupted while it waits (a signal, say Ctrl-C) cancels its
    request instead of leaving it running."""
    import signal

    assert threading.current_thread() is threading.main_thread()
    http = make_http(blocking=True)
    main = threading.get_ident()
    arrived = threading.Event()
    closed = threading.Event()

    async def hold(request: Request) -> Response:
        arrived.set()
        if await request.wait_closed(5):
            closed.set()
        return Response(body=b"too late")

    http_server.route("/hold", hold)

    def interrupt() -> None:
        if arrived.wait(WAIT):
            signal.pthread_kill(main, signal.SIGUSR1)

    def handler(signum: int, frame: Any) -> None:
        raise _Interrupted()

    previous = signal.signal(signal.SIGUSR1, handler)
    helper = threading.Thread(target=interrupt)
    try:
        helper.start()
        with pytest.raises(_Interrupted):
            http.request(http_server.url("/hold"))
    finally:
        helper.join(WAIT)
        signal.signal(signal.SIGUSR1, previous)
    assert closed.wait(WAIT)  # the request was cancelled: its connection closed
    assert http.request(http_server.url("/hello"))[1] == b"hello world"
