"""Fixtures of the facade suite: an Http per test, shut down (cancelling whatever is
left) at teardown so that no test leaves requests or worker threads behind."""

from __future__ import annotations

import faulthandler
import time
from typing import Any, Callable, Iterator

import pytest

import asynchttp

# Every wait on a promise in these tests is bounded by this (a hang guard, not a timing
# assertion: the operations take milliseconds).
WAIT = 10.0
# A single facade test taking this long is hung: see hang_guard.
HANG_LIMIT = 120.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, interval: float = 0.001) -> bool:
    """Poll ``condition`` (cheap, in-process state) every ``interval`` seconds until
    true; False after ``timeout``. (tests/bulk's resilience_helpers polls with this.)"""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """A facade test that hangs (a promise never resolved) dumps every thread's stack
    and ends the run instead of blocking CI forever."""
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def http_factory() -> Iterator[Callable[..., asynchttp.Http]]:
    """For a ``make_http`` fixture (``yield from http_factory()``; the facade suite's
    below, tests/bulk's modules import that one or this): a factory of Http (or
    BlockingHttp with ``blocking=True``), all shut down (cancelling whatever is left)
    after."""
    made: list[asynchttp.Http] = []

    def make(*args: Any, blocking: bool = False, **kwargs: Any) -> asynchttp.Http:
        cls = asynchttp.BlockingHttp if blocking else asynchttp.Http
        http = cls(*args, **kwargs)
        made.append(http)
        return http

    yield make
    for http in made:
        http.shutdown(wait=True, cancel_pending=True)


@pytest.fixture
def make_http() -> Iterator[Callable[..., asynchttp.Http]]:
    """Factory of Http (or BlockingHttp with ``blocking=True``); all shut down after."""
    yield from http_factory()


@pytest.fixture
def http(make_http: Callable[..., asynchttp.Http]) -> asynchttp.Http:
    return make_http()
