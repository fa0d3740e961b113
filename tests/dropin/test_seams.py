"""Issue 14 item 1: ``_request`` and ``_conn_request`` are seams, as in httplib2.

A lazr.restfulclient-style subclass signs every request in ``_request``; a server
answers 401 to any request not signed for its own method and URI. The same subclass
over httplib2's real ``Http`` is the oracle: the calls our seams see (per redirect hop
and per auth retry) must be the calls httplib2 makes.
"""

from __future__ import annotations

import threading
from typing import Any

import httplib2
import pytest

import asynchttp
from tests.dropin.conftest import WAIT, signature, signed_as
from tests.servers.http_server import TestServer

BASES = [asynchttp.Http, asynchttp.BlockingHttp]


def signing_class(base: type) -> type:
    """lazr.restfulclient's pattern: ``_request`` drops a stale Authorization (one left
    from a redirect) and signs; ``_conn_request`` is recorded and calls super()."""

    class Signing(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.calls: list[tuple[Any, ...]] = []
            self.threads: set[str] = set()

        def _request(
            self,
            conn: Any,
            host: str,
            absolute_uri: str,
            request_uri: str,
            method: str,
            body: Any,
            headers: dict,
            redirections: int,
            cachekey: Any,
        ) -> Any:
            self.threads.add(threading.current_thread().name)
            headers.pop("authorization", None)
            headers["authorization"] = signature(method, absolute_uri)
            self.calls.append(("_request", method, absolute_uri))
            return super()._request(
                conn, host, absolute_uri, request_uri, method, body, headers, redirections, cachekey
            )

        def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: dict) -> Any:
            self.calls.append(("_conn_request", method, request_uri, headers.get("authorization", "")[:6]))
            return super()._conn_request(conn, request_uri, method, body, headers)

    return Signing


def touch(result: tuple[Any, Any]) -> tuple[Any, bytes]:
    response, content = result
    return response, bytes(content)


def oracle_calls(signing_server: TestServer, path: str, method: str = "GET", **kwargs: Any) -> list[tuple[Any, ...]]:
    http = signing_class(httplib2.Http)(timeout=WAIT, proxy_info=None)
    try:
        if kwargs.get("credentials"):
            http.add_credentials("u", "p")
        http.request(signing_server.url(path), method)
        return http.calls
    finally:
        http.close()


