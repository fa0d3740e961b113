"""BlockingPool: the core's rules driven from the calling thread, over blocking sockets.

The same checks as the async pool's tests, seen from the same places: the server's
side (connections opened, requests that arrived while others waited, x-conn-id and
x-conn-requests), the TLS handshake as the server recorded it, and the errors. Threads
share one pool here as BlockingHttp's callers do.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from asynchttp_lowhaio import (
    BlockingPool,
    HttpConnectError,
    HttpConnectionClosedError,
    HttpConnectionError,
    HttpConnectTimeoutError,
    HttpDnsError,
    HttpLocalError,
    HttpPoolClosedError,
    HttpPoolTimeoutError,
    HttpReadTimeoutError,
    HttpResponseHeadTimeoutError,
    HttpTlsError,
    HttpWriteTimeoutError,
)
from tests.core.helpers import header
from tests.servers import closed_port
from tests.servers.dns import DnsServer
from tests.servers.handshake import HandshakeRecorder
from tests.servers.http_server import TestServer, pattern
from tests.servers.leaks import LeakChecker
from tests.servers.scripted import ScriptedServer, close, recv_head, send, sleep
from tests.servers.tls import TlsMaterial

OK_2 = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@contextlib.contextmanager
def open_pool(**options: Any) -> Iterator[Callable[..., Any]]:
    request, close_pool = BlockingPool(**options)
    try:
        yield request
    finally:
        close_pool()


def fetch(request: Callable[..., Any], url: str, method: bytes = b"GET", **kwargs: Any) -> tuple[bytes, Any, bytes]:
    code, headers, body = request(method, url, **kwargs)
    return code, headers, body.read_all()


def conn_of(request: Callable[..., Any], url: str) -> tuple[int, int]:
    _, headers, _ = fetch(request, url)
    return int(header(headers, b"x-conn-id") or 0), int(header(headers, b"x-conn-requests") or 0)


def stats(request: Callable[..., Any]) -> dict[str, int]:
    return request.__self__.stats()  # type: ignore[attr-defined, no-any-return]


def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


# ------------------------------------------------------------------ requests
def test_get_post_and_bodies_of_every_framing(http_server: TestServer) -> None:
    with open_pool() as request:
        assert fetch(request, http_server.url("/hello"))[2] == b"hello world"
        assert fetch(request, http_server.url("/bytes?n=300000"))[2] == pattern(300000)
        code, headers, body = request(b"GET", http_server.url("/chunked?n=5000"))
        assert b"".join(body) == pattern(5000)  # chunk by chunk
        # a body of known length and a chunked one, each echoed back
        _, _, echoed = fetch(
            request, http_server.url("/echo"), b"POST", headers=[(b"content-length", b"3")], body=lambda: [b"abc"]
        )
        assert b'"body": "abc"' in echoed or b"abc" in echoed
        _, _, echoed = fetch(request, http_server.url("/echo"), b"POST", body=lambda: [b"ab", b"", b"cd"])
        assert b"abcd" in echoed
    assert http_server.requests[-1].header("transfer-encoding") == "chunked"
    assert http_server.connections_opened == 1  # every answer was read to its end: one connection


def test_the_writer_checks_the_request_before_any_io(http_server: TestServer) -> None:
    with open_pool() as request:
        with pytest.raises(HttpLocalError):
            request(b"GET", http_server.url("/hello"), headers=[(b"x-bad", b"a\r\nb")])
        with pytest.raises(HttpLocalError):
            request("GET", http_server.url("/hello"))
    assert http_server.connections_opened == 0


def test_keep_alive_reuse_and_max_requests_per_connection(http_server: TestServer) -> None:
    with open_pool(max_requests_per_connection=2) as request:
        seen = [conn_of(request, http_server.url("/hello")) for _ in range(3)]
    assert seen == [(1, 1), (1, 2), (2, 1)]


def test_connection_close_answer_is_not_reused(http_server: TestServer) -> None:
    with open_pool() as request:
        fetch(request, http_server.url("/close"))
        assert stats(request)["connections"] == 0
        assert conn_of(request, http_server.url("/hello")) == (2, 1)


# -------------------------------------------------------------------- limits
def test_max_connections_is_enforced_across_threads(http_server: TestServer) -> None:
    results: list[bytes] = []
    with open_pool(max_connections=2) as request:
        threads = [
            threading.Thread(target=lambda: results.append(fetch(request, http_server.url("/wait?key=k"))[0]))
            for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        until(lambda: len(http_server.requests) == 2 and stats(request)["waiting"] == 4)
        time.sleep(0.05)  # a third connection would have every chance to appear
        assert http_server.connections_opened == 2 and len(http_server.requests) == 2
        http_server.release("k")
        for thread in threads:
            thread.join(10)
    assert results == [b"200"] * 6
    assert http_server.connections_opened == 2


def test_max_connections_per_host_is_enforced(http_server: TestServer) -> None:
    with TestServer() as other, open_pool(max_connections_per_host=1) as request:
        held = threading.Thread(target=fetch, args=(request, http_server.url("/wait?key=a")))
        held.start()
        until(lambda: len(http_server.requests) == 1)
        # the other host is served while a request for the full one would wait
        assert fetch(request, other.url("/hello"))[0] == b"200"
        assert stats(request)["connections"] == 2
        http_server.release("a")
        held.join(10)
        assert conn_of(request, http_server.url("/hello")) == (1, 2)


def test_max_wait_connection_seconds_raises_pool_timeout(http_server: TestServer) -> None:
    with open_pool(max_connections=1, max_wait_connection_seconds=0.2) as request:
        held = threading.Thread(target=fetch, args=(request, http_server.url("/wait?key=w")))
        held.start()
        until(lambda: len(http_server.requests) == 1)
        with pytest.raises(HttpPoolTimeoutError) as info:
            request(b"GET", http_server.url("/hello"))
        assert stats(request)["waiting"] == 0
        http_server.release("w")
        held.join(10)
        assert conn_of(request, http_server.url("/hello")) == (1, 2)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, HttpConnectionError)


# ----------------------------------------------------------- stale and idle
def test_connection_closed_while_idle_is_never_handed_out(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(), send(OK_2), close()], [recv_head(), send(OK_2)]])
    with open_pool() as request:
        fetch(request, server.url("/"))
        server.wait_done(1)
        time.sleep(0.05)  # the FIN is in the client's kernel: the peek sees it
        # POST is never resent: it succeeds only if the dead connection was skipped
        assert fetch(request, server.url("/"), b"POST", body=lambda: [b"x"])[2] == b"ok"
    assert server.connections_accepted == 2


def test_idempotent_request_is_resent_once_on_a_stale_connection(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(), send(OK_2), recv_head(), close()], [recv_head(), send(OK_2)]])
    with open_pool() as request:
        fetch(request, server.url("/"))
        assert fetch(request, server.url("/"))[2] == b"ok"
    assert server.connections_accepted == 2


def test_post_is_never_resent(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(), send(OK_2), recv_head(), close()], [recv_head(), send(OK_2)]])
    with open_pool() as request:
        fetch(request, server.url("/"))
        with pytest.raises(HttpConnectionClosedError):
            request(b"POST", server.url("/"), body=lambda: [b"x"])
    assert server.connections_accepted == 1


def test_idle_connections_expire_after_keep_alive_timeout(http_server: TestServer) -> None:
    with open_pool(keep_alive_timeout=0.05) as request:
        assert conn_of(request, http_server.url("/hello")) == (1, 1)
        time.sleep(0.1)
        assert conn_of(request, http_server.url("/hello")) == (2, 1)


# ------------------------------------------------------------------ timeouts
def test_read_timeout_and_head_timeout(http_server: TestServer) -> None:
    with open_pool(socket_timeout=0.2) as request:
        with pytest.raises(HttpReadTimeoutError) as info:
            request(b"GET", http_server.url("/slow?delay=2"))
        code, _, body = request(b"GET", http_server.url("/stall-body?n=1000"))
        with pytest.raises(HttpReadTimeoutError):
            body.read_all()
    assert isinstance(info.value, TimeoutError)
    with open_pool(socket_timeout=5, response_head_timeout=0.2) as request:
        with pytest.raises(HttpResponseHeadTimeoutError):
            request(b"GET", http_server.url("/slow?delay=2"))


def test_refused_connection_is_connect_error_and_frees_the_slot() -> None:
    with open_pool(max_connections=1) as request:
        for _ in range(2):  # the slot came back: the second attempt connects again
            with pytest.raises(HttpConnectError) as info:
                request(b"GET", "http://127.0.0.1:%d/" % closed_port())
        assert stats(request)["connections"] == 0
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


# ------------------------------------------------------------------------ TLS
def test_tls_verified_and_reused(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
        assert [conn_of(request, https_server.url("/hello")) for _ in range(2)] == [(1, 1), (1, 2)]


def test_refused_certificate_sends_the_alert_as_ssl_sockets_do(
    tls: TlsMaterial, client_ssl_context: ssl.SSLContext
) -> None:
    with HandshakeRecorder(tls.server_context(tls.self_signed_cert())) as server:
        with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            with pytest.raises(HttpTlsError) as info:
                request(b"GET", "https://localhost:%d/" % server.port)
        (outcome,) = server.wait_for(1)
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(outcome)
    assert type(info.value.__cause__) is ssl.SSLCertVerificationError


def test_wrong_host_name_is_refused(tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    with HandshakeRecorder(tls.server_context(tls.issue("other.example"))) as server:
        with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            with pytest.raises(HttpTlsError) as info:
                request(b"GET", "https://localhost:%d/" % server.port)
        assert "ALERT" in str(server.wait_for(1)[0])
    assert "match" in str(info.value.__cause__) or "hostname" in str(info.value.__cause__).lower()


# ------------------------------------------------------------------------ DNS
def test_names_are_resolved_through_aiodnsresolver_on_connect_only(
    http_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any
) -> None:
    dns_server.set("service.test", "A", [("127.0.0.1", 60)])
    with open_pool(get_dns_resolver=dns_resolver_factory) as request:
        url = "http://service.test:%d/hello" % http_server.port
        assert [conn_of(request, url) for _ in range(3)] == [(1, 1), (1, 2), (1, 3)]
        with pytest.raises(HttpDnsError):
            request(b"GET", "http://nowhere.test:%d/" % http_server.port)
    assert dns_server.query_count >= 1
    # one A question for service.test however many requests (its TTL is 60 s)
    assert dns_server.query_count <= 3


# ---------------------------------------------------------------- close, leaks
def test_close_aborts_requests_in_flight_and_leaks_nothing(http_server: TestServer, no_leaks: LeakChecker) -> None:
    request, close_pool = BlockingPool(get_dns_resolver=lambda **_: (None, None))
    errors: list[BaseException] = []

    def waiting() -> None:
        try:
            fetch(request, http_server.url("/wait?key=never"))
        except BaseException as exc:
            errors.append(exc)

    fetch(request, http_server.url("/hello"))
    thread = threading.Thread(target=waiting)
    thread.start()
    until(lambda: any(r.path == "/wait" for r in http_server.requests))
    close_pool()
    thread.join(10)
    # (its connection was reused: the stale-connection resend meets the closed pool)
    assert len(errors) == 1 and isinstance(errors[0], (HttpConnectionClosedError, HttpPoolClosedError))
    with pytest.raises(HttpPoolClosedError):
        request(b"GET", http_server.url("/hello"))
    http_server.release("never")


def test_retiring_lets_requests_in_flight_and_waiting_finish(http_server: TestServer, no_leaks: LeakChecker) -> None:
    """close(abort=False), as Http.close() uses it: idle connections go at once, the
    request in flight and the one waiting for its connection are served, and every
    connection is closed once its request is done."""
    request, close_pool = BlockingPool(max_connections=1)
    fetch(request, http_server.url("/hello?warm"))
    results: list[bytes] = []
    held = threading.Thread(target=lambda: results.append(fetch(request, http_server.url("/wait?key=r"))[0]))
    held.start()
    until(lambda: any(r.path == "/wait" for r in http_server.requests))
    waiting = threading.Thread(target=lambda: results.append(fetch(request, http_server.url("/hello"))[0]))
    waiting.start()
    until(lambda: stats(request)["waiting"] == 1)
    close_pool(abort=False)
    http_server.release("r")
    held.join(10)
    waiting.join(10)
    assert results == [b"200", b"200"]
    assert stats(request) == {"connections": 0, "active": 0, "idle": 0, "waiting": 0}
    close_pool()


def test_a_large_body_grows_its_buffer_and_an_abandoned_body_closes_its_connection(http_server: TestServer) -> None:
    with open_pool() as request:
        assert fetch(request, http_server.url("/bytes?n=3000000"))[2] == pattern(3000000)
        _, _, body = request(b"GET", http_server.url("/bytes?n=300000"))
        body.close()  # before its end: the connection cannot be reused
        assert stats(request)["connections"] == 0
        assert conn_of(request, http_server.url("/hello")) == (2, 1)


def test_a_tls_handshake_that_never_comes_is_a_connect_timeout(client_ssl_context: ssl.SSLContext) -> None:
    import socket

    with socket.socket() as listener:  # accepts TCP (the backlog), never speaks TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with open_pool(connect_timeout=0.2, get_ssl_context=lambda: client_ssl_context) as request:
            with pytest.raises(HttpConnectTimeoutError) as info:
                request(b"GET", "https://localhost:%d/" % listener.getsockname()[1])
    assert "TLS handshake" in str(info.value) and isinstance(info.value, TimeoutError)


def test_an_upload_nobody_reads_is_a_write_timeout(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[recv_head(body=False), sleep(3)]])
    big = b"x" * (32 << 20)
    with open_pool(socket_timeout=0.2) as request:
        with pytest.raises(HttpWriteTimeoutError):
            request(b"PUT", server.url("/"), headers=[(b"content-length", b"%d" % len(big))], body=lambda: (big,))


def test_an_interrupt_while_waiting_leaves_the_queue(http_server: TestServer) -> None:
    import os
    import signal

    with open_pool(max_connections=1) as request:
        held = threading.Thread(target=fetch, args=(request, http_server.url("/wait?key=i")))
        held.start()
        until(lambda: len(http_server.requests) == 1)

        def interrupt() -> None:
            until(lambda: stats(request)["waiting"] == 1)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: a real signal ends the wait

        threading.Thread(target=interrupt).start()
        with pytest.raises(KeyboardInterrupt):
            request(b"GET", http_server.url("/hello"))  # waits for the held connection
        assert stats(request)["waiting"] == 0
        http_server.release("i")
        held.join(10)
        assert conn_of(request, http_server.url("/hello")) == (1, 2)  # nothing was lost


def test_before_send_and_opened_as_on_the_async_pool(http_server: TestServer) -> None:
    calls: list[int] = []
    with open_pool() as request:
        _, _, body = request(b"GET", http_server.url("/hello"), before_send=lambda: calls.append(1))
        assert body.read_all() == b"hello world" and calls == [1]
        assert body.opened is not None and body.opened[1] is None  # a new plain connection
        _, _, body = request(b"GET", http_server.url("/hello"))
        assert body.read_all() == b"hello world" and body.opened is None  # reused

        def refuse() -> None:
            raise RuntimeError("no token")

        with pytest.raises(RuntimeError):
            request(b"GET", http_server.url("/hello"), before_send=refuse)
        assert stats(request) == {"connections": 1, "active": 0, "idle": 1, "waiting": 0}
        assert conn_of(request, http_server.url("/hello")) == (1, 3)
    assert len(http_server.requests) == 3  # the refused one never went out
