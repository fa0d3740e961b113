"""TLS and connect timeouts: real handshakes with certificates made by trustme.

Verification is on by default (the system's CAs do not trust our test CA, so the
default context must refuse the server); SNI and hostname checking use the URL's
host; the handshake and the TCP connect are both bounded by connect_timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Callable, Iterator

import pytest

from asynchttp_lowhaio import (
    HttpConnectionClosedError,
    HttpConnectionError,
    HttpConnectTimeoutError,
    HttpPoolClosedError,
    HttpTlsError,
    Pool,
    buffered,
)
from tests.core.helpers import conn_of, fetch, open_pool, state_of, until
from tests.servers import run
from tests.servers.dns import DnsServer
from tests.servers.http_server import TestServer
from tests.servers.leaks import LeakChecker
from tests.servers.scripted import ScriptedServer, close, recv_head, rst, send, shutdown_write, sleep
from tests.servers.tiny import full_backlog_port
from tests.servers.tls import TlsMaterial


@pytest.fixture
def sni_server(tls: TlsMaterial) -> Iterator[tuple[TestServer, list]]:
    """An HTTPS test server that records the SNI name of each handshake."""
    names: list = []
    context = tls.server_context()

    def record(_sock: Any, name: Any, _ctx: Any) -> None:
        names.append(name)

    context.sni_callback = record
    with TestServer(ssl_context=context) as server:
        yield server, names


def test_https_request_and_reuse(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    async def main() -> list:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            return [await conn_of(request, https_server.url("/hello")) for _ in range(3)]

    assert run(main()) == [(1, 1), (1, 2), (1, 3)]


def test_sni_and_hostname_are_the_urls_host(
    sni_server: tuple, dns_server: DnsServer, dns_resolver_factory: Any, client_ssl_context: ssl.SSLContext
) -> None:
    server, names = sni_server
    dns_server.set("localhost", "A", [("127.0.0.1", 60)])

    async def main() -> Any:
        async with open_pool(
            get_ssl_context=lambda: client_ssl_context, get_dns_resolver=dns_resolver_factory
        ) as request:
            return await fetch(request, b"GET", f"https://LocalHost:{server.port}/hello")

    assert run(main())[2] == b"hello world"
    assert names == ["localhost"]
    assert server.requests[0].header("host") == f"localhost:{server.port}"


def test_wrong_hostname_is_tls_error(
    https_server: TestServer, dns_server: DnsServer, dns_resolver_factory: Any, client_ssl_context: ssl.SSLContext
) -> None:
    # the certificate is for localhost/127.0.0.1/::1 only
    dns_server.set("wrong.test", "A", [("127.0.0.1", 60)])

    async def main() -> BaseException:
        async with open_pool(
            get_ssl_context=lambda: client_ssl_context, get_dns_resolver=dns_resolver_factory
        ) as request:
            with pytest.raises(HttpTlsError) as info:
                await request(b"GET", f"https://wrong.test:{https_server.port}/hello")
            assert state_of(request).stats()["connections"] == 0
            return info.value

    error = run(main())
    assert isinstance(error, HttpConnectionError) and isinstance(error, OSError)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert "wrong.test" in str(error)
    assert https_server.requests == []


def certificate_server(tls: TlsMaterial, cert: Any) -> TestServer:
    return TestServer(ssl_context=tls.server_context(cert)).start()


@pytest.mark.parametrize("which", ["untrusted", "expired"])
def test_bad_certificate_is_tls_error(tls: TlsMaterial, client_ssl_context: ssl.SSLContext, which: str) -> None:
    cert = tls.self_signed_cert() if which == "untrusted" else tls.expired_cert()
    server = certificate_server(tls, cert)
    try:

        async def main() -> BaseException:
            async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
                with pytest.raises(HttpTlsError) as info:
                    await request(b"GET", server.url("/hello"))
                return info.value

        error = run(main())
    finally:
        server.stop()
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert server.requests == []


def test_verification_is_on_by_default(https_server: TestServer) -> None:
    """The default context (the system's CAs) does not trust the test CA: refused."""

    async def main() -> BaseException:
        async with open_pool() as request:
            with pytest.raises(HttpTlsError) as info:
                await request(b"GET", https_server.url("/hello"))
            return info.value

    assert isinstance(run(main()).__cause__, ssl.SSLCertVerificationError)


def test_ssl_context_is_made_once_and_shared(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    made = []

    def get_context() -> ssl.SSLContext:
        made.append(1)
        return client_ssl_context

    async def main() -> None:
        async with open_pool(get_ssl_context=get_context, max_requests_per_connection=1) as request:
            for _ in range(3):
                await fetch(request, b"GET", https_server.url("/hello"))

    run(main())
    assert len(made) == 1
    assert https_server.connections_opened == 3


def test_plain_http_answer_to_a_client_hello_is_tls_error(
    scripted: Callable[..., ScriptedServer], client_ssl_context: ssl.SSLContext
) -> None:
    server = scripted([send(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"), sleep(2)])

    async def main() -> BaseException:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            with pytest.raises(HttpTlsError) as info:
                await request(b"GET", f"https://127.0.0.1:{server.port}/")
            return info.value

    assert isinstance(run(main()).__cause__, ssl.SSLError)


def test_server_closing_during_the_handshake(
    scripted: Callable[..., ScriptedServer], client_ssl_context: ssl.SSLContext
) -> None:
    server = scripted([close()])

    async def main() -> BaseException:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            with pytest.raises(HttpConnectionError) as info:
                await request(b"GET", f"https://127.0.0.1:{server.port}/")
            assert state_of(request).stats()["connections"] == 0
            return info.value

    assert run(main()).__cause__ is not None


def test_handshake_is_bounded_by_connect_timeout(
    scripted: Callable[..., ScriptedServer], client_ssl_context: ssl.SSLContext
) -> None:
    # accepts the TCP connection, then never answers the ClientHello
    server = scripted([sleep(10)])

    async def main() -> BaseException:
        async with open_pool(get_ssl_context=lambda: client_ssl_context, connect_timeout=0.2) as request:
            with pytest.raises(HttpConnectTimeoutError) as info:
                await request(b"GET", f"https://127.0.0.1:{server.port}/")
            assert state_of(request).stats()["connections"] == 0
            return info.value

    error = run(main())
    assert isinstance(error, TimeoutError) and isinstance(error, HttpConnectionError)
    assert server.connections_accepted == 1


def test_tcp_connect_is_bounded_by_connect_timeout() -> None:
    with full_backlog_port() as port:

        async def main() -> BaseException:
            async with open_pool(connect_timeout=0.2, max_connections=1) as request:
                with pytest.raises(HttpConnectTimeoutError) as info:
                    await request(b"GET", f"http://127.0.0.1:{port}/")
                assert state_of(request).stats()["connections"] == 0
                return info.value

        error = run(main())
    assert isinstance(error, TimeoutError) and isinstance(error, OSError)


def test_reset_mid_body_over_tls(
    scripted: Callable[..., ScriptedServer], server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc"), sleep(0.1), rst()],
        ssl_context=server_ssl_context,
    )

    async def main() -> None:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            code, _, body = await request(b"GET", server.url("/"))
            with pytest.raises(HttpConnectionClosedError):
                await buffered(body)

    run(main())


@pytest.mark.parametrize("ending", ["close", "shutdown"])
def test_body_until_close_over_tls(
    scripted: Callable[..., ScriptedServer],
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
    ending: str,
) -> None:
    """Many servers end a body with a bare FIN (no close_notify): the body is still whole."""
    end = close() if ending == "close" else shutdown_write()
    server = scripted(
        [recv_head(), send(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"), end, sleep(1)],
        ssl_context=server_ssl_context,
    )

    async def main() -> Any:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            return await fetch(request, b"GET", server.url("/"))

    assert run(main())[2] == b"until the end"


def test_large_body_over_tls(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    from tests.servers.http_server import pattern

    async def main() -> Any:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            return await fetch(request, b"GET", https_server.url("/stream?n=5000000"))

    assert run(main())[2] == pattern(5_000_000)


def test_https_to_an_ipv6_literal_checks_the_ip_in_the_certificate(
    tls: TlsMaterial, client_ssl_context: ssl.SSLContext
) -> None:
    import socket as socket_module

    try:
        with socket_module.socket(socket_module.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with TestServer(host="::1", ssl_context=tls.server_context()) as server:

        async def main() -> list:
            async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
                return [await conn_of(request, f"https://[::1]:{server.port}/hello") for _ in range(2)]

        assert run(main()) == [(1, 1), (1, 2)]


def test_close_fails_a_request_stuck_in_the_tls_handshake_at_once(
    scripted: Callable[..., ScriptedServer], client_ssl_context: ssl.SSLContext, no_leaks: LeakChecker
) -> None:
    server = scripted([sleep(10)])  # accepts, never answers the ClientHello

    async def main() -> tuple[BaseException, dict]:
        # connect_timeout far beyond run()'s bound: only close() can end this request
        request, close = Pool(get_ssl_context=lambda: client_ssl_context, connect_timeout=60)
        task = asyncio.ensure_future(request(b"GET", f"https://127.0.0.1:{server.port}/"))
        await until(lambda: server.connections_accepted == 1)
        await asyncio.sleep(0.05)
        await close()
        with pytest.raises(HttpPoolClosedError) as info:
            await task
        return info.value, state_of(request).stats()

    error, stats = run(main(), timeout=5)
    assert isinstance(error, HttpConnectionError)
    assert stats["connections"] == 0


def test_large_upload_over_tls(https_server: TestServer, client_ssl_context: ssl.SSLContext) -> None:
    import json
    import zlib

    from tests.servers.http_server import pattern

    size = 12 * 1024 * 1024
    data = pattern(size)

    async def gen() -> Any:
        for start in range(0, size, 1 << 20):
            yield data[start : start + (1 << 20)]

    async def main() -> Any:
        async with open_pool(get_ssl_context=lambda: client_ssl_context) as request:
            return await fetch(request, b"PUT", https_server.url("/discard"), body=gen)

    code, _, body = run(main(), timeout=30)
    assert json.loads(body) == {"length": size, "crc32": zlib.crc32(data)}
