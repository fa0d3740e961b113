"""A TLS listener that records how each client's handshake ended, as the server saw it.

Used to check what a client sends when it refuses the server: a TLS alert
("tlsv1 alert unknown ca", which ``ssl`` raises on the server side as an
``SSLError`` naming the alert) or a bare EOF (``SSLEOFError``). One thread, real
sockets on 127.0.0.1, every wait bounded; ``stop()`` joins.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any, Optional

__all__ = ["HandshakeRecorder"]


class HandshakeRecorder:
    """Accepts connections and runs the server side of each TLS handshake.

    ``outcomes`` holds, per connection, ``"ok"`` or the exception the server's
    ``do_handshake`` raised. A completed handshake gets a small HTTP answer.
    """

    def __init__(self, context: ssl.SSLContext, timeout: float = 10.0) -> None:
        self.context = context
        self.timeout = timeout
        self.outcomes: list[Any] = []
        self._done = threading.Condition()
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="handshake-recorder", daemon=True)

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return "https://%s:%d%s" % (host, self.port, path)

    def __enter__(self) -> "HandshakeRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.timeout)
        self._listener.close()

    def wait_for(self, count: int, timeout: Optional[float] = None) -> list[Any]:
        """The outcomes once ``count`` handshakes have ended (or the timeout passed)."""
        with self._done:
            self._done.wait_for(lambda: len(self.outcomes) >= count, timeout or self.timeout)
            return list(self.outcomes)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(self.timeout)
                outcome = self._handshake(conn)
            with self._done:
                self.outcomes.append(outcome)
                self._done.notify_all()

    def _handshake(self, conn: socket.socket) -> Any:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            return exc
        try:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except OSError:
            pass
        finally:
            tls.close()
        return "ok"
