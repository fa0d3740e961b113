"""Failures surface when a promise is touched, as the exception httplib2 raises for the
same failure, with the core error as ``__cause__`` (item 3), against real failing
servers: a DNS server that knows nothing, a closed port, a server too slow, a
certificate nobody trusts, and scripted servers that close, reset or talk garbage."""

from __future__ import annotations

import errno
import http.client as http_client
import ssl
from typing import Any, Callable

import httplib2
import pytest

import asynchttp
import asynchttp_lowhaio as core
from asynchttp._errors import PHASE_BODY, to_httplib2_error
from tests.servers import closed_port
from tests.servers.dns import DnsServer
from tests.servers.http_server import TestServer
from tests.servers.scripted import close, recv_head, rst, send, sleep

MakeHttp = Callable[..., asynchttp.Http]


def touch_error(content: Any) -> BaseException:
    with pytest.raises(BaseException) as info:
        len(content)
    return info.value


def test_dns_failure_is_server_not_found(make_http: MakeHttp, dns_server: DnsServer, dns_resolver_factory: Any) -> None:
    http = make_http(get_dns_resolver=dns_resolver_factory)
    response, content = http.request("http://nowhere.test:%d/" % closed_port())
    error = touch_error(content)
    assert type(error) is httplib2.ServerNotFoundError
    assert str(error).startswith("Unable to find the server at nowhere.test (port ")  # httplib2's sentence first
    assert isinstance(error.__cause__, core.HttpDnsError)
    # the same error again on the other promise, and through the future
    with pytest.raises(httplib2.ServerNotFoundError):
        response.status  # noqa: B018
    assert response.exception() is error
    assert dns_server.query_count >= 1


@pytest.mark.parametrize("blocking", [False, True], ids=["Http", "BlockingHttp"])
def test_a_resent_request_fails_with_its_last_attempts_chain_only(blocking: bool) -> None:
    """httplib2 sends again after a refused connection (RETRIES); the error raised is the
    last attempt's, its chain (``__cause__``) that attempt's alone: no exception in it
    carries an earlier attempt's failure as ``__context__``."""
    http = (asynchttp.BlockingHttp if blocking else asynchttp.Http)()
    try:
        with pytest.raises(ConnectionRefusedError) as info:
            _, content = http.request("http://127.0.0.1:%d/" % closed_port())
            len(content)
    finally:
        http.close()
    chain: list[BaseException] = []
    error: Any = info.value
    while error is not None:
        chain.append(error)
        assert error.__context__ is None or error.__context__ is error.__cause__, chain
        error = error.__cause__
    assert [type(error) for error in chain][:2] == [ConnectionRefusedError, core.HttpConnectError]


def test_dns_success_through_the_local_server(
    make_http: MakeHttp, dns_server: DnsServer, dns_resolver_factory: Any, http_server: TestServer
) -> None:
    dns_server.set("service.test", "A", [("127.0.0.1", 60)])
    http = make_http(get_dns_resolver=dns_resolver_factory)
    _, content = http.request("http://service.test:%d/hello" % http_server.port)
    assert content == b"hello world"


def test_refused_connection_is_connection_refused_error(http: asynchttp.Http) -> None:
    _, content = http.request("http://127.0.0.1:%d/" % closed_port())
    error = touch_error(content)
    assert type(error) is ConnectionRefusedError
    assert error.errno == errno.ECONNREFUSED
    assert isinstance(error.__cause__, core.HttpConnectError)
    assert error.__traceback__ is not None


def test_timeout_is_socket_timeout(make_http: MakeHttp, http_server: TestServer) -> None:
    import socket

    http = make_http(timeout=0.2)
    _, content = http.request(http_server.url("/slow?delay=3"))
    error = touch_error(content)
    assert isinstance(error, socket.timeout) and type(error) is TimeoutError
    assert isinstance(error.__cause__, core.HttpReadTimeoutError)
    # the Http is still usable afterwards (httplib2 drops the timed-out connection)
    _, content = http.request(http_server.url("/hello"))
    assert content == b"hello world"


def test_untrusted_certificate_is_ssl_error(make_http: MakeHttp, https_server: TestServer, tmp_path: Any) -> None:
    http = make_http()  # httplib2's CA bundle does not know the test CA
    _, content = http.request(https_server.url("/hello"))
    error = touch_error(content)
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert error.verify_code != 0 and "CERTIFICATE_VERIFY_FAILED" in str(error)
    assert isinstance(error.__cause__, core.HttpTlsError)


