"""Shared by the resilience tests (retries, rate limits, facts): an Http factory that
shuts every Http down, and bounded waits (hang guards, never timing assertions)."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import asynchttp

# Every wait on a promise is bounded by this: a hang guard (the operations take
# milliseconds, or the few seconds a test's rate limit makes them take).
WAIT = 30.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``condition`` (cheap, in-process state) until true; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


def http_factory() -> Iterator[Callable[..., asynchttp.Http]]:
    """For a test module's ``make_http`` fixture (``yield from http_factory()``): a
    factory of Http (BlockingHttp with ``blocking=True``), all shut down after."""
    made: list[asynchttp.Http] = []

    def make(*args: Any, blocking: bool = False, **kwargs: Any) -> asynchttp.Http:
        cls = asynchttp.BlockingHttp if blocking else asynchttp.Http
        http = cls(*args, **kwargs)
        made.append(http)
        return http

    yield make
    for http in made:
        http.shutdown(wait=True, cancel_pending=True)


# Fast policies for tests: tiny backoffs, so a retry costs milliseconds.
def quick(**kwargs: Any) -> asynchttp.Retry:
    options: dict[str, Any] = {"attempts": 4, "backoff_base": 0.001, "backoff_cap": 0.005, "budget": 20.0}
    options.update(kwargs)
    return asynchttp.Retry(**options)
