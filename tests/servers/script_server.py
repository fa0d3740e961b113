"""A scripted HTTP/1.1 server on 127.0.0.1 for the compatibility table.

Each path is answered by a handler function ``handler(request, state) -> Reply``.
A Reply either describes a normal response (status, headers, body) or a
misbehaviour (close without answering, send raw bytes, answer late), which is
what the retry, timeout and error scenarios need.  Every request is logged so
a scenario can compare what the server *received* from each client.

Bounded by construction: the server stops itself after ``lifetime`` seconds or
``max_requests`` requests, sockets have timeouts, and ``stop()`` joins.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names; repeats joined with ", "
    body: bytes
    connection_index: int  # how many requests this connection carried before
    peer_subject: Optional[str] = None  # TLS client certificate's commonName / first subject part
    raw: bytes = b""  # the request exactly as received: head, blank line, body with its framing


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: Optional[str] = None
    raw: Optional[bytes] = None  # sent verbatim instead of a built response
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # seconds to wait before answering
    close: bool = False  # close after answering
    chunked: bool = False  # send the body with chunked framing
    no_length: bool = False  # neither Content-Length nor chunked: delimited by close
    hangup: bool = False  # close after answering without saying so: the client's pooled connection goes stale


Handler = Callable[[Request, dict], Reply]

REASONS = {
    200: "OK",
    201: "Created",
    203: "Non-Authoritative Information",
    204: "No Content",
    206: "Partial Content",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    412: "Precondition Failed",
    500: "Internal Server Error",
}


class ScriptServer:
    def __init__(
        self,
        routes: dict[str, Handler],
        lifetime: float = 60.0,
        max_requests: int = 5000,
        ssl_context: Optional[ssl.SSLContext] = None,
        read_timeout: float = 5.0,
    ) -> None:
        self.routes = routes
        self.read_timeout = read_timeout
        self.ssl_context = ssl_context
        self.state: dict = {}
        self.log: list[Request] = []
        self.lifetime = lifetime
        self.max_requests = max_requests
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self.base = "%s://127.0.0.1:%d" % ("https" if ssl_context else "http", self.port)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed_count = 0
        self._closed_cond = threading.Condition(self._lock)
        self._accept_thread = threading.Thread(target=self._accept_loop, name="compat-server", daemon=True)

    def __enter__(self) -> "ScriptServer":
        self._accept_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        _wake(self.port)
        self._accept_thread.join(5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        self._sock.close()

    def _accept_loop(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stopping.is_set() and time.monotonic() < deadline and len(self.log) < self.max_requests:
            try:
                conn, _addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self._stopping.is_set():
                conn.close()
                break
            conn.settimeout(self.read_timeout)
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve_connection, args=(conn,), name="compat-conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve_connection(self, conn: socket.socket) -> None:
        buf = b""
        index = 0
        try:
            if self.ssl_context is not None:
                try:
                    conn = self.ssl_context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate (or we refused it)
            while not self._stopping.is_set() and index < 1000:
                request, buf = self._read_request(conn, buf, index)
                if request is None:
                    return
                with self._lock:
                    self.log.append(request)
                handler = self.routes.get(request.path)
                if handler is None:
                    reply = Reply(404, [("Content-Type", "text/plain")], b"no route " + request.path.encode())
                else:
                    reply = handler(request, self.state)
                if reply.delay:
                    # wait in small steps so stop() is never held up for long
                    end = time.monotonic() + reply.delay
                    while time.monotonic() < end and not self._stopping.is_set():
                        time.sleep(0.01)
                if reply.drop:
                    return
                conn.sendall(reply.raw if reply.raw is not None else self._build(request, reply))
                index += 1
                if reply.hangup:
                    return
                if (
                    reply.close
                    or reply.raw is not None
                    or reply.no_length
                    or request.headers.get("connection", "").lower() == "close"
                ):
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self._closed_cond:
                self._closed_count += 1
                self._closed_cond.notify_all()

    def wait_closed(self, count: int, timeout: float = 5.0) -> bool:
        """Block until the server has closed ``count`` connections (or the timeout)."""
        with self._closed_cond:
            return self._closed_cond.wait_for(lambda: self._closed_count >= count, timeout)

    def _read_request(self, conn: socket.socket, buf: bytes, index: int) -> tuple[Optional[Request], bytes]:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buf += data
            if len(buf) > 1 << 20:
                return None, b""
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        if getattr(self.routes.get(target.partition("?")[0]), "stall", False):
            # never read the body: the client's writes fill the socket buffers and block
            self._stopping.wait(self.lifetime)
            return None, b""
        body = b""
        raw = head + b"\r\n\r\n"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                while b"\r\n" not in buf:
                    buf += conn.recv(65536)
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += conn.recv(65536)
                body += buf[:size]
                raw += size_line + b"\r\n" + buf[: size + 2]
                buf = buf[size + 2 :]
                if size == 0:
                    break
        else:
            length = int(headers.get("content-length", "0") or 0)
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return None, b""
                buf += data
            body, buf = buf[:length], buf[length:]
            raw += body
        path, _, query = target.partition("?")
        peer = None
        if isinstance(conn, ssl.SSLSocket):
            cert = conn.getpeercert()
            if cert:
                peer = ",".join("%s=%s" % pair for rdn in cert.get("subject", ()) for pair in rdn) or "<no subject>"
        return Request(method, target, path, query, headers, body, index, peer, raw), buf

    def _build(self, request: Request, reply: Reply) -> bytes:
        reason = reply.reason if reply.reason is not None else REASONS.get(reply.status, "Whatever")
        lines = ["HTTP/1.1 %d %s" % (reply.status, reason)]
        names = {name.lower() for name, _ in reply.headers}
        lines.extend("%s: %s" % (name, value.replace("{port}", str(self.port))) for name, value in reply.headers)
        if "date" not in names:
            lines.append("Date: %s" % http_date(time.time()))
        bodyless = request.method == "HEAD" or reply.status in (204, 304) or 100 <= reply.status < 200
        body = reply.body
        if reply.chunked:
            lines.append("Transfer-Encoding: chunked")
            if body:
                body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            else:
                body = b"0\r\n\r\n"
        elif reply.no_length:
            lines.append("Connection: close")
        elif "content-length" not in names and reply.status not in (204, 304):
            lines.append("Content-Length: %d" % len(body))
        if reply.close and not reply.no_length:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if bodyless else head + body


def _wake(port: int) -> None:
    """Connect once so a thread blocked in accept() sees the stop flag at once."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        pass


def http_date(when: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))
