"""Bulk bodies in the shapes scripts are written in (bench.py's section "shapes").

Each shape downloads ``n`` bodies of 1 MiB, ``concurrency`` at once, touching each
(``bytes(content)``) and dropping it, in a fresh process; the timed part follows a
warm-up of the same shape, so the figures are what a script's second job costs:

- ``reused``: one ``asynchttp.Http`` for the whole script (warm-up and job).
- ``fresh``: a fresh ``Http`` per job (``with Http() as http``), the warm-up job's
  Http closed before the timed job's opens, at once (the loop thread stays up).
- ``fresh-after-idle``: the same, with the loop thread stopped in between (the idle
  grace ran out: a new loop thread for the timed job).
- ``fresh-kept``: a fresh ``Http`` per job, as ``fresh``, keeping every body of the
  job (``[bytes(content) for ...]``) until the job ends: 100 MiB held at once.
- ``blocking-threads``: one ``BlockingHttp`` shared by ``concurrency`` threads, each
  making requests one after the other.
- ``aiohttp``: one ClientSession, ``concurrency`` coroutines (bench.py's (c)).

Reported per MiB: wall time as MB/s, the process's minor page faults (ru_minflt)
and CPU time (every thread). Beside them: how far the timed job raised the process's
peak resident memory (``new_peak_mib``: first-touch pages, when the job held more at
once than the warm-up did, which a script whose caller thread falls behind the loop
thread's reads does by chance) and the faults beyond those pages
(``refaults_per_mib``: memory given back to the kernel and faulted in again).
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

SHAPES = ("reused", "fresh", "fresh-after-idle", "fresh-kept", "blocking-threads", "aiohttp")


def _check(status: int, body: Any, size: int) -> None:
    if status != 200 or len(body) != size:
        raise AssertionError(f"bad answer: status {status}, {len(body)} bytes, wanted {size}")


def _queue_then_touch(http: Any, url: str, n: int, size: int) -> None:
    import collections

    request = http.request
    pending = collections.deque([request(url) for _ in range(n)])
    while pending:
        response, content = pending.popleft()
        _check(response.status, bytes(content), size)


def _usage() -> tuple[float, int, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt, usage.ru_maxrss


def _figures(
    before: tuple[float, int, int], after: tuple[float, int, int], seconds: float, n: int, size: int
) -> dict[str, Any]:
    """The job's figures from the usage before and after it (``_usage()``).

    ``new_peak_mib`` is how far the job raised the process's peak resident memory
    (ru_maxrss): pages touched for the first time, which fault in once whatever the
    allocator keeps (a job that holds more bodies at once than any job before it).
    ``refaults_per_mib`` is the faults beyond those pages: memory given back to the
    kernel and faulted in again, what the allocator settings are about."""
    mib = n * size / (1 << 20)
    faults = after[1] - before[1]
    new_peak_kib = after[2] - before[2]  # ru_maxrss is in KiB on Linux
    return {
        "seconds": seconds,
        "mbps": n * size / 1e6 / seconds,
        "faults_per_mib": faults / mib,
        "cpu_us_per_mib": (after[0] - before[0]) / mib * 1e6,
        "new_peak_mib": new_peak_kib / 1024,
        "refaults_per_mib": max(0, faults - new_peak_kib * 1024 // resource.getpagesize()) / mib,
    }


def _measure(job: Callable[[], None], n: int, size: int) -> dict[str, Any]:
    before, t0 = _usage(), time.perf_counter()
    job()
    t1 = time.perf_counter()
    return _figures(before, _usage(), t1 - t0, n, size)


def run_shape(shape: str, url: str, n: int, concurrency: int, size: int, ca: str | None = None) -> dict[str, Any]:
    if shape == "aiohttp":
        from _core_clients import run_on_chosen_loop

        return run_on_chosen_loop(_aiohttp(url, n, concurrency, size))  # type: ignore[no-any-return]
    import asynchttp
    from asynchttp import _loop

    def fresh_job(count: int) -> threading.Thread | None:
        """The job; returns the loop thread it ran on."""
        with asynchttp.Http(max_connections=concurrency, ca_certs=ca) as http:
            _queue_then_touch(http, url, count, size)
            state = _loop._state
            return state.thread if state is not None else None

    def kept_job(count: int) -> None:
        with asynchttp.Http(max_connections=concurrency, ca_certs=ca) as http:
            promises = [http.request(url) for _ in range(count)]
            bodies = [bytes(content) for _, content in promises]
            for (response, _), body in zip(promises, bodies, strict=True):
                _check(response.status, body, size)
            del promises, bodies

    if shape == "reused":
        http = asynchttp.Http(max_connections=concurrency, ca_certs=ca)
        _queue_then_touch(http, url, n, size)
        result = _measure(lambda: _queue_then_touch(http, url, n, size), n, size)
        http.close()
    elif shape == "fresh":
        fresh_job(n)
        result = _measure(lambda: fresh_job(n), n, size)
    elif shape == "fresh-after-idle":
        thread = fresh_job(n)
        deadline = time.monotonic() + 10 + 2 * _loop.idle_grace()
        while _loop._state is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        # The loop has stopped; let its thread end too, as it has in a script whose idle
        # gap outlasts the grace: a thread hands its glibc arena back on its way out
        # (after Python counts it ended), and a loop thread started before that would
        # take an arena of its own, its pages all new to the timed job.
        if thread is not None:
            thread.join(10)
        time.sleep(0.1)
        result = _measure(lambda: fresh_job(n), n, size)
        result["loop_starts"] = _loop.loop_starts
    elif shape == "fresh-kept":
        kept_job(n)
        result = _measure(lambda: kept_job(n), n, size)
    elif shape == "blocking-threads":
        http = asynchttp.BlockingHttp(max_connections=concurrency, ca_certs=ca)
        pool = ThreadPoolExecutor(concurrency)

        def one(_: int) -> None:
            response, content = http.request(url)
            _check(response.status, content, size)

        def job() -> None:
            for _ in pool.map(one, range(n)):
                pass

        job()
        result = _measure(job, n, size)
        pool.shutdown()
        http.close()
    else:
        raise ValueError(f"unknown shape {shape!r}")
    result["threads"] = threading.active_count()
    return result


async def _aiohttp(url: str, n: int, concurrency: int, size: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def batch(count: int) -> None:
            left = count

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    async with session.get(url) as resp:
                        _check(resp.status, await resp.read(), size)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await batch(n)
        before, t0 = _usage(), time.perf_counter()
        await batch(n)
        t1 = time.perf_counter()
        after = _usage()
    return _figures(before, after, t1 - t0, n, size)


if __name__ == "__main__":  # python benchmarks/_shapes.py SHAPE URL [N]: one shape, for a quick look
    import json
    import sys

    print(json.dumps(run_shape(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 100, 8, 1 << 20)))
