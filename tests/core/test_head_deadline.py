"""Issue 11, item 2 (core): a configured socket_timeout bounds the whole wait for a head.

Without ``response_head_timeout``, the head must arrive within ``HEAD_TIMEOUT_FACTOR``
(3) times ``socket_timeout``, at most 60 s. A server that drips its head one byte at a
time makes progress on every read, so only this deadline stops it. The drip here would
take about 15 s; the deadline fires well before, and the test asserts the error class
and the deadline it names, with a generous bound only against a hang.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from asynchttp_lowhaio import HttpReadTimeoutError, HttpResponseHeadTimeoutError, Pool
from asynchttp_lowhaio._pool import HEAD_TIMEOUT_CAP, HEAD_TIMEOUT_FACTOR, default_head_timeout
from tests.core.helpers import open_pool, state_of
from tests.servers import run
from tests.servers.scripted import ScriptedServer, recv_head, send_slowly

# A complete, valid head, sent one byte every 50 ms: about 15 s in all.
DRIPPED_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-Slow-%d: %s\r\n" % (i, b"z" * 20) for i in range(10))
    + b"Content-Length: 2\r\n\r\nok"
)
HANG_GUARD = 8.0  # far above any deadline used here, far below the drip's 15 s


def dripping(scripted: Callable[..., ScriptedServer]) -> ScriptedServer:
    return scripted([recv_head(), send_slowly(DRIPPED_HEAD, interval=0.05, piece=1)])


async def failure_of(url: str, **options: Any) -> tuple[BaseException, float]:
    async with open_pool(**options) as request:
        started = time.monotonic()
        with pytest.raises(HttpReadTimeoutError) as info:
            code, headers, body = await request(b"GET", url)
            async for _ in body:
                pass
        return info.value, time.monotonic() - started


def test_the_head_deadline_follows_socket_timeout(scripted: Callable[..., ScriptedServer]) -> None:
    server = dripping(scripted)
    error, elapsed = run(failure_of(server.url("/"), socket_timeout=0.2), timeout=HANG_GUARD + 2)
    assert type(error) is HttpResponseHeadTimeoutError and isinstance(error, TimeoutError)
    assert "after 0.6 seconds" in str(error)  # 3 x 0.2: the deadline, not the 60 s cap
    assert elapsed < HANG_GUARD


def test_an_explicit_head_deadline_wins(scripted: Callable[..., ScriptedServer]) -> None:
    server = dripping(scripted)
    error, elapsed = run(
        failure_of(server.url("/"), socket_timeout=0.2, response_head_timeout=1.0), timeout=HANG_GUARD + 2
    )
    assert type(error) is HttpResponseHeadTimeoutError
    assert "after 1.0 seconds" in str(error)
    assert elapsed < HANG_GUARD


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, 30.0),  # the default socket_timeout of 10 s
        ({"socket_timeout": 0.2}, 0.6),
        ({"socket_timeout": 5}, 15.0),
        ({"socket_timeout": 20}, HEAD_TIMEOUT_CAP),  # capped
        ({"socket_timeout": 0.2, "response_head_timeout": 100}, 100),  # given: taken as is
        ({"socket_timeout": 0}, 0.0),
    ],
)
def test_the_rule(options: dict[str, Any], expected: float) -> None:
    async def main() -> float:
        request, close = Pool(**options)
        try:
            return state_of(request)._response_head_timeout
        finally:
            await close()

    assert run(main()) == expected
    assert HEAD_TIMEOUT_FACTOR == 3 and HEAD_TIMEOUT_CAP == 60.0
    if "response_head_timeout" not in options:
        assert default_head_timeout(options.get("socket_timeout", 10)) == expected


@pytest.mark.parametrize("bad", [-1, "5", True])
def test_a_bad_head_deadline_is_refused(bad: Any) -> None:
    async def main() -> None:
        Pool(response_head_timeout=bad)

    with pytest.raises(ValueError, match="response_head_timeout"):
        run(main())
