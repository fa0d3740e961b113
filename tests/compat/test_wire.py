"""The request on the wire, byte for byte: httplib2.Http against asynchttp's clients.

A raw-recording server (``ScriptServer`` keeps each request exactly as received,
head and framed body) answers a table of requests -- plain methods, bodies of
every kind httplib2 accepts, custom and user-supplied framing headers, redirects,
an authentication retry, cache revalidation -- made once by httplib2.Http, once by
asynchttp.BlockingHttp and once by asynchttp.Http. The bytes must be equal once
the default User-Agent value (the one deliberate difference) is replaced.

The Host header is also checked without a network against http.client itself,
for authorities no local server can have (default ports, IDNA names, IPv6).
"""

from __future__ import annotations

import array
import base64
import http.client
import io
import socket
from pathlib import Path
from typing import Any, Callable

import httplib2
import pytest

import asynchttp
import asynchttp._client
import asynchttp._http
import asynchttp._uri
from asynchttp._semantics import default_user_agent
from tests.servers.script_server import Reply, Request, ScriptServer

from .scenarios import DictCache

HTTPLIB2_AGENT = ("Python-httplib2/%s (gzip)" % httplib2.__version__).encode()
OUR_AGENT = default_user_agent().encode()
GOOD_AUTH = "Basic " + base64.b64encode(b"joe:secret").decode()
LAST_MODIFIED = "Mon, 02 Jan 2006 15:04:05 GMT"


def _ok(req: Request, state: dict) -> Reply:
    return Reply(200, [("Content-Type", "text/plain")], b"ok")


def _redirect(status: int) -> Callable[[Request, dict], Reply]:
    def handler(req: Request, state: dict) -> Reply:
        return Reply(status, [("Location", "/a"), ("Content-Type", "text/plain")], b"moved")

    return handler


def _auth(req: Request, state: dict) -> Reply:
    if req.headers.get("authorization") == GOOD_AUTH:
        return Reply(200, [("Content-Type", "text/plain")], b"welcome")
    return Reply(401, [("WWW-Authenticate", 'Basic realm="wire"'), ("Content-Type", "text/plain")], b"who?")


def _etag(req: Request, state: dict) -> Reply:
    if req.headers.get("if-none-match") == '"v1"':
        return Reply(304, [("ETag", '"v1"'), ("Cache-Control", "max-age=0")])
    return Reply(200, [("ETag", '"v1"'), ("Cache-Control", "max-age=0"), ("Content-Type", "text/plain")], b"tagged")


def _modified(req: Request, state: dict) -> Reply:
    if req.headers.get("if-modified-since") == LAST_MODIFIED:
        return Reply(304, [("Last-Modified", LAST_MODIFIED), ("Cache-Control", "no-cache")])
    return Reply(200, [("Last-Modified", LAST_MODIFIED), ("Cache-Control", "no-cache")], b"dated")


ROUTES = {
    "/a": _ok,
    "/r301": _redirect(301),
    "/r302": _redirect(302),
    "/r303": _redirect(303),
    "/r307": _redirect(307),
    "/r308": _redirect(308),
    "/auth": _auth,
    "/etag": _etag,
    "/modified": _modified,
}


def _text_file(tmp: Path, data: str) -> Callable[[], Any]:
    """A factory opening a real text file (written when first opened, under ``tmp``)."""
    path = tmp / "body.txt"

    def opener() -> Any:
        if not path.exists():
            path.write_text(data, encoding="latin-1")
        return open(path, "r", encoding="latin-1", newline="")

    return opener


def _binary_file(tmp: Path, data: bytes) -> Callable[[], Any]:
    """A factory opening a real binary file (written when first opened, under ``tmp``)."""
    path = tmp / ("body-%d.bin" % len(data))

    def opener() -> Any:
        if not path.exists():
            path.write_bytes(data)
        return open(path, "rb")

    return opener


