"""Per-request facts: future.attempts and future.timings, from a settled promise and
from a callback; and the core's report of a new connection (ResponseBody.opened).

Times are compared with each other (their order), never with a duration.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable, Iterator, Optional

import pytest

import asynchttp
import asynchttp_lowhaio
from tests.servers.flaky import FlakyServer, answer, reset_after
from tests.servers.tls import TlsMaterial

from .resilience_helpers import WAIT, http_factory, quick, wait_until

MakeHttp = Callable[..., asynchttp.Http]


@pytest.fixture
def make_http() -> Iterator[MakeHttp]:
    yield from http_factory()


def ordered(*times: Optional[float]) -> bool:
    present = [t for t in times if t is not None]
    return present == sorted(present)


def test_timings_of_a_request_on_a_new_then_a_reused_connection(make_http: MakeHttp) -> None:
    with FlakyServer() as srv:
        http = make_http()
        first, content = http.request(srv.url("/a"))
        assert content == b"/a"
        t = first.future.timings
        assert isinstance(t, asynchttp.Timings)
        assert None not in (t.started, t.connected, t.first_byte, t.done)
        assert t.tls_done is None  # plain http
        assert ordered(t.queued, t.started, t.connected, t.first_byte, t.done)
        second, _ = http.request(srv.url("/b"))
        t2 = second.future.timings
        assert t2.connected is None and t2.tls_done is None  # the connection was reused
        assert ordered(t.done, t2.queued, t2.started, t2.first_byte, t2.done)
        assert srv.connections == 1


def test_tls_done_over_https(make_http: MakeHttp, tls: TlsMaterial, tmp_path: Any) -> None:
    ca = tmp_path / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(ca))
    with FlakyServer(ssl_context=tls.server_context()) as srv:
        response, _ = make_http(ca_certs=str(ca)).request(srv.url("/s"))
        assert response.status == 200
        t = response.future.timings
        assert t.connected is not None and t.tls_done is not None
        assert ordered(t.started, t.connected, t.tls_done, t.first_byte, t.done)


def test_as_dict_is_relative_to_queued() -> None:
    timings = asynchttp.Timings(10.0, 10.5, None, None, 11.25, 12.0)
    assert timings.as_dict() == {
        "queued": 0.0,
        "started": 0.5,
        "connected": None,
        "tls_done": None,
        "first_byte": 1.25,
        "done": 2.0,
    }


def test_facts_are_immutable_values() -> None:
    attempt = asynchttp.Attempt(1, 1.0, 2.0, 200, None, None)
    with pytest.raises(AttributeError):
        attempt.status = 500  # type: ignore[misc]
    assert attempt._asdict()["number"] == 1
    assert asynchttp.Timings._fields == ("queued", "started", "connected", "tls_done", "first_byte", "done")
    assert asynchttp.Attempt._fields == ("number", "started", "ended", "status", "error", "retry_reason")


def test_one_attempt_without_a_policy(make_http: MakeHttp) -> None:
    with FlakyServer() as srv:
        response, _ = make_http().request(srv.url("/one"))
        assert response.status == 200
        (attempt,) = response.future.attempts
        assert (attempt.number, attempt.status, attempt.error, attempt.retry_reason) == (1, 200, None, None)
        t = response.future.timings
        assert ordered(t.started, attempt.started, t.first_byte, attempt.ended, t.done)


def test_a_failure_is_an_attempt_with_its_error(make_http: MakeHttp) -> None:
    srv = FlakyServer()  # bound, never listening: refused
    try:
        response, _ = make_http().request(srv.url("/x"))
        with pytest.raises(ConnectionRefusedError):
            _ = response.status
        (attempt,) = response.future.attempts
        assert attempt.status is None and "ConnectionRefusedError" in (attempt.error or "")
        assert response.future.timings.done is not None
    finally:
        srv.stop()


def test_httplib2s_own_retry_is_an_attempt_with_its_reason(make_http: MakeHttp) -> None:
    # no policy: httplib2's stale-connection rule sends a GET again once, at once
    with FlakyServer(script={"/k": [reset_after(), answer(200)]}) as srv:
        response, _ = make_http().request(srv.url("/k"))
        assert response.status == 200
        first, second = response.future.attempts
        assert "httplib2" in (first.retry_reason or "") and second.status == 200


def test_callbacks_read_the_facts(make_http: MakeHttp) -> None:
    seen: dict[str, Any] = {}
    ran = threading.Event()

    def callback(promise: asynchttp.Promise) -> None:
        seen["attempts"] = promise.attempts
        seen["timings"] = promise.timings
        seen["same"] = promise.future.attempts == promise.attempts
        ran.set()

    with FlakyServer(script={"/c": [answer(503, {"Retry-After": "0"}), answer(200)]}) as srv:
        response, _ = make_http(retry=quick()).request(srv.url("/c"), callback=callback)
        assert response.status == 200 and ran.wait(WAIT)
        assert [a.status for a in seen["attempts"]] == [503, 200]
        assert seen["timings"].done is not None and seen["timings"].first_byte is not None
        assert seen["same"]


def test_a_request_cancelled_in_the_queue_has_no_attempts(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/hold": [answer(200, delay=0.5)]}) as srv:
        http = make_http(max_connections=1)
        blocker = http.request(srv.url("/hold"))[0]
        queued = http.request(srv.url("/never"))[0]
        assert queued.cancel()
        assert queued.future.attempts == ()
        t = queued.future.timings
        assert t.started is None and t.done is None and isinstance(t.queued, float)
        assert blocker.status == 200
        assert srv.count("/never") == 0


def test_attempts_are_readable_while_the_request_runs(make_http: MakeHttp) -> None:
    with FlakyServer(script={"/w": [answer(503, {"Retry-After": "30"})]}) as srv:
        http = make_http(retry=quick(budget=120.0))
        response, _ = http.request(srv.url("/w"))
        assert wait_until(lambda: len(response.future.attempts) == 1)
        assert not response.done()
        assert response.future.attempts[0].status == 503
        assert response.cancel()


def test_the_core_reports_a_new_connection_once() -> None:
    async def main(url: str) -> list[Any]:
        request, close = asynchttp_lowhaio.Pool()
        opened = []
        try:
            for _ in range(2):
                _, _, body = await request(b"GET", url)
                opened.append(body.opened)
                await asynchttp_lowhaio.buffered(body)
        finally:
            await close()
        return opened

    with FlakyServer() as srv:
        first, second = asyncio.run(main(srv.url("/core")))
    connected, tls_done = first
    assert isinstance(connected, float) and tls_done is None
    assert second is None


def test_before_send_runs_once_the_connection_is_held_and_can_stop_the_send() -> None:
    async def main(url: str) -> list[str]:
        request, close = asynchttp_lowhaio.Pool()
        calls: list[str] = []

        async def hook() -> None:
            calls.append("hook")

        async def refuse() -> None:
            raise RuntimeError("no token")

        try:
            _, _, body = await request(b"GET", url, before_send=hook)
            await asynchttp_lowhaio.buffered(body)
            with pytest.raises(RuntimeError):
                await request(b"GET", url, before_send=refuse)
            _, _, body = await request(b"GET", url)  # the connection went back to the pool
            await asynchttp_lowhaio.buffered(body)
        finally:
            await close()
        return calls

    with FlakyServer() as srv:
        calls = asyncio.run(main(srv.url("/h")))
        assert calls == ["hook"]
        assert srv.count() == 2 and srv.connections == 1


def test_facts_from_blocking_code_through_as_completed(make_http: MakeHttp) -> None:
    with FlakyServer() as srv:
        http = make_http()
        futures = [http.request(srv.url("/f%d" % i))[0].future for i in range(10)]
        for future in concurrent.futures.as_completed(futures, timeout=WAIT):
            assert len(future.attempts) == 1 and future.timings.done is not None


def test_a_blocking_request_gives_its_facts_to_its_callback(make_http: MakeHttp) -> None:
    seen: list[Any] = []
    with FlakyServer(script={"/b": [answer(503, {"Retry-After": "0"}), answer(200)]}) as srv:
        http = make_http(blocking=True, retry=quick())
        response, _ = http.request(srv.url("/b"), callback=lambda promise: seen.append(promise.attempts))
        assert response.status == 200
        assert [a.status for a in seen[0]] == [503, 200]
