"""Every hostile case against asynchttp_lowhaio's Pool/request.

For each case: the expected answer or an error of the documented HttpError
class, within a deadline (a hang fails the test instead of stalling the suite);
never data other than the answer; never an exception outside HttpError; and,
once ``close()`` returned, no client socket or thread left behind.  Cases that
count requests check the server saw exactly that many (retry rules), cases with
forbidden bytes check they never reached a server, and the big-body cases check
the core's traced memory stayed bounded.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Dict, List, Set

import pytest

from asynchttp_lowhaio import HttpError
from tests.hostile.cases import CASES, Case, Ok
from tests.hostile.harness import Got, Servers, assert_core_case, client_fds, new_threads, run_core
from tests.servers import leaks

DEADLINE = 20.0  # per case; far above any case's own timeouts: reaching it is a hang


async def _leftovers(
    before_fds: Dict[int, str], before_threads: Set[threading.Thread], server_ports: Set[int]
) -> tuple[Dict[int, str], List[str]]:
    # A short grace loop: aborted transports finish closing on the next loop turns.
    for _ in range(100):
        fds = client_fds(before_fds, server_ports)
        threads = new_threads(before_threads)
        if not fds and not threads:
            break
        await asyncio.sleep(0.01)
    return fds, threads


def play(case: Case) -> tuple[List[Got], Servers, Dict[int, str], List[str]]:
    with Servers(case) as servers:

        async def main() -> tuple[List[Got], Dict[int, str], List[str]]:
            before_fds = leaks.open_fds()
            before_threads = set(threading.enumerate())
            try:
                got = await asyncio.wait_for(run_core(case, servers), DEADLINE)
            except asyncio.TimeoutError:
                pytest.fail(f"HANG: {case.name} did not finish within {DEADLINE} s")
            fds, threads = await _leftovers(before_fds, before_threads, servers.ports())
            return got, fds, threads

        got, fds, threads = asyncio.run(main())
        return got, servers, fds, threads


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
)
def test_core(case: Case) -> None:
    got, servers, fds, threads = play(case)
    assert_core_case(case, got, servers, fds, threads)


def test_catalogue_size_and_families() -> None:
    families = {c.family for c in CASES}
    assert len(CASES) >= 60
    assert families >= {
        "status line",
        "header lines",
        "framing",
        "interim and bodiless",
        "timing and faults",
        "keep-alive",
        "size",
        "redirects",
        "TLS",
    }
    # every family has several cases, and every case expects something definite
    for family in families:
        assert sum(c.family == family for c in CASES) >= 3, family
    assert any(isinstance(o, Ok) for c in CASES for o in c.core)


# ------------------------------------------------------- the pool under hostility
def _server_case(name: str, conns: tuple) -> Case:
    return Case(name=name, family="pool", doc="", conns=conns, core=(), facade=(), requests=())


def test_slot_freed_after_a_timeout() -> None:
    """With one connection allowed, a server that never answers costs one timeout,
    not the pool: the next request gets the slot."""
    from asynchttp_lowhaio import HttpReadTimeoutError, Pool, buffered
    from tests.hostile.cases import HOLD, Recv, Send, resp

    silent = _server_case("silent", ((Recv(), HOLD),))
    good = _server_case("good", ((Recv(), Send(resp(b"fine"))),))
    with Servers(silent) as bad_servers, Servers(good) as good_servers:

        async def main() -> bytes:
            request, close = Pool(max_connections=1, socket_timeout=0.3, response_head_timeout=0.6)
            try:
                with pytest.raises(HttpReadTimeoutError):
                    await request(b"GET", bad_servers.url("/"))
                _code, _headers, body = await request(b"GET", good_servers.url("/"))
                data = await buffered(body)
                # only the good connection remains, idle: the timed-out one gave its slot back
                assert request.__self__.stats() == {  # type: ignore[attr-defined]
                    "connections": 1,
                    "active": 0,
                    "idle": 1,
                    "waiting": 0,
                }
                return data
            finally:
                await close()

        assert asyncio.run(asyncio.wait_for(main(), DEADLINE)) == b"fine"


def test_concurrent_requests_against_a_server_that_resets_every_other_connection() -> None:
    """40 requests through 3 connections: every one resolves, as the answer or an HttpError."""
    from asynchttp_lowhaio import Pool, buffered
    from tests.hostile.cases import Recv, Rst, Send, resp

    flaky = _server_case("flaky", ((Recv(), Send(resp(b"fine", extra=b"Connection: close\r\n"))), (Recv(), Rst())))
    with Servers(flaky) as servers:

        async def one(request: object) -> object:
            try:
                _code, _headers, body = await request(b"GET", servers.url("/"))  # type: ignore[operator]
                return await buffered(body)
            except HttpError as exc:
                return exc

        async def main() -> list:
            before_fds = leaks.open_fds()
            request, close = Pool(max_connections=3, socket_timeout=2)
            try:
                results = await asyncio.gather(*[one(request) for _ in range(40)])
            finally:
                await close()
            fds, _threads = await _leftovers(before_fds, set(threading.enumerate()), servers.ports())
            assert not fds, fds
            return results

        results = asyncio.run(asyncio.wait_for(main(), DEADLINE))
    assert all(r == b"fine" or isinstance(r, HttpError) for r in results), results
    assert any(r == b"fine" for r in results)


def test_cancelled_during_a_slowloris_head_frees_everything() -> None:
    """Cancelling a request stuck on a slow head: CancelledError as is, the slot back."""
    from asynchttp_lowhaio import Pool
    from tests.hostile.cases import HOLD, Recv, SendSlowly

    slow = _server_case("slow", ((Recv(), SendSlowly(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: 1\r\n" * 200, 0.05), HOLD),))
    with Servers(slow) as servers:

        async def main() -> None:
            before_fds = leaks.open_fds()
            request, close = Pool(max_connections=1)
            try:
                task = asyncio.ensure_future(request(b"GET", servers.url("/")))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert request.__self__.stats() == {  # type: ignore[attr-defined]
                    "connections": 0,
                    "active": 0,
                    "idle": 0,
                    "waiting": 0,
                }
            finally:
                await close()
            fds, _threads = await _leftovers(before_fds, set(threading.enumerate()), servers.ports())
            assert not fds, fds

        asyncio.run(asyncio.wait_for(main(), DEADLINE))


def test_body_abandoned_mid_stream_is_never_reused() -> None:
    """aclose() on a half-read body: that connection is closed, the next request gets a fresh one."""
    from asynchttp_lowhaio import Pool, buffered
    from tests.hostile.cases import HOLD, Recv, Send, head, resp

    streaming = _server_case(
        "streaming",
        (
            (Recv(), Send(head(b"HTTP/1.1 200 OK", b"Content-Length: 100000") + b"a" * 50000), HOLD),
            (Recv(), Send(resp(b"fresh"))),
        ),
    )
    with Servers(streaming) as servers:

        async def main() -> bytes:
            request, close = Pool()
            try:
                _code, _headers, body = await request(b"GET", servers.url("/"))
                await body.__anext__()
                await body.aclose()
                _code, _headers, body = await request(b"GET", servers.url("/"))
                return await buffered(body)
            finally:
                await close()

        assert asyncio.run(asyncio.wait_for(main(), DEADLINE)) == b"fresh"
        assert servers.main is not None and servers.main.connections_accepted == 2