class _ShortReads:
    """A reader that hands back less than asked (a pipe, a socket): http.client sends
    one chunk per read, whatever its size."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self._turn = 0

    def read(self, size: int = -1) -> bytes:
        self._turn += 1
        return self._data.read(min(size, 1000 + 37 * self._turn))


# (method, path, body factory or value, headers, redirections); a factory makes a fresh
# file per client.
Step = tuple
BIG = bytes(range(256)) * 70  # 17920 bytes: two full 8192-byte blocks and a short one


def _cases(tmp: Path) -> dict[str, tuple[list[Step], dict]]:
    return {
        "get": ([("GET", "/a", None, None)], {}),
        "get query and iri": ([("GET", "/a?q=1&x=%20y&z=\u00e9", None, None)], {}),
        "head": ([("HEAD", "/a", None, None)], {}),
        "options and delete": ([("OPTIONS", "/a", None, None), ("DELETE", "/a", None, None)], {}),
        "post bytes": ([("POST", "/a", b"name=value", {"Content-Type": "application/x-www-form-urlencoded"})], {}),
        "post empty bytes": ([("POST", "/a", b"", None)], {}),
        "post no body": ([("POST", "/a", None, None)], {}),
        "put and patch no body": ([("PUT", "/a", None, None), ("PATCH", "/a", None, None)], {}),
        "get with body": ([("GET", "/a", b"odd but allowed", None)], {}),
        "put bytes": ([("PUT", "/a", b"\x00\x01binary\xff", None)], {}),
        "put str": ([("PUT", "/a", "caf\u00e9 latin-1", {"content-type": "text/plain; charset=latin-1"})], {}),
        "put bytearray": ([("PUT", "/a", bytearray(b"mutable"), None)], {}),
        "put binary file": ([("PUT", "/a", _binary_file(tmp, BIG), None)], {}),
        "put big file": ([("PUT", "/a", _binary_file(tmp, BIG * 40), None)], {}),  # > 64 chunks per write
        "put short-read file": ([("PUT", "/a", lambda: _ShortReads(BIG), None)], {}),  # a pipe's uneven blocks
        "put array": ([("PUT", "/a", lambda: array.array("H", [1, 2, 3]), None)], {}),  # a buffer: a length
        "put small file": ([("PUT", "/a", lambda: io.BytesIO(b"tiny"), None)], {}),
        "put empty file": ([("PUT", "/a", lambda: io.BytesIO(b""), None)], {}),
        "put text file": ([("PUT", "/a", _text_file(tmp, "t\u00e9xt " * 3000), None)], {}),
        "put file with length": ([("PUT", "/a", lambda: io.BytesIO(b"12345"), {"Content-Length": "5"})], {}),
        "post iterable": ([("POST", "/a", lambda: iter([b"one", b"", b"two-two", b"3"]), None)], {}),
        "post pre-chunked": (
            [("POST", "/a", b"3\r\nabc\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"})],
            {},
        ),
        "user content-length": ([("POST", "/a", b"abc", {"content-length": "3"})], {}),
        "custom headers mixed case": (
            [("GET", "/a", None, {"X-Custom": "one", "x-LOWER-upper": "two", "Accept": "*/*", "Cookie": "a=b; c=d"})],
            {},
        ),
        "duplicate-ish names": ([("GET", "/a", None, {"X-Dup": "first", "x-dup": "second", "X-DUP": "third"})], {}),
        "bytes headers": ([("GET", "/a", None, {b"X-Bytes": b"value", "X-Str": b"mixed"})], {}),
        "padded values": ([("GET", "/a", None, {"X-Space": "  padded  ", "X-Tab": "\tx\ty\t"})], {}),
        "user host": ([("GET", "/a", None, {"Host": "example.org:8080"})], {}),
        "user host lower": ([("POST", "/a", b"b", {"X-First": "1", "host": "example.org"})], {}),
        "user agent given": ([("GET", "/a", None, {"User-Agent": "mine/1.0"})], {}),
        "accept-encoding given": ([("GET", "/a", None, {"Accept-Encoding": "br"})], {}),
        "range asks identity": ([("GET", "/a", None, {"Range": "bytes=0-1"})], {}),
        "connection close": ([("GET", "/a", None, {"Connection": "close"})], {}),
        "redirect 302": ([("GET", "/r302", None, {"X-Keep": "kept"})], {}),
        "redirect 303 after post": ([("POST", "/r303", b"form", {"Content-Type": "text/plain"})], {}),
        "redirect 307 post": (
            [("POST", "/r307", b"again", {"Content-Type": "text/plain"})],
            {"follow_all_redirects": True},
        ),
        "redirect 308 put": ([("PUT", "/r308", b"twice", None)], {"follow_all_redirects": True}),
        "auth retry file": ([("PUT", "/auth", lambda: io.BytesIO(b""), None)], {"credentials": True}),
        "redirect 301 cached": ([("GET", "/r301", None, None), ("GET", "/r301", None, None)], {"cache": True}),
        "auth retry": (
            [("GET", "/auth", None, {"X-Before": "1"}), ("POST", "/auth", b"p", None)],
            {"credentials": True},
        ),
        # one Http: the pool's prepared requests (_wire.prepared_request) must never
        # answer for a request that differs in a field, a value, the length of its body
        # or its framing
        "sent again and varied": (
            [
                ("GET", "/a", None, {"X-A": "1"}),
                ("GET", "/a", None, {"X-A": "1"}),
                ("GET", "/a", None, {"X-A": "2"}),
                ("GET", "/a", None, {"X-A": "1", "X-B": "1"}),
                ("GET", "/a?q", None, {"X-A": "1"}),
                ("HEAD", "/a", None, {"X-A": "1"}),
                ("POST", "/a", b"abc", {"X-A": "1"}),
                ("POST", "/a", b"xyz", {"X-A": "1"}),
                ("POST", "/a", b"abcd", {"X-A": "1"}),
                ("POST", "/a", b"", {"X-A": "1"}),
                ("POST", "/a", None, {"X-A": "1"}),
                ("POST", "/a", lambda: io.BytesIO(b"abc"), {"X-A": "1"}),
                ("POST", "/a", lambda: io.BytesIO(b"abc"), {"X-A": "1"}),
                ("POST", "/a", b"abc", {"X-A": "1"}),
            ],
            {},
        ),
        "if-none-match from cache": ([("GET", "/etag", None, None), ("GET", "/etag", None, None)], {"cache": True}),
        "if-match on put": ([("GET", "/etag", None, None), ("PUT", "/etag", b"new", None)], {"cache": True}),
        "if-modified-since from cache": (
            [("GET", "/modified", None, None), ("GET", "/modified", None, None)],
            {"cache": True},
        ),
    }


CASE_NAMES = list(_cases(Path("/nonexistent")))  # names only: no file is written


def _make(kind: str, attrs: dict) -> Any:
    kwargs: dict = {"cache": DictCache()} if attrs.get("cache") else {}
    if attrs.get("ca_certs"):
        kwargs["ca_certs"] = attrs["ca_certs"]
    cls = {"httplib2": httplib2.Http, "blocking": asynchttp.BlockingHttp, "promise": asynchttp.Http}[kind]
    http = cls(**kwargs)
    if attrs.get("credentials"):
        http.add_credentials("joe", "secret")
    if attrs.get("follow_all_redirects"):
        http.follow_all_redirects = True
    return http


def _run(kind: str, steps: list[Step], attrs: dict, server: ScriptServer) -> list[bytes]:
    start = len(server.log)
    http = _make(kind, attrs)
    try:
        for method, path, body, headers in steps:
            if callable(body):
                body = body()
            try:
                response, content = http.request(server.base + path, method=method, body=body, headers=headers)
                assert int(response.status) < 600  # forces a promise; a plain response is untouched
                bytes(content)
            finally:
                if hasattr(body, "close"):
                    body.close()
    finally:
        http.close()
    raw = [request.raw for request in server.log[start:]]
    assert raw, "the server saw no request"
    return [r.replace(b"user-agent: " + OUR_AGENT + b"\r\n", b"user-agent: " + HTTPLIB2_AGENT + b"\r\n") for r in raw]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_request_bytes_match_httplib2(name: str, tmp_path: Path) -> None:
    steps, attrs = _cases(tmp_path)[name]
    with ScriptServer(ROUTES, lifetime=30.0) as server:
        reference = _run("httplib2", steps, attrs, server)
        assert all(b"user-agent: " + HTTPLIB2_AGENT in r or b"mine/1.0" in r for r in reference)
        for kind in ("blocking", "promise"):
            assert _run(kind, steps, attrs, server) == reference, kind


def test_https_request_bytes_match_httplib2(tls: Any, ca_bundle_path: str) -> None:
    """Over TLS too (Host keeps the explicit port, as for http)."""
    steps = [("GET", "/a", None, {"X-Tls": "1"}), ("POST", "/r303", b"form", None)]
    attrs = {"ca_certs": ca_bundle_path}
    with ScriptServer(ROUTES, lifetime=30.0, ssl_context=tls.server_context()) as server:
        reference = _run("httplib2", steps, attrs, server)
        assert len(reference) == 3
        for kind in ("blocking", "promise"):
            assert _run(kind, steps, attrs, server) == reference, kind


def test_default_agent_is_the_only_difference() -> None:
    """The replacement the table makes is exactly the documented agent, nothing else."""
    assert OUR_AGENT.startswith(HTTPLIB2_AGENT + b" asynchttp/")


def _http_client_host(scheme: str, authority: str) -> bytes:
    """The Host line http.client itself buffers for a connection to ``authority``."""
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = cls(authority)
    conn.putrequest("GET", "/")
    line = conn._buffer[1]  # no socket is opened: putrequest only buffers the lines
    assert line.startswith(b"Host: ")
    return line[len(b"Host: ") :]


@pytest.mark.parametrize(
    "scheme,authority",
    [
        ("http", "example.com"),
        ("http", "example.com:80"),
        ("http", "example.com:"),
        ("http", "example.com:8080"),
        ("https", "example.com:443"),
        ("https", "example.com:80"),
        ("http", "example.com.:81"),
        ("http", "127.0.0.1"),
        ("http", "[::1]"),
        ("http", "[::1]:80"),
        ("https", "[0:0:0:0:0:0:0:1]:8443"),
        ("http", "[fe80::1%25eth0]:8080"),
        ("http", "xn--bcher-kva.example"),
        ("http", "b\u00fccher.example:8080"),  # not ASCII: IDNA, as http.client falls back to
    ],
)
def test_host_header_spelled_as_http_client(scheme: str, authority: str) -> None:
    assert asynchttp._uri.host_header(scheme, authority) == _http_client_host(scheme, authority)


def test_idna_host_reaches_the_wire_as_httplib2_sends_it() -> None:
    """httplib2 turns an IRI's host into IDNA before http.client sees it; so do we."""
    authority = httplib2.urlnorm(httplib2.iri2uri("http://b\u00fccher.example:8080/"))[1]
    assert authority == "xn--bcher-kva.example:8080"
    assert asynchttp._http.split_uri("http://b\u00fccher.example:8080/")[1] == authority
    assert asynchttp._uri.host_header("http", authority) == _http_client_host("http", authority)


