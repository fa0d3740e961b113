"""Unit tests of asynchttp._proxy: the direct-or-which-proxy decision and the handshakes,
fed scripted proxy replies (no I/O).  The end-to-end comparison with httplib2 through
PySocks against real test proxies is in the compat table (item 8 rows)."""

from __future__ import annotations

import base64
import socket
import struct
from typing import Any, Optional

import httplib2
import pytest
import socks

from asynchttp import _proxy


def _run(negotiation: Any, replies: list) -> list:
    """Feed replies in order; return what the client sent at each step."""
    sent = []
    to_send, need = next(negotiation)
    sent.append((to_send, need))
    for reply in replies:
        try:
            to_send, need = negotiation.send(reply)
        except StopIteration:
            return sent
        sent.append((to_send, need))
    raise AssertionError("negotiation wants more than the script gives: %r" % (sent,))


def _plan(kind: int, rdns: bool = True, user: Optional[str] = None, password: Optional[str] = None):
    return _proxy.plan_proxy(httplib2.ProxyInfo(kind, "proxy.test", 1080, rdns, user, password), "http", "t.test")


# ---------------------------------------------------------------- plan_proxy


def test_plan_from_proxy_info() -> None:
    plan = _plan(_proxy.SOCKS5, user="u", password="p")
    assert plan == _proxy.ProxyPlan(_proxy.SOCKS5, "proxy.test", 1080, True, b"u", b"p")
    assert "p'" not in repr(plan) and "b'u'" in repr(plan)


def test_plan_callable_gets_the_scheme() -> None:
    seen = []

    def info(scheme: str) -> httplib2.ProxyInfo:
        seen.append(scheme)
        return httplib2.ProxyInfo(_proxy.HTTP, "p", 3128)

    assert _proxy.plan_proxy(info, "https", "h").proxy_port == 3128
    assert _proxy.plan_proxy(info, "http", "h").proxy_type == _proxy.HTTP
    assert seen == ["https", "http"]


def test_plan_callable_returning_none_and_none() -> None:
    assert _proxy.plan_proxy(lambda scheme: None, "http", "h") is None
    assert _proxy.plan_proxy(None, "http", "h") is None


def test_plan_bypass_hosts() -> None:
    info = httplib2.proxy_info_from_url("http://p:3128", "http", noproxy="internal.test,.corp.test")
    assert _proxy.plan_proxy(info, "http", "internal.test") is None
    assert _proxy.plan_proxy(info, "http", "a.corp.test") is None
    assert _proxy.plan_proxy(info, "http", "elsewhere.test") is not None
    everything = httplib2.proxy_info_from_url("http://p:3128", "http", noproxy="*")
    assert _proxy.plan_proxy(everything, "http", "any.test") is None


def test_plan_from_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("https_proxy", "socks5://user:secret@127.0.0.1:1080")
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    plan = _proxy.plan_proxy(httplib2.proxy_info_from_environment, "https", "h")
    assert plan.proxy_type == _proxy.SOCKS5 and plan.proxy_port == 1080
    assert (plan.user, plan.password) == (b"user", b"secret")
    # only https_proxy is set: plain http goes direct
    assert _proxy.plan_proxy(httplib2.proxy_info_from_environment, "http", "h") is None


def test_plan_without_pysocks_is_httplib2s_rule() -> None:
    info = httplib2.ProxyInfo(_proxy.HTTP, "p", 3128)
    with pytest.raises(httplib2.ProxiesUnavailableError):
        _proxy.plan_proxy(info, "http", "h", socks_module=None)
    assert _proxy.plan_proxy(info, "https", "h", socks_module=None) is None  # silently direct


def test_plan_incomplete_proxy_info_goes_direct() -> None:
    assert _proxy.plan_proxy(httplib2.ProxyInfo(_proxy.HTTP, None, 3128), "http", "h") is None


def test_needs_local_resolution() -> None:
    assert _proxy.needs_local_resolution(_plan(_proxy.SOCKS5, rdns=False), "name.test")
    assert not _proxy.needs_local_resolution(_plan(_proxy.SOCKS5, rdns=False), "10.0.0.1")
    assert not _proxy.needs_local_resolution(_plan(_proxy.SOCKS5, rdns=True), "name.test")


# ---------------------------------------------------------------- HTTP CONNECT


def test_connect_request_like_pysocks() -> None:
    plan = _plan(_proxy.HTTP, user="u", password="p")
    request = _proxy.connect_request(plan, "t.test", 443)
    assert request == (
        b"CONNECT t.test:443 HTTP/1.1\r\nHost: t.test\r\nProxy-Authorization: basic "
        + base64.b64encode(b"u:p")
        + b"\r\n\r\n"
    )
    local = _proxy.connect_request(_plan(_proxy.HTTP, rdns=False), "t.test", 80, resolved_ip="10.1.2.3")
    assert local.startswith(b"CONNECT 10.1.2.3:80 HTTP/1.1\r\nHost: t.test\r\n")


