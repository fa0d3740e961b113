"""Ways of handing asynchttp to a real library, as parameters of every scenario.

``httplib2`` is the baseline: the library with real ``httplib2.Http``, showing that the
scenario itself is right. Then asynchttp's three ways: an instance passed in
(``BlockingHttp`` and ``Http``, the promise client), and ``httplib2.Http`` swapped for
either class before the library builds its own (restored after the test).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httplib2
import pytest

import asynchttp
from tests.servers.http_server import TestServer
from tests.servers.realworld import GoogleLikeApi

ORIGINAL_HTTP = httplib2.Http

# googleapiclient.discovery sets httplib2.RETRIES = 1 when it is imported. Take that
# import here, note the value and put httplib2's back: the rest of the session (other
# suites compare asynchttp's globals with httplib2's) keeps httplib2's default, and a
# test module that uses googleapiclient runs with the library's value (``RETRIES``).
ORIGINAL_RETRIES = httplib2.RETRIES
import googleapiclient.discovery  # noqa: E402, F401 - for its side effect, undone below

GOOGLEAPICLIENT_RETRIES = httplib2.RETRIES
httplib2.RETRIES = ORIGINAL_RETRIES

# Content promises are buffers only where PEP 688 exists; before, code that hands
# content to io.BytesIO, hashlib or file.write needs bytes(content).
NOT_A_BUFFER = sys.version_info < (3, 12)

PASSED = ("httplib2", "BlockingHttp", "Http")
SWAPPED = ("swap-BlockingHttp", "swap-Http")
ALL_WAYS = PASSED + SWAPPED

_CLASSES: dict[str, type] = {
    "httplib2": ORIGINAL_HTTP,
    "BlockingHttp": asynchttp.BlockingHttp,
    "Http": asynchttp.Http,
    "swap-BlockingHttp": asynchttp.BlockingHttp,
    "swap-Http": asynchttp.Http,
}


@dataclass
class Way:
    """One way of putting asynchttp (or httplib2 itself) under a library."""

    name: str
    made: list[Any] = field(default_factory=list)

    @property
    def cls(self) -> type:
        return _CLASSES[self.name]

    @property
    def swapped(self) -> bool:
        return self.name in SWAPPED

    @property
    def promises(self) -> bool:
        return self.cls is asynchttp.Http

    def http(self, **kwargs: Any) -> Any:
        """The Http to pass in, or None where the library must build its own."""
        if self.swapped:
            return None
        return self.instance(**kwargs)

    def instance(self, **kwargs: Any) -> Any:
        """An instance of this way's class, whatever the way (closed at teardown)."""
        kwargs.setdefault("timeout", 10)
        http = self.cls(**kwargs)
        self.made.append(http)
        return http


def ways(*names: str, xfail: dict[str, Any] | None = None) -> list[Any]:
    """``names`` (default: all) as pytest params. ``xfail`` maps a way to the exact
    reason it cannot work, or to ``(reason, exception class)`` when the failure must be
    that exception (strict: the test must fail for the suite to pass)."""
    params = []
    for name in names or ALL_WAYS:
        entry = (xfail or {}).get(name)
        marks = []
        if entry is not None:
            reason, raises = entry if isinstance(entry, tuple) else (entry, None)
            marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=raises))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture
def way(request: pytest.FixtureRequest) -> Iterator[Way]:
    """Parametrize indirectly with ``ways(...)``; swaps httplib2.Http when asked."""
    chosen = Way(request.param)
    if chosen.swapped:
        httplib2.Http = chosen.cls
    try:
        yield chosen
    finally:
        httplib2.Http = ORIGINAL_HTTP
        for http in chosen.made:
            close = getattr(http, "shutdown", None)
            if close is not None:
                close(wait=True, cancel_pending=True)
            else:
                http.close()


@pytest.fixture(autouse=True)
def httplib2_retries(request: pytest.FixtureRequest) -> Iterator[None]:
    """httplib2.RETRIES as the test module's library sets it, restored after."""
    httplib2.RETRIES = getattr(request.module, "HTTPLIB2_RETRIES", ORIGINAL_RETRIES)
    try:
        yield
    finally:
        httplib2.RETRIES = ORIGINAL_RETRIES


@pytest.fixture
def google_api(http_server: TestServer) -> GoogleLikeApi:
    return GoogleLikeApi(http_server)
