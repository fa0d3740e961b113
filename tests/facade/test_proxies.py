"""Requests through proxies (the core's tunnel hook driven by the facade): HTTP
CONNECT, SOCKS4a and SOCKS5 with credentials, keep-alive through a tunnel, TLS inside
one, the no_proxy bypass, and failures raised as PySocks raises them under httplib2.
The proxies are the compat suite's test servers: loopback targets only."""

from __future__ import annotations

from typing import Any, Callable

import httplib2
import pytest
import socks

import asynchttp
import asynchttp_lowhaio as core
from tests.servers import closed_port
from tests.servers.http_server import TestServer
from tests.servers.proxies import ProxyServer

MakeHttp = Callable[..., asynchttp.Http]


def proxy_info(kind: int, port: int, user: Any = None, password: Any = None, rdns: bool = True) -> httplib2.ProxyInfo:
    return httplib2.ProxyInfo(kind, "127.0.0.1", port, proxy_rdns=rdns, proxy_user=user, proxy_pass=password)


@pytest.mark.parametrize(
    "kind, proxy_type",
    [("http", socks.PROXY_TYPE_HTTP), ("socks4", socks.PROXY_TYPE_SOCKS4), ("socks5", socks.PROXY_TYPE_SOCKS5)],
)
def test_through_each_kind_of_proxy(make_http: MakeHttp, http_server: TestServer, kind: str, proxy_type: int) -> None:
    with ProxyServer(kind) as proxy:
        http = make_http(proxy_info=proxy_info(proxy_type, proxy.port))
        first, content = http.request("http://localhost:%d/hello" % http_server.port)
        assert content == b"hello world"
        second, _ = http.request("http://localhost:%d/hello" % http_server.port)
        assert second["x-conn-id"] == first["x-conn-id"]  # the tunnel is kept alive
        assert len(proxy.log) == 1 and proxy.log[0]["kind"] == kind
        http.close()  # ends the tunnel, so the proxy stops at once


def test_credentials_and_failures_as_pysocks_raises_them(make_http: MakeHttp, http_server: TestServer) -> None:
    with ProxyServer("socks5", "su", "sp") as proxy:
        good = make_http(proxy_info=proxy_info(socks.PROXY_TYPE_SOCKS5, proxy.port, "su", "sp"))
        assert good.request(http_server.url("/hello"))[1] == b"hello world"
        bad = make_http(proxy_info=proxy_info(socks.PROXY_TYPE_SOCKS5, proxy.port, "su", "wrong"))
        with pytest.raises(socks.GeneralProxyError) as info:
            len(bad.request(http_server.url("/hello"))[1])
        assert isinstance(info.value.socket_err, socks.SOCKS5AuthError)
        assert isinstance(info.value.__cause__, core.HttpConnectError)
        good.close()
    with ProxyServer("http", "pu", "pp") as proxy:
        missing = make_http(proxy_info=proxy_info(socks.PROXY_TYPE_HTTP, proxy.port), blocking=True)
        with pytest.raises(socks.GeneralProxyError, match="407"):
            missing.request(http_server.url("/hello"))


def test_unreachable_proxy_is_proxy_connection_error(make_http: MakeHttp, http_server: TestServer) -> None:
    port = closed_port()
    http = make_http(proxy_info=proxy_info(socks.PROXY_TYPE_HTTP, port), blocking=True)
    with pytest.raises(socks.ProxyConnectionError) as info:
        http.request(http_server.url("/hello"))
    assert str(info.value) == "Error connecting to HTTP proxy 127.0.0.1:%d: [Errno 111] Connection refused" % port
    assert isinstance(info.value.__cause__, core.HttpConnectError)
    http.force_exception_to_status_code = True
    response, content = http.request(http_server.url("/hello"))
    assert response.status == 400 and b"Error connecting to HTTP proxy" in content


def test_tls_inside_a_tunnel(make_http: MakeHttp, https_server: TestServer, ca_bundle_path: str) -> None:
    with ProxyServer("http") as proxy:
        http = make_http(ca_certs=ca_bundle_path, proxy_info=proxy_info(socks.PROXY_TYPE_HTTP, proxy.port))
        response, content = http.request(https_server.url("/hello"))
        assert content == b"hello world" and response.status == 200
        assert proxy.log and proxy.log[0]["kind"] == "http"
        http.close()


def test_environment_proxy_and_no_proxy(
    make_http: MakeHttp, http_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ProxyServer("http") as proxy:
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % proxy.port)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        through = make_http()
        assert through.request(http_server.url("/hello"))[1] == b"hello world"
        assert len(proxy.log) == 1
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        direct = make_http()
        assert direct.request(http_server.url("/hello"))[1] == b"hello world"
        assert len(proxy.log) == 1  # bypassed
        # the decision is made once per origin, as httplib2 makes it per connection
        assert direct._client.pool_options.proxies.known_plan("http", "127.0.0.1", http_server.port) is None
        through.close()


def test_proxy_handshake_driver_edges(http_server: TestServer) -> None:
    """The socket driver's own edges, against scripted proxies: a head split in
    pieces with bytes past it, a proxy closing mid-handshake."""
    import asyncio
    import socket

    from asynchttp import _proxy
    from tests.servers import run

    plan = _proxy.ProxyPlan(_proxy.HTTP, "127.0.0.1", 1, True, None, None)

    async def drive(answer: list[bytes]) -> bytes:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        try:
            for piece in answer:
                theirs.sendall(piece)
            if not answer or answer[-1] == b"":
                theirs.shutdown(socket.SHUT_WR)
            steps = _proxy.negotiation(plan, "example.test", 80)
            return await _proxy.drive_socket(steps, loop, ours)
        finally:
            ours.close()
            theirs.close()

    leftover = run(drive([b"HTTP/1.1 200 Connection", b" established\r\n\r\nextra"]))
    assert leftover == b"extra"
    with pytest.raises(_proxy.GeneralProxyError, match="closed unexpectedly"):
        run(drive([b""]))
    # a head just past the bound, whole in the socket: refused, not returned
    start = b"HTTP/1.1 200 OK\r\nX: "
    too_long = start + b"a" * (_proxy.MAX_PROXY_HEAD + 100 - len(start) - 4) + b"\r\n\r\n"
    with pytest.raises(_proxy.GeneralProxyError, match="head too long"):
        run(drive([too_long]))
    socks_plan = _proxy.ProxyPlan(_proxy.SOCKS4, "127.0.0.1", 1, True, None, None)

    async def socks_closed() -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        try:
            theirs.sendall(b"\x00")
            theirs.shutdown(socket.SHUT_WR)
            await _proxy.drive_socket(_proxy.negotiation(socks_plan, "127.0.0.1", 80), loop, ours)
        finally:
            ours.close()
            theirs.close()

    with pytest.raises(_proxy.GeneralProxyError) as info:  # wrapped as PySocks wraps it
        run(socks_closed())
    assert isinstance(info.value.socket_err, ConnectionError)
