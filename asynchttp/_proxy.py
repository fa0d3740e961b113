"""Proxy policy: which proxy (if any) a request goes through, and the proxy handshakes.

httplib2 hands every proxy to PySocks: ``ProxyInfo.proxy_type`` SOCKS4 (1),
SOCKS5 (2) or HTTP (3), where HTTP always means a CONNECT tunnel, even for
``http://`` targets; the request inside the tunnel is then written in origin
form, exactly as without a proxy.  This module keeps those decisions and
wire formats, without I/O:

* :func:`plan_proxy` decides "direct or which proxy" from ``Http.proxy_info`` (a
  ``ProxyInfo``, a callable taking ``"http"``/``"https"``, or None) the way
  httplib2's connection classes do, including ``no_proxy`` bypass and
  ``ProxiesUnavailableError`` when PySocks is missing;
* :func:`negotiation` returns the handshake for a plan as a generator that
  yields ``(bytes_to_send, how_much_to_read)`` and is sent the bytes read, so
  any transport (the core's connection, asyncio streams) can drive it;
  failures raise PySocks's exception classes, the ones httplib2 users catch.

:func:`drive_socket` runs a negotiation on a raw non-blocking socket (the core's
connect step, before TLS) and wraps failures as PySocks does
(``GeneralProxyError("Socket error", inner)``); it is the only driver.
"""

from __future__ import annotations

import base64
import ipaddress
import struct
from types import ModuleType
from typing import Any, Generator, NamedTuple, Optional, Union

import httplib2

_socks: Optional[ModuleType]
try:  # PySocks: its exception classes are what httplib2 users catch
    import socks as _socks
except ImportError:  # pragma: no cover - PySocks is installed in this project
    _socks = None

__all__ = [
    "SOCKS4",
    "SOCKS5",
    "HTTP",
    "READ_HEAD",
    "ProxyPlan",
    "plan_proxy",
    "needs_local_resolution",
    "negotiation",
    "proxy_connection_error",
    "drive_socket",
]

SOCKS4, SOCKS5, HTTP = 1, 2, 3  # PySocks' PROXY_TYPE_* values, which ProxyInfo carries
_PRINTABLE = {SOCKS4: "SOCKS4", SOCKS5: "SOCKS5", HTTP: "HTTP"}

# the "how much to read" a negotiation asks for when it wants a whole response head
READ_HEAD = -1
# a proxy that never ends its head must not make us buffer forever
MAX_PROXY_HEAD = 16384

Step = tuple[bytes, int]
Negotiation = Generator[Step, bytes, None]


class _FallbackErrors:  # pragma: no cover - same names and bases as PySocks, for a tree without it
    class ProxyError(IOError):
        def __init__(self, msg: str, socket_err: Optional[BaseException] = None) -> None:
            self.msg = msg
            self.socket_err = socket_err
            if socket_err:
                self.msg += ": {}".format(socket_err)

        def __str__(self) -> str:
            return self.msg

    class GeneralProxyError(ProxyError):
        pass

    class ProxyConnectionError(ProxyError):
        pass

    class SOCKS5AuthError(ProxyError):
        pass

    class SOCKS5Error(ProxyError):
        pass

    class SOCKS4Error(ProxyError):
        pass

    class HTTPError(ProxyError):
        pass

    SOCKS4_ERRORS = {0x5B: "Request rejected or failed"}
    SOCKS5_ERRORS = {0x01: "General SOCKS server failure"}


_errors: Any = _socks if _socks is not None else _FallbackErrors
ProxyError: type[OSError] = _errors.ProxyError
GeneralProxyError: type[OSError] = _errors.GeneralProxyError
ProxyConnectionError: type[OSError] = _errors.ProxyConnectionError
SOCKS5AuthError: type[OSError] = _errors.SOCKS5AuthError
SOCKS5Error: type[OSError] = _errors.SOCKS5Error
SOCKS4Error: type[OSError] = _errors.SOCKS4Error
HTTPError: type[OSError] = _errors.HTTPError
SOCKS4_ERRORS: dict[int, str] = _errors.SOCKS4_ERRORS
SOCKS5_ERRORS: dict[int, str] = _errors.SOCKS5_ERRORS