def _v6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _v6_loopback(), reason="no IPv6 loopback")
def test_ipv6_host_on_the_wire() -> None:
    """A request to [::1] carries the bracketed Host, from both libraries."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind(("::1", 0))
    listener.listen(4)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    url = "http://[::1]:%d/v6" % port
    seen: list[bytes] = []
    try:
        for cls in (httplib2.Http, asynchttp.BlockingHttp):
            import threading

            def serve() -> None:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(10)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        piece = conn.recv(4096)
                        if not piece:
                            break
                        data += piece
                    seen.append(data)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            http = cls()
            try:
                response, content = http.request(url)
                assert response.status == 200 and content == b"ok"
            finally:
                http.close()
            thread.join(10)
    finally:
        listener.close()
    assert len(seen) == 2
    assert b"\r\nHost: [::1]:%d\r\n" % port in seen[0]
    assert seen[1].replace(OUR_AGENT, HTTPLIB2_AGENT) == seen[0]


def _put_file_through_308(kind: str) -> list[bytes]:
    with ScriptServer(ROUTES, lifetime=30.0) as server:
        _run(kind, [("PUT", "/r308", lambda: io.BytesIO(b"once"), None)], {"follow_all_redirects": True}, server)
        return [request.body for request in server.log]


def test_file_body_resent_whole_after_308() -> None:
    """The one body difference kept (docs/httplib2.rst): httplib2 re-reads the spent file and sends
    an empty body to the new location; asynchttp sends the same bytes again."""
    assert _put_file_through_308("httplib2") == [b"once", b""]
    assert _put_file_through_308("blocking") == [b"once", b"once"]
    assert _put_file_through_308("promise") == [b"once", b"once"]


@pytest.mark.parametrize("kind", ["blocking", "promise"])
def test_folded_value_sent_unfolded(kind: str) -> None:
    """httplib2 sends an obs-fold line break as is; asynchttp sends one space (docs/httplib2.rst)."""
    with ScriptServer(ROUTES, lifetime=30.0) as server:
        reference = _run("httplib2", [("GET", "/a", None, {"X-Fold": "a\r\n b"})], {}, server)
        ours = _run(kind, [("GET", "/a", None, {"X-Fold": "a\r\n b"})], {}, server)
    assert b"\r\nx-fold: a\r\n b\r\n" in reference[0]
    assert ours == [reference[0].replace(b"a\r\n b", b"a b")]


@pytest.mark.parametrize("kind", ["blocking", "promise"])
def test_file_body_to_http10_core_has_a_length(kind: str) -> None:
    """With the core told to speak HTTP/1.0 (no chunked requests), a file body goes
    with its length, never with a Transfer-Encoding an HTTP/1.0 server cannot read."""
    cls = asynchttp.BlockingHttp if kind == "blocking" else asynchttp.Http
    with ScriptServer(ROUTES, lifetime=30.0) as server:
        http = cls(http_version=b"HTTP/1.0")
        try:
            response, content = http.request(server.base + "/a", "PUT", body=io.BytesIO(BIG))
            assert response.status == 200 and bytes(content) == b"ok"
        finally:
            http.close()
        (request,) = server.log
    assert request.raw.startswith(b"PUT /a HTTP/1.0\r\n")
    assert request.headers["content-length"] == str(len(BIG)) and "transfer-encoding" not in request.headers
    assert request.body == BIG
