"""Small helpers for the core's tests: a pool as a context, header lookup, a fake clock,
a listener whose accept queue is full, and a tiny extra server on a chosen address.

Everything here talks to loopback only. The fake clock exists for the few tests that
would otherwise sleep for whole seconds (DNS TTLs are integer seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence, TypeVar

from asynchttp_lowhaio import Pool, buffered

T = TypeVar("T")

Headers = Sequence[tuple[bytes, bytes]]


@contextlib.asynccontextmanager
async def open_pool(**options: Any) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``request`` of a fresh Pool, closed on the way out whatever happens."""
    request, close = Pool(**options)
    try:
        yield request
    finally:
        await close()


def state_of(request: Callable[..., Any]) -> Any:
    """The PoolState behind a ``request`` callable (for ``stats()``)."""
    return request.__self__  # type: ignore[attr-defined]


def header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


async def fetch(request: Callable[..., Awaitable[Any]], method: bytes, url: str,
                *args: Any, **kwargs: Any) -> tuple[bytes, Headers, bytes]:
    """One request, body read to its end (so the connection goes back to the pool)."""
    code, headers, body = await request(method, url, *args, **kwargs)
    return code, headers, await buffered(body)


async def conn_of(request: Callable[..., Awaitable[Any]], url: str,
                  method: bytes = b"GET") -> tuple[int, int]:
    """(x-conn-id, x-conn-requests) of one request to the HTTP test server."""
    _, headers, _ = await fetch(request, method, url)
    return int(header(headers, b"x-conn-id") or 0), int(header(headers, b"x-conn-requests") or 0)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` without blocking the loop (servers live in other threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


# ------------------------------------------------------------------ fake clock
class FakeClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock can be moved forward: timers (call_at) follow it."""

    offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def run_fake_clock(main: Callable[[FakeClockLoop], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
    """Run ``main(loop)`` on a FakeClockLoop, bounded by ``timeout`` seconds of real time."""
    loop = FakeClockLoop()
    deadline = time.monotonic() + timeout
    try:
        asyncio.set_event_loop(loop)
        task = loop.create_task(main(loop))

        def watchdog() -> None:
            # real time, not the loop's: advancing the fake clock must not trip it
            nonlocal handle
            if time.monotonic() > deadline:
                task.cancel()
            else:
                handle = loop.call_later(0.1, watchdog)

        handle = loop.call_later(0.1, watchdog)
        try:
            return loop.run_until_complete(task)
        finally:
            handle.cancel()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


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
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nx-served-by: %s\r\n\r\n%s"
                             % (len(body), body, body))
        finally:
            writer.transport.abort()