class ProxyPlan(NamedTuple):
    proxy_type: int  # SOCKS4, SOCKS5 or HTTP (a CONNECT tunnel)
    proxy_host: str
    proxy_port: int
    rdns: bool  # send the host name to the proxy rather than resolving it here
    user: Optional[bytes]
    password: Optional[bytes]

    def __repr__(self) -> str:  # never show the password
        return "ProxyPlan(%s %s:%s rdns=%s user=%r)" % (
            _PRINTABLE.get(self.proxy_type, self.proxy_type),
            self.proxy_host,
            self.proxy_port,
            self.rdns,
            self.user,
        )


def _resolve_proxy_info(proxy_info: Any, scheme: str) -> Optional[httplib2.ProxyInfo]:
    # httplib2 calls a non-ProxyInfo value with the connection's scheme: "http"
    # for HTTPConnectionWithTimeout (any http:// URI, even on port 443), "https" else
    if proxy_info and not isinstance(proxy_info, httplib2.ProxyInfo):
        return proxy_info("https" if scheme == "https" else "http")
    return proxy_info or None


def plan_proxy(proxy_info: Any, scheme: str, host: str, socks_module: Any = _socks) -> Optional[ProxyPlan]:
    """Direct (None) or the proxy to use for ``scheme://host``, as httplib2 decides.

    Read when httplib2 reads it: once per new connection (per ``scheme:authority``).
    Without PySocks, httplib2 refuses plain-HTTP requests that have a proxy
    (``ProxiesUnavailableError``) and silently sends HTTPS ones direct;
    ``socks_module`` lets a transport that speaks the protocols itself decide.
    """
    info = _resolve_proxy_info(proxy_info, scheme)
    if scheme != "https" and info and socks_module is None:
        raise httplib2.ProxiesUnavailableError("Proxy support missing but proxy use was requested!")
    if not info or not (socks_module and info.proxy_host is not None and info.proxy_port is not None):
        return None  # ProxyInfo.isgood(), with the module under test
    if not info.applies_to(host):
        return None  # no_proxy / bypass_hosts
    if info.proxy_type not in _PRINTABLE:
        raise GeneralProxyError("Unknown proxy type %r" % (info.proxy_type,))
    # PySocks encodes str credentials as UTF-8 bytes; ProxyInfo already decoded bytes ones
    user = info.proxy_user.encode() if info.proxy_user else None
    password = info.proxy_pass.encode() if info.proxy_pass else None
    return ProxyPlan(info.proxy_type, info.proxy_host, int(info.proxy_port), bool(info.proxy_rdns), user, password)


