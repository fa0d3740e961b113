"""Two small servers for the core's tests: a loopback listener whose accept queue is full
(connect() neither succeeds nor fails: what a connect timeout needs) and a tiny asyncio
server on a chosen loopback address, run in the test's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
from typing import Any, Iterator

__all__ = ["full_backlog_port", "TinyServer"]


# -------------------------------------------------------- a full accept queue
@contextlib.contextmanager
def full_backlog_port() -> Iterator[int]:
    """A loopback port whose listener never accepts and whose accept queue is full.

    On Linux a SYN to a listener with a full queue is dropped, so connect() neither
    succeeds nor fails: exactly what a connect timeout needs, without leaving loopback.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(8):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            fillers.append(sock)
            sock.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], [sock], [], 0.2)
            if not writable:
                break  # this one hangs: the queue is full
        else:  # pragma: no cover - a kernel that never fills the queue
            raise RuntimeError("could not fill the accept queue")
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


# --------------------------------------------- a tiny server on a chosen address
class TinyServer:
    """An asyncio server in the test's own loop, on ``host:port`` (any loopback address).

    It answers every request head with ``200`` and ``x-served-by: <tag>``, keeps the
    connection open, and records the peer address of each connection it accepted.
    """

    def __init__(self, host: str, port: int, tag: str) -> None:
        self.host = host
        self.port = port
        self.tag = tag
        self.connections = 0
        self.requests = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "TinyServer":
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        body = self.tag.encode()
        try:
            for _ in range(1000):
                try:
                    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    return
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nx-served-by: %s\r\n\r\n%s" % (len(body), body, body)
                )
        finally:
            writer.transport.abort()
