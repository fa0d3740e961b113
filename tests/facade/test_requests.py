"""Http.request(): promises returned at once, what is sent, what comes back, and the
argument errors that httplib2 raises at the call (items 1, 2, 5, 6 of the issue)."""

from __future__ import annotations

import io
import json
import threading
from typing import Any, Callable

import httplib2
import pytest

import asynchttp
from asynchttp import _http, _uri
from tests.facade.conftest import WAIT
from tests.servers.http_server import JSON_BODY, TestServer, pattern


def echo(content: Any) -> dict[str, Any]:
    return json.loads(content)


def test_promises_come_back_before_the_server_answers(http: asynchttp.Http, http_server: TestServer) -> None:
    response, content = http.request(http_server.url("/wait?key=gate"))
    assert http_server.wait_arrived("gate")
    # the server holds the answer: the promises exist, unresolved
    assert not response.done() and not content.done()
    assert not response.wait(0.05)
    http_server.release("gate")
    assert content.wait(WAIT)
    assert response.status == 200
    assert content == b"released gate\n"


def test_request_returns_a_real_two_tuple(http: asynchttp.Http, http_server: TestServer) -> None:
    result = http.request(http_server.url("/hello"))
    assert type(result) is tuple and len(result) == 2
    response, content = result
    assert isinstance(response, httplib2.Response)
    assert isinstance(content, bytes)
    assert content == b"hello world"


def test_response_is_httplib2_shaped(http: asynchttp.Http, http_server: TestServer) -> None:
    response, _ = http.request(http_server.url("/headers?X-Multi=a&X-Multi=b&X-Case=v"))
    assert response.status == 200
    assert response["status"] == "200"
    assert response.reason == "OK"
    assert response.version == 11
    assert response.fromcache is False
    assert response.previous is None
    # lower-cased keys, repeated headers joined as httplib2 joins them
    assert response["x-multi"] == "a, b"
    assert response["x-case"] == "v"
    assert "content-type" in response and "Content-Type" not in response
    assert response.get("missing", "dflt") == "dflt"
    assert set(response.keys()) >= {"x-multi", "content-type", "status"}
    assert ("x-case", "v") in list(response.items())
    assert "v" in list(response.values())
    assert "x-case" in list(iter(response))
    assert len(response) == len(dict(response))
    assert dict(response)["x-case"] == "v"
    assert response == dict(response)
    assert response.dict is response._get()
    assert "x-case" in repr(response)


def test_http10_and_reason(http: asynchttp.Http, http_server: TestServer) -> None:
    response, content = http.request(http_server.url("/http10"))
    assert response.version == 10
    assert content == b"http/1.0 body until close\n"
    response, _ = http.request(http_server.url("/status?code=404&reason=Nope"))
    assert (response.status, response.reason, response["status"]) == (404, "Nope", "404")


