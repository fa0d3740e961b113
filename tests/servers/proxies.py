"""Proxy servers written for the tests: HTTP CONNECT, SOCKS4/4a and SOCKS5, on 127.0.0.1.

Each relays a tunnel to a *loopback* target only (127.0.0.1, or "localhost" which it
maps to 127.0.0.1 itself, with no DNS); anything else is refused, so no test traffic
can leave the machine.  Every handshake is logged (type, target, credentials seen)
so the compatibility table can compare what httplib2 (through PySocks) and asynchttp
told the proxy.  Bounded: a lifetime, socket timeouts, and ``stop()`` joins.
"""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time
from typing import Optional

LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}


class ProxyServer:
    def __init__(
        self, kind: str, user: Optional[str] = None, password: Optional[str] = None, lifetime: float = 60.0
    ) -> None:
        assert kind in ("http", "socks4", "socks5")
        self.kind = kind
        self.user = user
        self.password = password
        self.log: list[dict] = []
        self.lifetime = lifetime
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="compat-proxy", daemon=True)

    def __enter__(self) -> "ProxyServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:  # wake the accept() so the stop is seen at once
            socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
        except OSError:
            pass
        self._thread.join(5)
        for s in list(self._socks):
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        self._sock.close()

    def _accept(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._stop.is_set():
                conn.close()
                return
            conn.settimeout(5.0)
            self._socks.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name="compat-proxy-conn", daemon=True)
            self._threads.append(t)
            t.start()

    def _recv_exact(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _recv_until(self, conn: socket.socket, end: bytes) -> bytes:
        data = b""
        while not data.endswith(end):
            chunk = conn.recv(1)
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
            if len(data) > 65536:
                raise ConnectionError("too long")
        return data

    def _serve(self, conn: socket.socket) -> None:
        try:
            target = getattr(self, "_handshake_" + self.kind)(conn)
            if target is None:
                return
            upstream = socket.create_connection(target, timeout=5.0)
            self._socks.append(upstream)
            self._relay(conn, upstream)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while not self._stop.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        other = threading.Thread(target=pump, args=(b, a), name="compat-proxy-pump", daemon=True)
        self._threads.append(other)
        other.start()
        pump(a, b)
        other.join(5)
        b.close()

    def _record(self, **entry: object) -> None:
        self.log.append(entry)

    def _handshake_http(self, conn: socket.socket):
        head = self._recv_until(conn, b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        auth = headers.get("proxy-authorization")
        self._record(kind="http", method=method, target=target, host=headers.get("host"), auth=auth)
        if self.user is not None:
            expected = base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
            if auth is None or auth.split(" ", 1)[-1] != expected:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return None
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host not in LOOPBACK:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return None
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return LOOPBACK[host], int(port)

    def _handshake_socks4(self, conn: socket.socket):
        version, command, port = struct.unpack(">BBH", self._recv_exact(conn, 4))
        address = self._recv_exact(conn, 4)
        userid = self._recv_until(conn, b"\x00")[:-1].decode()
        host = socket.inet_ntoa(address)
        if address[:3] == b"\x00\x00\x00" and address[3] != 0:
            host = self._recv_until(conn, b"\x00")[:-1].decode()  # SOCKS4a
        self._record(kind="socks4", target="%s:%d" % (host, port), user=userid)
        if version != 4 or command != 1 or host not in LOOPBACK or (self.user is not None and userid != self.user):
            conn.sendall(b"\x00\x5b" + b"\x00" * 6)
            return None
        conn.sendall(b"\x00\x5a" + struct.pack(">H", port) + socket.inet_aton("127.0.0.1"))
        return LOOPBACK[host], port

    def _handshake_socks5(self, conn: socket.socket):
        version, count = self._recv_exact(conn, 2)
        methods = self._recv_exact(conn, count)
        user = None
        if self.user is not None:
            if 2 not in methods:
                # log before answering: the client may observe the log as soon as it has the answer
                self._record(kind="socks5", offered=list(methods), target=None, user=None)
                conn.sendall(b"\x05\xff")
                return None
            conn.sendall(b"\x05\x02")
            _ver, ulen = self._recv_exact(conn, 2)
            user = self._recv_exact(conn, ulen).decode()
            (plen,) = self._recv_exact(conn, 1)
            password = self._recv_exact(conn, plen).decode()
            if (user, password) != (self.user, self.password):
                self._record(kind="socks5", offered=list(methods), target=None, user=user)
                conn.sendall(b"\x01\x01")
                return None
            conn.sendall(b"\x01\x00")
        else:
            conn.sendall(b"\x05\x00")
        _v, command, _r, kind = self._recv_exact(conn, 4)
        if kind == 1:
            host = socket.inet_ntoa(self._recv_exact(conn, 4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, self._recv_exact(conn, 16))
        else:
            (length,) = self._recv_exact(conn, 1)
            host = self._recv_exact(conn, length).decode()
        (port,) = struct.unpack(">H", self._recv_exact(conn, 2))
        self._record(kind="socks5", offered=list(methods), target="%s:%d" % (host, port), atyp=kind, user=user)
        if command != 1 or host not in LOOPBACK:
            conn.sendall(b"\x05\x02\x00\x01" + b"\x00" * 6)  # connection not allowed by ruleset
            return None
        conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", port))
        return LOOPBACK[host], port
