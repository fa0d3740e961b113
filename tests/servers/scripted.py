"""A scripted raw-socket server: exact bytes and deliberate misbehaviour.

Where the HTTP test server answers correctly, this one does exactly what a test
scripts, connection by connection: read a request head, send these bytes (all at
once or one piece at a time), sleep, half-close, close, or reset the TCP connection.
It is how tests meet malformed responses, stalls, resets and pushed bytes.

Real sockets on 127.0.0.1 (TLS optional), one thread per connection. Every loop is
bounded in count and time, every socket operation has a timeout, and ``stop()``
wakes and joins every thread, so a script can never hang a test.

    from tests.servers.scripted import ScriptedServer, recv_head, send, close
    with ScriptedServer([[recv_head(), send(b"HTTP/1.1 200 OK\\r\\n..."), close()]]) as srv:
        ... srv.url("/x") ... srv.received[0] ...
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

from . import leaks

__all__ = [
    "ScriptedServer",
    "Action",
    "recv_head",
    "recv_bytes",
    "send",
    "send_slowly",
    "sleep",
    "close",
    "rst",
    "wait_for_client_close",
    "shutdown_write",
    "call",
]

MAX_HEAD = 1024 * 1024
MAX_BODY = 64 * 1024 * 1024
DEFAULT_OP_TIMEOUT = 10.0


class _ScriptEnd(Exception):
    """Raised by an action to end its connection's script (socket already handled)."""


@dataclass
class _Conn:
    index: int
    sock: socket.socket
    server: "ScriptedServer"
    buffer: bytearray = field(default_factory=bytearray)  # received, not yet consumed
    closed: bool = False

    def recv_more(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.server._stop.is_set():
            raise socket.timeout("scripted read deadline")
        self.sock.settimeout(min(remaining, 0.25))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            # the short timeout only lets the caller's loop notice stop() and its deadline
            return b""
        self.server._record(self.index, data)
        if not data:
            raise _ClientClosed()
        self.buffer += data
        return data


class _ClientClosed(Exception):
    pass


class Action:
    """One step of a connection's script."""

    def run(self, conn: _Conn) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class _RecvHead(Action):
    def __init__(self, timeout: float, body: bool) -> None:
        self.timeout = timeout
        self.body = body

    def run(self, conn: _Conn) -> None:
        deadline = time.monotonic() + self.timeout
        for _ in range(100_000):
            end = conn.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(conn.buffer) > MAX_HEAD:
                raise _ScriptEnd("request head too long")
            conn.recv_more(deadline)
        else:
            raise _ScriptEnd("no request head")
        head = bytes(conn.buffer[: end + 4])
        del conn.buffer[: end + 4]
        body = b""
        if self.body:
            body = self._read_body(conn, head, deadline)
        conn.server._record_request(conn.index, head, body)

    @staticmethod
    def _read_body(conn: _Conn, head: bytes, deadline: float) -> bytes:
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length" and value.strip().isdigit():
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            # enough for well-formed client bodies: up to the last chunk and the
            # empty trailer section
            for _ in range(100_000):
                end = conn.buffer.find(b"0\r\n\r\n")
                if end >= 0 and (end == 0 or conn.buffer[end - 2 : end] == b"\r\n"):
                    body = bytes(conn.buffer[: end + 5])
                    del conn.buffer[: end + 5]
                    return body
                if len(conn.buffer) > MAX_BODY:
                    raise _ScriptEnd("chunked body too long")
                conn.recv_more(deadline)
            raise _ScriptEnd("chunked body never ended")
        length = min(length, MAX_BODY)
        for _ in range(1_000_000):
            if len(conn.buffer) >= length:
                break
            conn.recv_more(deadline)
        body = bytes(conn.buffer[:length])
        del conn.buffer[:length]
        return body


class _RecvBytes(Action):
    def __init__(self, n: int, timeout: float) -> None:
        self.n = n
        self.timeout = timeout

    def run(self, conn: _Conn) -> None:
        deadline = time.monotonic() + self.timeout
        for _ in range(1_000_000):
            if len(conn.buffer) >= self.n:
                break
            conn.recv_more(deadline)
        del conn.buffer[: self.n]


class _Send(Action):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def run(self, conn: _Conn) -> None:
        conn.sock.settimeout(DEFAULT_OP_TIMEOUT)
        conn.sock.sendall(self.data)


class _SendSlowly(Action):
    def __init__(self, data: bytes, interval: float, piece: int) -> None:
        self.data = data
        self.interval = interval
        self.piece = max(1, piece)

    def run(self, conn: _Conn) -> None:
        conn.sock.settimeout(DEFAULT_OP_TIMEOUT)
        for start in range(0, len(self.data), self.piece):
            if start and conn.server._stop.wait(self.interval):
                raise _ScriptEnd("server stopping")
            conn.sock.sendall(self.data[start : start + self.piece])


class _Sleep(Action):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, conn: _Conn) -> None:
        if conn.server._stop.wait(min(self.seconds, 60.0)):
            raise _ScriptEnd("server stopping")


