"""Small helpers for the core's tests: a pool as a context, header lookup, a fake clock.

(The listener whose accept queue is full and the tiny server on a chosen address
live with the other test servers, in tests/servers/tiny.py.)

Everything here talks to loopback only. The fake clock exists for the few tests that
would otherwise sleep for whole seconds (DNS TTLs are integer seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Sequence, TypeVar

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


async def fetch(
    request: Callable[..., Awaitable[Any]], method: bytes, url: str, *args: Any, **kwargs: Any
) -> tuple[bytes, Headers, bytes]:
    """One request, body read to its end (so the connection goes back to the pool)."""
    code, headers, body = await request(method, url, *args, **kwargs)
    return code, headers, await buffered(body)


async def conn_of(request: Callable[..., Awaitable[Any]], url: str, method: bytes = b"GET") -> tuple[int, int]:
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
