"""A flaky HTTP/1.1 server: scripted answers per path and arrival, for retry tests.

Real sockets on 127.0.0.1 (TLS optional), one thread per connection, keep-alive.
What it does is scripted two ways:

* before ``start()`` the port is bound but not listening: connections are refused;
* per new connection, in order (``connections=[...]``): ``"serve"`` (the default
  once the list is used up), ``"reset"`` (a TCP reset before reading anything: for
  TLS, before the handshake, so the client knows nothing was sent), or ``"close"``
  (a plain close before reading);
* per request, by path and arrival number on that path (``script={"/p": [...]}``):
  :func:`answer` (a status, headers, body), :func:`reset_after` (the whole request
  is read and recorded, then the connection is reset: the server saw it, the client
  gets no answer). Past the end of a path's list, its last entry repeats; a path
  without a script answers ``200`` with the path as body.

Every request read is recorded whole (``requests``: raw head and body bytes, path,
method, arrival time); ``arrivals_per_window()`` counts arrivals in sliding windows.
``stop()`` closes every socket and joins every thread.

    with FlakyServer(script={"/x": [answer(503, {"Retry-After": "1"}), answer(200)]}) as srv:
        ... srv.url("/x") ... srv.count("/x") ... srv.requests[0].raw ...
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

from . import leaks

__all__ = ["FlakyServer", "Arrival", "answer", "reset_after", "Answer", "ResetAfter"]

_OP_TIMEOUT = 10.0
_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None  # None: the path
    delay: float = 0.0  # seconds to wait before answering


@dataclass(frozen=True)
class ResetAfter:
    """Read the request, record it, then reset the connection (no answer)."""


Step = Union[Answer, ResetAfter]


def answer(
    status: int = 200, headers: Optional[Mapping[str, str]] = None, body: Optional[bytes] = None, delay: float = 0.0
) -> Answer:
    return Answer(status, dict(headers or {}), body, delay)


def reset_after() -> ResetAfter:
    return ResetAfter()


@dataclass(frozen=True)
class Arrival:
    """One request as the server read it."""

    method: str
    path: str
    head: bytes
    body: bytes
    time: float  # time.monotonic() when its head was complete
    connection: int  # index of the connection it came on

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    def header(self, name: str) -> Optional[str]:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode("latin-1"):
                return value.strip().decode("latin-1")
        return None


_REASONS = {200: "OK", 201: "Created", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
_REASONS.update({503: "Service Unavailable", 504: "Gateway Timeout", 404: "Not Found", 301: "Moved Permanently"})


class FlakyServer:
    def __init__(
        self,
        script: Optional[Mapping[str, Sequence[Step]]] = None,
        connections: Sequence[str] = (),
        ssl_context: Optional[ssl.SSLContext] = None,
        host: str = "127.0.0.1",
    ) -> None:
        for kind in connections:
            if kind not in ("serve", "reset", "close"):
                raise ValueError("unknown connection action %r" % (kind,))
        self.script = {path: list(steps) for path, steps in (script or {}).items()}
        self.connection_plan = list(connections)
        self.ssl_context = ssl_context
        self.host = host
        self.requests: list[Arrival] = []
        self.connections = 0  # accepted
        self.resets_before = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound now (its port is known), listening from start(): until then a
        # connection to it is refused.
        self._listener.bind((host, 0))
        self.port = self._listener.getsockname()[1]
        self.scheme = "https" if ssl_context is not None else "http"

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "FlakyServer":
        self._listener.listen(128)
        leaks.register(self)
        thread = threading.Thread(target=self._accept_loop, name="asynchttp-test-flaky-accept", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(_OP_TIMEOUT)
        leaks.unregister(self)

    def __enter__(self) -> "FlakyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def leak_ignore_ports(self) -> list[int]:
        return [self.port]

    def leak_ignore_fds(self) -> list[int]:
        return []

    # -- what tests read -------------------------------------------------------

    def url(self, path: str = "/") -> str:
        return "%s://%s:%d%s" % (self.scheme, self.host, self.port, path)

    def count(self, path: Optional[str] = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def arrivals(self, path: Optional[str] = None) -> list[Arrival]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def arrivals_per_window(self, window: float = 1.0, path: Optional[str] = None) -> int:
        """The most requests that arrived within any ``window`` seconds (a sliding
        window starting at each arrival)."""
        times = sorted(r.time for r in self.arrivals(path))
        most = 0
        end = 0
        for start, t in enumerate(times):
            while end < len(times) and times[end] < t + window:
                end += 1
            most = max(most, end - start)
        return most

    # -- serving -----------------------------------------------------------------

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
                kind = self.connection_plan[index] if index < len(self.connection_plan) else "serve"
                self._socks.add(sock)
            if kind != "serve":
                if kind == "reset":
                    self.resets_before += 1
                    _reset(sock)
                self._forget(sock)
                sock.close()
                continue
            thread = threading.Thread(
                target=self._serve, args=(sock, index), name="asynchttp-test-flaky-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)

    def _serve(self, raw: socket.socket, index: int) -> None:
        sock: socket.socket = raw
        try:
            sock.settimeout(_OP_TIMEOUT)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(raw, server_side=True)
                with self._lock:
                    self._socks.add(sock)
            buffer = bytearray()
            for _ in range(10_000):
                request = self._read_request(sock, buffer, index)
                if request is None:
                    return
                step = self._step_for(request)
                if isinstance(step, ResetAfter):
                    _reset(raw)
                    return
                if step.delay and self._stop.wait(step.delay):
                    return
                sock.sendall(_response(step, request.path))
                if (request.header("connection") or "").lower() == "close":
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            self._forget(sock)
            self._forget(raw)
            try:
                sock.close()
            except OSError:
                pass

    def _read_request(self, sock: socket.socket, buffer: bytearray, index: int) -> Optional[Arrival]:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > _MAX_HEAD or not self._recv(sock, buffer):
                return None
        end = buffer.index(b"\r\n\r\n") + 4
        head = bytes(buffer[:end])
        del buffer[:end]
        arrived = time.monotonic()
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target = request_line.split(" ")[:2]
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = min(int(value.strip()), _MAX_BODY)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while not (buffer.startswith(b"0\r\n\r\n") or b"\r\n0\r\n\r\n" in buffer):
                if len(buffer) > _MAX_BODY or not self._recv(sock, buffer):
                    return None
            end = 5 if buffer.startswith(b"0\r\n\r\n") else buffer.index(b"\r\n0\r\n\r\n") + 7
        else:
            while len(buffer) < length:
                if not self._recv(sock, buffer):
                    return None
            end = length
        body = bytes(buffer[:end])
        del buffer[:end]
        arrival = Arrival(method, target, head, body, arrived, index)
        with self._lock:
            self.requests.append(arrival)
        return arrival

    def _recv(self, sock: socket.socket, buffer: bytearray) -> bool:
        deadline = time.monotonic() + _OP_TIMEOUT
        while not self._stop.is_set() and time.monotonic() < deadline:
            sock.settimeout(0.2)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return False
            buffer += data
            return True
        return False

    def _step_for(self, request: Arrival) -> Step:
        steps = self.script.get(request.path.split("?", 1)[0])
        if not steps:
            return Answer()
        with self._lock:
            seen = sum(1 for r in self.requests if r.path == request.path) - 1  # this one is recorded
        return steps[min(seen, len(steps) - 1)]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def _response(step: Answer, path: str) -> bytes:
    body = step.body if step.body is not None else path.encode("latin-1")
    lines = ["HTTP/1.1 %d %s" % (step.status, _REASONS.get(step.status, "Status"))]
    names = {name.lower() for name in step.headers}
    for name, value in step.headers.items():
        lines.append("%s: %s" % (name, value))
    if "content-length" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