class _Close(Action):
    def run(self, conn: _Conn) -> None:
        conn.closed = True
        conn.sock.close()
        raise _ScriptEnd("closed")


class _Rst(Action):
    def run(self, conn: _Conn) -> None:
        # SO_LINGER with a zero timeout makes close() send a RST instead of a FIN
        # (an SSLSocket's close() sends no close_notify, so the same holds for TLS)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.closed = True
        conn.sock.close()
        raise _ScriptEnd("reset")


class _WaitForClientClose(Action):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def run(self, conn: _Conn) -> None:
        deadline = time.monotonic() + self.timeout
        server = conn.server
        for _ in range(1_000_000):
            if time.monotonic() >= deadline or server._stop.is_set():
                server.client_closed[conn.index] = False
                return
            try:
                conn.recv_more(deadline)
            except _ClientClosed:
                server.client_closed[conn.index] = True
                return
            except (socket.timeout, ssl.SSLError, OSError):
                # a reset from the client is a close too
                server.client_closed[conn.index] = time.monotonic() < deadline
                return


class _ShutdownWrite(Action):
    def run(self, conn: _Conn) -> None:
        sock = conn.sock
        if isinstance(sock, ssl.SSLSocket):
            socket.socket.shutdown(sock, socket.SHUT_WR)
        else:
            sock.shutdown(socket.SHUT_WR)


class _Call(Action):
    def __init__(self, func: Callable[[socket.socket], Any]) -> None:
        self.func = func

    def run(self, conn: _Conn) -> None:
        self.func(conn.sock)


def recv_head(timeout: float = DEFAULT_OP_TIMEOUT, body: bool = True) -> Action:
    """Read one request head (through the blank line) and its Content-Length or
    chunked body; what comes after stays buffered for the next recv_head."""
    return _RecvHead(timeout, body)


def recv_bytes(n: int, timeout: float = DEFAULT_OP_TIMEOUT) -> Action:
    """Read and consume exactly ``n`` more bytes."""
    return _RecvBytes(n, timeout)


def send(data: bytes) -> Action:
    return _Send(data)


def send_slowly(data: bytes, interval: float = 0.05, piece: int = 1) -> Action:
    """Send ``data`` ``piece`` bytes at a time, ``interval`` seconds apart."""
    return _SendSlowly(data, interval, piece)


def sleep(seconds: float) -> Action:
    """Pause (ends early, and ends the script, when the server stops)."""
    return _Sleep(seconds)


def close() -> Action:
    """Close the connection normally (FIN); ends the script."""
    return _Close()


def rst() -> Action:
    """Reset the connection (SO_LINGER 0 then close: a TCP RST); ends the script."""
    return _Rst()


def wait_for_client_close(timeout: float = 5.0) -> Action:
    """Read and discard until the client closes, or ``timeout``; sets
    ``server.client_closed[i]`` to whether the client closed."""
    return _WaitForClientClose(timeout)


def shutdown_write() -> Action:
    """Half-close: send FIN but keep reading."""
    return _ShutdownWrite()


def call(func: Callable[[socket.socket], Any]) -> Action:
    """Run ``func(sock)`` on the connection's socket (an escape hatch)."""
    return _Call(func)