def _ip_literal(host: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def needs_local_resolution(plan: ProxyPlan, host: str) -> bool:
    """Must the client resolve ``host`` itself before the handshake?

    When ``rdns`` is off and ``host`` is a name, for every proxy type: PySocks
    then sends the address it resolved locally (in CONNECT's target too).
    """
    if _ip_literal(host) is not None:
        return False
    return not plan.rdns


def proxy_connection_error(plan: ProxyPlan, error: BaseException) -> BaseException:
    """The error PySocks raises when the TCP connection to the proxy itself fails."""
    where = "{}:{}".format(plan.proxy_host, plan.proxy_port)
    return ProxyConnectionError("Error connecting to {} proxy {}".format(_PRINTABLE[plan.proxy_type], where), error)


def negotiation(plan: ProxyPlan, host: str, port: int, resolved_ip: Optional[str] = None) -> Negotiation:
    """The handshake that turns a connection to the proxy into a tunnel to ``host:port``.

    ``resolved_ip`` is required when :func:`needs_local_resolution` says so.
    """
    if plan.proxy_type == HTTP:
        return _http_connect(plan, host, port, resolved_ip)
    if plan.proxy_type == SOCKS5:
        return _socks5(plan, host, port, resolved_ip)
    return _socks4(plan, host, port, resolved_ip)


def connect_request(plan: ProxyPlan, host: str, port: int, resolved_ip: Optional[str] = None) -> bytes:
    """The CONNECT request PySocks writes (so proxies see what they saw from httplib2).

    The target is the name unless rdns is off; Host is the bare name; credentials
    go in ``Proxy-Authorization: basic`` only when both user and password are set.
    """
    target = host if plan.rdns or resolved_ip is None else resolved_ip
    lines = [
        b"CONNECT " + target.encode("idna") + b":" + str(port).encode() + b" HTTP/1.1",
        b"Host: " + host.encode("idna"),
    ]
    if plan.user and plan.password:
        lines.append(b"Proxy-Authorization: basic " + base64.b64encode(plan.user + b":" + plan.password))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _http_connect(plan: ProxyPlan, host: str, port: int, resolved_ip: Optional[str]) -> Negotiation:
    head = yield connect_request(plan, host, port, resolved_ip), READ_HEAD
    status_line = head.split(b"\r\n", 1)[0].decode("iso-8859-1")
    if not status_line:
        raise GeneralProxyError("Connection closed unexpectedly")
    try:
        proto, status_code, status_msg = status_line.split(" ", 2)
    except ValueError:
        raise GeneralProxyError("HTTP proxy server sent invalid response") from None
    if not proto.startswith("HTTP/"):
        raise GeneralProxyError("Proxy server does not appear to be an HTTP proxy")
    try:
        code = int(status_code)
    except ValueError:
        raise HTTPError("HTTP proxy server did not return a valid HTTP status") from None
    if code != 200:
        raise HTTPError("{}: {}".format(code, status_msg))


def _socks5_address(host: str, port: int, rdns: bool, resolved_ip: Optional[str]) -> bytes:
    literal = _ip_literal(host)
    if literal is None and not rdns:
        if resolved_ip is None:
            raise ValueError("SOCKS5 without rdns needs the host resolved first")
        literal = ipaddress.ip_address(resolved_ip)
    if literal is not None:
        kind = b"\x01" if literal.version == 4 else b"\x04"
        return kind + literal.packed + struct.pack(">H", port)
    name = host.encode("idna")
    if len(name) > 255:
        raise GeneralProxyError("host name too long for SOCKS5")
    return b"\x03" + bytes([len(name)]) + name + struct.pack(">H", port)


def _socks5(plan: ProxyPlan, host: str, port: int, resolved_ip: Optional[str]) -> Negotiation:
    with_auth = bool(plan.user and plan.password)
    chosen = yield (b"\x05\x02\x00\x02" if with_auth else b"\x05\x01\x00"), 2
    if chosen[0:1] != b"\x05":
        raise GeneralProxyError("SOCKS5 proxy server sent invalid data")
    if chosen[1:2] == b"\x02":
        if not with_auth:
            raise SOCKS5AuthError("No username/password supplied. Server requested username/password authentication")
        assert plan.user is not None and plan.password is not None
        status = yield (b"\x01" + bytes([len(plan.user)]) + plan.user + bytes([len(plan.password)]) + plan.password), 2
        if status[0:1] != b"\x01":
            raise GeneralProxyError("SOCKS5 proxy server sent invalid data")
        if status[1:2] != b"\x00":
            raise SOCKS5AuthError("SOCKS5 authentication failed")
    elif chosen[1:2] != b"\x00":
        if chosen[1:2] == b"\xff":
            raise SOCKS5AuthError("All offered SOCKS5 authentication methods were rejected")
        raise GeneralProxyError("SOCKS5 proxy server sent invalid data")
    reply = yield b"\x05\x01\x00" + _socks5_address(host, port, plan.rdns, resolved_ip), 4
    if reply[0:1] != b"\x05":
        raise GeneralProxyError("SOCKS5 proxy server sent invalid data")
    if reply[1] != 0x00:
        raise SOCKS5Error("{:#04x}: {}".format(reply[1], SOCKS5_ERRORS.get(reply[1], "Unknown error")))
    # the bound address follows; its length depends on its type
    kind = reply[3:4]
    if kind == b"\x01":
        yield b"", 4 + 2
    elif kind == b"\x04":
        yield b"", 16 + 2
    elif kind == b"\x03":
        length = yield b"", 1
        yield b"", length[0] + 2
    else:
        raise GeneralProxyError("SOCKS5 proxy server sent invalid data")


def _socks4(plan: ProxyPlan, host: str, port: int, resolved_ip: Optional[str]) -> Negotiation:
    literal = _ip_literal(host)
    remote_resolve = False
    if literal is not None and literal.version == 4:
        address = literal.packed
    elif plan.rdns:
        address = b"\x00\x00\x00\x01"  # SOCKS4a: the proxy resolves the name sent after the user id
        remote_resolve = True
    else:
        if resolved_ip is None:
            raise ValueError("SOCKS4 without rdns needs the host resolved first")
        address = ipaddress.IPv4Address(resolved_ip).packed
    request = struct.pack(">BBH", 0x04, 0x01, port) + address + (plan.user or b"") + b"\x00"
    if remote_resolve:
        request += host.encode("idna") + b"\x00"
    reply = yield request, 8
    if reply[0:1] != b"\x00":
        raise GeneralProxyError("SOCKS4 proxy server sent invalid data")
    if reply[1] != 0x5A:
        raise SOCKS4Error("{:#04x}: {}".format(reply[1], SOCKS4_ERRORS.get(reply[1], "Unknown error")))


async def drive_socket(negotiation_: Negotiation, loop: Any, sock: Any, max_head: int = MAX_PROXY_HEAD) -> bytes:
    """Run a negotiation on a connected non-blocking socket (the core's seam).

    For the core's connect step: connect ``sock`` to the proxy instead of the
    origin, ``await drive_socket(negotiation(plan, host, port), loop, sock)``,
    then hand ``sock`` to ``loop.create_connection(sock=..., ssl=...,
    server_hostname=host)`` exactly as for a direct connection.  Reads only what
    the handshake needs, except that a proxy may send bytes after its CONNECT
    head: those are returned and must be fed to the connection first (a
    well-behaved proxy sends none).

    Every failure surfaces as PySocks surfaces it through httplib2:
    ``GeneralProxyError("Socket error", inner)``, where ``inner`` is the specific
    error (``HTTPError("407: ...")``, ``SOCKS5AuthError``, a reset...): PySocks'
    own errors are OSErrors, and its connect() wraps every OSError that way.
    """
    buffer = bytearray()

    async def read_exactly(n: int) -> bytes:
        while len(buffer) < n:
            chunk = await loop.sock_recv(sock, max(n - len(buffer), 1))
            if not chunk:
                raise ConnectionError("connection closed during the proxy handshake")
            buffer.extend(chunk)
        data = bytes(buffer[:n])
        del buffer[:n]
        return data

    async def read_head() -> bytes:
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                if end + 4 > max_head:
                    raise GeneralProxyError("HTTP proxy response head too long")
                data = bytes(buffer[: end + 4])
                del buffer[: end + 4]
                return data
            if len(buffer) > max_head:
                raise GeneralProxyError("HTTP proxy response head too long")
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                data = bytes(buffer)
                buffer.clear()
                return data  # the negotiation reports a short or empty answer
            buffer.extend(chunk)

    try:
        to_send, need = next(negotiation_)
        while True:
            if to_send:
                await loop.sock_sendall(sock, to_send)
            data = await (read_head() if need == READ_HEAD else read_exactly(need))
            try:
                to_send, need = negotiation_.send(data)
            except StopIteration:
                return bytes(buffer)
    except OSError as exc:  # ProxyError included
        raise GeneralProxyError("Socket error", exc) from exc
