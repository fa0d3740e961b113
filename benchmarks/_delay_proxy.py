"""A local delay proxy for bench.py's (h): a TCP relay on 127.0.0.1 that holds the
bytes of each direction for ``delay`` seconds before passing them on, so a request
pays a round trip of twice the delay, and every new connection's TLS handshake pays
its own round trips, as on the internet. It counts the connections it accepts
(the clients' connections opened).

The relay runs its own asyncio loop in a thread of bench.py's process (bench.py
only waits on the client's process meanwhile). Order is kept per direction: bytes
wait in a queue with their due time and one timer sends what is due. The TCP
handshake itself is answered by the kernel, undelayed; EOF is passed on after the
delay, like data. Flow control is left out: (h) moves small bodies.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import threading
from typing import Any, Deque, Optional


class _Direction:
    """Bytes from one side, each sent to the other side ``delay`` seconds after it came."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.queue: Deque[tuple[float, Optional[bytes]]] = collections.deque()  # None: EOF
        self.timer: Optional[asyncio.TimerHandle] = None
        self.out: Optional[asyncio.Transport] = None

    def push(self, data: Optional[bytes]) -> None:
        self.queue.append((self.loop.time() + self.delay, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        out = self.out
        if out is None:
            return  # the other side is still connecting: its connection_made flushes
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if out.is_closing():
                self.queue.clear()
                return
            if data is None:
                try:
                    out.write_eof()
                except (OSError, RuntimeError):  # the peer went meanwhile
                    out.close()
            else:
                out.write(data)
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()


class _Side(asyncio.Protocol):
    def __init__(self, incoming: _Direction, outgoing: _Direction, proxy: "DelayProxy") -> None:
        self.incoming = incoming  # what this side receives goes here
        self.outgoing = outgoing  # what this side must send comes from here
        self.proxy = proxy
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.outgoing.out = self.transport
        self.outgoing.flush()
        self.proxy.transports.add(transport)

    def data_received(self, data: bytes) -> None:
        self.incoming.push(data)

    def eof_received(self) -> bool:
        self.incoming.push(None)
        return True  # half-close: the other direction goes on

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.proxy.transports.discard(self.transport)
        # The other side closes once what came from here has been passed on.
        self.incoming.push(None)


class DelayProxy:
    """``with DelayProxy(target_port, delay=0.01) as proxy:`` clients connect to
    ``proxy.port``; ``proxy.connections`` counts them (``reset()`` sets it to 0)."""

    def __init__(self, target_port: int, delay: float = 0.010, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.connections = 0
        self.port = 0
        self.transports: set[Any] = set()
        self._loop = asyncio.new_event_loop()
        self._server: Optional[asyncio.AbstractServer] = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-delay-proxy", daemon=True)

    def __enter__(self) -> "DelayProxy":
        self._thread.start()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        asyncio.run_coroutine_threadsafe(self._start(listener), self._loop).result(10)
        return self

    async def _start(self, listener: socket.socket) -> None:
        self._server = await self._loop.create_server(self._accepted, sock=listener, backlog=1024)

    def _accepted(self) -> asyncio.Protocol:
        self.connections += 1
        up = _Direction(self._loop, self.delay)  # client -> server
        down = _Direction(self._loop, self.delay)  # server -> client
        client_side = _Side(up, down, self)
        server_side = _Side(down, up, self)

        async def connect() -> None:
            try:
                await self._loop.create_connection(lambda: server_side, *self.target)
            except OSError:
                if client_side.transport is not None:
                    client_side.transport.abort()

        self._loop.create_task(connect())
        return client_side

    def reset(self) -> None:
        self.connections = 0

    def __exit__(self, *exc: Any) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for transport in list(self.transports):
                transport.abort()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
