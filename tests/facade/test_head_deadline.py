"""Issue 11, item 2 (facade): ``Http(timeout=...)`` bounds the whole wait for a head.

httplib2's timeout bounds each socket operation, so a server that drips its head one
byte at a time never trips it. asynchttp adds a head deadline: ``response_head_timeout``
if given, else 3 x ``timeout`` (at most 60 s). Failing it is httplib2's timeout
exception (``TimeoutError``, which ``socket.timeout`` is), caused by the core's
``HttpResponseHeadTimeoutError``. The drip would last about 15 s; the bound asserted
on the time taken only guards against a hang.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

import asynchttp
from asynchttp_lowhaio import HttpResponseHeadTimeoutError
from tests.core.test_head_deadline import DRIPPED_HEAD, HANG_GUARD
from tests.facade.conftest import WAIT
from tests.servers.scripted import ScriptedServer, recv_head, send_slowly

MakeHttp = Callable[..., asynchttp.Http]


@pytest.fixture
def dripping(scripted: Callable[..., ScriptedServer]) -> ScriptedServer:
    return scripted([recv_head(), send_slowly(DRIPPED_HEAD, interval=0.05, piece=1)])


def check_head_timeout(error: BaseException, deadline: str) -> None:
    assert type(error) is TimeoutError  # what httplib2 raises for a timeout (socket.timeout)
    assert isinstance(error.__cause__, HttpResponseHeadTimeoutError)
    assert "after %s seconds" % deadline in str(error.__cause__)


@pytest.mark.parametrize("blocking", [False, True])
def test_timeout_bounds_a_dripped_head(make_http: MakeHttp, dripping: ScriptedServer, blocking: bool) -> None:
    http = make_http(timeout=0.2, proxy_info=None, blocking=blocking)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        response, content = http.request(dripping.url("/"))
        response.status  # noqa: B018 - touching the promise raises
    assert time.monotonic() - started < HANG_GUARD
    check_head_timeout(info.value, "0.6")


def test_an_explicit_head_deadline_wins(make_http: MakeHttp, dripping: ScriptedServer) -> None:
    http = make_http(timeout=0.2, response_head_timeout=1.0, proxy_info=None)
    response, content = http.request(dripping.url("/"))
    error = content.exception(WAIT)
    assert error is not None
    check_head_timeout(error, "1.0")


def test_a_dripped_head_under_force_exception_to_status_code(make_http: MakeHttp, dripping: ScriptedServer) -> None:
    http = make_http(timeout=0.2, proxy_info=None)
    http.force_exception_to_status_code = True
    response, content = http.request(dripping.url("/"))
    assert response.status == 408  # httplib2's synthetic answer to a timeout
    assert content == b"Request Timeout"  # as httplib2 words it