@pytest.mark.parametrize(
    "head, error, text",
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", socks.HTTPError, "407: Proxy Authentication Required"),
        (b"", socks.GeneralProxyError, "Connection closed unexpectedly"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", socks.GeneralProxyError, "invalid response"),
        (b"FTP 200 OK\r\n\r\n", socks.GeneralProxyError, "does not appear to be an HTTP proxy"),
        (b"HTTP/1.1 abc OK\r\n\r\n", socks.HTTPError, "valid HTTP status"),
    ],
)
def test_connect_failures(head: bytes, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        _run(_proxy.negotiation(_plan(_proxy.HTTP), "t.test", 80), [head])
    assert text in str(info.value)


def test_connect_success() -> None:
    sent = _run(_proxy.negotiation(_plan(_proxy.HTTP), "t.test", 80), [b"HTTP/1.0 200 Connection established\r\n\r\n"])
    assert sent[0][1] == _proxy.READ_HEAD


# ---------------------------------------------------------------- SOCKS5


def test_socks5_no_auth_domain_name_and_bound_ipv4() -> None:
    sent = _run(
        _proxy.negotiation(_plan(_proxy.SOCKS5), "t.test", 8080),
        [b"\x05\x00", b"\x05\x00\x00\x01", b"\x7f\x00\x00\x01\x1f\x90"],
    )
    assert sent[0] == (b"\x05\x01\x00", 2)
    assert sent[1] == (b"\x05\x01\x00\x03\x06t.test" + struct.pack(">H", 8080), 4)
    assert sent[2] == (b"", 6)


def test_socks5_user_password_and_bound_domain() -> None:
    sent = _run(
        _proxy.negotiation(_plan(_proxy.SOCKS5, user="us", password="pw"), "10.0.0.9", 80),
        [b"\x05\x02", b"\x01\x00", b"\x05\x00\x00\x03", b"\x04", b"host\x00\x50"],
    )
    assert sent[0][0] == b"\x05\x02\x00\x02"
    assert sent[1][0] == b"\x01\x02us\x02pw"
    assert sent[2][0] == b"\x05\x01\x00\x01" + socket.inet_aton("10.0.0.9") + b"\x00\x50"  # IP literal sent as IP
    assert sent[3] == (b"", 1) and sent[4] == (b"", 6)


def test_socks5_ipv6_literal_and_local_resolution() -> None:
    sent = _run(_proxy.negotiation(_plan(_proxy.SOCKS5), "::1", 443), [b"\x05\x00", b"\x05\x00\x00\x04", b"\0" * 18])
    assert sent[1][0] == b"\x05\x01\x00\x04" + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">H", 443)
    sent = _run(
        _proxy.negotiation(_plan(_proxy.SOCKS5, rdns=False), "t.test", 80, resolved_ip="192.0.2.7"),
        [b"\x05\x00", b"\x05\x00\x00\x01", b"\0" * 6],
    )
    assert sent[1][0] == b"\x05\x01\x00\x01" + socket.inet_aton("192.0.2.7") + b"\x00\x50"


