"""What a failed request tells its user (issue 21): the class stays httplib2's, the
message names the phase and the origin (and, for a timeout, the limit in force),
and the exception carries ``.phase`` and ``.request_id``, the number its log lines
carry. ``asynchttp.error_phase`` reads the phase of any exception.

Real failing servers on 127.0.0.1: a DNS server that knows nothing, a closed port,
a server that never answers, one that stops in the middle of a body, one that
accepts TCP and never speaks TLS."""

from __future__ import annotations

import errno
import logging
import re
from typing import Any, Callable

import httplib2
import pytest

import asynchttp
import asynchttp_lowhaio as core
from asynchttp._errors import to_httplib2_error
from tests.servers import closed_port
from tests.servers.dns import DnsServer
from tests.servers.http_server import TestServer
from tests.servers.scripted import close, recv_head, rst, send, sleep

MakeHttp = Callable[..., asynchttp.Http]


def touch_error(content: Any) -> BaseException:
    with pytest.raises(BaseException) as info:
        len(content)
    return info.value


def logged_failure_id(caplog: pytest.LogCaptureFixture) -> int:
    (line,) = [r.getMessage() for r in caplog.records if r.name == "asynchttp" and " failed: " in r.getMessage()]
    match = re.match(r"request (\d+) failed: ", line)
    assert match, line
    return int(match.group(1))


def test_unresolvable_host_names_host_and_port(
    make_http: MakeHttp, dns_server: DnsServer, dns_resolver_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asynchttp")
    port = closed_port()
    http = make_http(get_dns_resolver=dns_resolver_factory)
    _, content = http.request("http://nowhere.test:%d/" % port)
    error = touch_error(content)
    assert type(error) is httplib2.ServerNotFoundError
    # httplib2's sentence first, then the port and the resolver's answer
    assert str(error).startswith("Unable to find the server at nowhere.test (port %d: " % port), str(error)
    assert "nowhere.test" in str(error).partition("(")[2]
    assert error.phase == "dns" and asynchttp.error_phase(error) == "dns"
    assert error.request_id == logged_failure_id(caplog)


def test_refused_names_host_port_and_phase(make_http: MakeHttp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="asynchttp")
    port = closed_port()
    http = make_http()
    _, content = http.request("http://127.0.0.1:%d/" % port)
    error = touch_error(content)
    assert type(error) is ConnectionRefusedError and error.errno == errno.ECONNREFUSED
    assert str(error) == "[Errno %d] Connection refused (connect phase, 127.0.0.1 port %d)" % (errno.ECONNREFUSED, port)
    assert error.phase == "connect"
    assert error.request_id == logged_failure_id(caplog)


def test_head_timeout_names_phase_and_limit(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(timeout=0.2)
    _, content = http.request(http_server.url("/slow?delay=3"))
    error = touch_error(content)
    assert type(error) is TimeoutError
    assert str(error) == "timed out (head phase, 127.0.0.1 port %d): nothing received for 0.2 seconds" % (
        http_server.port
    )
    assert error.phase == "head" and isinstance(error.__cause__, core.HttpReadTimeoutError)
    assert isinstance(error.request_id, int)


def test_body_timeout_names_phase_and_limit(make_http: MakeHttp, scripted: Any) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"), sleep(5), close()])
    http = make_http(timeout=0.2)
    _, content = http.request("http://127.0.0.1:%d/" % server.port)
    error = touch_error(content)
    assert type(error) is TimeoutError
    assert str(error) == "timed out (body phase, 127.0.0.1 port %d): nothing received for 0.2 seconds" % server.port
    assert error.phase == "body"


def test_tls_handshake_timeout_is_the_tls_phase(make_http: MakeHttp, scripted: Any) -> None:
    server = scripted([sleep(5), close()])  # accepts TCP, never answers the ClientHello
    http = make_http(timeout=0.3)
    _, content = http.request("https://127.0.0.1:%d/" % server.port)
    error = touch_error(content)
    assert type(error) is TimeoutError
    assert error.phase == "tls" and isinstance(error.__cause__, core.HttpConnectTimeoutError)
    assert str(error).startswith("timed out (tls phase, 127.0.0.1 port %d): TLS handshake with 127.0.0.1" % server.port)
    assert "not done within 0.3 seconds" in str(error)


def test_reset_mid_body_of_a_post_is_the_body_phase(make_http: MakeHttp, scripted: Any) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"), sleep(0.05), rst()])
    http = make_http()
    _, content = http.request("http://127.0.0.1:%d/" % server.port, "POST", body=b"x")
    error = touch_error(content)
    assert type(error) is ConnectionResetError
    assert str(error).endswith("(body phase, 127.0.0.1 port %d)" % server.port)
    assert error.phase == "body"


def test_blocking_http_raises_with_request_id(make_http: MakeHttp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="asynchttp")
    http = make_http(blocking=True)
    with pytest.raises(ConnectionRefusedError) as info:
        http.request("http://127.0.0.1:%d/" % closed_port())
    assert info.value.request_id == logged_failure_id(caplog)
    assert asynchttp.error_phase(info.value) == "connect"


def test_not_from_the_network_has_no_phase(make_http: MakeHttp, http_server: TestServer) -> None:
    http = make_http(blocking=True)
    with pytest.raises(httplib2.RedirectLimit) as info:
        http.request(http_server.url("/redirect?to=/redirect"), redirections=0)
    assert info.value.phase is None and asynchttp.error_phase(info.value) is None
    assert isinstance(info.value.request_id, int)


def test_error_phase_follows_the_cause_chain() -> None:
    core_error = core.HttpDnsError("no address")
    outer = RuntimeError("wrapped")
    outer.__cause__ = core_error
    assert asynchttp.error_phase(outer) == "dns"
    assert asynchttp.error_phase(ValueError("x")) is None
    read = core.HttpReadTimeoutError("nothing received for 1 seconds")
    assert asynchttp.error_phase(read) is None  # the core could not tell: the facade's phase decides
    assert to_httplib2_error(read, "h", "body").phase == "body"  # type: ignore[attr-defined]
    local = to_httplib2_error(core.HttpLocalError("bad header"), "example.org")
    assert type(local) is ValueError and local.phase is None  # type: ignore[attr-defined]
    bad_host = to_httplib2_error(core.HttpLocalError("bad host"), "exa mple")
    assert type(bad_host) is httplib2.ServerNotFoundError and bad_host.phase == "dns"  # type: ignore[attr-defined]


def test_without_detail_the_wording_is_httplib2s() -> None:
    refused = core.HttpConnectError("could not connect")
    refused.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert str(to_httplib2_error(refused, "h", port=1, detail=False)) == "[Errno %d] Connection refused" % (
        errno.ECONNREFUSED
    )
    timeout = core.HttpPoolTimeoutError("no connection became free within 2 seconds")
    mapped = to_httplib2_error(timeout, "h", port=8)
    assert str(mapped) == "timed out (pool phase, h port 8): no connection became free within 2 seconds"
    assert str(to_httplib2_error(timeout, "h", detail=False)) == "timed out"


def test_an_exception_in_a_callback_carries_the_request_id(make_http: MakeHttp, http_server: TestServer) -> None:
    def fail(promise: asynchttp.Promise) -> None:
        raise KeyError("not in the answer")

    http = make_http()
    response, _ = http.request(http_server.url("/hello"), callback=fail)
    error = touch_error(response)
    assert type(error) is KeyError
    assert isinstance(error.request_id, int) and error.phase is None
    assert asynchttp.error_phase(error) is None
