"""A test-only ``send_once`` so asynchttp._semantics can be checked on its own.

The product's ``send_once`` lives in the facade (asynchttp/_wire.py, the client
room's method) over the core pool.  This one is deliberately plain -- one asyncio connection per
request -- and exists so the compatibility table can run the
httplib2 policy layer over real sockets even before (and independently of) the
facade: a difference seen here is a difference in _semantics, not in the
transport.  It honours ``http.timeout`` per connect/read, as httplib2's socket
timeout does, and maps failures to the classes httplib2 raises.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from http import client as http_client
from typing import Any, Optional

import httplib2

from asynchttp import _httplib2, _proxy
from asynchttp._semantics import run_httplib2_request


async def _with_timeout(aw: Any, timeout: Optional[float]) -> Any:
    if timeout is None:
        return await aw
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise socket.timeout("timed out") from None


def _tls_context(http: Any, authority: str) -> ssl.SSLContext:
    # httplib2's own context builder, with the first client certificate for this authority
    certs = list(http.certificates.iter(authority))
    key_file, cert_file, password = certs[0] if certs else (None, None, None)
    return _httplib2.build_ssl_context(
        http.disable_ssl_certificate_validation,
        http.ca_certs if http.ca_certs else httplib2.CA_CERTS,
        cert_file,
        key_file,
        maximum_version=http.tls_maximum_version,
        minimum_version=http.tls_minimum_version,
        key_password=password,
    )


async def _connect_raw(host: str, port: int, timeout: Optional[float]) -> socket.socket:
    loop = asyncio.get_running_loop()
    infos = await _with_timeout(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    family, type_, proto, _, address = infos[0]
    sock = socket.socket(family, type_, proto)
    sock.setblocking(False)
    try:
        await _with_timeout(loop.sock_connect(sock, address), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


async def _through_proxy(plan: Any, host: str, port: int, context: Any, timeout: Optional[float]) -> Any:
    # asynchttp._proxy's plan and handshake, driven by the product's socket driver
    loop = asyncio.get_running_loop()
    try:
        sock = await _connect_raw(plan.proxy_host, plan.proxy_port, timeout)
    except ConnectionRefusedError as exc:
        raise _proxy.proxy_connection_error(plan, ConnectionRefusedError(111, "Connection refused")) from exc
    except OSError as exc:
        raise _proxy.proxy_connection_error(plan, exc) from exc
    try:
        resolved = None
        if _proxy.needs_local_resolution(plan, host):
            infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
            resolved = infos[0][4][0]
        extra = await _with_timeout(
            _proxy.drive_socket(_proxy.negotiation(plan, host, port, resolved), loop, sock), timeout
        )
        if extra:
            raise ConnectionError("the test proxy sent bytes after its handshake")
        return await _with_timeout(
            asyncio.open_connection(sock=sock, ssl=context, server_hostname=host if context else None), timeout
        )
    except BaseException:
        sock.close()
        raise


def make_send_once(http: Any):
    async def send_once(
        scheme: str, authority: str, request_uri: str, method: str, body: Optional[bytes], headers: dict
    ) -> tuple[httplib2.Response, bytes]:
        host, _, port = authority.rpartition(":")
        if not host:
            host, port = authority, "443" if scheme == "https" else "80"
        timeout = http.timeout
        context = _tls_context(http, authority) if scheme == "https" else None
        plan = _proxy.plan_proxy(http.proxy_info, scheme, host)
        try:
            if plan is None:
                reader, writer = await _with_timeout(
                    asyncio.open_connection(host, int(port), ssl=context, server_hostname=host if context else None),
                    timeout,
                )
            else:
                reader, writer = await _through_proxy(plan, host, int(port), context, timeout)
        except ConnectionRefusedError:
            # asyncio words it differently; http.client/socket say this
            raise ConnectionRefusedError(111, "Connection refused") from None
        except socket.gaierror:
            raise httplib2.ServerNotFoundError("Unable to find the server at %s" % host) from None
        try:
            lines = ["%s %s HTTP/1.1" % (method, request_uri), "Host: %s" % authority]
            names = set()
            for name, value in headers.items():
                lines.append("%s: %s" % (name, value))
                names.add(name.lower())
            if body is not None and "content-length" not in names:
                lines.append("Content-Length: %d" % len(body))
            elif body is None and method in ("POST", "PUT", "PATCH") and "content-length" not in names:
                lines.append("Content-Length: 0")  # http.client's rule
            if "accept-encoding" not in names:
                lines.append("Accept-Encoding: identity")  # http.client's rule
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
            await _with_timeout(writer.drain(), timeout)
            status_line = await _with_timeout(reader.readline(), timeout)
            if not status_line:
                raise http_client.RemoteDisconnected("Remote end closed connection without response")
            try:
                version, status, reason = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
                code = int(status)
            except ValueError:
                raise http_client.BadStatusLine(status_line.decode("latin-1")) from None
            pairs = []
            while True:
                line = await _with_timeout(reader.readline(), timeout)
                if line in (b"\r\n", b"\n", b""):
                    break
                text = line.decode("latin-1")
                if text[:1] in (" ", "\t") and pairs:  # obs-fold: continues the previous value
                    pairs[-1] = (pairs[-1][0], pairs[-1][1] + " " + text.strip())
                    continue
                name, _, value = text.partition(":")
                pairs.append((name.strip().lower(), value.strip()))
            response = httplib2.Response({})
            for name, value in pairs:
                response[name] = response[name] + ", " + value if name in response else value
            response.status = code
            response["status"] = str(code)
            response.reason = reason
            response.version = 10 if version == "HTTP/1.0" else 11
            content = b""
            if method != "HEAD" and code not in (204, 304):
                if "chunked" in response.get("transfer-encoding", ""):
                    parts = []
                    while True:
                        size = int((await _with_timeout(reader.readline(), timeout)).split(b";")[0], 16)
                        if size == 0:
                            await _with_timeout(reader.readline(), timeout)
                            break
                        parts.append(await _with_timeout(reader.readexactly(size + 2), timeout))
                    content = b"".join(part[:-2] for part in parts)
                elif "content-length" in response:
                    try:
                        content = await _with_timeout(reader.readexactly(int(response["content-length"])), timeout)
                    except asyncio.IncompleteReadError as exc:
                        raise http_client.IncompleteRead(exc.partial, exc.expected - len(exc.partial)) from None
                else:
                    content = await _with_timeout(reader.read(), timeout)
            return response, content
        finally:
            writer.close()

    return send_once


class SemanticsHttp:
    """httplib2.Http's attributes and methods, requests run by asynchttp._semantics over the test transport."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # a real httplib2.Http supplies the 20 attributes with httplib2's defaults;
        # its own request() is never called
        object.__setattr__(self, "_inner", httplib2.Http(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        redirections: int = httplib2.DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
    ):
        http = self._inner
        return asyncio.run(
            run_httplib2_request(http, make_send_once(http), uri, method, body, headers, redirections, connection_type)
        )