Script = Sequence[Action]


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and plays ``script[i]`` on the i-th one.

    ``script`` is a list of per-connection scripts (lists of actions); a flat list of
    actions is one script for every connection. Connections past the end replay the
    last script when ``repeat_last`` (the default), else are closed at once. A script
    that ends without close()/rst() closes the connection normally.
    """

    __test__ = False

    def __init__(
        self,
        script: Sequence[Union[Script, Action]],
        ssl_context: ssl.SSLContext | None = None,
        *,
        host: str = "127.0.0.1",
        repeat_last: bool = True,
        max_connections: int = 1000,
        lifetime: float = 120.0,
        handshake_timeout: float = 5.0,
    ) -> None:
        if script and all(isinstance(a, Action) for a in script):
            scripts: list[Script] = [list(script)]  # type: ignore[arg-type]
        else:
            scripts = [list(s) for s in script]  # type: ignore[union-attr]
        self.scripts = scripts
        self.ssl_context = ssl_context
        self.host = host
        self.repeat_last = repeat_last
        self.max_connections = max_connections
        self.lifetime = lifetime
        self.handshake_timeout = handshake_timeout
        self.port = 0
        self.connections_accepted = 0
        self._received: list[bytearray] = []
        self.requests: list[tuple[int, bytes, bytes]] = []  # (conn index, head, body)
        self.client_closed: dict[int, bool] = {}
        self.errors: list[tuple[int, BaseException]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._finished = 0
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conn_threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    # ---------------------------------------------------------------- public

    def start(self) -> "ScriptedServer":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(128)
        listener.settimeout(0.05)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, daemon=True, name=f"asynchttp-test-scripted-accept-{self.port}"
        )
        self._accept_thread.start()
        leaks.register(self)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            socks = list(self._socks)
            threads = list(self._conn_threads)
        for sock in socks:
            # shutdown wakes a thread blocked in recv/send on this socket
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if self._accept_thread is not None and self._accept_thread.is_alive():
            alive.append(self._accept_thread.name)
        if alive:
            raise RuntimeError(f"scripted server threads did not stop: {alive}")
        leaks.unregister(self)

    def leak_ignore_ports(self) -> set[int]:
        return {self.port}

    def leak_ignore_fds(self) -> set[int]:
        return set()

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def received(self) -> list[bytes]:
        """Raw bytes received, one entry per accepted connection (decrypted for TLS)."""
        with self._lock:
            return [bytes(b) for b in self._received]

    def wait_done(self, connections: int | None = None, timeout: float = 5.0) -> bool:
        """Block until ``connections`` scripts (default: every one accepted) finished."""

        def done() -> bool:
            want = self.connections_accepted if connections is None else connections
            return self._finished >= want and (connections is not None or self.connections_accepted > 0)

        with self._done:
            return self._done.wait_for(done, timeout)

    # ------------------------------------------------------------- internals

    def _record(self, index: int, data: bytes) -> None:
        with self._lock:
            self._received[index] += data

    def _record_request(self, index: int, head: bytes, body: bytes) -> None:
        with self._lock:
            self.requests.append((index, head, body))

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        ends_at = time.monotonic() + self.lifetime
        try:
            while not self._stop.is_set() and time.monotonic() < ends_at:
                if self.connections_accepted >= self.max_connections:
                    self._stop.wait(0.05)
                    continue
                try:
                    sock, _ = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                with self._lock:
                    index = self.connections_accepted
                    self.connections_accepted += 1
                    self._received.append(bytearray())
                    self._socks.append(sock)
                    thread = threading.Thread(
                        target=self._serve,
                        args=(index, sock),
                        daemon=True,
                        name=f"asynchttp-test-scripted-conn-{self.port}-{index}",
                    )
                    self._conn_threads.append(thread)
                thread.start()
        finally:
            listener.close()
            if not self._stop.is_set():
                # lifetime over: wake the connection threads too
                self._stop.set()

    def _script_for(self, index: int) -> Script | None:
        if index < len(self.scripts):
            return self.scripts[index]
        if self.repeat_last and self.scripts:
            return self.scripts[-1]
        return None

    def _serve(self, index: int, sock: socket.socket) -> None:
        conn_sock: socket.socket = sock
        conn = _Conn(index=index, sock=sock, server=self)
        try:
            if self.ssl_context is not None:
                sock.settimeout(self.handshake_timeout)
                conn_sock = self.ssl_context.wrap_socket(sock, server_side=True)
                conn.sock = conn_sock
                with self._lock:
                    self._socks.append(conn_sock)
            script = self._script_for(index)
            for action in script or []:
                if self._stop.is_set():
                    break
                action.run(conn)
        except _ScriptEnd:
            pass
        except (_ClientClosed, OSError, ssl.SSLError) as exc:
            with self._lock:
                self.errors.append((index, exc))
        except Exception as exc:  # noqa: BLE001 - a broken action; keep it visible
            with self._lock:
                self.errors.append((index, exc))
        finally:
            if not conn.closed:
                try:
                    conn.sock.close()
                except OSError:
                    pass
            if conn_sock is not sock:
                sock.close()
            with self._done:
                self._finished += 1
                self._done.notify_all()
