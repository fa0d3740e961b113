"""Every hostile case against asynchttp_lowhaio's BlockingPool, judged as the async Pool is.

The blocking pool is the second driver of the same protocol core: each case's
requests are made one after the other on one BlockingPool, on a thread of their own
(a hang fails the test), and the results must match the case's expectations for the
core (``case.core``: the answer, or an error of the documented HttpError class in the
same phase), with the same request and connection counts, no forbidden byte reaching
a server, and no client socket or thread left behind once ``close()`` returned.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any, Dict, List, Set

import pytest

from asynchttp_lowhaio import BlockingPool
from tests.hostile.cases import CASES, Case
from tests.hostile.harness import (
    BodyDigester,
    Got,
    Servers,
    assert_core_case,
    client_fds,
    core_options,
    new_threads,
)
from tests.servers import leaks

DEADLINE = 20.0  # per case; far above any case's own timeouts: reaching it is a hang


def run_blocking(case: Case, servers: Servers) -> List[Got]:
    request, close = BlockingPool(**core_options(case))
    out: List[Got] = []
    try:
        for req in case.requests:
            out.append(_one(request, servers, case, req))
    finally:
        close()
    return out


def _one(request: Any, servers: Servers, case: Case, req: Any) -> Got:
    if req.after_mark is not None:
        servers.wait_mark(req.after_mark)
    if req.settle:
        time.sleep(req.settle)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in req.headers]
    kwargs: Dict[str, Any] = {"headers": tuple(headers)}
    if req.body is not None:
        kwargs["headers"] += ((b"content-length", b"%d" % len(req.body)),)
        kwargs["body"] = lambda: (req.body,)
    tracing = case.max_memory is not None
    got = Got()
    if tracing:
        tracemalloc.start()
    try:
        try:
            code, _headers, body = request(req.method.encode(), servers.url(req.path), **kwargs)
        except BaseException as exc:  # judged by the caller: the family is the point
            got.exc, got.phase = exc, "head"
            return got
        digester = BodyDigester()
        try:
            for chunk in body:
                digester.add(chunk)
        except BaseException as exc:
            got.exc, got.phase = exc, "body"
            return got
        got.status = int(code)
        got.body = digester.result()
        return got
    finally:
        if tracing:
            got.peak_memory = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


def _leftovers(before_fds: Dict[int, str], before: Set[threading.Thread], ports: Set[int]) -> tuple[Any, Any]:
    deadline = time.monotonic() + 1.0
    while True:
        fds = client_fds(before_fds, ports)
        threads = new_threads(before)
        if (not fds and not threads) or time.monotonic() > deadline:
            return fds, threads
        time.sleep(0.01)


def play(case: Case) -> tuple[List[Got], Servers, Any, Any]:
    with Servers(case) as servers:
        before_fds = leaks.open_fds()
        before_threads = set(threading.enumerate())
        box: List[object] = []

        def work() -> None:
            try:
                box.append(run_blocking(case, servers))
            except BaseException as exc:
                box.append(exc)

        worker = threading.Thread(target=work, name="hostile-blocking-case", daemon=True)
        worker.start()
        worker.join(DEADLINE)
        if worker.is_alive():
            pytest.fail(f"HANG: {case.name} did not finish within {DEADLINE} s")
        if isinstance(box[0], BaseException):
            raise box[0]
        before_threads.add(worker)
        fds, threads = _leftovers(before_fds, before_threads, servers.ports())
        return box[0], servers, fds, threads  # type: ignore[return-value]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
)
def test_blocking_core(case: Case) -> None:
    got, servers, fds, threads = play(case)
    assert_core_case(case, got, servers, fds, threads)
