"""Real local servers and small helpers shared by every test suite.

The servers live in their own threads so both blocking code (the facade, httplib2)
and coroutines running in a test's own event loop can talk to them over real sockets.
Async tests stay plain sync functions that call ``run(main())``: no pytest plugin, and
``run`` bounds every coroutine so that no test can hang the suite.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")

__all__ = ["run", "closed_port"]


def run(coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    """Run ``coro`` in a fresh event loop, failing with TimeoutError after ``timeout`` s."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` where nothing listens now (connecting to it is refused).

    The port is bound then released; the kernel does not hand a just-released
    ephemeral port out again at once, which is enough for a test.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
