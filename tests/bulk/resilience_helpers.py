"""Shared by the resilience tests (retries, rate limits, facts): an Http factory that
shuts every Http down, and bounded waits (hang guards, never timing assertions)."""

from __future__ import annotations

from typing import Any, Callable

import asynchttp
from tests.facade.conftest import http_factory  # noqa: F401 - for the resilience modules
from tests.facade.conftest import wait_until as _wait_until

# Every wait on a promise is bounded by this: a hang guard (the operations take
# milliseconds, or the few seconds a test's rate limit makes them take).
WAIT = 30.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``condition`` (cheap, in-process state) until true; False after ``timeout``."""
    return _wait_until(condition, timeout, interval=0.002)


# Fast policies for tests: tiny backoffs, so a retry costs milliseconds.
def quick(**kwargs: Any) -> asynchttp.Retry:
    options: dict[str, Any] = {"attempts": 4, "backoff_base": 0.001, "backoff_cap": 0.005, "budget": 20.0}
    options.update(kwargs)
    return asynchttp.Retry(**options)
