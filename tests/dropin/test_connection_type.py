"""Issue 9 item 2, first bullet: ``connection_type=`` is honoured as httplib2 honours it.

The request runs httplib2's own code with the given class, on a flow thread of the
Http (never the loop's); the result and the exceptions are httplib2's. Tested with a
test double that serves canned bytes without any network (compared with httplib2
itself), and with httplib2's real connection classes against local servers.
"""

from __future__ import annotations

import io
import socket
import threading
from typing import Any

import httplib2
import pytest

import asynchttp
from asynchttp import _loop
from tests.dropin.conftest import WAIT
from tests.servers.http_server import TestServer

CLASSES = [asynchttp.Http, asynchttp.BlockingHttp]

CANNED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nX-Double: yes\r\n\r\ncanned"


class _CannedSocket:
    """Enough of a socket for http.client: records what is sent, answers CANNED."""

    def __init__(self, log: list) -> None:
        self.log = log

    def sendall(self, data: bytes) -> None:
        self.log.append(("sent", bytes(data)))

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(CANNED)

    def close(self) -> None:
        self.log.append(("sock closed",))


class Double(httplib2.HTTPConnectionWithTimeout):
    """A test double: a connection class that never touches the network."""

    log: list = []

    def __init__(self, host: str, port: Any = None, timeout: Any = None, proxy_info: Any = None) -> None:
        super().__init__(host, port=port, timeout=timeout, proxy_info=proxy_info)
        self.log.append(("init", host, threading.current_thread().name, _loop.on_loop_thread()))

    def connect(self) -> None:
        self.log.append(("connect", threading.current_thread().name, _loop.on_loop_thread()))
        self.sock = _CannedSocket(self.log)


class TimingOut(httplib2.HTTPConnectionWithTimeout):
    def connect(self) -> None:
        raise socket.timeout("timed out (double)")


@pytest.fixture(autouse=True)
def fresh_log() -> None:
    Double.log = []


def touch(result: tuple[Any, Any]) -> tuple[Any, bytes]:
    response, content = result
    return response, bytes(content)


def httplib2_answer(uri: str, connection_type: type) -> tuple[Any, bytes, list]:
    Double.log = []
    theirs = httplib2.Http(proxy_info=None)
    response, content = theirs.request(uri, connection_type=connection_type)
    log, Double.log = Double.log, []
    return response, content, log


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_test_double_serves_the_request_as_in_httplib2(cls: type, made: list) -> None:
    uri = "http://double.invalid/path?q=1"
    expected_response, expected_content, expected_log = httplib2_answer(uri, Double)
    http = cls(proxy_info=None)
    made.append(http)
    response, content = touch(http.request(uri, connection_type=Double))
    assert content == expected_content == b"canned"
    assert dict(response) == dict(expected_response) and response.status == 200
    # the same calls on the double; only the User-Agent token differs on the wire
    assert [entry[0] for entry in Double.log] == [entry[0] for entry in expected_log]
    sent = [entry[1] for entry in Double.log if entry[0] == "sent"]
    assert sent and sent[0].startswith(b"GET /path?q=1 HTTP/1.1\r\nHost: double.invalid\r\n")
    # constructed and connected on a flow thread of the Http, never on the loop
    for entry in Double.log:
        if entry[0] in ("init", "connect"):
            assert "-flow-" in entry[-2] and entry[-1] is False


def test_a_scheme_httplib2_has_no_class_for_works_with_connection_type(made: list) -> None:
    http = asynchttp.BlockingHttp(proxy_info=None)
    made.append(http)
    response, content = http.request("mock://double.invalid/x", connection_type=Double)
    assert response.status == 200 and content == b"canned"
    with pytest.raises(KeyError):  # without one, httplib2's KeyError at the call
        http.request("mock://double.invalid/x")