def test_what_goes_on_the_wire_is_what_http_client_sends(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(
        http_server.url("/echo?a=1"), "POST", body=b"payload", headers={"X-Thing": "yes", b"X-Bytes": b"b"}
    )
    seen = echo(content)
    headers = {name.lower(): value for name, value in seen["headers"]}
    assert seen["method"] == "POST"
    assert seen["target"] == "/echo?a=1"
    assert seen["body"] == "payload"
    assert headers["content-length"] == "7"
    assert headers["x-thing"] == "yes"
    assert headers["x-bytes"] == "b"
    assert headers["host"] == http_server.netloc
    assert headers["user-agent"].startswith("Python-httplib2/")
    assert not seen["chunked"]


def test_post_without_body_sends_content_length_zero(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/echo"), "PUT")
    headers = {name.lower(): value for name, value in echo(content)["headers"]}
    assert headers["content-length"] == "0"
    _, content = http.request(http_server.url("/echo"), "GET")
    assert "content-length" not in {name.lower() for name, _ in echo(content)["headers"]}


@pytest.mark.parametrize(
    "body, sent",
    [
        ("text", "text"),
        (bytearray(b"ba"), "ba"),
        (memoryview(b"mv"), "mv"),
        (io.BytesIO(b"from a file"), "from a file"),
        (io.StringIO("text file"), "text file"),
        ([b"it", "er", b"able"], "iterable"),
        ("caf\u00e9", "caf\u00e9"),  # latin-1, as http.client encodes str bodies
    ],
)
def test_body_kinds(http: asynchttp.Http, http_server: TestServer, body: Any, sent: str) -> None:
    _, content = http.request(http_server.url("/echo"), "POST", body=body)
    assert echo(content)["body"] == sent


def test_large_body_both_ways(http: asynchttp.Http, http_server: TestServer) -> None:
    data = pattern(3 * 1024 * 1024)
    _, content = http.request(http_server.url("/discard"), "POST", body=data)
    assert echo(content)["length"] == len(data)
    _, content = http.request(http_server.url("/bytes?n=%d" % len(data)))
    assert content == data


def test_head_has_no_body(http: asynchttp.Http, http_server: TestServer) -> None:
    response, content = http.request(http_server.url("/head-len?n=500"), "HEAD")
    assert response["content-length"] == "500"
    assert content == b""


def test_chunked_response(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/chunked?n=12345&size=1000"))
    assert content == pattern(12345)


def test_https_with_ca_certs(
    make_http: Callable[..., asynchttp.Http], https_server: TestServer, ca_bundle_path: str
) -> None:
    http = make_http(ca_certs=ca_bundle_path)
    response, content = http.request(https_server.url("/hello"))
    assert response.status == 200 and content == b"hello world"


def test_https_validation_disabled(make_http: Callable[..., asynchttp.Http], https_server: TestServer) -> None:
    http = make_http(disable_ssl_certificate_validation=True, tls_minimum_version="TLSv1_2")
    _, content = http.request(https_server.url("/hello"))
    assert content == b"hello world"


def test_https_through_core_option(
    make_http: Callable[..., asynchttp.Http], https_server: TestServer, client_ssl_context: Any
) -> None:
    http = make_http(get_ssl_context=lambda: client_ssl_context)
    _, content = http.request(https_server.url("/json"))
    assert json.loads(content) == JSON_BODY


def test_ipv6(http: asynchttp.Http, http_server_v6: TestServer) -> None:
    response, content = http.request(http_server_v6.url("/hello"))
    assert content == b"hello world" and response.status == 200


def test_keep_alive_reuses_connections(http: asynchttp.Http, http_server: TestServer) -> None:
    first, _ = http.request(http_server.url("/hello"))
    assert first.status == 200
    second, _ = http.request(http_server.url("/hello"))
    assert second["x-conn-id"] == first["x-conn-id"]
    assert second["x-conn-requests"] == "2"


def test_close_drops_connections_but_keeps_working(http: asynchttp.Http, http_server: TestServer) -> None:
    http.add_credentials("user", "pass")
    first, _ = http.request(http_server.url("/hello"))
    assert first.status == 200
    http.close()
    assert http.credentials.credentials == []  # httplib2's close() clears them too
    second, _ = http.request(http_server.url("/hello"))
    assert second["x-conn-id"] != first["x-conn-id"]


def test_close_lets_in_flight_requests_finish(http: asynchttp.Http, http_server: TestServer) -> None:
    response, content = http.request(http_server.url("/wait?key=inflight"))
    assert http_server.wait_arrived("inflight")
    http.close()
    http_server.release("inflight")
    assert content == b"released inflight\n"
    again, _ = http.request(http_server.url("/hello"))
    assert again["x-conn-id"] != response["x-conn-id"]


# -- argument errors at the call -------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"uri": "/relative/path"}, httplib2.RelativeURIError),
        ({"uri": "ftp://127.0.0.1/file"}, KeyError),
        ({"uri": "http://127.0.0.1/", "headers": {"x-bad": "a\r\nInjected: 1"}}, ValueError),
        ({"uri": "http://127.0.0.1/", "headers": {"x-bad": "nul\x00"}}, ValueError),
        ({"uri": "http://127.0.0.1/", "headers": {"bad name": "v"}}, ValueError),
        ({"uri": "http://127.0.0.1/", "method": "GET /x HTTP/1.1\r\n"}, ValueError),
        ({"uri": "http://127.0.0.1/", "body": "\u20ac"}, UnicodeEncodeError),
        ({"uri": "http://127.0.0.1/", "body": 12}, TypeError),
        ({"uri": "http://127.0.0.1/", "callback": "not callable"}, TypeError),
        ({"uri": b"http://127.0.0.1/"}, TypeError),
    ],
)
def test_argument_errors_raise_at_the_call(http: asynchttp.Http, kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        http.request(**kwargs)
    assert http._client.loop is None  # nothing was queued: no loop needed


def test_uri_cleaning_like_httplib2(http: asynchttp.Http, http_server: TestServer) -> None:
    # spaces are escaped (httplib2's CWE-75 fix), the fragment dropped, host lower-cased
    uri = http_server.url("/echo?q=a b#frag").replace("127.0.0.1", "127.0.0.1")
    _, content = http.request(uri)
    assert echo(content)["target"] == "/echo?q=a%20b"
    assert _http.split_uri("HTTP://EXAMPLE.com")[:3] == ("http", "example.com", "/")


def test_folded_header_values_are_collapsed(http: asynchttp.Http, http_server: TestServer) -> None:
    _, content = http.request(http_server.url("/echo"), headers={"X-Folded": "one\r\n two"})
    headers = {name.lower(): value for name, value in echo(content)["headers"]}
    assert headers["x-folded"] == "one two"


def test_unknown_core_option_is_refused() -> None:
    with pytest.raises(TypeError):
        asynchttp.Http(no_such_option=1)
    with pytest.raises(ValueError):
        asynchttp.Http(max_workers=0)
    with pytest.raises(ValueError):
        asynchttp.Http(max_connections=0)


def test_httplib2_attributes_are_all_there() -> None:
    ours = asynchttp.Http()
    theirs = httplib2.Http()
    try:
        assert sorted(vars(ours)) == sorted(vars(theirs))
        for name, value in vars(theirs).items():
            if name not in ("credentials", "certificates", "proxy_info"):
                assert getattr(ours, name) == value, name
        assert ours.redirect_codes - {308} == theirs.redirect_codes - {308}
    finally:
        ours.shutdown()


def test_pickle_keeps_settings_and_works(http_server: TestServer) -> None:
    import pickle

    original = asynchttp.Http(timeout=3, max_workers=2, max_connections=7)
    original.follow_all_redirects = True
    copy = pickle.loads(pickle.dumps(original))
    try:
        assert sorted(vars(copy)) == sorted(vars(original))
        assert copy.timeout == 3 and copy.follow_all_redirects is True
        assert copy._config["max_connections"] == 7
        _, content = copy.request(http_server.url("/hello"))
        assert content == b"hello world"
    finally:
        original.shutdown()
        copy.shutdown()


def test_one_http_shared_by_32_threads(make_http: Callable[..., asynchttp.Http], http_server: TestServer) -> None:
    http = make_http(max_connections=8)
    results: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(32)

    def worker(index: int) -> None:
        try:
            start.wait(WAIT)
            promises = [http.request(http_server.url("/bytes?n=%d" % (index * 10 + i))) for i in range(20)]
            results[index] = [bytes(content) for _, content in promises]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
    assert not errors
    assert len(results) == 32
    for index, contents in results.items():
        assert contents == [pattern(index * 10 + i) for i in range(20)]
    # the pool's limit held: 8 connections at most served all 640 requests
    assert len({request.conn_id for request in http_server.requests}) <= 8


def test_requests_start_in_submission_order(make_http: Callable[..., asynchttp.Http], http_server: TestServer) -> None:
    http = make_http(max_connections=1)
    promises = [http.request(http_server.url("/echo?i=%d" % i)) for i in range(50)]
    order = [echo(content)["args"][0][1] for _, content in promises]
    assert order == [str(i) for i in range(50)]
    targets = [r.target for r in http_server.requests]
    assert targets == ["/echo?i=%d" % i for i in range(50)]


def test_timeout_none_uses_socket_default() -> None:
    import socket

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(4.5)
    try:
        options = asynchttp.Http()._pool_options().options
    finally:
        socket.setdefaulttimeout(previous)
    assert options["connect_timeout"] == 4.5 and options["socket_timeout"] == 4.5
    options = asynchttp.Http(timeout=2)._pool_options().options
    assert options["connect_timeout"] == 2 and options["socket_timeout"] == 2
    if previous is None:
        assert "socket_timeout" not in asynchttp.Http()._pool_options().options


def test_client_certificate_from_add_certificate(
    make_http: Callable[..., asynchttp.Http], tls: Any, ca_bundle_path: str, tmp_path: Any
) -> None:
    import ssl

    server_context = tls.server_context()
    server_context.verify_mode = ssl.CERT_REQUIRED
    tls.ca.configure_trust(server_context)
    client = tls.ca.issue_cert("client@example.org")
    cert_file, key_file = str(tmp_path / "client.pem"), str(tmp_path / "client.key")
    client.cert_chain_pems[0].write_to_path(cert_file)
    client.private_key_pem.write_to_path(key_file)
    with TestServer(ssl_context=server_context) as server:
        without = make_http(ca_certs=ca_bundle_path)
        without.add_certificate(key_file, cert_file, "other.example:1")  # another authority
        with pytest.raises(Exception) as refused:
            len(without.request(server.url("/hello"))[1])
        assert isinstance(refused.value, (OSError, ssl.SSLError, http_client_errors()))
        http = make_http(ca_certs=ca_bundle_path)
        http.add_certificate(key_file, cert_file, server.netloc)
        response, content = http.request(server.url("/hello"))
        assert content == b"hello world" and response.status == 200
        # close() forgets certificates, as httplib2's does: the next connection has none
        http.close()
        with pytest.raises((OSError, ssl.SSLError, http_client_errors())):
            len(http.request(server.url("/hello"))[1])


def http_client_errors() -> type:
    import http.client as http_client

    return http_client.HTTPException


def test_uri_helpers() -> None:
    assert _uri.host_of("user:pw@example.org:8080") == "example.org"
    assert _uri.host_of("[::1]:8080") == "::1"
    assert _uri.host_of("example.org") == "example.org"
    assert _uri.safe_uri("http://user:pw@example.org:81/p?q") == "http://example.org:81/p?q"
    assert _uri.safe_uri("relative") == "<unparsable uri>"
    assert _uri.safe_uri("http://h/" + "x" * 1000).endswith("...")
    with pytest.raises(TypeError):
        _http.split_uri(42)  # type: ignore[arg-type]
    assert _http._check_headers(None) is None
    assert _http.body_bytes(None) is None and _http.body_bytes(b"b") == b"b"


def test_split_cache_is_bounded() -> None:
    cache = _uri._split_uri_cached
    limit = cache.cache_info().maxsize
    for index in range(limit + 10):
        _http.split_uri("http://example.org/%d" % index)
    assert cache.cache_info().currsize <= limit


@pytest.mark.parametrize("blocking", [False, True])
def test_argument_errors_become_400_with_force_exception_to_status_code(
    make_http: Callable[..., asynchttp.Http], blocking: bool
) -> None:
    http = make_http(blocking=blocking)
    http.force_exception_to_status_code = True
    reference = httplib2.Http()
    reference.force_exception_to_status_code = True
    for kwargs in (
        {"uri": "/relative"},
        {"uri": "ftp://127.0.0.1/"},
        {"uri": "http://127.0.0.1/", "headers": {"a": 5}},
    ):
        response, content = http.request(**kwargs)
        expected_response, expected_content = reference.request(**kwargs)
        assert (response.status, response.reason, content) == (
            expected_response.status,
            expected_response.reason,
            expected_content,
        )
    seen: list[int] = []
    response, content = http.request("/relative", callback=lambda p: seen.append(p.response.status))
    assert response.status == 400 and seen == [400]


@pytest.mark.parametrize("value", ["Bearer s3cret\x01token", "x\x7f", "a\x0bb"])
def test_control_characters_in_a_header_value_raise_at_the_call(
    make_http: Callable[..., asynchttp.Http], http_server: TestServer, value: str
) -> None:
    """The core refuses control characters (but HTAB) in a value; the facade refuses
    them at the call, as it does CR/LF/NUL, so nothing is queued and nothing is logged."""
    for blocking in (False, True):
        http = make_http(blocking=blocking)
        with pytest.raises(ValueError, match="Invalid header value"):
            http.request(http_server.url("/hello"), headers={"Authorization": value})
    assert http_server.requests == []