def test_missing_ca_file_fails_the_request(make_http: MakeHttp, https_server: TestServer, tmp_path: Any) -> None:
    http = make_http(ca_certs=str(tmp_path / "missing.pem"))
    _, content = http.request(https_server.url("/hello"))
    assert isinstance(touch_error(content), FileNotFoundError)


def test_closed_without_response_is_remote_disconnected(http: asynchttp.Http, scripted: Any) -> None:
    server = scripted([recv_head(), close()])
    _, content = http.request("http://127.0.0.1:%d/" % server.port)
    error = touch_error(content)
    assert type(error) is http_client.RemoteDisconnected
    assert isinstance(error, ConnectionResetError)  # as http.client's is
    assert isinstance(error.__cause__, core.HttpConnectionClosedError)


def test_garbage_status_line_is_bad_status_line(http: asynchttp.Http, scripted: Any) -> None:
    server = scripted([recv_head(), send(b"SMTP ready\r\n\r\n"), close()])
    _, content = http.request("http://127.0.0.1:%d/" % server.port)
    error = touch_error(content)
    assert isinstance(error, http_client.BadStatusLine)
    assert isinstance(error.__cause__, core.HttpProtocolError)


def test_short_body_is_incomplete_read(http: asynchttp.Http, scripted: Any) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"), close()])
    _, content = http.request("http://127.0.0.1:%d/" % server.port)
    error = touch_error(content)
    assert isinstance(error, http_client.IncompleteRead)
    assert isinstance(error.__cause__, core.HttpError)


def test_reset_mid_body_is_connection_reset(http: asynchttp.Http, scripted: Any) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"), sleep(0.05), rst()])
    _, content = http.request("http://127.0.0.1:%d/" % server.port)
    error = touch_error(content)
    assert isinstance(error, (ConnectionResetError, http_client.IncompleteRead))
    assert isinstance(error.__cause__, core.HttpDataError)


def test_header_too_long_is_line_too_long(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(max_header_length=2048)
    _, content = http.request(http_server.url("/headers?X-Big=" + "a" * 4000))
    error = touch_error(content)
    assert isinstance(error, http_client.LineTooLong)
    assert isinstance(error.__cause__, core.HttpHeaderTooLong)


def test_mapping_table() -> None:
    """Each core class -> httplib2's, for the cases no server can produce on demand."""

    def chained(error: core.HttpError, cause: BaseException | None = None) -> core.HttpError:
        error.__cause__ = cause
        return error

    cases = [
        (chained(core.HttpConnectTimeoutError("t")), TimeoutError),
        (chained(core.HttpPoolTimeoutError("t")), TimeoutError),
        (chained(core.HttpWriteTimeoutError("t")), TimeoutError),
        (chained(core.HttpResponseHeadTimeoutError("t")), TimeoutError),
        (chained(core.HttpTlsError("t")), ssl.SSLError),
        (chained(core.HttpConnectError("t")), ConnectionError),
        (chained(core.HttpConnectError("t"), OSError(errno.EHOSTUNREACH, "unreachable")), OSError),
        (chained(core.HttpLocalError("bad header")), ValueError),
        (chained(core.HttpConnectionClosedError("c"), BrokenPipeError(errno.EPIPE, "pipe")), BrokenPipeError),
        (chained(core.HttpPoolClosedError("closed")), ConnectionAbortedError),
        (chained(core.HttpProtocolError("p")), http_client.BadStatusLine),
        (chained(core.HttpDataError("d")), http_client.HTTPException),
    ]
    for error, expected in cases:
        mapped = to_httplib2_error(error, "host")
        assert isinstance(mapped, expected), (error, mapped)
        assert mapped.__cause__ is error
    unreachable = to_httplib2_error(cases[6][0], "host")
    assert unreachable.errno == errno.EHOSTUNREACH and unreachable.__cause__ is cases[6][0]
    body_phase = to_httplib2_error(core.HttpProtocolError("bad chunk"), "h", PHASE_BODY)
    assert isinstance(body_phase, http_client.IncompleteRead)
    closed_in_body = to_httplib2_error(core.HttpConnectionClosedError("eof"), "h", PHASE_BODY)
    assert isinstance(closed_in_body, http_client.IncompleteRead)
    other = ValueError("not a core error")
    assert to_httplib2_error(other, "h") is other


def test_legacy_except_clauses_catch_them(http: asynchttp.Http) -> None:
    _, content = http.request("http://127.0.0.1:%d/" % closed_port())
    try:
        content.decode()
    except OSError as error:  # what code written for httplib2 catches (socket.error)
        assert error.errno == errno.ECONNREFUSED
    else:  # pragma: no cover - the assertion is the point
        pytest.fail("no error raised")
