"""The shared test servers work: checked with stdlib clients only (http.client, socket, ssl).

Every other suite trusts these servers' observations (x-conn-id, recorded requests,
resets, DNS answers), so those observations are tested here first, independently of
the code under test.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import ssl
import threading
import zlib
from typing import Any, Callable

import pytest
from aiodnsresolver import TYPES, DnsRecordDoesNotExist, DnsTimeout

from tests.servers import closed_port, run
from tests.servers.dns import DnsServer, make_resolver_factory
from tests.servers.http_server import JSON_BODY, KNOWN_TEXT, Raw, Request, Response, TestServer, pattern
from tests.servers.leaks import LeakChecker
from tests.servers.scripted import (
    ScriptedServer,
    close,
    recv_head,
    rst,
    send,
    send_slowly,
    shutdown_write,
    sleep,
    wait_for_client_close,
)
from tests.servers.tls import TlsMaterial


def get(
    conn: http.client.HTTPConnection, target: str, method: str = "GET", **kw: Any
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, target, **kw)
    resp = conn.getresponse()
    return resp, resp.read()


def read_until_close(sock: socket.socket) -> bytes:
    chunks = []
    for _ in range(10_000):
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


# ------------------------------------------------------------------ HTTP server


def test_keep_alive_counters_and_recorded_requests(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    first, body1 = get(conn, "/hello")
    second, body2 = get(conn, "/hello?x=1", headers={"X-Custom": "Yes"})
    other = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    third, _ = get(other, "/hello")
    conn.close()
    other.close()

    assert body1 == body2 == b"hello world"
    assert first.getheader("x-conn-id") == second.getheader("x-conn-id")
    assert (first.getheader("x-conn-requests"), second.getheader("x-conn-requests")) == ("1", "2")
    assert third.getheader("x-conn-id") != first.getheader("x-conn-id")
    assert third.getheader("x-conn-requests") == "1"
    assert http_server.connections_opened == 2
    recorded = http_server.requests
    assert [(r.method, r.target, r.conn_request) for r in recorded] == [
        ("GET", "/hello", 1),
        ("GET", "/hello?x=1", 2),
        ("GET", "/hello", 1),
    ]
    assert ("X-Custom", "Yes") in recorded[1].headers
    assert recorded[1].args == {"x": "1"}


def test_echo_reports_headers_in_order_and_case(http_server: TestServer) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /echo?a=1&a=2 HTTP/1.1\r\nHost: x\r\nX-B: 2\r\nx-a: 1\r\n"
            b"Content-Length: 5\r\nConnection: close\r\n\r\nh\xe9llo"
        )
        raw = read_until_close(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in head
    echo = json.loads(body)
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo" and echo["query"] == "a=1&a=2"
    assert echo["args"] == [["a", "1"], ["a", "2"]]
    assert echo["headers"] == [
        ["Host", "x"],
        ["X-B", "2"],
        ["x-a", "1"],
        ["Content-Length", "5"],
        ["Connection", "close"],
    ]
    assert echo["body"].encode("latin-1") == b"h\xe9llo"


def test_chunked_request_body_with_trailers(http_server: TestServer) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(
            b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 19\r\n\r\n"
        )
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = read_until_close(sock)
    first_head, _, rest = raw.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in first_head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    echo = json.loads(rest[:length])
    assert echo["body"] == "abc0123456789abcdef"
    assert echo["chunked"] is True
    assert echo["trailers"] == [["X-Sum", "19"]]
    # the connection stayed in step: the pipelined request got its own answer
    assert rest[length:].startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(b"hello world")


def test_http_client_chunked_upload(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, body = get(conn, "/echo", "POST", body=iter([b"one ", b"two"]), encode_chunked=True)
    conn.close()
    assert resp.status == 200
    assert json.loads(body)["body"] == "one two"
    assert http_server.requests[0].chunked


@pytest.mark.parametrize(
    "target,size",
    [
        ("/bytes?n=70000", 70000),
        ("/chunked?n=70000&size=999", 70000),
        ("/stream?n=3000000", 3000000),
        ("/stream?n=300000&chunked=1", 300000),
    ],
)
def test_bodies_follow_the_pattern(http_server: TestServer, target: str, size: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, body = get(conn, target)
    assert resp.status == 200
    assert body == pattern(size)
    # and the connection is still usable afterwards
    assert get(conn, "/hello")[0].getheader("x-conn-requests") == "2"
    conn.close()


def test_pattern_is_position_dependent() -> None:
    assert pattern(10, 5) == pattern(15)[5:]
    assert pattern(600) != pattern(600, 1)
    assert len(pattern(1 << 20)) == 1 << 20


def test_stream_100mb_with_flow_control(http_server: TestServer) -> None:
    n = 100 * 1024 * 1024
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
    conn.request("GET", f"/stream?n={n}")
    resp = conn.getresponse()
    assert resp.getheader("content-length") == str(n)
    total = 0
    crc = 0
    for _ in range(n):
        piece = resp.read(1 << 20)
        if not piece:
            break
        crc = zlib.crc32(piece, crc)
        total += len(piece)
    conn.close()
    assert total == n
    assert crc == zlib.crc32(pattern(n))


def test_status_redirect_headers_json_endpoints(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, _ = get(conn, "/status?code=418&reason=I%27m+a+teapot")
    assert (resp.status, resp.reason) == (418, "I'm a teapot")
    resp, body = get(conn, "/status?code=204")
    assert resp.status == 204 and body == b"" and resp.getheader("content-length") is None
    resp, _ = get(conn, "/redirect?to=/hello&code=307")
    assert resp.status == 307 and resp.getheader("location") == "/hello"
    resp, _ = get(conn, "/headers?X-One=1&Set-Cookie=a%3D1&Set-Cookie=b%3D2")
    assert resp.getheader("x-one") == "1"
    assert resp.msg.get_all("set-cookie") == ["a=1", "b=2"]
    resp, body = get(conn, "/json")
    assert resp.getheader("content-type") == "application/json"
    assert json.loads(body) == JSON_BODY
    resp, body = get(conn, "/nowhere")
    assert resp.status == 404
    conn.close()


def test_content_encodings(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, body = get(conn, "/gzip")
    assert resp.getheader("content-encoding") == "gzip"
    assert gzip.decompress(body) == KNOWN_TEXT
    resp, body = get(conn, "/deflate")
    assert resp.getheader("content-encoding") == "deflate"
    assert zlib.decompress(body) == KNOWN_TEXT
    resp, body = get(conn, "/deflate-raw")
    assert zlib.decompress(body, -15) == KNOWN_TEXT
    assert body != zlib.compress(KNOWN_TEXT)
    conn.close()


def test_head_len_and_head_requests(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, body = get(conn, "/head-len?n=500", "HEAD")
    assert resp.getheader("content-length") == "500" and body == b""
    resp, body = get(conn, "/bytes?n=10", "HEAD")
    assert resp.getheader("content-length") == "10" and body == b""
    resp, body = get(conn, "/head-len?n=500")
    assert body == pattern(500)
    assert resp.getheader("x-conn-requests") == "3"
    conn.close()


def test_close_and_http10_end_the_connection(http_server: TestServer) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = read_until_close(sock)
    assert b"\r\nConnection: close\r\n" in raw and raw.endswith(b"closing\n")
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /http10 HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = read_until_close(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"content-length" not in head.lower()
    assert body == b"http/1.0 body until close\n"


def test_cache_validators(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    lm = "Mon, 02 Jan 2023 03:04:05 GMT"
    target = f"/cache?etag=%22v1%22&cache-control=max-age%3D60&last-modified={lm}"
    resp, body = get(conn, target.replace(" ", "%20"))
    assert (resp.status, body) == (200, b"cached body")
    assert resp.getheader("etag") == '"v1"'
    assert resp.getheader("cache-control") == "max-age=60"
    resp, body = get(conn, target.replace(" ", "%20"), headers={"If-None-Match": 'W/"v1"'})
    assert (resp.status, body) == (304, b"")
    resp, _ = get(conn, target.replace(" ", "%20"), headers={"If-None-Match": '"v0"'})
    assert resp.status == 200
    resp, _ = get(conn, target.replace(" ", "%20"), headers={"If-Modified-Since": lm})
    assert resp.status == 304
    resp, _ = get(conn, target.replace(" ", "%20"), headers={"If-Modified-Since": "Sun, 01 Jan 2023 00:00:00 GMT"})
    assert resp.status == 200
    assert resp.getheader("x-serve-count") == "5"
    conn.close()


def test_basic_auth(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, _ = get(conn, "/auth/basic?user=joe&pass=pw&realm=r1")
    assert resp.status == 401
    assert resp.getheader("www-authenticate") == 'Basic realm="r1"'
    resp, body = get(conn, "/auth/basic?user=joe&pass=pw", headers={"Authorization": "Basic am9lOnB3"})  # joe:pw
    assert (resp.status, body) == (200, b"authenticated as joe\n")
    conn.close()


def test_wait_answers_only_after_release(http_server: TestServer) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /wait?key=k1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert http_server.wait_arrived("k1")
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(1)  # held: nothing comes before release()
        http_server.release("k1")
        sock.settimeout(5)
        raw = read_until_close(sock)
    assert raw.startswith(b"HTTP/1.1 200 OK") and raw.endswith(b"released k1\n")


def test_wait_gives_up_with_504(http_server: TestServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, _ = get(conn, "/wait?key=never&max=0.05")
    assert resp.status == 504
    conn.close()


def test_slow_answers_after_delay(http_server: TestServer) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /slow?delay=0.3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.settimeout(0.05)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        sock.settimeout(5)
        assert read_until_close(sock).endswith(b"slow\n")


def test_stall_body_sends_half_then_waits_for_close(http_server: TestServer) -> None:
    sock = socket.create_connection(("127.0.0.1", http_server.port), timeout=5)
    sock.sendall(b"GET /stall-body?n=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    for _ in range(100):
        received += sock.recv(65536)
        if received.endswith(pattern(500)):
            break
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: 1000" in head and body == pattern(500)
    sock.settimeout(0.1)
    with pytest.raises(socket.timeout):
        sock.recv(1)
    sock.close()
    for _ in range(200):
        if http_server.connections_closed == 1:
            break
        threading.Event().wait(0.01)
    assert http_server.connections_closed == 1


def test_idle_timeout_closes_connection(http_server: TestServer) -> None:
    http_server.idle_timeout = 0.1
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = read_until_close(sock)  # ends only because the server closed
    assert raw.endswith(b"hello world")


def test_bad_request_is_400(http_server: TestServer) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        assert read_until_close(sock).startswith(b"HTTP/1.1 400 ")


def test_added_routes(http_server: TestServer) -> None:
    async def teapot(request: Request) -> Response:
        return Response(418, b"short and stout", headers=[("X-Pot", request.args["n"])])

    async def raw(request: Request) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nraw"

    async def raw_close(request: Request) -> Raw:
        return Raw(b"HTTP/1.1 200 OK\r\n\r\nuntil close", close=True)

    async def interim(request: Request) -> Response:
        return Response(200, b"final", interim=[(103, [("Link", "</a>; rel=preload")])])

    http_server.route("/teapot", teapot)
    http_server.route("/raw", raw)
    http_server.route("/raw-close", raw_close)
    http_server.route("/interim", interim)
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, body = get(conn, "/teapot?n=7")
    assert (resp.status, body, resp.getheader("x-pot")) == (418, b"short and stout", "7")
    resp, body = get(conn, "/raw")
    assert body == b"raw" and resp.getheader("x-conn-id") is None
    conn.close()
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /raw-close HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_until_close(sock).endswith(b"\r\n\r\nuntil close")
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"GET /interim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw_bytes = read_until_close(sock)
    assert raw_bytes.startswith(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n")


def test_streaming_route_reads_large_upload(http_server: TestServer) -> None:
    n = 5 * 1024 * 1024

    def body() -> Any:
        for start in range(0, n, 1 << 20):
            yield pattern(1 << 20, start)

    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
    resp, out = get(conn, "/discard", "POST", body=body(), encode_chunked=True)
    conn.close()
    assert json.loads(out) == {"length": n, "crc32": zlib.crc32(pattern(n))}
    assert http_server.requests[0].body == b""  # not buffered
    assert http_server.requests[0].body_length == n


def test_handler_error_is_500_and_recorded(http_server: TestServer) -> None:
    async def broken(request: Request) -> Response:
        raise ValueError("boom")

    http_server.route("/broken", broken)
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    resp, _ = get(conn, "/broken")
    conn.close()
    assert resp.status == 500
    assert isinstance(http_server.errors[0], ValueError)


def test_https_with_trustme_ca(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    assert https_server.url("/x") == f"https://127.0.0.1:{https_server.port}/x"
    for host in ("localhost", "127.0.0.1"):
        conn = http.client.HTTPSConnection(host, https_server.port, timeout=5, context=client_ssl_context)
        resp, body = get(conn, "/hello")
        assert body == b"hello world"
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        conn.close()


def test_https_rejects_untrusting_client(https_server: TestServer) -> None:
    ctx = ssl.create_default_context(cadata=TlsMaterial().ca.cert_pem.bytes().decode())
    conn = http.client.HTTPSConnection("localhost", https_server.port, timeout=5, context=ctx)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/hello")
    conn.close()
    # the server survives a failed handshake
    assert https_server.connections_opened == 0


def test_tls_material_variants(tls: TlsMaterial, client_ssl_context: ssl.SSLContext) -> None:
    for cert, reason in (
        (tls.expired_cert(), "expired"),
        (tls.self_signed_cert(), "unable to get local issuer"),
        (tls.issue("other.example"), "mismatch"),
    ):
        with TestServer(ssl_context=tls.server_context(cert)) as server:
            conn = http.client.HTTPSConnection("localhost", server.port, timeout=5, context=client_ssl_context)
            with pytest.raises(ssl.SSLCertVerificationError, match=reason):
                conn.request("GET", "/hello")
            conn.close()


def test_ca_bundle_path(ca_bundle_path: str, https_server: TestServer) -> None:
    ctx = ssl.create_default_context(cafile=ca_bundle_path)
    conn = http.client.HTTPSConnection("localhost", https_server.port, timeout=5, context=ctx)
    assert get(conn, "/hello")[1] == b"hello world"
    conn.close()


def test_ipv6_server(http_server_v6: TestServer) -> None:
    assert http_server_v6.url("/hello") == f"http://[::1]:{http_server_v6.port}/hello"
    conn = http.client.HTTPConnection("::1", http_server_v6.port, timeout=5)
    assert get(conn, "/hello")[1] == b"hello world"
    conn.close()


def test_stop_leaves_no_thread_and_refuses() -> None:
    before = set(threading.enumerate())
    server = TestServer().start()
    port = server.port
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /wait?key=forever HTTP/1.1\r\nHost: x\r\n\r\n")
    assert server.wait_arrived("forever")
    server.stop()
    assert set(threading.enumerate()) <= before
    assert read_until_close(sock) == b""  # in-flight connection closed by stop()
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


# ------------------------------------------------------------- scripted server


def test_scripted_rst_is_connection_reset(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 200 OK\r\n"), rst()])
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert server.wait_done(1)
        with pytest.raises(ConnectionResetError):
            for _ in range(10):
                if not sock.recv(65536):
                    break
    assert server.received == [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]


def test_scripted_sequences_per_connection(scripted: Callable[..., ScriptedServer]) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server = scripted(
        [
            [recv_head(), send(ok), recv_head(), send_slowly(ok, interval=0.001, piece=3), close()],
            [recv_head(), shutdown_write(), wait_for_client_close(2)],
        ]
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert get(conn, "/a", "POST", body=b"12345")[1] == b"ok"
    assert get(conn, "/b")[1] == b"ok"
    conn.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(10) == b""  # the server half-closed
    assert server.wait_done(2, timeout=5)
    assert server.client_closed == {1: True}
    assert server.connections_accepted == 2
    assert [(i, head.split(b"\r\n")[0], body) for i, head, body in server.requests] == [
        (0, b"POST /a HTTP/1.1", b"12345"),
        (0, b"GET /b HTTP/1.1", b""),
        (1, b"GET /c HTTP/1.1", b""),
    ]


def test_scripted_repeats_last_script(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([[close()], [recv_head(), send(b"HTTP/1.0 200 OK\r\n\r\nbye"), close()]])
    for expected in (b"", b"HTTP/1.0 200 OK\r\n\r\nbye", b"HTTP/1.0 200 OK\r\n\r\nbye"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                got = read_until_close(sock)
            except ConnectionResetError:
                got = b""  # closed with our request unread: Linux may reset
            assert got == expected
    assert server.connections_accepted == 3


def test_scripted_stop_interrupts_sleeping_scripts(tls: TlsMaterial) -> None:
    before = set(threading.enumerate())
    server = ScriptedServer([recv_head(), sleep(60)], tls.server_context()).start()
    assert server.url("/p") == f"https://127.0.0.1:{server.port}/p"
    ctx = tls.client_context()
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    for _ in range(200):
        if server.requests:
            break
        threading.Event().wait(0.01)
    server.stop()
    assert set(threading.enumerate()) <= before
    assert server.received == [b"GET / HTTP/1.1\r\n\r\n"]
    sock.close()


# ------------------------------------------------------------------ DNS server


def test_dns_server_answers_through_aiodnsresolver(dns_server: DnsServer) -> None:
    dns_server.table[("Service.Test", "A")] = [("127.0.0.1", 60), ("127.0.0.2", 60)]
    dns_server.table[("service.test", "AAAA")] = [("::1", 60)]
    dns_server.table[("alias.test", "CNAME")] = [("service.test", 60)]
    # a short timeout: the last step waits for an answer that never comes
    factory = make_resolver_factory(dns_server, hosts={"pinned.test": "10.9.8.7"}, timeout=0.2, attempts=1)

    async def main() -> None:
        resolve, clear_cache = factory()
        assert [str(a) for a in await resolve("service.test", TYPES.A)] == ["127.0.0.1", "127.0.0.2"]
        assert [str(a) for a in await resolve("service.test", TYPES.AAAA)] == ["::1"]
        assert [str(a) for a in await resolve("alias.test", TYPES.A)] == ["127.0.0.1", "127.0.0.2"]
        assert [str(a) for a in await resolve("pinned.test", TYPES.A)] == ["10.9.8.7"]
        with pytest.raises(DnsRecordDoesNotExist):
            await resolve("missing.test", TYPES.A)
        queries = dns_server.query_count
        await resolve("service.test", TYPES.A)  # cached for its TTL
        assert dns_server.query_count == queries
        dns_server.set("service.test", "A", [("127.0.0.3", 60)])
        await clear_cache()
        assert [str(a) for a in await resolve("service.test", TYPES.A)] == ["127.0.0.3"]
        dns_server.drop = True
        await clear_cache()
        with pytest.raises(DnsTimeout):
            await resolve("service.test", TYPES.A)

    run(main())
    names = [name for name, _ in dns_server.queries]
    assert "pinned.test" not in {n.lower() for n in names}  # served from the hosts mapping
    assert all(n.lower() in {"service.test", "alias.test", "missing.test"} for n in names)


def test_dns_factory_accepts_core_keywords(dns_server: DnsServer) -> None:
    import logging

    dns_server.set("kw.test", "A", [("127.0.0.1", 5)])
    factory = make_resolver_factory(dns_server)

    async def main() -> list[str]:
        resolve, _ = factory(get_logger_adapter=lambda extra: logging.LoggerAdapter(logging.getLogger("test"), extra))
        return [str(a) for a in await resolve("kw.test", TYPES.A)]

    assert run(main()) == ["127.0.0.1"]


# ------------------------------------------------------------- helpers, leaks


def test_run_bounds_a_coroutine() -> None:
    import asyncio

    async def forever() -> None:
        await asyncio.sleep(60)

    with pytest.raises(asyncio.TimeoutError):
        run(forever(), timeout=0.05)


def test_closed_port_refuses() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=5)


def test_leak_checker_sees_client_socket_not_server_side(http_server: TestServer) -> None:
    checker = LeakChecker()
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    get(conn, "/hello")
    with pytest.raises(AssertionError, match="leaked 1 fd"):
        checker.check(grace=0.1)
    conn.close()
    checker.check()
    # the stray thread lives until told (not for a fixed time: a loaded machine's
    # gc.collect() inside check() could outlast it)
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(30,), name="stray")
    thread.start()
    try:
        with pytest.raises(AssertionError, match="stray"):
            checker.check(grace=0.05)
    finally:
        release.set()
        thread.join()
    checker.check()


def test_no_leaks_fixture_passes_for_clean_test(no_leaks: LeakChecker, scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted([recv_head(), send(b"HTTP/1.1 204 No Content\r\n\r\n"), close()])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert get(conn, "/")[0].status == 204
    conn.close()
