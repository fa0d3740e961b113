"""The asyncio clients the core benchmark compares, behind one small interface.

Each client opens once for a scenario, then `get(url)` returns (status, body)
with the body read fully, so the harness can check every answer; the timed
loops live in _runner.py and are the same for every client.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import ssl
from typing import Any


def ca_path() -> str | None:
    """The CA of the benchmark's TLS server (scenarios (f) and (g)), from bench.py."""
    return os.environ.get("BENCH_CA") or None


def verifying_context() -> ssl.SSLContext:
    """A default client context (verification and hostname checks on) trusting the bench CA."""
    return ssl.create_default_context(cafile=ca_path())


def run_on_chosen_loop(coro: Any) -> Any:
    """``asyncio.run(coro)``, on uvloop when bench.py asks for it (BENCH_LOOP=uvloop)."""
    if os.environ.get("BENCH_LOOP") != "uvloop":
        return asyncio.run(coro)
    import uvloop

    loop = uvloop.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class Unavailable(Exception):
    """The client cannot be measured here (not written yet, not installed)."""


class AsyncClient:
    name = ""

    async def open(self, concurrency: int) -> None:
        raise NotImplementedError

    async def get(self, url: str) -> tuple[int, bytes]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return ""


class LowhaioStyle(AsyncClient):
    """Our core and lowhaio 0.0.89 share an API, so one adapter serves both."""

    def __init__(self, module_name: str) -> None:
        self.name = module_name
        try:
            self.module: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise Unavailable(f"import {module_name} failed: {exc!r}") from exc
        if not hasattr(self.module, "Pool"):
            raise Unavailable(f"{module_name}.Pool does not exist yet")

    async def open(self, concurrency: int) -> None:
        # Defaults on purpose: our pool's limits (100) are above every
        # scenario's concurrency, and lowhaio 0.0.89 has none.
        if ca_path():
            context = verifying_context()
            self.request, self._close = self.module.Pool(get_ssl_context=lambda: context)
        else:
            self.request, self._close = self.module.Pool()
        self.buffered = self.module.buffered

    async def get(self, url: str) -> tuple[int, bytes]:
        code, _headers, body = await self.request(b"GET", url)
        return int(code), await self.buffered(body)

    async def close(self) -> None:
        await self._close()

    def describe(self) -> str:
        if self.name == "lowhaio":
            from importlib.metadata import version

            return f"lowhaio {version('lowhaio')}"
        return f"{self.name} from {self.module.__file__}"


class Aiohttp(AsyncClient):
    name = "aiohttp"

    async def open(self, concurrency: int) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max(concurrency, 100), limit_per_host=0, ssl=verifying_context() if ca_path() else True
            ),
        )

    async def get(self, url: str) -> tuple[int, bytes]:
        async with self.session.get(url) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        await self.session.close()

    def describe(self) -> str:
        return f"aiohttp {self.aiohttp.__version__}"


class _RawConnection(asyncio.BufferedProtocol):
    """Just enough HTTP/1.1 for nginx's Content-Length answers: the ceiling
    a pure-Python asyncio client could reach with no generality at all.

    The socket reads straight into a buffer the size of the body (no copy
    between the kernel and the result), and never past the end of the answer,
    so nothing is left over for the next request on the connection."""

    HEAD_BUFFER = 16384

    def __init__(self) -> None:
        self.head = bytearray(self.HEAD_BUFFER)
        self.head_view = memoryview(self.head)
        self.filled = 0  # bytes in head (before the body is known) or body
        self.body: bytearray | None = None
        self.body_view: memoryview | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.status = 0
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("closed")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.body_view is not None:
            return self.body_view[self.filled :]
        return self.head_view[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        if self.body is None:
            end = self.head.find(b"\r\n\r\n", 0, self.filled)
            if end < 0:
                if self.filled == len(self.head):
                    self.transport.abort()
                return
            head = bytes(self.head[:end]).lower()
            self.status = int(head[9:12])
            start = head.index(b"content-length:") + 15
            stop = head.find(b"\r\n", start)
            length = int(head[start : stop if stop >= 0 else None])
            already = self.head[end + 4 : self.filled]
            self.body = bytearray(length)
            self.body[: len(already)] = already
            self.body_view = memoryview(self.body)
            self.filled = len(already)
        if self.filled >= len(self.body):
            body = self.body
            self.body = self.body_view = None
            self.filled = 0
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self.status, body))  # type: ignore[arg-type]

    async def get(self, request: bytes) -> tuple[int, bytes]:
        if self.lost is not None:
            raise self.lost
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class Raw(AsyncClient):
    """A connection per concurrent worker, kept in a free list."""

    name = "raw"

    async def open(self, concurrency: int) -> None:
        self.free: list[_RawConnection] = []
        self.all: list[_RawConnection] = []

    async def get(self, url: str) -> tuple[int, bytes]:
        # Only ever called with the benchmark's own http(s)://127.0.0.1:port/path.
        scheme, _, rest = url.partition("://")
        hostport, _, path = rest.partition("/")
        if self.free:
            conn = self.free.pop()
        else:
            host, _, port = hostport.partition(":")
            context = verifying_context() if scheme == "https" else None
            _t, conn = await asyncio.get_running_loop().create_connection(_RawConnection, host, int(port), ssl=context)
            self.all.append(conn)
        result = await conn.get(f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n\r\n".encode("ascii"))
        self.free.append(conn)
        return result

    async def close(self) -> None:
        for conn in self.all:
            conn.transport.close()

    def describe(self) -> str:
        return "minimal asyncio.BufferedProtocol client (reads into the body buffer)"


def make(name: str) -> AsyncClient:
    if name in ("asynchttp_lowhaio", "lowhaio"):
        return LowhaioStyle(name)
    if name == "aiohttp":
        return Aiohttp()
    if name == "raw":
        return Raw()
    raise ValueError(f"unknown async client {name!r}")
