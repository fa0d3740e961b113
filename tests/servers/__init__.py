"""Real local servers and small helpers shared by every test suite.

The servers live in their own threads so both blocking code (the facade, httplib2)
and coroutines running in a test's own event loop can talk to them over real sockets.
Async tests stay plain sync functions that call ``run(main())``: no pytest plugin, and
``run`` bounds every coroutine so that no test can hang the suite. ``run`` uses the
loop asynchttp's own loop thread would use (``ASYNCHTTP_LOOP=uvloop`` in the
environment: uvloop), so the core's tests run on both loops; the servers themselves
stay on asyncio's loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, Callable, Coroutine, TypeVar

T = TypeVar("T")

__all__ = ["run", "closed_port", "new_client_loop", "on_uvloop"]


def on_uvloop() -> bool:
    """Whether this run's clients use uvloop (``ASYNCHTTP_LOOP=uvloop``)."""
    return os.environ.get("ASYNCHTTP_LOOP", "").strip().lower() == "uvloop"


def new_client_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind this run tests the clients on."""
    if on_uvloop():
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(
    coro: Coroutine[Any, Any, T],
    timeout: float = 10.0,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = new_client_loop,
) -> T:
    """Run ``coro`` in a fresh event loop (as ``asyncio.run`` does; by default of the
    kind ``new_client_loop`` makes), failing with TimeoutError after ``timeout`` s."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(bounded())
    finally:
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` where nothing listens now (connecting to it is refused).

    The port is bound then released; the kernel does not hand a just-released
    ephemeral port out again at once, which is enough for a test.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