@pytest.mark.parametrize("base", BASES, ids=lambda c: c.__name__)
def test_signing_subclass_signs_every_request(base: type, signing_server: TestServer, made: list) -> None:
    http = signing_class(base)(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, content = touch(http.request(signing_server.url("/signed/ok"), "POST", body=b"x"))
    assert response.status == 200 and content == b"signed POST"
    assert [signed_as(r, signing_server) for r in signing_server.requests] == [signing_server.url("/signed/ok")]
    assert http.calls == oracle_calls(signing_server, "/signed/ok", "POST")


@pytest.mark.parametrize("base", BASES, ids=lambda c: c.__name__)
def test_signing_through_a_redirect(base: type, signing_server: TestServer, made: list) -> None:
    http = signing_class(base)(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, content = touch(http.request(signing_server.url("/signed/redirect")))
    assert response.status == 200 and content == b"signed GET"
    assert response.previous.status == 302
    # both hops reached the server signed for their own URI
    assert [signed_as(r, signing_server) for r in signing_server.requests] == [
        signing_server.url("/signed/redirect"),
        signing_server.url("/signed/ok"),
    ]
    expected = oracle_calls(signing_server, "/signed/redirect")
    assert http.calls == expected
    assert [c[0] for c in expected] == ["_request", "_conn_request"] * 2


@pytest.mark.parametrize("base", BASES, ids=lambda c: c.__name__)
def test_the_auth_retry_goes_through_the_seams(base: type, signing_server: TestServer, made: list) -> None:
    """A 401 answered to the signed request: httplib2 retries with the credentials from
    add_credentials, through ``_conn_request`` again, inside the same ``_request``."""
    http = signing_class(base)(timeout=WAIT, proxy_info=None)
    made.append(http)
    http.add_credentials("u", "p")
    response, content = touch(http.request(signing_server.url("/basic")))
    assert response.status == 200 and content == b"basic ok"
    seen = [r.header("authorization") for r in signing_server.requests]
    assert seen == [signature("GET", signing_server.url("/basic")), "Basic dTpw"]
    expected = oracle_calls(signing_server, "/basic", credentials=True)
    assert http.calls == expected
    assert [c[0] for c in expected] == ["_request", "_conn_request", "_conn_request"]


def test_without_the_override_the_server_refuses(signing_server: TestServer, made: list) -> None:
    """The server does check: a plain client is answered 401."""
    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, _ = http.request(signing_server.url("/signed/ok"))
    assert response.status == 401


@pytest.mark.parametrize("base", BASES, ids=lambda c: c.__name__)
def test_overrides_run_on_a_flow_thread_never_the_loop(base: type, signing_server: TestServer, made: list) -> None:
    http = signing_class(base)(timeout=WAIT, proxy_info=None)
    made.append(http)
    touch(http.request(signing_server.url("/signed/ok")))
    assert http.threads and all("-flow-" in name for name in http.threads), http.threads
    assert threading.current_thread().name not in http.threads


def test_http_overrides_run_concurrently_and_promises_stay_promises(signing_server: TestServer, made: list) -> None:
    http = signing_class(asynchttp.Http)(timeout=WAIT, proxy_info=None, max_connections=4)
    made.append(http)
    results = [http.request(signing_server.url("/signed/ok")) for _ in range(12)]
    assert all(isinstance(r[0], asynchttp.ResponsePromise) for r in results)
    assert [touch(r)[1] for r in results] == [b"signed GET"] * 12
    assert len(http.threads) <= 4  # no more flow threads than max_connections


def test_conn_request_override_can_answer_without_the_network(made: list) -> None:
    """Skipping super(): the override's result is the request's result."""

    class Canned(asynchttp.BlockingHttp):
        def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: dict) -> Any:
            response = httplib2.Response({"status": "200", "content-type": "text/plain"})
            return response, b"canned " + request_uri.encode()

    http = Canned(proxy_info=None)
    made.append(http)
    response, content = http.request("http://nowhere.invalid/x?y=1")
    assert response.status == 200 and content == b"canned /x?y=1"


def test_conn_request_override_changes_headers_and_body(signing_server: TestServer, made: list) -> None:
    """Changes an override makes to headers and body reach the wire."""

    class Rewriting(asynchttp.Http):
        def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: dict) -> Any:
            headers["x-added"] = "yes"
            response, content = super()._conn_request(conn, request_uri, method, b"rewritten", headers)
            response["x-seen-by-override"] = "1"
            return response, content

    http = Rewriting(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, content = http.request(signing_server.url("/echo"), "POST", body=b"original")
    assert response["x-seen-by-override"] == "1"
    request = signing_server.requests[-1]
    assert request.body == b"rewritten" and request.header("x-added") == "yes"


def test_request_override_sees_every_redirect_hop(signing_server: TestServer, made: list) -> None:
    """python-oauth2's Client: request() signs and calls httplib2.Http.request(self, ...);
    httplib2 calls self.request() again for a redirect, so every hop is signed."""

    class Client(asynchttp.BlockingHttp):
        def request(
            self,
            uri: str,
            method: str = "GET",
            body: Any = None,
            headers: Any = None,
            redirections: int = httplib2.DEFAULT_MAX_REDIRECTS,
            connection_type: Any = None,
        ) -> Any:
            headers = dict(headers or {})
            headers["authorization"] = signature(method, uri)
            return asynchttp.BlockingHttp.request(self, uri, method, body, headers, redirections, connection_type)

    http = Client(timeout=WAIT, proxy_info=None)
    made.append(http)
    http.forward_authorization_headers = False  # the hop must be signed by request() itself
    response, content = http.request(signing_server.url("/signed/redirect"))
    assert response.status == 200 and content == b"signed GET"
    assert all(signed_as(r, signing_server) for r in signing_server.requests)
    assert len(signing_server.requests) == 2


def test_override_errors_surface_as_the_request_error(made: list) -> None:
    class Failing(asynchttp.Http):
        def _request(self, *args: Any) -> Any:
            raise httplib2.HttpLib2Error("refused by the override")

    http = Failing(proxy_info=None)
    made.append(http)
    response, _ = http.request("http://127.0.0.1:9/")
    with pytest.raises(httplib2.HttpLib2Error, match="refused by the override"):
        _ = response.status
    http.force_exception_to_status_code = True
    response, content = http.request("http://127.0.0.1:9/")
    assert response.status == 400 and b"refused by the override" in content


def test_network_errors_in_the_flow_are_httplib2s(made: list) -> None:
    http = signing_class(asynchttp.BlockingHttp)(timeout=WAIT, proxy_info=None)
    made.append(http)
    with pytest.raises(ConnectionRefusedError):
        http.request("http://127.0.0.1:9/")


def test_contextvars_of_the_caller_reach_the_override(signing_server: TestServer, made: list) -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    class Reading(asynchttp.Http):
        def _request(self, *args: Any) -> Any:
            seen.append(var.get())
            return super()._request(*args)

    http = Reading(timeout=WAIT, proxy_info=None)
    made.append(http)
    var.set("from the caller")
    touch(http.request(signing_server.url("/hello")))
    assert seen == ["from the caller"]


def test_cancelling_a_flow_request_ends_it(http_server: TestServer, made: list) -> None:
    http = signing_class(asynchttp.Http)(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, _ = http.request(http_server.url("/wait?key=flowcancel"))
    assert http_server.wait_arrived("flowcancel", 1, WAIT)
    assert response.cancel()
    http.shutdown(wait=True, cancel_pending=True)  # bounded: the flow's send was cancelled
    http_server.release("flowcancel")
    assert response.cancelled()


def test_no_override_keeps_the_fast_path(http_server: TestServer, made: list) -> None:
    class Plain(asynchttp.Http):
        extra = "attribute"

    http = Plain(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, _ = http.request(http_server.url("/hello"))
    assert response.future.flow is None and response.status == 200


def test_flows_leave_no_threads_or_sockets(http_server: TestServer, no_leaks: Any) -> None:
    """Flow threads, the pool's sockets and connection_type connections all end with
    shutdown (and with garbage collection of an Http never shut down)."""
    from asynchttp import _loop

    no_leaks.ignore_threads(_loop.LOOP_THREAD_NAME)
    warm = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)
    warm.request(http_server.url("/hello"))
    warm.shutdown(wait=True)
    no_leaks.snapshot()
    for base in BASES:
        http = signing_class(base)(timeout=WAIT, proxy_info=None)
        touch(http.request(http_server.url("/hello")))
        touch(http.request(http_server.url("/hello"), connection_type=httplib2.HTTPConnectionWithTimeout))
        http.shutdown(wait=True)
    collected = signing_class(asynchttp.BlockingHttp)(timeout=WAIT, proxy_info=None)
    collected.request(http_server.url("/hello"))
    del collected
    import gc

    gc.collect()


@pytest.mark.parametrize("raised", [StopIteration, KeyboardInterrupt])
def test_odd_exceptions_of_an_override_settle_the_request(raised: type, made: list) -> None:
    class Odd(asynchttp.Http):
        def _request(self, *args: Any) -> Any:
            raise raised()

    http = Odd(proxy_info=None)
    made.append(http)
    response, _ = http.request("http://127.0.0.1:9/")
    with pytest.raises(RuntimeError, match="httplib2 flow raised") as error:
        _ = response.status
    assert isinstance(error.value.__cause__, raised)


@pytest.mark.parametrize("base", BASES, ids=lambda c: c.__name__)
def test_the_cache_in_httplib2s_flow(base: type, http_server: TestServer, made: list, tmp_path: Any) -> None:
    """The cache as httplib2's own flow uses it (the oracle: the same subclass over
    httplib2.Http): the same answers from the cache, the same seam calls."""
    fresh = http_server.url("/cache?cache-control=max-age%3D3600,public&body=kept")
    tagged = http_server.url("/cache?etag=%22v1%22&cache-control=no-cache&body=tagged")
    seen: dict[str, Any] = {}
    for name, cls in (("theirs", httplib2.Http), ("mine", base)):
        http = signing_class(cls)(cache=str(tmp_path / name), timeout=WAIT, proxy_info=None)
        if cls is base:
            made.append(http)
        answers = [touch(http.request(uri)) for uri in (fresh, fresh, tagged, tagged)]
        assert [content for _, content in answers] == [b"kept", b"kept", b"tagged", b"tagged"]
        seen[name] = ([r.fromcache for r, _ in answers], [r.status for r, _ in answers], http.calls)
    assert seen["mine"][:2] == seen["theirs"][:2]
    assert [c[0] for c in seen["mine"][2]] == [c[0] for c in seen["theirs"][2]]
    assert True in seen["mine"][0]  # something was served from the cache


def test_a_flow_cancelled_before_its_send_sends_nothing(http_server: TestServer) -> None:
    """A request cancelled while an override runs (before it calls super()) never
    reaches the server: the send checks the cancel before it goes out."""
    entered = threading.Event()
    proceed = threading.Event()

    class Slow(asynchttp.Http):
        def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: Any) -> Any:
            if method == "POST":
                entered.set()
                assert proceed.wait(10)
            return super()._conn_request(conn, request_uri, method, body, headers)

    http = Slow()
    try:
        response, content = http.request(http_server.url("/hello"))
        assert bytes(content) == b"hello world"  # a pooled keep-alive connection is idle
        response, _ = http.request(http_server.url("/echo"), "POST", body=b"transfer $100")
        assert entered.wait(10)
        assert response.cancel() and response.cancelled()
        proceed.set()
    finally:
        proceed.set()
        # waits for the flow thread: the override's super() call has run by then
        http.shutdown(wait=True, cancel_pending=True)
    assert [r for r in http_server.requests if r.method == "POST"] == []


def test_shutdown_from_inside_an_override_does_not_hang(http_server: TestServer) -> None:
    """An override that shuts its own Http down (wait=True) while its request is in
    httplib2's flow: the request finishes and the shutdown does not wait for itself."""

    class Closing(asynchttp.Http):
        def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: Any) -> Any:
            answer = super()._conn_request(conn, request_uri, method, body, headers)
            self.shutdown(wait=True)
            return answer

    http = Closing()
    try:
        response, content = http.request(http_server.url("/hello"))
        assert response.wait(WAIT)
        assert response.status == 200 and content == b"hello world"
        with pytest.raises(asynchttp.ShutdownError):
            http.request(http_server.url("/hello"))
    finally:
        http.shutdown(wait=True, cancel_pending=True)
