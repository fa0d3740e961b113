"""Proxies through the core's ``get_tunnel`` hook, against a real CONNECT proxy on loopback.

The tunnel here is a minimal HTTP CONNECT written for the test; the facade
plugs httplib2's proxy kinds (CONNECT, SOCKS4, SOCKS5) into the same hook.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Iterator, Optional

import pytest

from asynchttp_lowhaio import HttpConnectError
from tests.core.helpers import conn_of, fetch, open_pool
from tests.servers import run
from tests.servers.http_server import TestServer
from tests.servers.proxies import ProxyServer


class ConnectTunnel:
    """HTTP CONNECT to ``host:port`` through the proxy at ``proxy_port``."""

    def __init__(self, proxy_port: int) -> None:
        self.host = "127.0.0.1"
        self.port = proxy_port
        self.key = ("connect", proxy_port)
        self.negotiated = 0

    async def negotiate(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, host: str, port: int, resolved_ip: Optional[str]
    ) -> bytes:
        self.negotiated += 1
        await loop.sock_sendall(
            sock, b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port)
        )
        head = b""
        while b"\r\n\r\n" not in head:
            data = await loop.sock_recv(sock, 1)  # byte by byte: never read past the head
            if not data:
                raise ConnectionError("proxy closed during CONNECT")
            head += data
        if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
            raise ConnectionRefusedError(f"proxy refused CONNECT: {head.splitlines()[0]!r}")
        return b""


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    with ProxyServer("http") as server:
        yield server


def test_plain_http_through_a_connect_tunnel_reuses_the_tunnel(http_server: TestServer, proxy: ProxyServer) -> None:
    tunnel = ConnectTunnel(proxy.port)

    async def main() -> Any:
        async with open_pool(get_tunnel=lambda scheme, host, port: tunnel) as request:
            return [await conn_of(request, http_server.url("/hello")) for _ in range(3)]

    assert run(main()) == [(1, 1), (1, 2), (1, 3)]
    assert tunnel.negotiated == 1
    assert [entry["target"] for entry in proxy.log][:1] == [f"127.0.0.1:{http_server.port}"]


def test_tls_runs_end_to_end_inside_the_tunnel(
    https_server: TestServer, proxy: ProxyServer, client_ssl_context: Any
) -> None:
    tunnel = ConnectTunnel(proxy.port)
    url = https_server.url("/hello").replace("127.0.0.1", "localhost")

    async def main() -> Any:
        async with open_pool(
            get_tunnel=lambda scheme, host, port: tunnel, get_ssl_context=lambda: client_ssl_context
        ) as request:
            return await fetch(request, b"GET", url)

    code, _, body = run(main())
    assert (code, body) == (b"200", b"hello world")
    assert tunnel.negotiated == 1


def test_direct_and_tunnelled_connections_are_not_shared(http_server: TestServer, proxy: ProxyServer) -> None:
    tunnel = ConnectTunnel(proxy.port)
    use_proxy = {"on": False}

    async def main() -> Any:
        async with open_pool(get_tunnel=lambda s, h, p: tunnel if use_proxy["on"] else None) as request:
            first = await conn_of(request, http_server.url("/hello"))
            use_proxy["on"] = True
            second = await conn_of(request, http_server.url("/hello"))
            return first, second

    first, second = run(main())
    assert first[0] != second[0]  # a new connection, through the proxy
    assert tunnel.negotiated == 1


def test_a_refused_connect_is_an_http_connect_error_with_the_cause(proxy: ProxyServer) -> None:
    tunnel = ConnectTunnel(proxy.port)

    async def main() -> None:
        async with open_pool(get_tunnel=lambda scheme, host, port: tunnel) as request:
            # the test proxy relays to loopback only: anything else is refused
            await request(b"GET", "http://198.51.100.7:80/")

    with pytest.raises(HttpConnectError) as caught:
        run(main())
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