@pytest.mark.parametrize(
    "plan_kwargs, replies, error, text",
    [
        ({}, [b"\x04\x00"], socks.GeneralProxyError, "invalid data"),
        ({}, [b"\x05\x02"], socks.SOCKS5AuthError, "No username/password supplied"),
        ({}, [b"\x05\xff"], socks.SOCKS5AuthError, "were rejected"),
        ({}, [b"\x05\x07"], socks.GeneralProxyError, "invalid data"),
        ({"user": "u", "password": "p"}, [b"\x05\x02", b"\x01\x01"], socks.SOCKS5AuthError, "authentication failed"),
        ({"user": "u", "password": "p"}, [b"\x05\x02", b"\x02\x00"], socks.GeneralProxyError, "invalid data"),
        ({}, [b"\x05\x00", b"\x05\x05\x00\x01"], socks.SOCKS5Error, "0x05: Connection refused"),
        ({}, [b"\x05\x00", b"\x05\x00\x00\x09"], socks.GeneralProxyError, "invalid data"),
    ],
)
def test_socks5_failures(plan_kwargs: dict, replies: list, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        _run(_proxy.negotiation(_plan(_proxy.SOCKS5, **plan_kwargs), "t.test", 80), replies)
    assert text in str(info.value)


# ---------------------------------------------------------------- SOCKS4


def test_socks4_ip_and_4a_name() -> None:
    sent = _run(_proxy.negotiation(_plan(_proxy.SOCKS4, user="id"), "10.0.0.1", 80), [b"\x00\x5a" + b"\0" * 6])
    assert sent[0] == (b"\x04\x01\x00\x50" + socket.inet_aton("10.0.0.1") + b"id\x00", 8)
    sent = _run(_proxy.negotiation(_plan(_proxy.SOCKS4), "t.test", 80), [b"\x00\x5a" + b"\0" * 6])
    assert sent[0][0] == b"\x04\x01\x00\x50\x00\x00\x00\x01\x00t.test\x00"
    sent = _run(
        _proxy.negotiation(_plan(_proxy.SOCKS4, rdns=False), "t.test", 80, resolved_ip="10.9.9.9"),
        [b"\x00\x5a" + b"\0" * 6],
    )
    assert sent[0][0] == b"\x04\x01\x00\x50" + socket.inet_aton("10.9.9.9") + b"\x00"


@pytest.mark.parametrize(
    "reply, error, text",
    [
        (b"\x01\x5a" + b"\0" * 6, socks.GeneralProxyError, "invalid data"),
        (b"\x00\x5b" + b"\0" * 6, socks.SOCKS4Error, "0x5b: Request rejected or failed"),
    ],
)
def test_socks4_failures(reply: bytes, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        _run(_proxy.negotiation(_plan(_proxy.SOCKS4), "10.0.0.1", 80), [reply])
    assert text in str(info.value)


def test_proxy_connection_error_wording() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    exc = _proxy.proxy_connection_error(_plan(_proxy.SOCKS5), refused)
    assert isinstance(exc, socks.ProxyConnectionError)
    assert str(exc) == "Error connecting to SOCKS5 proxy proxy.test:1080: [Errno 111] Connection refused"


# ---------------------------------------------------------------- drive_socket: the core's seam


def _socket_tunnel_request(
    kind: str,
    proxy_type: int,
    tls: bool,
    tmp_path: Any,
    user: Any = None,
    password: Any = None,
    host: str = "127.0.0.1",
) -> tuple:
    """Connect a raw non-blocking socket to a test proxy, tunnel, optionally TLS, one request."""
    import asyncio

    from tests.servers.proxies import ProxyServer
    from tests.servers.script_server import Reply, ScriptServer
    from tests.servers.tls import TlsMaterial

    material = TlsMaterial() if tls else None
    with (
        ScriptServer(
            {"/x": lambda r, s: Reply(200, [], b"through " + r.target.encode())},
            ssl_context=material.server_context() if material else None,
        ) as origin,
        ProxyServer(kind, user, password) as proxy,
    ):
        plan = _proxy.plan_proxy(
            httplib2.ProxyInfo(proxy_type, "127.0.0.1", proxy.port, True, user, password),
            "https" if tls else "http",
            host,
        )

        async def main() -> bytes:
            loop = asyncio.get_running_loop()
            sock = socket.socket()
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (plan.proxy_host, plan.proxy_port))
                extra = await _proxy.drive_socket(_proxy.negotiation(plan, host, origin.port), loop, sock)
                assert extra == b""
                context = material.client_context() if material else None
                reader = asyncio.StreamReader()
                transport, _ = await loop.create_connection(
                    lambda: asyncio.StreamReaderProtocol(reader),
                    sock=sock,
                    ssl=context,
                    server_hostname=host if context else None,
                )
                transport.write(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                data = await asyncio.wait_for(reader.read(), 5)
                transport.close()
                return data
            except BaseException:
                sock.close()
                raise

        return asyncio.run(main()), proxy.log


@pytest.mark.parametrize(
    "kind, proxy_type", [("http", _proxy.HTTP), ("socks4", _proxy.SOCKS4), ("socks5", _proxy.SOCKS5)]
)
@pytest.mark.parametrize("tls", [False, True])
def test_drive_socket_tunnel_then_tls(kind: str, proxy_type: int, tls: bool, tmp_path: Any) -> None:
    data, log = _socket_tunnel_request(kind, proxy_type, tls, tmp_path)
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"through /x")
    assert len(log) == 1 and log[0]["kind"] == kind


def test_drive_socket_socks5_auth_and_name(tmp_path: Any) -> None:
    data, log = _socket_tunnel_request("socks5", _proxy.SOCKS5, False, tmp_path, "su", "sp", host="localhost")
    assert data.endswith(b"through /x")
    assert log[0]["user"] == "su" and log[0]["atyp"] == 3  # the name went to the proxy


def test_drive_socket_failure_is_wrapped_like_pysocks(tmp_path: Any) -> None:
    with pytest.raises(socks.GeneralProxyError) as info:
        _socket_tunnel_request("http", _proxy.HTTP, False, tmp_path, "pu", "wrong-but-required", host="blocked.invalid")
    assert isinstance(info.value.socket_err, socks.HTTPError)
    assert str(info.value) == "Socket error: 403: Forbidden"