def test_the_connection_is_kept_and_reused_as_httplib2_does(made: list) -> None:
    """httplib2 keeps the connection in ``connections`` for its origin until close();
    a later request to that origin (even without connection_type) uses it again."""
    http = asynchttp.BlockingHttp(proxy_info=None)
    made.append(http)
    http.request("http://double.invalid/a", connection_type=Double)
    assert isinstance(http.connections["http:double.invalid"], Double)
    http.request("http://double.invalid/b")
    assert [e[0] for e in Double.log].count("init") == 1
    assert len([e for e in Double.log if e[0] == "sent"]) == 2
    http.close()
    assert http.connections == {} and ("sock closed",) in Double.log


def test_exceptions_are_httplib2s(made: list) -> None:
    theirs = httplib2.Http(proxy_info=None)
    with pytest.raises(socket.timeout) as expected:
        theirs.request("http://double.invalid/", connection_type=TimingOut)
    for cls in CLASSES:
        http = cls(proxy_info=None)
        made.append(http)
        with pytest.raises(socket.timeout) as raised:
            touch(http.request("http://double.invalid/", connection_type=TimingOut))
        assert type(raised.value) is type(expected.value) and str(raised.value) == str(expected.value)
        assert http.connections == {}  # httplib2 drops a timed-out connection
        http.force_exception_to_status_code = True
        response, content = touch(http.request("http://double.invalid/", connection_type=TimingOut))
        assert response.status == 408 and content == b"Request Timeout"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_httplib2s_real_class_against_a_local_server(cls: type, http_server: TestServer, made: list) -> None:
    http = cls(timeout=WAIT, proxy_info=None)
    made.append(http)
    response, content = touch(
        http.request(http_server.url("/hello"), connection_type=httplib2.HTTPConnectionWithTimeout)
    )
    assert response.status == 200 and content == b"hello world"
    assert isinstance(http.connections["http:" + http_server.netloc], httplib2.HTTPConnectionWithTimeout)
    # the same connection serves the next request, as in httplib2
    response, _ = touch(http.request(http_server.url("/hello"), connection_type=httplib2.HTTPConnectionWithTimeout))
    assert response["x-conn-requests"] == "2"


def test_httplib2s_real_tls_class(https_server: TestServer, ca_bundle_path: str, made: list) -> None:
    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None, ca_certs=ca_bundle_path)
    made.append(http)
    response, content = http.request(https_server.url("/hello"), connection_type=httplib2.HTTPSConnectionWithTimeout)
    assert response.status == 200 and content == b"hello world"


def test_httplib2s_real_tls_class_verifies(https_server: TestServer, made: list) -> None:
    import ssl

    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)  # httplib2's own CA bundle
    made.append(http)
    with pytest.raises(ssl.SSLCertVerificationError):
        http.request(https_server.url("/hello"), connection_type=httplib2.HTTPSConnectionWithTimeout)


def test_refused_with_the_real_class_is_httplib2s_error(made: list) -> None:
    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)
    made.append(http)
    with pytest.raises(ConnectionRefusedError):
        http.request("http://127.0.0.1:9/", connection_type=httplib2.HTTPConnectionWithTimeout)


def test_redirect_to_another_origin_leaves_the_class(http_server: TestServer, made: list) -> None:
    """As in httplib2: connection_type makes the connection of the URI's origin; a
    redirect elsewhere gets a default connection (here: the pool)."""
    http = asynchttp.BlockingHttp(timeout=WAIT, proxy_info=None)
    made.append(http)
    target = http_server.url("/hello")
    response, content = http.request("http://double-redirect.invalid/", connection_type=_redirecting_double(target))
    assert response.status == 200 and content == b"hello world"
    assert response.previous.status == 302


def _redirecting_double(location: str) -> type:
    answer = ("HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location).encode()

    class Redirecting(httplib2.HTTPConnectionWithTimeout):
        def connect(self) -> None:
            sock = _CannedSocket([])
            sock.makefile = lambda mode: io.BytesIO(answer)  # type: ignore[assignment]
            self.sock = sock

    return Redirecting


def test_shutdown_closes_kept_connections(made: list) -> None:
    http = asynchttp.BlockingHttp(proxy_info=None)
    http.request("http://double.invalid/a", connection_type=Double)
    http.shutdown(wait=True)
    assert http.connections == {} and ("sock closed",) in Double.log
